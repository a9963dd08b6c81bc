"""Held-out log-likelihood of the same MAF in maflow, nflows, zuko and normflows, and maflow's ablations.

Every library builds K MADE layers of the same hidden sizes, orders reversed between
layers, affine element-wise maps, a standard normal base, and batch norm after every MADE
when the data set asks for it (nflows' ``BatchNorm`` for nflows; zuko has no batch-norm
layer and normflows' uses the batch's own statistics at test time, which is not a
density, so those two run without). Each library keeps its own defaults (initialisation,
scale parameterisation): that is what a user comparing libraries gets. Every run trains
with plain ``torch.optim.Adam`` (no weight decay, no clipping) for the same number of
epochs, from ``torch.manual_seed(seed)``, on the same seeded minibatch order, and reports
the test log-likelihood (float64, evaluation mode) with ± 2 standard errors over the test
points. maflow runs are recipes: model options plus how its batch-norm statistics are set
for evaluation (``dataset``: whole-training-set statistics, what ``maflow train`` does;
``running``: running averages).

    OMP_NUM_THREADS=1 python benchmarks/quality.py run --data digits --runs maflow nflows zuko normflows
    OMP_NUM_THREADS=1 python benchmarks/quality.py run --data mnist-3k --runs maflow ablation
    python benchmarks/quality.py report            # writes docs/quality.md from the results file
    OMP_NUM_THREADS=1 python benchmarks/quality.py time --data mnist-3k --runs maf-paper maflow

Results are appended, one JSON line per run, to ``benchmarks/quality_results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from provenance import git_commit, versions  # noqa: E402  (the sibling benchmarks/provenance.py)
from quality_models import ABLATION, PEERS, RECIPES, build  # noqa: E402  (the sibling benchmarks/quality_models.py)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "quality_results.jsonl"
TIMING = ROOT / "benchmarks" / "quality_timing.jsonl"


# ---------------------------------------------------------------- data sets

# K layers, hidden units x hidden layers, batch norm, epochs, lr, batch size.
SETUPS = {
    "mnist-3k": dict(layers=5, hidden=512, depth=2, bn=True, epochs=20, lr=1e-4, batch=100),
    "mnist-50k": dict(layers=5, hidden=512, depth=2, bn=True, epochs=3, lr=1e-4, batch=100),
    # held out: added after the tenth round's Real NVP choice, to check it
    "mnist-10k": dict(layers=5, hidden=512, depth=2, bn=True, epochs=10, lr=1e-4, batch=100),
    "digits": dict(layers=5, hidden=256, depth=2, bn=True, epochs=30, lr=1e-4, batch=100),
    "miniboone": dict(layers=5, hidden=512, depth=2, bn=True, epochs=30, lr=1e-4, batch=100),
    "moons": dict(layers=5, hidden=64, depth=2, bn=False, epochs=10, lr=1e-3, batch=100),
    "pinwheel": dict(layers=5, hidden=64, depth=2, bn=False, epochs=10, lr=1e-3, batch=100),
    # held out: run only to check a default chosen on the others
    "checkerboard": dict(layers=5, hidden=64, depth=2, bn=False, epochs=10, lr=1e-3, batch=100),
    "two_spirals": dict(layers=5, hidden=64, depth=2, bn=False, epochs=10, lr=1e-3, batch=100),
    # the 2-D sets with batch norm between the layers (the toy gallery's models have it)
    "moons-bn": dict(layers=5, hidden=64, depth=2, bn=True, epochs=10, lr=1e-3, batch=100),
    "pinwheel-bn": dict(layers=5, hidden=64, depth=2, bn=True, epochs=10, lr=1e-3, batch=100),
}

DESCRIPTIONS = {
    "mnist-3k": "real MNIST (maflow's MAF preprocessing, logit space, D 784): the first 3,000 training images; test 10,000",
    "mnist-50k": "real MNIST: all 50,000 training images; test 10,000",
    "mnist-10k": "real MNIST: the first 10,000 training images, 10 epochs; test 10,000; held out (added after the tenth round's Real NVP choice)",
    "digits": "scikit-learn 8x8 digits (D 64, logit space): 1,457 training, 179 test",
    "miniboone": "MINIBOONE (D 43, MAF preprocessing): the public validation split (3,284) to train, the test split (3,648) to test",
    "moons": "two moons (maflow.data.toy, D 2): 10,000 training, 2,000 test",
    "pinwheel": "pinwheel (maflow.data.toy, D 2): 10,000 training, 2,000 test",
    "checkerboard": "checkerboard (maflow.data.toy, D 2): 10,000 training, 2,000 test; held out (not used to choose a default)",
    "two_spirals": "two spirals (maflow.data.toy, D 2): 10,000 training, 2,000 test; held out, added after every default was chosen",
    "moons-bn": "two moons as above, every library's flow with batch norm between its layers (zuko has none: not run)",
    "pinwheel-bn": "pinwheel as above, with batch norm",
}


def load_data(name: str, data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) float32 arrays."""
    from maflow.data import load

    if name.startswith("mnist"):
        ds = load("mnist", data_dir)
        count = {"mnist-3k": 3000, "mnist-10k": 10_000, "mnist-50k": 50_000}[name]
        return ds.train[:count], ds.test
    if name == "miniboone":
        folder = Path(data_dir) / "miniboone"
        return (
            np.load(folder / "val.npy").astype(np.float32),
            np.load(folder / "test.npy").astype(np.float32),
        )
    ds = load(name.removesuffix("-bn"), data_dir)
    return ds.train, ds.test


# ---------------------------------------------------------------- train and evaluate


def train_and_evaluate(run: str, data: str, train: np.ndarray, test: np.ndarray, seed: int) -> dict:
    setup = SETUPS[data]
    torch.manual_seed(seed)
    module, log_prob, after_training = build(run, train.shape[1], setup)
    optimiser = torch.optim.Adam(module.parameters(), lr=setup["lr"])
    x_train = torch.from_numpy(train)
    order = torch.Generator().manual_seed(seed)
    steps, diverged, losses = 0, False, []
    module.train()
    start = time.perf_counter()
    for _epoch in range(setup["epochs"]):
        total = 0.0
        for batch in torch.randperm(len(x_train), generator=order).split(setup["batch"]):
            loss = -log_prob(x_train[batch]).mean()
            if not torch.isfinite(loss):
                diverged = True
                break
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            steps += 1
            total += float(loss.detach()) * len(batch)
        if diverged:
            break
        losses.append(total / len(x_train))
    train_seconds = time.perf_counter() - start
    module.eval()
    with torch.no_grad():
        after_training(x_train)
        module.double()
        values = torch.cat([log_prob(chunk) for chunk in torch.from_numpy(test).double().split(1000)])
    values = values.numpy()
    finite = np.isfinite(values)
    mean = float(values.mean()) if finite.all() else float("-inf")
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if finite.all() else float("nan")
    return dict(
        data=data,
        run=run,
        seed=seed,
        test_ll=mean,
        two_se=2 * se,
        test_median=float(np.median(values[finite])) if finite.any() else float("nan"),
        non_finite=int((~finite).sum()),
        diverged=diverged,
        steps=steps,
        train_seconds=train_seconds,
        seconds_per_step=train_seconds / max(steps, 1),
        final_train_loss=losses[-1] if losses else None,
        setup=setup,
        options=None if run in PEERS else RECIPES[run][0],
        bn_stats=None if run in PEERS else RECIPES[run][1],
        torch_init=None if run in PEERS else RECIPES[run][2],
        commit=git_commit(),
        dirty=git_dirty(),
        versions=versions(PEERS),
        finished=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        load=os.getloadavg()[0],
    )


def time_steps(runs: list[str], data: str, train: np.ndarray, steps: int, seed: int, builder=None) -> dict:
    """Median seconds per training step of each run, steps interleaved between runs.

    ``builder(run, features, setup) -> (module, log_prob)``: default, this benchmark's runs.
    """
    setup = SETUPS[data]
    builder = builder or (lambda run, features, setup: build(run, features, setup)[:2])
    models = {}
    for run in runs:
        torch.manual_seed(seed)
        module, log_prob = builder(run, train.shape[1], setup)
        models[run] = (module, log_prob, torch.optim.Adam(module.parameters(), lr=setup["lr"]))
    x = torch.from_numpy(train[: setup["batch"]])
    times = {run: [] for run in runs}
    for step in range(steps + 2):
        for run in runs if step % 2 == 0 else runs[::-1]:
            module, log_prob, optimiser = models[run]
            start = time.perf_counter()
            loss = -log_prob(x).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if step >= 2:  # warm-up
                times[run].append(time.perf_counter() - start)
    return {run: statistics.median(t) for run, t in times.items()}


# ---------------------------------------------------------------- bookkeeping


def git_dirty() -> bool:
    if os.environ.get("QUALITY_COMMIT"):
        return False
    paths = ["src/maflow/models", "src/maflow/nn", "src/maflow/transforms", "benchmarks/quality.py"]
    out = subprocess.run(["git", "status", "--porcelain", *paths], cwd=ROOT, capture_output=True, text=True)
    return bool(out.stdout.strip())


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["run", "time", "report"])
    parser.add_argument("--data", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument(
        "--runs", nargs="+", default=["maflow", *PEERS],
        help="maflow recipes (see RECIPES), peers, or 'ablation' for the one-factor ablation",
    )  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--data-dir", default=os.environ.get("MAFLOW_DATA", str(ROOT.parent / "shared" / "data"))
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run (time)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "quality.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    runs = [r for name in args.runs for r in (ABLATION if name == "ablation" else [name])]
    for run in runs:
        if run not in RECIPES and run not in PEERS:
            parser.error(f"unknown run {run!r}: use one of {', '.join([*RECIPES, *PEERS])} or ablation")
    if args.command == "report":
        from quality_report import render  # the sibling benchmarks/quality_report.py

        timing = read_results(TIMING)
        args.output.write_text(render(read_results(args.results), SETUPS, DESCRIPTIONS, timing))
        print(f"wrote {args.output}")
        return
    for data in args.data:
        train, test = load_data(data, args.data_dir)
        if args.command == "time":
            result = time_steps(runs, data, train, args.steps, args.seeds[0])
            line = json.dumps(
                dict(
                    data=data,
                    seconds_per_step=result,
                    steps=args.steps,
                    load=os.getloadavg()[0],
                    commit=git_commit(),
                )
            )
            print(line, flush=True)
            with TIMING.open("a") as f:
                f.write(line + "\n")
            continue
        for seed in args.seeds:
            for run in runs:
                result = train_and_evaluate(run, data, train, test, seed)
                with args.results.open("a") as f:
                    f.write(json.dumps(result) + "\n")
                print(
                    f"{data:10s} {run:16s} seed {seed}: {result['test_ll']:.2f} ± {result['two_se']:.2f}"
                    f"  ({result['seconds_per_step'] * 1000:.0f} ms/step, {result['train_seconds']:.0f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
