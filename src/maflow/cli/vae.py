"""``maflow vae``: train a VAE with an IAF posterior, estimate its log p(x) (IS, HAIS), sample it."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from maflow.errors import ConfigError, DataError
from maflow.run.device import DEVICE_HELP, THREADS_HELP
from maflow.train.flags import add_run_arguments, pick

__all__ = ["register", "load_vae_config"]

SECTIONS = ("data", "model", "train", "evaluate")


def load_vae_config(name_or_path: str) -> dict:
    """Reads a VAE configuration: a file path, or the name of a packaged ``configs/vae_*.toml``.

    Example:
        >>> config = load_vae_config("vae_resnet_gpu")
        >>> config["model"]["flow_steps"], config["train"]["epochs"]
        (8, 2500)
    """
    from importlib import resources

    import tomllib

    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"no configuration file {path}")
        text = path.read_text(encoding="utf-8")
    else:
        packaged = resources.files("maflow.configs").joinpath(f"{name_or_path}.toml")
        if not name_or_path.startswith("vae_") or not packaged.is_file():
            names = sorted(
                f.name[:-5] for f in resources.files("maflow.configs").iterdir() if f.name.startswith("vae_")
            )
            raise ConfigError(
                f"unknown VAE configuration {name_or_path!r}: give a .toml path or one of {names}"
            )
        text = packaged.read_text(encoding="utf-8")
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"configuration {name_or_path} is malformed: {error}") from None
    unknown = set(config) - set(SECTIONS)
    if unknown:
        raise ConfigError(
            f"configuration {name_or_path} has unknown sections {sorted(unknown)}: use {SECTIONS}"
        )
    return {section: dict(config.get(section, {})) for section in SECTIONS}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "vae", help="VAE with an IAF posterior on binarised MNIST (karstenkreis/flow_vae)"
    )
    commands = parser.add_subparsers(dest="vae_command", required=True, metavar="ACTION")

    train = commands.add_parser("train", help="train a VAE into the run folder --out")
    train.add_argument(
        "--config", default="vae_dense_cpu", help="vae_resnet_gpu, vae_dense_cpu or a .toml path"
    )
    train.add_argument("--dataset", help="mnist_grey (dynamic binarisation) or binarized_mnist (static)")
    train.add_argument(
        "--data-dir", help="folder holding the data (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    train.add_argument("--max-train-batches", type=int, help="batches per epoch (smoke runs)")
    group = add_run_arguments(
        train,
        out={"required": True, "help": "run folder: checkpoint, log, TensorBoard, pictures"},
        seed=None,
        epochs_help="override [train] epochs",
        set_help="any setting: [section.]key=value with section data, model, train or evaluate (TOML values)",
    )
    group.add_argument("--train-size", dest="limit_train", type=int, help=argparse.SUPPRESS)  # older name
    train.set_defaults(run=run_train)

    evaluate = commands.add_parser(
        "evaluate", help="importance-sampled (and HAIS) -log p(x) of a trained VAE"
    )
    evaluate.add_argument("--out", required=True, help="the run folder given to 'maflow vae train'")
    evaluate.add_argument("--data-dir", help="folder holding the data")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"))
    evaluate.add_argument("--num-examples", type=int, help="evaluate only the first N examples of the split")
    evaluate.add_argument(
        "--is-samples", type=int, default=1000, help="importance samples k per example (0: skip IS)"
    )
    evaluate.add_argument("--batch-size", type=int, default=100)
    evaluate.add_argument("--hais", action="store_true", help="also run HAIS (slow: steps x leapfrog passes)")
    evaluate.add_argument("--hais-examples", type=int, default=100, help="examples for HAIS")
    evaluate.add_argument("--hais-steps", type=int, default=500, help="annealing steps")
    evaluate.add_argument("--hais-chains", type=int, default=16)
    evaluate.add_argument("--hais-leapfrog", type=int, default=10, help="leapfrog steps per HMC move")
    evaluate.add_argument("--hais-step-size", type=float, default=0.01, help="initial leapfrog step size")
    evaluate.add_argument("--hais-start", choices=("prior", "q0"), default="prior")
    evaluate.add_argument("--hais-target-acceptance", type=float, default=0.65)
    evaluate.add_argument("--device", default="auto", help=DEVICE_HELP)
    evaluate.add_argument("--threads", type=int, help=THREADS_HELP)
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.add_argument("--seed", type=int, default=0, help="seeds the test binarisation and the samplers")
    evaluate.set_defaults(run=run_evaluate)

    sample = commands.add_parser("sample", help="images decoded from the prior: a .png grid and .npy")
    sample.add_argument("--out", required=True, help="the run folder given to 'maflow vae train'")
    sample.add_argument("-N", "--num-samples", type=int, default=64)
    sample.add_argument("--seed", type=int, default=0, help="seeds the latents and the pixels")
    sample.add_argument("--device", default="auto", help=DEVICE_HELP)
    sample.add_argument("--threads", type=int, help=THREADS_HELP)
    sample.add_argument(
        "--checkpoint",
        choices=("best", "latest"),
        default="latest",
        help="latest (default): the last epoch's weights, the run's result",
    )
    sample.add_argument(
        "--png", help="picture path (default RUN/samples/samples.png); the .npy goes beside it"
    )
    sample.add_argument(
        "--mean", action="store_true", help="the decoder's pixel probabilities instead of binary samples"
    )
    sample.set_defaults(run=run_sample)


def _load_split(config: dict, data_dir, split: str):
    import torch

    from maflow.data import load

    dataset = load(config["data"].get("dataset", "mnist_grey"), data_dir)
    if dataset.image_shape is None:
        raise DataError(f"{dataset.name} is not an image data set; the VAE needs binary or grey images")
    return dataset, torch.from_numpy(dataset.split(split)).float()


# Flags that set a [train] value of the configuration when given.
TRAIN_OVERRIDES = ("epochs", "batch_size", "lr", "patience", "seed", "max_train_batches")


def _vae_config(args) -> dict:
    """The resolved configuration: the file, then the flags, then ``--set``."""
    from dataclasses import asdict

    from maflow.train.flags import apply_settings
    from maflow.train.vae import VAETrainConfig

    config = _resumed_config(args) or load_vae_config(args.config)
    if args.dataset:
        config["data"]["dataset"] = args.dataset
    for flag in TRAIN_OVERRIDES:
        if getattr(args, flag) is not None:
            config["train"][flag] = getattr(args, flag)
    if args.tf32:
        config["train"]["tf32"] = True
    config["train"] = {**asdict(VAETrainConfig()), **config["train"]}
    config["data"] = {"dataset": "mnist_grey", "train_splits": ["train"], **config["data"]}
    # The VAE's own context_features (the size of the IAF's context vector) is a model setting here:
    # the shared flags reserve that name for the class count of a conditional flow.
    context = [(k, v) for k, v in args.settings if k in ("context_features", "model.context_features")]
    others = [setting for setting in args.settings if setting not in context]
    apply_settings(config, others, open_sections=("model", "evaluate"))
    for _, value in context:
        config["model"]["context_features"] = value
    VAETrainConfig.from_dict(config["train"])  # nonsense settings fail before any work
    for key in ("latent_features", "context_features", "hidden_features", "flow_hidden_features"):
        value = config["model"].get(key)
        sizes = value if isinstance(value, list) else [value]
        if value is not None and any(not isinstance(v, int) or v < 1 for v in sizes):
            raise ConfigError(f"[model] {key} must be positive integers, got {value!r}")
    return config


def _resumed_config(args) -> dict | None:
    """``--resume``: the run's own configuration (and --limit-train), on which the flags given apply."""
    import copy

    from maflow.train.resume_flags import fill_from_run, stored_settings

    stored = stored_settings(Path(args.out) / "checkpoints" / "latest.pth") if args.resume else None
    run = (stored or {}).get("run") or {}
    if "config" not in run:
        return None
    fill_from_run(args, {"limit_train": run.get("limit_train")})
    return copy.deepcopy(run["config"])


def _training_data(config: dict, args):
    import numpy as np
    import torch

    from maflow.data import load

    dataset = load(config["data"]["dataset"], args.data_dir)
    if dataset.image_shape is None:
        raise DataError(f"{dataset.name} is not an image data set; the VAE needs binary or grey images")
    splits = config["data"]["train_splits"]
    train = torch.from_numpy(np.concatenate([dataset.split(s) for s in splits])).float()
    if args.limit_train:
        train = train[: args.limit_train]
    if train.min() < 0 or train.max() > 1:
        raise DataError(f"{dataset.name} is not in [0, 1]: use mnist_grey or binarized_mnist")
    val = None if "val" in splits else torch.from_numpy(dataset.split("val")).float()
    return dataset, train, val


def run_train(args) -> int:
    import torch

    from maflow.models.vae import VAE
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock, prepare_run_folder
    from maflow.train.flags import check_run_arguments, print_config
    from maflow.train.flow import git_commit
    from maflow.train.vae import VAETrainConfig, train_vae, vae_checkpoint, vae_run_files
    from maflow.utils.io import ensure_writable_dir, write_json

    check_run_arguments(args)
    config = _vae_config(args)
    if args.print_config:
        return print_config({**config, "limit_train": args.limit_train})
    train_config = VAETrainConfig.from_dict(config["train"])
    device = resolve_device(args.device)
    set_threads(args.threads)
    out = ensure_writable_dir(args.out)  # a full disk fails here, before any work
    dataset, train, val = _training_data(config, args)
    torch.manual_seed(train_config.seed)
    try:
        model = VAE(image_shape=dataset.image_shape, **config["model"]).to(device)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[model]: {error}") from None
    with RunLock(out, command_line()):
        artefacts, own = vae_run_files(out)
        prepare_run_folder(out, artefacts, own, args.resume, args.overwrite, vae_checkpoint(out))
        write_json(out / "config.json", {**config, "commit": git_commit(), "command": sys.argv})
        started = time.time()
        history = train_vae(
            model,
            train,
            val,
            train_config,
            out,
            extra={"config": config, "limit_train": args.limit_train},
            quiet=args.quiet,
        )
    print(f"trained {len(history)} epochs in {time.time() - started:.0f} s; checkpoint in {out}")
    return 0


def _check_evaluate_arguments(args) -> None:
    """One line for the first nonsensical evaluation flag, before any file is read."""
    checks = [
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}"),
        (
            args.num_examples is None or args.num_examples >= 1,
            f"--num-examples must be at least 1 (or left out for the whole split), got {args.num_examples}",
        ),
        (
            args.is_samples >= 0,
            f"--is-samples must be >= 0 (0 skips importance sampling), got {args.is_samples}",
        ),
        (
            args.is_samples > 0 or args.hais,
            "--is-samples 0 without --hais computes nothing: give --is-samples K, --hais or both",
        ),
        (args.threads is None or args.threads >= 1, f"--threads must be at least 1, got {args.threads}"),
    ]
    if args.hais:
        for flag in ("hais_examples", "hais_steps", "hais_chains", "hais_leapfrog"):
            value = getattr(args, flag)
            checks.append((value >= 1, f"--{flag.replace('_', '-')} must be at least 1, got {value}"))
        checks.append(
            (
                math.isfinite(args.hais_step_size) and args.hais_step_size > 0,
                f"--hais-step-size must be a positive number, got {args.hais_step_size}",
            )
        )
        checks.append(
            (
                0 < args.hais_target_acceptance < 1,
                f"--hais-target-acceptance must be in (0, 1), got {args.hais_target_acceptance}",
            )
        )
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def run_evaluate(args) -> int:
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import existing_run_lock
    from maflow.train.vae_checkpoint import load_trained_vae

    _check_evaluate_arguments(args)
    args.device = resolve_device(args.device)
    set_threads(args.threads)
    with existing_run_lock(args.out, command_line()):  # it writes evaluation_*.json into the run folder
        model, stored = load_trained_vae(args.out)
        return _evaluate_locked(args, model, stored)


def _evaluate_locked(args, model, stored: dict) -> int:
    import torch

    from maflow.run.results import update_results
    from maflow.train.flow import git_commit
    from maflow.utils.io import write_json

    model.to(args.device).eval()
    dataset, data = _load_split(stored["config"], args.data_dir, args.split)
    if args.num_examples:
        data = data[: args.num_examples]
    # Grey levels are binarised once, with a seed, as karstenkreis/flow_vae draws its test batches once.
    binary = torch.bernoulli(data, generator=torch.Generator().manual_seed(args.seed))
    torch.manual_seed(args.seed)
    report = {
        "dataset": dataset.name,
        "split": args.split,
        "epochs_trained": int(stored["epochs_trained"]),
        "commit": git_commit(),
        "command": sys.argv,
        "binarization_seed": args.seed,
    }
    result = _importance_sampling(args, model, binary, report) if args.is_samples > 0 else None
    if args.hais:
        _hais(args, model, binary, report, result)
    path = Path(args.out) / f"evaluation_{args.split}.json"
    if path.is_file():  # keep the sections of earlier evaluations (an IS run, then a HAIS run)
        previous = json.loads(path.read_text())
        report = {**previous, **report}
    write_json(path, report)
    summary = {key: report[key] for key in ("importance_sampling", "hais") if key in report}
    out = Path(args.out)
    update_results(out / "results.json", out / "results.txt", f"evaluation_{args.split}", summary)
    return 0


def _importance_sampling(args, model, binary, report: dict):
    """-log p(x) by importance sampling with k = ``--is-samples``; fills ``report`` and prints it."""
    from maflow.evaluate.importance import importance_log_likelihood
    from maflow.run.progress import ProgressCallback

    started = time.time()
    with ProgressCallback(f"IS, k={args.is_samples}", False if args.quiet else None) as progress:
        result = importance_log_likelihood(model, binary, args.is_samples, args.batch_size, progress=progress)
    report["importance_sampling"] = {
        **result.summary(),
        "seconds": time.time() - started,
        "epochs_trained": report["epochs_trained"],
        "command": sys.argv,
    }
    summary = report["importance_sampling"]
    print(
        f"{args.split} -log p(x) (IS, k={args.is_samples}, {summary['num_examples']} examples): "
        f"{summary['nll']:.2f} ± {summary['nll_error_2se']:.2f}; "
        f"-ELBO {summary['neg_elbo']:.2f} ± {summary['neg_elbo_error_2se']:.2f}"
    )
    return result


def _hais(args, model, binary, report: dict, importance) -> None:
    """-log p(x) by HAIS on the first ``--hais-examples``; fills ``report`` and prints it."""
    from maflow.evaluate.hais import hais_log_likelihood
    from maflow.run.progress import ProgressCallback

    started = time.time()
    with ProgressCallback(f"HAIS, {args.hais_steps} steps", False if args.quiet else None) as progress:
        options = pick(
            args, "batch_size", num_steps="hais_steps", num_chains="hais_chains", start="hais_start"
        )
        options.update(pick(args, leapfrog_steps="hais_leapfrog", step_size="hais_step_size"))
        options["target_acceptance"] = args.hais_target_acceptance
        hais = hais_log_likelihood(model, binary[: args.hais_examples], progress=progress, **options)
    report["hais"] = {
        **hais.summary(),
        "steps": args.hais_steps,
        "leapfrog_steps": args.hais_leapfrog,
        "start": args.hais_start,
        "seconds": time.time() - started,
        "epochs_trained": report["epochs_trained"],
        "command": sys.argv,
    }
    if importance is not None:  # IS on the same examples, for a like-for-like comparison
        report["hais"]["is_nll_same_examples"] = float(
            -importance.log_likelihood[: args.hais_examples].mean()
        )
    print(
        f"{args.split} -log p(x) (HAIS, {args.hais_steps} steps, {args.hais_chains} chains, "
        f"{report['hais']['num_examples']} examples): {report['hais']['nll']:.2f} ± "
        f"{report['hais']['nll_error_2se']:.2f} (acceptance {hais.acceptance_rate:.2f})"
    )


def run_sample(args) -> int:
    import contextlib

    from maflow.evaluate.vae import draw_vae_samples, save_vae_samples
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock

    out = Path(args.out)
    png = Path(args.png) if args.png else out / "samples" / "samples.png"
    if args.num_samples < 1 or (args.threads is not None and args.threads < 1):
        raise ConfigError("--num-samples and --threads must be at least 1")
    if png.suffix.lower() != ".png":
        raise ConfigError(f"the picture {png} must be a .png file (the samples' .npy goes beside it)")
    device = resolve_device(args.device)
    set_threads(args.threads)
    inside = out.is_dir() and png.resolve().is_relative_to(out.resolve())
    with RunLock(out, command_line()) if inside else contextlib.nullcontext():
        model, epochs = _trained_vae(out, args.checkpoint)
        samples = draw_vae_samples(model.to(device), args.num_samples, args.seed, args.mean)
        npy, picture = save_vae_samples(samples, model.image_shape, png)
    what = "Bernoulli means" if args.mean else "binary samples"
    drawn = f"{npy} and {picture}" if picture is not None else f"{npy} (no picture: matplotlib is missing)"
    print(f"{args.num_samples} {what} of p(x | z), z ~ N(0, I) ({args.checkpoint}, epoch {epochs}): {drawn}")
    return 0


def _trained_vae(out: Path, which: str):
    """The run's VAE from ``checkpoints/<which>.pth`` (``latest``: or an older ``checkpoint.pt``)."""
    from maflow.errors import CheckpointError
    from maflow.train.vae_checkpoint import BEST, checked_vae, load_trained_vae
    from maflow.utils.io import load_checkpoint

    if which == "latest":
        model, stored = load_trained_vae(out)
        return model, stored["epochs_trained"]
    path = out / BEST
    if not path.is_file():
        raise CheckpointError(f"{out} has no {BEST} (it is written at a validation): use --checkpoint latest")
    checkpoint = load_checkpoint(path)
    if not isinstance(checkpoint, dict) or checkpoint.get("family") != "vae":
        raise CheckpointError(f"{path} is not a VAE checkpoint: train one with `maflow vae train`")
    model = checked_vae(checkpoint.get("model_config", {}), checkpoint.get("model_state", {}), path)
    return model.eval(), (checkpoint.get("progress") or {}).get("epoch")
