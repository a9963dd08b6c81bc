"""``maflow vae``: train a VAE with an IAF posterior; its evaluate and sample actions are in :mod:`maflow.cli.vae_evaluate`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from maflow.cli.vae_evaluate import register_evaluate, register_sample
from maflow.errors import ConfigError, DataError
from maflow.train.flags import add_run_arguments

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

    register_evaluate(commands)
    register_sample(commands)


# Flags that set a [train] value of the configuration when given.
TRAIN_OVERRIDES = ("epochs", "batch_size", "lr", "patience", "seed", "max_train_batches")


def _vae_config(args) -> dict:
    """The resolved configuration: the file, then the flags, then ``--set``."""
    from dataclasses import asdict

    from maflow.train.flag_parsing import apply_settings
    from maflow.train.vae_config import VAETrainConfig

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

    stored = stored_settings(Path(args.out) / "checkpoints" / "latest.pth", "vae") if args.resume else None
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
    from maflow.run.commit import git_commit
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock, prepare_run_folder
    from maflow.train.flag_parsing import print_config
    from maflow.train.flags import check_run_arguments
    from maflow.train.vae import train_vae
    from maflow.train.vae_checkpoint import vae_checkpoint, vae_run_files
    from maflow.train.vae_config import VAETrainConfig
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
