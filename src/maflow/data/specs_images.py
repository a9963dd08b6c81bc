"""Registry entries of the image, binary and generated data sets."""

from __future__ import annotations

from typing import Any

from maflow.data.binary import MADE_BINARY_SIZES, prepare_made_npz
from maflow.data.images import (
    AMAT_FILES,
    IDX_FILES,
    prepare_binarized_mnist,
    prepare_digits,
    prepare_grey_mnist,
    prepare_logit_mnist,
)
from maflow.data.spec import DatasetSpec, Download, Layout
from maflow.data.toy import TOY_SAMPLERS, prepare_toy

SPECS: list[DatasetSpec] = []
register_dataset = SPECS.append

# ---- MNIST family -------------------------------------------------------------------------
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_MNIST_DOWNLOADS = tuple(
    Download(_MNIST_URL + name, name, "md5:" + md5)
    for name, md5 in zip(
        IDX_FILES,
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    )
)
# sha256 of the decompressed canonical IDX files (robust to re-compression).
_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_MNIST_SOURCE = (
    "Y. LeCun, C. Cortes, C. Burges, THE MNIST DATABASE (http://yann.lecun.com/exdb/mnist/); mirror "
    + _MNIST_URL
)
_MNIST_LICENCE = "CC BY-SA 3.0 (as stated by the torchvision/TFDS catalogues); original terms by LeCun et al."
_IDX = (Layout("idx", IDX_FILES),)
_MNIST_COMMON: dict[str, Any] = dict(
    features=784,
    split_sizes=(50_000, 10_000, 10_000),
    folder="mnist",
    layouts=_IDX,
    image_shape=(1, 28, 28),
    num_classes=10,
    checksums=_MNIST_SHA256,
    downloads=_MNIST_DOWNLOADS,
    source=_MNIST_SOURCE,
    licence=_MNIST_LICENCE,
)
register_dataset(
    DatasetSpec(
        name="mnist",
        kind="image",
        prepare=prepare_logit_mnist,
        logit_lambda=1e-6,
        quantization_levels=256,
        params={"num_val": 10_000, "seed": 42, "lam": 1e-6},
        preprocessing=(
            "MAF (gpapamak/maf datasets/mnist.py): train = first 50,000 training images, val = last 10,000, "
            "test = the 10,000 test images; x = (pixel + U(0,1))/256 with one RandomState(42) drawn train, "
            "val, test; y = logit(1e-6 + (1 - 2e-6) x). Labels kept."
        ),
        **_MNIST_COMMON,
    )
)
register_dataset(
    DatasetSpec(
        name="mnist_grey",
        kind="image",
        prepare=prepare_grey_mnist,
        quantization_levels=256,
        params={"num_val": 10_000},
        preprocessing="pixels / 255 in [0, 1], no noise; same 50k/10k/10k split as mnist; labels kept.",
        cache=False,
        **_MNIST_COMMON,
    )
)
register_dataset(
    DatasetSpec(
        name="dynamic_binarized_mnist",
        kind="binary",
        prepare=prepare_grey_mnist,
        quantization_levels=256,
        params={"num_val": 10_000},
        preprocessing=(
            "the mnist_grey arrays (pixels / 255, 50k/10k/10k); training code draws binarize(batch), "
            "a fresh Bernoulli sample per batch (dynamic binarisation); evaluate on one fixed draw."
        ),
        cache=False,
        **_MNIST_COMMON,
    )
)
register_dataset(
    DatasetSpec(
        name="fashion_mnist",
        kind="image",
        features=784,
        split_sizes=(50_000, 10_000, 10_000),
        folder="fashion_mnist",
        layouts=_IDX,
        prepare=prepare_logit_mnist,
        image_shape=(1, 28, 28),
        logit_lambda=1e-6,
        quantization_levels=256,
        num_classes=10,
        params={"num_val": 10_000, "seed": 42, "lam": 1e-6},
        system_folders=("/usr/share/datasets/fashion-mnist",),  # Debian's dataset-fashion-mnist
        downloads=tuple(
            Download("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" + name, name, "md5:" + md5)
            for name, md5 in zip(
                IDX_FILES,
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            )
        ),
        source="H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST (arXiv 1708.07747), github.com/zalandoresearch/fashion-mnist; "
        "Debian package dataset-fashion-mnist",
        licence="MIT (Zalando SE)",
        preprocessing="as mnist: first 50,000 / last 10,000 training images / 10,000 test; (pixel + U)/256 with "
        "RandomState(42) drawn train, val, test; logit with lambda 1e-6. Labels kept.",
    )
)
register_dataset(
    DatasetSpec(
        name="binarized_mnist",
        kind="binary",
        features=784,
        split_sizes=(50_000, 10_000, 10_000),
        folder="binarized_mnist",
        layouts=(Layout("amat", tuple(name + ".gz" for name in AMAT_FILES)),),
        prepare=prepare_binarized_mnist,
        image_shape=(1, 28, 28),
        checksums={
            AMAT_FILES[0]: "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
            AMAT_FILES[1]: "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
            AMAT_FILES[2]: "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
        },
        downloads=tuple(
            Download(
                "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/" + name,
                name,
                "sha256:" + sha,
            )
            for name, sha in zip(
                AMAT_FILES,
                (
                    "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
                    "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
                    "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
                ),
            )
        ),
        source="H. Larochelle and I. Murray, The Neural Autoregressive Distribution Estimator (AISTATS 2011)",
        licence="derived from MNIST (see mnist); redistributed by the authors for research",
        preprocessing="none: the fixed binarisation as distributed (.amat text, 50,000 / 10,000 / 10,000).",
        cache=False,
    )
)

# ---- MADE binary UCI sets -----------------------------------------------------------------
_MADE_SHA256 = {
    "dna": "df2d2e7ce1469edfead15e41024e108d64f1b4633cfecfc40ef7107cc22c895c",
    "mushrooms": "4130f1defa3033911fe746a3ab1bb22b0c812bb29e68391a0fbc2d65bab6ae74",
    "nips": "dbf3b659a49670957c0851971bd51ff952a657f010581d12f6c1e2dca8907b20",
}
for _name, (_features, _train, _val, _test) in MADE_BINARY_SIZES.items():
    register_dataset(
        DatasetSpec(
            name=_name,
            kind="binary",
            features=_features,
            split_sizes=(_train, _val, _test),
            folder="made_uci_binary",
            layouts=(Layout("npz", (f"{_name}.npz",)),),
            prepare=prepare_made_npz,
            checksums={f"{_name}.npz": _MADE_SHA256[_name]} if _name in _MADE_SHA256 else {},
            downloads=(
                ()
                if _name == "rcv1"
                else (
                    Download(
                        f"https://github.com/mgermain/MADE/raw/master/datasets/{_name}.npz", f"{_name}.npz"
                    ),
                )
            ),
            source="UCI / LIBSVM sets as binarised by Larochelle and Murray (2011); .npz files of the MADE "
            "authors, github.com/mgermain/MADE (datasets/; rcv1 is a release download there)",
            licence="research use; underlying UCI data sets under their own terms",
            preprocessing="none: 0/1 arrays as distributed (npz keys train_data / valid_data / test_data).",
            cache=False,
        )
    )

# ---- embedded ------------------------------------------------------------------------------
register_dataset(
    DatasetSpec(
        name="digits",
        kind="image",
        features=64,
        split_sizes=(1457, 161, 179),
        folder=None,
        layouts=(),
        prepare=prepare_digits,
        image_shape=(1, 8, 8),
        logit_lambda=1e-6,
        quantization_levels=17,
        num_classes=10,
        params={"seed": 42, "lam": 1e-6},
        source="scikit-learn load_digits (UCI Optical Recognition of Handwritten Digits, test part), bundled",
        licence="CC BY 4.0 (UCI); BSD-3-Clause (scikit-learn)",
        preprocessing="RandomState(42) permutes the 1,797 rows; MAF tail split (test last 10%, val last 10% of "
        "the rest); x = (v + U(0,1))/17 from the same RNG, train, val, test; y = logit(1e-6 + (1 - 2e-6) x).",
        cache=False,
    )
)
for _name in TOY_SAMPLERS:
    register_dataset(
        DatasetSpec(
            name=_name,
            kind="toy",
            features=2,
            split_sizes=(10_000, 2_000, 2_000),
            folder=None,
            layouts=(),
            prepare=prepare_toy,
            params={"sizes": (10_000, 2_000, 2_000), "seed": 0},
            source="generated by maflow.data.toy",
            licence="MIT (maflow)",
            preprocessing="a fixed sample: one RandomState(0) draws 10,000 train, 2,000 val, 2,000 test points; "
            "not standardised.",
            cache=False,
        )
    )
