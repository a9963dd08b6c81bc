"""Registry entries of the MAF paper's tabular data sets and CIFAR-10."""

from __future__ import annotations

from maflow.data.cifar import CIFAR_BATCHES, prepare_cifar10
from maflow.data.spec import DatasetSpec, Download, Layout
from maflow.data.tabular import (
    PRESPLIT_FILES,
    prepare_bsds300,
    prepare_gas,
    prepare_hepmass,
    prepare_miniboone,
    prepare_power,
)

SPECS: list[DatasetSpec] = []
register_dataset = SPECS.append

# ---- MAF tabular sets (Zenodo record 1161203) ----------------------------------------------
_MAF_ARCHIVE = "https://zenodo.org/record/1161203/files/data.tar.gz"
_MAF_SOURCE = (
    "G. Papamakarios, T. Pavlakou, I. Murray, Masked Autoregressive Flow for Density Estimation "
    "(arXiv 1705.07057), preprocessed archive: Zenodo record 1161203 (data.tar.gz)"
)
_PRESPLIT = Layout("presplit", PRESPLIT_FILES, preprocessed=True)


def _maf_download(member: str, filename: str) -> Download:
    # One ~800 MB archive for all five sets: it is downloaded once and the member extracted.
    return Download(_MAF_ARCHIVE, "maf-data.tar.gz", None, extract={member: filename})


register_dataset(
    DatasetSpec(
        name="power",
        kind="tabular",
        features=6,
        split_sizes=(1_659_917, 184_435, 204_928),
        folder="power",
        layouts=(Layout("maf", ("data.npy",)), _PRESPLIT),
        prepare=prepare_power,
        params={"seed": 42},
        downloads=(_maf_download("power/data.npy", "data.npy"),),
        source=_MAF_SOURCE + "; UCI Individual household electric power consumption",
        licence="CC BY 4.0 (UCI)",
        preprocessing="RandomState(42) shuffles the rows; delete column 3 then column 1; noise drawn voltage "
        "0.01U, active power 0.001U, sub-metering U (x3), time 0; tail split 10%/10%; standardise with "
        "train+val mean and population std.",
    )
)
register_dataset(
    DatasetSpec(
        name="gas",
        kind="tabular",
        features=8,
        split_sizes=(852_174, 94_685, 105_206),
        folder="gas",
        layouts=(
            Layout("uci-text", ("ethylene_CO.txt",)),
            _PRESPLIT,
            Layout("pickle", ("ethylene_CO.pickle",), trusted_only=True),
        ),
        prepare=prepare_gas,
        params={"fraction": 0.25, "seed": 42},
        downloads=(_maf_download("gas/ethylene_CO.pickle", "ethylene_CO.pickle"),),
        source=_MAF_SOURCE + "; UCI Gas sensor array under dynamic gas mixtures (ethylene_CO.txt)",
        licence="CC BY 4.0 (UCI)",
        preprocessing="drop Time, Meth (CO), Eth; repeatedly drop the first column with another column of "
        "correlation > 0.98; standardise with the whole set's mean and std (ddof=1); tail split 10%/10%. "
        "The pickle is read only with allow_pickle=True; from ethylene_CO.txt a RandomState(42) 25% sample "
        "(the pickle's rows are an unknown 25% sample, so the rows differ, the statistics do not).",
    )
)
register_dataset(
    DatasetSpec(
        name="hepmass",
        kind="tabular",
        features=21,
        split_sizes=(315_123, 35_013, 174_987),
        folder="hepmass",
        layouts=(Layout("maf", ("1000_train.csv", "1000_test.csv")), _PRESPLIT),
        prepare=prepare_hepmass,
        downloads=(
            _maf_download("hepmass/1000_train.csv", "1000_train.csv"),
            _maf_download("hepmass/1000_test.csv", "1000_test.csv"),
        ),
        source=_MAF_SOURCE + "; UCI HEPMASS",
        licence="CC BY 4.0 (UCI)",
        preprocessing="keep label-1 rows, drop the label; drop the test file's last column; standardise with "
        "the training mean and std (ddof=1); drop columns whose smallest value occurs > 5 times in train; "
        "validation = last 10% of the training rows; test = the test file.",
    )
)
register_dataset(
    DatasetSpec(
        name="miniboone",
        kind="tabular",
        features=43,
        split_sizes=(29_556, 3_284, 3_648),
        folder="miniboone",
        layouts=(Layout("maf", ("data.npy",)), _PRESPLIT),
        prepare=prepare_miniboone,
        downloads=(_maf_download("miniboone/data.npy", "data.npy"),),
        source=_MAF_SOURCE + "; UCI MiniBooNE particle identification",
        licence="CC BY 4.0 (UCI)",
        preprocessing="data.npy is pre-cleaned (outliers, repeated-value columns); tail split 10%/10%, no "
        "shuffle; standardise with train+val mean and population std.",
    )
)
register_dataset(
    DatasetSpec(
        name="bsds300",
        kind="tabular",
        features=63,
        split_sizes=(1_000_000, 50_000, 250_000),
        folder="BSDS300",
        layouts=(Layout("hdf5", ("BSDS300.hdf5",)), _PRESPLIT),
        prepare=prepare_bsds300,
        downloads=(_maf_download("BSDS300/BSDS300.hdf5", "BSDS300.hdf5"),),
        source=_MAF_SOURCE + "; Berkeley Segmentation Dataset BSDS300 (Martin et al. 2001)",
        licence="research use (BSDS300 terms)",
        preprocessing="the archive's 8x8 monochrome patches without the bottom-right pixel (D = 63), as "
        "stored; to display, append minus the sum of the 63 values.",
        notes="image_shape is None because D = 63; an 8x8 patch needs the 64th pixel appended.",
    )
)

# ---- CIFAR-10 ------------------------------------------------------------------------------
register_dataset(
    DatasetSpec(
        name="cifar10",
        kind="image",
        features=3072,
        split_sizes=(90_000, 5_000, 10_000),
        folder="cifar10",
        layouts=(
            Layout("python", tuple(f"cifar-10-batches-py/{name}" for name in CIFAR_BATCHES)),
            Layout("binary", tuple(f"cifar-10-batches-bin/{name}.bin" for name in CIFAR_BATCHES)),
            Layout("python", CIFAR_BATCHES),
            Layout("binary", tuple(f"{name}.bin" for name in CIFAR_BATCHES)),
            Layout("python-archive", ("cifar-10-python.tar.gz",)),
            Layout("binary-archive", ("cifar-10-binary.tar.gz",)),
        ),
        prepare=prepare_cifar10,
        image_shape=(3, 32, 32),
        logit_lambda=0.05,
        quantization_levels=256,
        num_classes=10,
        params={"num_val": 5000, "seed": 42, "lam": 0.05, "flip": True},
        downloads=(
            Download(
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "cifar-10-python.tar.gz",
                "md5:c58f30108f718f92721af3b95e74349a",
            ),
        ),
        source="A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images (2009), "
        "https://www.cs.toronto.edu/~kriz/cifar.html",
        licence="no explicit licence; free for research use (as distributed by the author)",
        preprocessing="MAF: 5 training batches concatenated, last 5,000 = validation; (pixel + U)/256 with "
        "RandomState(42) drawn train, val, test; logit with lambda 0.05; then the 45,000 training images "
        "get horizontally mirrored copies stacked below (90,000). Planar RGB. Python batches are read "
        "with a restricted unpickler (numpy arrays only).",
    )
)
