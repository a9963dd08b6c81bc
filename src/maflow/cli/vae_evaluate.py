"""``maflow vae evaluate`` (importance-sampled and HAIS -log p(x) of a trained VAE) and
``maflow vae sample`` (images decoded from the prior); ``maflow vae train`` is in :mod:`maflow.cli.vae`."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from maflow.errors import ConfigError, DataError
from maflow.run.device import DEVICE_HELP, THREADS_HELP
from maflow.train.flag_parsing import pick, seed_int

__all__ = ["register_evaluate", "register_sample", "run_evaluate", "run_sample"]


def register_evaluate(commands) -> None:
    """``maflow vae evaluate`` as a subcommand of ``commands`` (the ``vae`` command's subparsers)."""
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
    evaluate.add_argument(
        "--seed", type=seed_int, default=0, help="seeds the test binarisation and the samplers"
    )
    evaluate.set_defaults(run=run_evaluate)


def register_sample(commands) -> None:
    """``maflow vae sample`` as a subcommand of ``commands`` (the ``vae`` command's subparsers)."""
    sample = commands.add_parser("sample", help="images decoded from the prior: a .png grid and .npy")
    sample.add_argument("--out", required=True, help="the run folder given to 'maflow vae train'")
    sample.add_argument("-N", "--num-samples", type=int, default=64)
    sample.add_argument("--seed", type=seed_int, default=0, help="seeds the latents and the pixels")
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

    from maflow.run.commit import git_commit
    from maflow.run.results import update_results
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
