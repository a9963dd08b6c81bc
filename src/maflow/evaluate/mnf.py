"""The MNF LeNet and LeNet: test error and NLL of a run, and the uncertainty studies against each
other (rotated digits, Fashion-MNIST images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from maflow.errors import CheckpointError, ConfigError, DataError

__all__ = [
    "rotate_images",
    "rotation_study",
    "plot_rotation",
    "fashion_test_images",
    "ood_study",
    "auroc",
    "load_run_classifier",
    "classifier_performance",
    "evaluate_classifier_run",
]


def rotate_images(image: np.ndarray, angles) -> np.ndarray:
    """Rotates a 28x28 image (values in [0, 1]) by each angle in degrees, counter-clockwise.

    The rotation is about the image centre, with bilinear interpolation and zeros outside the
    frame (``torch.nn.functional.affine_grid`` and ``grid_sample`` with ``align_corners=False``,
    computed in float64); the frame stays 28x28 and the values stay in [0, 1]. This is the same
    resampling as ``scipy.ndimage.rotate(image, angle, reshape=False, order=1, mode="constant")``:
    the two agree to within 1e-6 per pixel (a test checks it on a digit).

    Example:
        >>> import numpy as np
        >>> image = np.zeros((28, 28), dtype=np.float32); image[5:9, 12:16] = 1
        >>> rotated = rotate_images(image, [0, 180])
        >>> rotated.shape, bool(np.allclose(rotated[0], image)), bool(np.allclose(rotated[1], image[::-1, ::-1]))
        ((2, 28, 28), True, True)
    """
    import torch.nn.functional as F

    radians = torch.as_tensor(np.radians(np.asarray(angles, dtype=np.float64)).reshape(-1))
    cos, sin, zero = radians.cos(), radians.sin(), torch.zeros_like(radians)
    # affine_grid maps output coordinates (x right, y down, in [-1, 1]) to input ones; on screen,
    # where y points down, this matrix turns the picture counter-clockwise by the angle.
    theta = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], 1)
    pixels = torch.as_tensor(np.asarray(image, dtype=np.float32).reshape(28, 28), dtype=torch.float64)
    batch = pixels.expand(len(radians), 1, 28, 28)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    rotated = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return np.clip(rotated[:, 0].numpy(), 0.0, 1.0).astype(np.float32)


def auroc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` as a detector of ``labels == 1`` (ties count one half).

    The Mann-Whitney statistic from average ranks; the same number as scikit-learn's ``roc_auc_score``.

    Example:
        >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), auroc([0, 1], [0.5, 0.5])
        (0.75, 0.5)
    """
    labels = np.asarray(labels).reshape(-1) == 1
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("the AUROC needs both classes among the labels")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # Tied scores share the mean of their ranks.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first[counts > 1], counts[counts > 1]):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    statistic = ranks[labels].sum() - positives * (positives + 1) / 2
    return float(statistic / (positives * negatives))


def _load_pair(mnf_run, lenet_run):
    from maflow.run.checkpoint import load_classifier

    mnf = load_classifier(Path(mnf_run))  # the run folder: checkpoints/latest.pth (or checkpoint.pt)
    lenet = load_classifier(Path(lenet_run))
    if not mnf.is_bayesian:
        raise ConfigError(f"--mnf-run {mnf_run} holds a plain LeNet; give the run of --model mnf-lenet")
    if lenet.is_bayesian:
        raise ConfigError(f"--lenet-run {lenet_run} holds an MNF LeNet; give the run of --model lenet")
    return mnf, lenet


def rotation_study(
    mnf_run,
    lenet_run,
    out,
    data_dir=None,
    digit_index: int = 12,
    step: float = 20.0,
    max_angle: float = 180.0,
    num_samples: int = 500,
) -> dict:
    """Rotates test digit ``digit_index`` in ``step``-degree steps up to ``max_angle`` and plots both
    models' predictive distributions (MNF: ``num_samples`` posterior samples; LeNet: one softmax).

    Writes the figure to ``out`` and the numbers to ``out`` with suffix ``.json``; returns them.
    """
    from maflow.data import load
    from maflow.models.mnf import predict
    from maflow.utils.io import write_json

    dataset = load("mnist_grey", data_dir)
    if not 0 <= digit_index < len(dataset.test):
        raise ConfigError(f"--digit-index must be in [0, {len(dataset.test)}), not {digit_index}")
    if step <= 0 or max_angle < 0:
        raise ConfigError("--step must be positive and --max-angle non-negative")
    angles = np.arange(0.0, max_angle + 1e-9, step)
    images = rotate_images(dataset.test[digit_index], angles)
    mnf, lenet = _load_pair(mnf_run, lenet_run)
    x = torch.from_numpy(images.reshape(len(angles), 784))
    mnf_prediction = predict(mnf, x, num_samples=num_samples, batch_size=num_samples)
    lenet_prediction = predict(lenet, x, num_samples=1)
    summary = {
        "digit_index": digit_index,
        "label": int(np.asarray(dataset.test_labels)[digit_index]),
        "angles": angles.tolist(),
        "num_samples": num_samples,
        "mnf_mean": mnf_prediction.mean.tolist(),
        "mnf_argmax": mnf_prediction.mean.argmax(-1).tolist(),
        "mnf_entropy": mnf_prediction.entropy.tolist(),
        "mnf_mutual_information": mnf_prediction.mutual_information.tolist(),
        "lenet_probs": lenet_prediction.mean.tolist(),
        "lenet_argmax": lenet_prediction.mean.argmax(-1).tolist(),
        "lenet_entropy": lenet_prediction.entropy.tolist(),
    }
    plot_rotation(images, angles, mnf_prediction.probs.numpy(), lenet_prediction.mean.numpy(), out)
    write_json(Path(out).with_suffix(".json"), summary)
    return summary


def plot_rotation(images, angles, mnf_probs, lenet_probs, out, columns: int = 5, dpi: int = 60) -> None:
    """Violins of the MNF samples (S, A, 10) above bars of LeNet's softmax (A, 10), one panel per angle.

    Draws nothing (after a one-line notice) when matplotlib is not installed.
    """
    from maflow.utils.optional import has_plotting

    if not has_plotting():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from maflow.utils.io import atomic_write

    num_angles = len(angles)
    rows = -(-num_angles // columns)
    figure = plt.figure(figsize=(2.4 * columns, 2.0 * 2 * rows + 0.8))
    halves: Any = figure.subfigures(2, 1)
    classes = np.arange(mnf_probs.shape[-1])
    jitter = np.random.default_rng(0)
    for half, title in zip(
        halves,
        ("MNF LeNet: violins over posterior samples (black: predictive mean)", "LeNet: single softmax"),
    ):
        half.suptitle(title, fontsize=11)
        axes = half.subplots(rows, columns, sharey=True, squeeze=False).ravel()
        half.subplots_adjust(hspace=0.5, top=0.85)
        for a, ax in enumerate(axes):
            if a >= num_angles:
                ax.axis("off")
                continue
            if title.startswith("MNF"):
                samples = mnf_probs[:, a, :]
                # A kernel density needs spread; add invisible jitter to classes whose samples all agree.
                columns_data = [s + 1e-6 * jitter.standard_normal(len(s)) for s in samples.T]
                parts = ax.violinplot(columns_data, positions=classes, widths=0.9, showextrema=False)
                for body in parts["bodies"]:
                    body.set_alpha(0.7)
                # Samples that all agree give an invisibly thin violin; the mean marks them.
                ax.scatter(
                    classes, samples.mean(0), marker="_", s=60, color="black", linewidths=1.5, zorder=3
                )
                predicted = int(samples.mean(0).argmax())
            else:
                ax.bar(classes, lenet_probs[a], width=0.8, color="tab:orange")
                predicted = int(lenet_probs[a].argmax())
            ax.set_ylim(0, 1.1)
            ax.set_xticks(classes)
            ax.tick_params(labelsize=7)
            ax.set_title(f"{angles[a]:.0f}°: predicts {predicted}", fontsize=9)
            inset = ax.inset_axes([0.02, 0.55, 0.35, 0.42])
            inset.imshow(images[a], cmap="gray_r")
            inset.axis("off")
    atomic_write(out, lambda f: figure.savefig(f, dpi=dpi, format=Path(out).suffix.lstrip(".") or "png"))
    plt.close(figure)


def fashion_test_images(fashion_dir) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST test images as pixels / 255 (N, 784) and labels, read from the IDX files.

    ``fashion_dir`` is a folder holding them directly or in ``fashion_mnist/``; the data layer also
    looks where the Debian package ``dataset-fashion-mnist`` installs them.
    """
    from maflow.data.files import find_file
    from maflow.data.images import prepare_grey_mnist
    from maflow.data.loader import default_data_dir, get_spec, locate, missing_message
    from maflow.data.source import Source

    spec = get_spec("fashion_mnist")
    folder = Path(fashion_dir).expanduser() if fashion_dir is not None else default_data_dir()
    source = None
    for layout in spec.layouts:
        # The folder that holds the files itself comes first (as the Debian package installs them).
        found = {name: find_file(folder, name) for name in layout.files}
        paths = {name: path for name, path in found.items() if path is not None}
        if len(paths) == len(found):
            source = Source(spec, folder, layout, paths)
            break
    source = source or locate(spec, folder)
    if source is None:
        raise DataError(
            missing_message(spec, folder) + "\nOn Debian/Ubuntu: apt-get install dataset-fashion-mnist, "
            "then --fashion-dir /usr/share/datasets/fashion-mnist"
        )
    arrays = prepare_grey_mnist(source)
    return arrays["test"], arrays["test_labels"]


def ood_study(
    mnf_run, lenet_run, data_dir=None, fashion_dir=None, num_samples: int = 100, limit: int = 1000, out=None
) -> dict:
    """Mean predictive entropy (and MNF's mutual information) of both models on the first ``limit``
    MNIST and Fashion-MNIST test images, and the AUROC of entropy as a Fashion-vs-MNIST detector."""
    from maflow.data import load
    from maflow.models.mnf import predict
    from maflow.utils.io import write_json

    if limit < 1 or num_samples < 1:
        raise ConfigError("--limit and --samples must be positive")
    mnist = load("mnist_grey", data_dir).test[:limit]
    fashion, _ = fashion_test_images(fashion_dir if fashion_dir is not None else data_dir)
    fashion = fashion[:limit]
    mnf, lenet = _load_pair(mnf_run, lenet_run)
    summary: dict[str, Any] = {"limit": limit, "num_samples": num_samples, "models": {}}
    for name, model, samples in (("mnf-lenet", mnf, num_samples), ("lenet", lenet, 1)):
        rows: dict[str, Any] = {}
        entropies = {}
        for split, images in (("mnist", mnist), ("fashion", fashion)):
            prediction = predict(model, torch.from_numpy(images), num_samples=samples)
            entropies[split] = prediction.entropy.double().numpy()
            rows[split] = {
                "entropy": float(entropies[split].mean()),
                "mutual_information": float(prediction.mutual_information.double().mean()),
                "max_probability": float(prediction.mean.max(-1).values.double().mean()),
                "count": len(images),
            }
        labels = np.r_[np.zeros(len(entropies["mnist"])), np.ones(len(entropies["fashion"]))]
        rows["auroc"] = auroc(labels, np.r_[entropies["mnist"], entropies["fashion"]])
        rows["num_samples"] = samples
        summary["models"][name] = rows
    if out is not None:
        write_json(out, summary)
    return summary


def load_run_classifier(folder, which: str = "latest") -> tuple[torch.nn.Module, dict, Path]:
    """The classifier of an MNF run folder from ``checkpoints/<which>.pth``, its checkpoint and path.

    ``latest`` (the last epoch's weights, which training scores) falls back to the
    ``checkpoint.pt`` of a run of the older layout; ``best`` is the epoch of the lowest
    validation NLL. Anything that is not such a checkpoint is one :class:`CheckpointError`.
    """
    from maflow.models.mnf import CLASSIFIERS, build_classifier
    from maflow.run.checkpoint import load_training_checkpoint

    folder = Path(folder)
    path = folder / "checkpoints" / f"{which}.pth"
    if which == "latest" and not path.is_file() and (folder / "checkpoint.pt").is_file():
        path = folder / "checkpoint.pt"
    if not path.is_file():
        other = ", or --checkpoint latest" if which == "best" else ""
        raise CheckpointError(
            f"{folder} has no checkpoints/{which}.pth: give the --out of `maflow mnf train`{other}"
        )
    checkpoint = load_training_checkpoint(path, dataset="mnist_grey")
    name = checkpoint.get("model_name")
    if checkpoint.get("family", "mnf") != "mnf" or name not in CLASSIFIERS:
        raise CheckpointError(f"{path} holds no MNF LeNet or LeNet: give the --out of `maflow mnf train`")
    try:
        model = build_classifier(name, **checkpoint.get("model_config", {}))
        model.load_state_dict(checkpoint["model_state"])
    except (TypeError, ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[-1][:200] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path}: the stored weights do not fit {name} ({first}); train it again"
        ) from None
    return model.eval(), checkpoint, path


@torch.no_grad()
def classifier_performance(
    model, x, y, num_samples: int = 1, batch_size: int = 2000, chunk: int = 1000
) -> dict:
    """Error (%) and NLL (nats) of the predictive mean over ``num_samples`` posterior samples,
    each ± 2 standard errors over the images (a deterministic model: one pass).

    Example:
        >>> from maflow.models.mnf import build_classifier
        >>> _ = torch.manual_seed(0)
        >>> metrics = classifier_performance(build_classifier("lenet"), torch.rand(8, 784), torch.arange(8))
        >>> metrics["count"], metrics["num_samples"], 0 <= metrics["error_percent"] <= 100
        (8, 1, True)
    """
    from maflow.models.mnf import predict
    from maflow.utils.stats import mean_and_error

    num_samples = num_samples if model.is_bayesian else 1
    wrong, nll = [], []
    for xb, yb in zip(x.split(chunk), y.split(chunk)):  # at most chunk x num_samples rows of probabilities
        mean = predict(model, xb, num_samples=num_samples, batch_size=batch_size).mean
        wrong.append((mean.argmax(-1) != yb).double().cpu() * 100)
        nll.append(-mean.clamp_min(1e-30).log().gather(1, yb[:, None])[:, 0].double().cpu())
    error, error_2se = mean_and_error(torch.cat(wrong).numpy())
    mean_nll, nll_2se = mean_and_error(torch.cat(nll).numpy())
    return {
        "error_percent": error,
        "error_percent_2se": error_2se,
        "nll": mean_nll,
        "nll_2se": nll_2se,
        "num_samples": num_samples,
        "count": len(y),
    }


def evaluate_classifier_run(
    folder, which: str = "latest", data_dir=None, num_samples: int | None = None, device="cpu"
) -> dict:
    """Test error and NLL (± 2 SE) of the MNF run in ``folder`` on the MNIST test split.

    ``num_samples`` posterior samples per image (default: the run's ``test_samples``); the
    training images found now must be those the run trained on (its fingerprint), else the
    test split is not the one it was meant for either.
    """
    from maflow.data import load
    from maflow.run.checkpoint import data_fingerprint, same_data

    model, checkpoint, path = load_run_classifier(folder, which)
    config = checkpoint.get("training_config") or {}
    dataset = load("mnist_grey", data_dir)
    stored = checkpoint.get("data_fingerprint")
    if stored is not None:
        train = np.asarray(dataset.train, dtype=np.float32)[: config.get("limit_train") or None]
        if not same_data(stored, data_fingerprint(train)):
            raise CheckpointError(
                f"the MNIST training images found now differ from those {path} was trained on: check --data-dir"
            )
    x = torch.as_tensor(np.asarray(dataset.test), dtype=torch.float32, device=device)
    y = torch.as_tensor(np.asarray(dataset.test_labels), dtype=torch.long, device=device)
    samples = int(num_samples or config.get("test_samples", 10))
    metrics = classifier_performance(model.to(device), x, y, samples)
    epoch = (checkpoint.get("progress") or {}).get("epoch")
    return {
        "model": checkpoint["model_name"],
        "split": "test",
        "checkpoint": str(path),
        "epoch": epoch,
        **metrics,
    }
