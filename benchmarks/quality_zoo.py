"""Held-out log-likelihood of Real NVP and neural spline flows in maflow, nflows and zuko.

The companion of ``benchmarks/quality.py`` (which does MAF) for the other default
builders: for each family every library builds K layers with hidden nets of the same
width and depth and keeps its own defaults (initialisation, scale or spline
parameterisation, permutations), which is what a user comparing libraries gets. maflow
also runs a few one-factor variants around its default. Every run trains with plain
``torch.optim.Adam`` on the same seeded minibatch order and budget (``quality.SETUPS``:
epochs, learning rate, batch size, widths) and reports the test log-likelihood in float64,
evaluation mode, ± 2 standard errors over the test points.

    OMP_NUM_THREADS=1 python benchmarks/quality_zoo.py run --family realnvp --data moons pinwheel digits
    OMP_NUM_THREADS=1 python benchmarks/quality_zoo.py time --family realnvp --data digits mnist-3k --runs A B
    python benchmarks/quality_zoo.py report     # writes docs/quality_zoo.md

``run --every N --results FILE`` also records the train and test means every N epochs (a
learning curve: is a run slower to learn, or overfitting?); keep such runs in their own file.
``time`` gives the median time per training step of each named run, the runs taking steps
in turn on the same batch (order alternating), so that a busy machine slows them alike; it
appends one line per data set to ``benchmarks/quality_zoo_timing.jsonl``.

Results are appended, one JSON line per run, to ``benchmarks/quality_zoo_results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from provenance import git_commit, versions  # noqa: E402
from quality import SETUPS, git_dirty, load_data, read_results, time_steps  # noqa: E402
from quality_models import PEERS  # noqa: E402
from realnvp_runs import MAFLOW_RUNS  # noqa: E402  (the sibling benchmarks/realnvp_runs.py)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "quality_zoo_results.jsonl"
TIMING = ROOT / "benchmarks" / "quality_zoo_timing.jsonl"
CURVES = ROOT / "benchmarks" / "quality_zoo_curves.jsonl"
DATA = ["moons", "pinwheel", "digits", "miniboone", "checkerboard", "two_spirals"]  # the last two: held out
# The report's columns: also MNIST (3,000 and 50,000 images), run only where named (a Real NVP
# run takes minutes); mnist-3k was held out until the eighth round.
REPORT_DATA = [*DATA, "mnist-3k", "mnist-10k", "mnist-50k", "moons-bn", "pinwheel-bn"]


# ---------------------------------------------------------------- maflow


def _maflow_nsf(features, setup, variant, kind):
    from maflow.models import NSF

    options = dict(
        num_layers=setup["layers"], hidden_features=setup["hidden"], num_hidden_layers=setup["depth"]
    )
    if variant == "bins-16":
        options["num_bins"] = 16
    if variant == "tail-5":
        options["tail_bound"] = 5.0
    if variant == "random-init":
        options["identity_init"] = False
    if variant == "no-lu":  # zuko's NSF: no linear layers, the halves or orders alternate
        options["linear"] = "none" if kind == "coupling" else "reverse"
    if variant == "maf-init":  # the default until the runs recorded here (coupling: 02a7c75)
        options["weight_init"] = "maf"
    flow = NSF(features, kind=kind, **options)
    if variant == "torch-init":
        # Recorded before NSF took PyTorch's init: the MAF code's init, then the hidden layers
        # redrawn with PyTorch's (the output layers start at the identity either way).
        with torch.no_grad():
            for module in flow.modules():
                net = getattr(module, "conditioner", None) or getattr(module, "made", None)
                if net is not None and module is not net:
                    for layer in net.modules():
                        if isinstance(layer, torch.nn.Linear) and layer is not net.output_layer:
                            torch.nn.Linear.reset_parameters(layer)
    return flow


# ---------------------------------------------------------------- peers


def _nflows_realnvp(features, setup):
    from nflows.flows.realnvp import SimpleRealNVP

    return SimpleRealNVP(
        features,
        setup["hidden"],
        setup["layers"],
        num_blocks_per_layer=max(setup["depth"] - 1, 1),
        batch_norm_between_layers=setup["bn"],
    )


def _nflows_realnvp_identity(features, setup):
    """nflows' Real NVP started as the identity: zero output weights, biases for scale 1, shift 0."""
    flow = _nflows_realnvp(features, setup)
    for module in flow.modules():
        if hasattr(module, "final_layer"):
            with torch.no_grad():
                module.final_layer.weight.zero_()
                half = module.final_layer.out_features // 2  # shifts first, then the scales
                module.final_layer.bias[:half].zero_()
                module.final_layer.bias[half:].fill_(math.log(0.999 / 0.001) - 2)
    return flow


def _nflows_nsf(features, setup, kind):
    from nflows import transforms as T
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.nn.nets import ResidualNet

    def net(inputs, outputs):
        return ResidualNet(inputs, outputs, setup["hidden"], num_blocks=max(setup["depth"] - 1, 1))

    layers: list = []
    for layer in range(setup["layers"]):
        layers += [T.RandomPermutation(features), T.LULinear(features, identity_init=True)]
        if kind == "coupling":
            mask = (
                torch.arange(features) >= features // 2
                if layer % 2 == 0
                else torch.arange(features) < features // 2
            )
            layers.append(
                T.PiecewiseRationalQuadraticCouplingTransform(
                    mask.int(), net, num_bins=8, tails="linear", tail_bound=3.0
                )
            )
        else:
            layers.append(
                T.MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
                    features, setup["hidden"], num_bins=8, tails="linear", tail_bound=3.0,
                    num_blocks=max(setup["depth"] - 1, 1),
                )
            )  # fmt: skip
    layers += [T.RandomPermutation(features), T.LULinear(features, identity_init=True)]
    return Flow(T.CompositeTransform(layers), StandardNormal([features]))


def _zuko(features, setup, family):
    import zuko

    hidden = [setup["hidden"]] * setup["depth"]
    if family == "realnvp":
        return zuko.flows.RealNVP(features, transforms=setup["layers"], hidden_features=hidden)
    passes = 2 if family == "nsf-cl" else None
    return zuko.flows.NSF(features, transforms=setup["layers"], hidden_features=hidden, bins=8, passes=passes)


# name -> builder(features, setup) -> module; each family's maflow default first
RUNS = {
    "realnvp": {
        **MAFLOW_RUNS,  # benchmarks/realnvp_runs.py: the default and its variants
        "nflows": _nflows_realnvp,
        "nflows+identity": _nflows_realnvp_identity,
        "zuko": lambda f, s: _zuko(f, s, "realnvp"),
    },
    "nsf-cl": {
        "maflow": lambda f, s: _maflow_nsf(f, s, None, "coupling"),
        "maflow+maf-init": lambda f, s: _maflow_nsf(f, s, "maf-init", "coupling"),
        "maflow+random-init": lambda f, s: _maflow_nsf(f, s, "random-init", "coupling"),
        "maflow+tail-5": lambda f, s: _maflow_nsf(f, s, "tail-5", "coupling"),
        "maflow+torch-init": lambda f, s: _maflow_nsf(f, s, "torch-init", "coupling"),
        "maflow+no-lu": lambda f, s: _maflow_nsf(f, s, "no-lu", "coupling"),
        "nflows": lambda f, s: _nflows_nsf(f, s, "coupling"),
        "zuko": lambda f, s: _zuko(f, s, "nsf-cl"),
    },
    "nsf-ar": {
        "maflow": lambda f, s: _maflow_nsf(f, s, None, "autoregressive"),
        "maflow+maf-init": lambda f, s: _maflow_nsf(f, s, "maf-init", "autoregressive"),
        "maflow+random-init": lambda f, s: _maflow_nsf(f, s, "random-init", "autoregressive"),
        "maflow+tail-5": lambda f, s: _maflow_nsf(f, s, "tail-5", "autoregressive"),
        "maflow+torch-init": lambda f, s: _maflow_nsf(f, s, "torch-init", "autoregressive"),
        "maflow+no-lu": lambda f, s: _maflow_nsf(f, s, "no-lu", "autoregressive"),
        "nflows": lambda f, s: _nflows_nsf(f, s, "autoregressive"),
        "zuko": lambda f, s: _zuko(f, s, "nsf-ar"),
    },
}


def _log_prob(module):
    if type(module).__module__.startswith("zuko"):
        return lambda x: module().log_prob(x)
    return module.log_prob


def _set_batch_norm_statistics(module, train: torch.Tensor) -> None:
    """maflow's evaluation statistics: batch norm over the whole training set, as ``maflow train``."""
    from maflow.transforms.batchnorm import recompute_batchnorm_statistics

    if type(module).__module__.startswith("maflow") and getattr(module, "quality_bn_stats", "") != "running":
        recompute_batchnorm_statistics(module.transform, train)


# ---------------------------------------------------------------- train and evaluate


def _curve_point(module, epoch: int, x_train: torch.Tensor, test: np.ndarray) -> list[float]:
    """[epoch, train mean, test mean] in evaluation mode (float32), then back to training mode."""
    module.eval()
    with torch.no_grad():
        _set_batch_norm_statistics(module, x_train)
        log_prob = _log_prob(module)
        means = [float(log_prob(x).mean()) for x in (x_train, torch.from_numpy(test))]
    module.train()
    return [epoch, *means]


def train_and_evaluate(
    family: str, run: str, data: str, train: np.ndarray, test: np.ndarray, seed: int, every: int = 0
) -> dict:
    """One run; with ``every`` > 0 also the train and test means every that many epochs (``curve``)."""
    setup = SETUPS[data]
    torch.manual_seed(seed)
    module = RUNS[family][run](train.shape[1], setup)
    log_prob = _log_prob(module)
    optimiser = torch.optim.Adam(module.parameters(), lr=setup["lr"])
    x_train = torch.from_numpy(train)
    order = torch.Generator().manual_seed(seed)
    steps, diverged, curve = 0, False, []
    module.train()
    start = time.perf_counter()
    for epoch in range(setup["epochs"]):
        for batch in torch.randperm(len(x_train), generator=order).split(setup["batch"]):
            if len(batch) < 2:
                continue
            loss = -log_prob(x_train[batch]).mean()
            if not torch.isfinite(loss):
                diverged = True
                break
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            steps += 1
        if diverged:
            break
        if every and (epoch + 1) % every == 0:
            curve.append(_curve_point(module, epoch + 1, x_train, test))
    seconds = time.perf_counter() - start
    module.eval()
    with torch.no_grad():
        _set_batch_norm_statistics(module, x_train)
        module.double()
        log_prob = _log_prob(module)
        values = torch.cat([log_prob(chunk) for chunk in torch.from_numpy(test).double().split(1000)]).numpy()
    finite = np.isfinite(values)
    return dict(
        family=family,
        data=data,
        run=run,
        seed=seed,
        test_ll=float(values.mean()) if finite.all() else float("-inf"),
        two_se=float(2 * values.std(ddof=1) / math.sqrt(len(values))) if finite.all() else float("nan"),
        non_finite=int((~finite).sum()),
        diverged=diverged,
        steps=steps,
        seconds_per_step=seconds / max(steps, 1),  # with ``every``: includes the curve's evaluations
        **({"curve": curve} if every else {}),
        parameters=sum(p.numel() for p in module.parameters()),
        setup=setup,
        commit=git_commit(),
        dirty=git_dirty(),
        versions=versions(PEERS),
        finished=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        load=os.getloadavg()[0],
    )


def record_step_times(
    families: list[str], runs: list[str] | None, data: str, train: np.ndarray, steps: int
) -> None:
    for family in families:
        names = runs or list(RUNS[family])

        def builder(run, features, setup, family=family):
            module = RUNS[family][run](features, setup)
            return module, _log_prob(module)

        per_step = time_steps(names, data, train, steps, seed=0, builder=builder)
        line = json.dumps(
            dict(
                family=family,
                data=data,
                seconds_per_step=per_step,
                steps=steps,
                load=os.getloadavg()[0],
                commit=git_commit(),
                dirty=git_dirty(),
            )
        )
        print(line, flush=True)
        with TIMING.open("a") as file:
            file.write(line + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["run", "time", "report"])
    parser.add_argument("--family", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument(
        "--data", nargs="+", default=DATA, choices=list(SETUPS), help="default: " + " ".join(DATA)
    )
    parser.add_argument("--runs", nargs="+", default=None, help="default: every run of the family")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run (time)")
    parser.add_argument(
        "--every", type=int, default=0, help="run: also record train and test means every N epochs"
    )
    parser.add_argument("--data-dir", default=os.environ.get("MAFLOW_DATA_DIR", "../shared/data"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "quality_zoo.md")
    args = parser.parse_args(argv)
    if args.command == "report":
        from quality_zoo_report import render_zoo  # the sibling benchmarks/quality_zoo_report.py

        runs = {f: list(r) for f, r in RUNS.items()}
        text = render_zoo(
            read_results(args.results), runs, REPORT_DATA, read_results(TIMING), read_results(CURVES)
        )
        args.output.write_text(text)
        print(f"wrote {args.output}")
        return
    for data in args.data:
        train, test = load_data(data, args.data_dir)
        if args.command == "time":
            record_step_times(args.family, args.runs, data, train, args.steps)
            continue
        for family in args.family:
            for run in args.runs or list(RUNS[family]):
                for seed in args.seeds:
                    result = train_and_evaluate(family, run, data, train, test, seed, args.every)
                    with args.results.open("a") as file:
                        file.write(json.dumps(result) + "\n")
                    print(
                        f"{family:8s} {data:10s} {run:26s} seed {seed}: {result['test_ll']:10.3f} "
                        f"± {result['two_se']:.3f}  ({result['seconds_per_step'] * 1e3:.1f} ms/step)",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
