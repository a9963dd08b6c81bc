"""Side-by-side speed and memory of the same MAF in maflow, nflows, zuko and normflows; writes docs/benchmarks.md.

Every library builds K MADE layers with two hidden layers of H units, reversed orders
between layers, affine elementwise maps, no batch norm, a standard normal base. In one
process, the measurements are interleaved (libraries in a shuffled order per repeat) and
the median over repeats is taken, so the ratios maflow / fastest peer hold on a shared
machine. Peak memory is measured in a fresh subprocess per library and operation.

    pip install -e '.[bench]'
    python benchmarks/peers.py                 # writes docs/benchmarks.md
    python benchmarks/peers.py --quick --output /tmp/bench.md
    python benchmarks/peers.py --nsf-sampling  # NSF exact sampling, writes docs/benchmarks_nsf_sampling.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from provenance import git_commit, machine, versions  # noqa: E402  (the sibling benchmarks/provenance.py)

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"MNIST": (784, 512), "MINIBOONE": (43, 100), "POWER": (6, 100)}
LIBRARIES = ["maflow", "nflows", "zuko", "normflows"]
OPERATIONS = ["train", "density", "sample"]
TRAIN_BATCH, DENSITY_BATCH = 100, 1000
DEVICE = torch.device("cpu")  # --device; every model and batch lives there


def sample_batch(features: int) -> int:
    return 100 if features > 100 else 1000


class Model:
    """One library's MAF behind a common interface: train_step, log_prob, sample."""

    def __init__(self, library: str, features: int, hidden: int, layers: int, fused: bool = False):
        torch.manual_seed(0)
        self.library = library
        build = getattr(self, f"_build_{library.replace('-', '_')}")
        self.module, self.log_prob, self.sample = build(features, hidden, layers)
        self.module.to(DEVICE)
        # The same plain torch.optim.Adam for every library (the headline); fused Adam is an
        # optimiser choice any peer's user can make too, so it is a separate row (maflow-fused-adam).
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=1e-4, fused=fused or None)

    def train_step(self, x):
        self.optimizer.zero_grad(set_to_none=True)
        loss = -self.log_prob(x).mean()
        loss.backward()
        self.optimizer.step()

    @staticmethod
    def _build_maflow(features, hidden, layers):
        from maflow import MAF

        flow = MAF(features, num_layers=layers, hidden_features=hidden, batch_norm=False)
        return flow, flow.log_prob, lambda n: flow.sample((n,))

    _build_maflow_fused_adam = _build_maflow

    @staticmethod
    def _build_maflow_compiled(features, hidden, layers):
        # What `maflow train --compile` runs: log_prob through torch.compile, per-call checks off.
        from maflow import MAF

        flow = MAF(features, num_layers=layers, hidden_features=hidden, batch_norm=False)
        flow.validate_args = False
        return flow, torch.compile(flow.log_prob), None

    @staticmethod
    def _build_nflows(features, hidden, layers):
        from nflows.distributions import StandardNormal
        from nflows.flows import Flow
        from nflows.transforms import (
            CompositeTransform,
            MaskedAffineAutoregressiveTransform,
            ReversePermutation,
        )

        transforms = []
        for layer in range(layers):
            # num_blocks=1 without residual blocks: input layer + one block = two hidden layers.
            transforms.append(
                MaskedAffineAutoregressiveTransform(features, hidden, num_blocks=1, use_residual_blocks=False)
            )
            if layer < layers - 1:
                transforms.append(ReversePermutation(features))
        flow = Flow(CompositeTransform(transforms), StandardNormal([features]))
        return flow, flow.log_prob, flow.sample

    @staticmethod
    def _build_zuko(features, hidden, layers):
        import zuko

        flow = zuko.flows.MAF(features, transforms=layers, hidden_features=[hidden, hidden])
        return flow, lambda x: flow().log_prob(x), lambda n: flow().sample((n,))

    @staticmethod
    def _build_normflows(features, hidden, layers):
        import normflows as nf

        class MaskedAffineAutoregressiveMAF(nf.flows.MaskedAffineAutoregressive):
            # normflows runs this layer's one-pass direction when sampling and the D-pass one
            # for log_prob (an IAF); swapped here so that it is the same MAF as the others.
            def forward(self, z, context=None):
                return nf.flows.MaskedAffineAutoregressive.inverse(self, z, context)

            def inverse(self, z, context=None):
                return nf.flows.MaskedAffineAutoregressive.forward(self, z, context)

        flows = []
        for layer in range(layers):
            flows.append(
                MaskedAffineAutoregressiveMAF(features, hidden, num_blocks=1, use_residual_blocks=False)
            )
            if layer < layers - 1:
                permute = nf.flows.Permute(features, mode="shuffle")
                permute.perm.copy_(torch.arange(features - 1, -1, -1))
                permute.inv_perm.copy_(permute.perm)
                flows.append(permute)
        flow = nf.NormalizingFlow(nf.distributions.DiagGaussian(features, trainable=False), flows)
        return flow, flow.log_prob, lambda n: flow.sample(n)[0]


def operation(model: Model, name: str, features: int):
    """A zero-argument callable running one batch of ``name``, and its batch size."""
    if name == "train":
        x = torch.randn(TRAIN_BATCH, features, device=DEVICE)
        return (lambda: model.train_step(x)), TRAIN_BATCH
    if name == "density":
        x = torch.randn(DENSITY_BATCH, features, device=DEVICE)

        def density():
            with torch.no_grad():
                model.log_prob(x)

        return density, DENSITY_BATCH
    batch = sample_batch(features)

    def sample():
        with torch.no_grad():
            model.sample(batch)

    return sample, batch


def rate(fn, batch: int, min_time: float) -> tuple[float, float]:
    """Samples per second of CPU time and of wall time, over at least ``min_time`` seconds."""
    synchronize = torch.cuda.synchronize if DEVICE.type == "cuda" else (lambda: None)
    synchronize()  # on a GPU, time finished work only (wall time is the measure there)
    calls, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        synchronize()
        wall = time.perf_counter() - wall0
        if wall >= min_time:
            break
    return batch * calls / (time.process_time() - cpu0), batch * calls / wall


def available(libraries):
    found = []
    for library in libraries:
        try:
            __import__(library.split("-")[0])
            found.append(library)
        except ImportError:
            print(f"skipping {library}: not installed (pip install -e '.[bench]')", file=sys.stderr)
    return found


# maflow's extra rows and what they measure: fused Adam (an optimiser any peer can use too) and
# torch.compile of log_prob (what `maflow train --compile` does; the peers run eager).
ROW_OPERATIONS = {"maflow-fused-adam": ("train",), "maflow-compiled": ("train", "density")}


def measure_speed(shapes, libraries, threads, repeats, min_time, layers, operations=OPERATIONS):
    """{(shape, threads, library, operation): {"cpu": median samples/s, "wall": ...}}.

    The peers' exact sampling at D = 784 takes D full passes per layer (about half a minute
    of CPU per batch), so it is measured in the first repeat only.
    """
    results = {}
    rng = random.Random(0)
    for shape in shapes:
        features, hidden = SHAPES[shape]
        models = {
            lib: Model(lib, features, hidden, layers, fused=lib == "maflow-fused-adam") for lib in libraries
        }
        ops = {
            (lib, op): operation(models[lib], op, features)
            for lib in libraries
            for op in operations
            if op in ROW_OPERATIONS.get(lib, (op,))
        }
        for (_lib, op), (fn, _) in ops.items():  # warm-up (lazy init, allocator); sampling has none
            if op != "sample":
                fn()
        samples = {key: [] for key in ops}
        for repeat in range(repeats):
            for count in threads:
                torch.set_num_threads(count)
                keys = [k for k in ops if not (k[1] == "sample" and features > 100 and repeat > 0)]
                rng.shuffle(keys)
                for lib, op in keys:
                    fn, batch = ops[lib, op]
                    samples[lib, op].append((count, *rate(fn, batch, min_time)))
            print(f"{shape}: repeat {repeat + 1}/{repeats} done", file=sys.stderr, flush=True)
        for (lib, op), values in samples.items():
            for count in threads:
                cpu = [c for t, c, _ in values if t == count]
                wall = [w for t, _, w in values if t == count]
                results[shape, count, lib, op] = {
                    "cpu": statistics.median(cpu),
                    "wall": statistics.median(wall),
                }
    return results


def probe_memory(library, shape, op, layers):
    """In this (fresh) process: peak resident memory above the built model while running ``op``."""
    features, hidden = SHAPES[shape]
    model = Model(library, features, hidden, layers)
    fn, _ = operation(model, op, features)
    base = _status("VmRSS")
    for _ in range(1 if op == "sample" else 2):  # a second step shows the optimiser state
        fn()
    return (_status("VmHWM") - base) / 2**20


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status: peak memory needs Linux")


def measure_memory(shapes, libraries, layers):
    results = {}
    for shape in shapes:
        for lib in libraries:
            for op in ("train", "density"):
                command = [
                    sys.executable,
                    __file__,
                    "--probe-memory",
                    lib,
                    shape,
                    op,
                    "--layers",
                    str(layers),
                ]
                out = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ)
                results[shape, lib, op] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def render(args, speed, memory, libraries, started, load_before, load_after, elapsed, study, commit) -> str:
    from report import report  # the sibling benchmarks/report.py

    return report(
        args=args,
        speed=speed,
        memory=memory,
        study=study,
        libraries=libraries,
        shapes=args.shapes,
        threads=args.threads,
        operations=OPERATIONS,
        context=dict(
            started=started,
            machine=machine(DEVICE),
            versions=versions(libraries),
            commit=commit,
            load_before=load_before,
            load_after=load_after,
            elapsed=elapsed,
            batches=dict(train=TRAIN_BATCH, density=DENSITY_BATCH),
            sample_batches={s: sample_batch(SHAPES[s][0]) for s in args.shapes},
            shapes=SHAPES,
        ),
    )


def nsf_sampling_study(args) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import nsf_sampling  # the sibling benchmarks/nsf_sampling.py

    from maflow.utils.io import atomic_write_text

    libraries = [lib for lib in available(nsf_sampling.NSF_LIBRARIES)]
    shapes = ["D64"] if args.quick else list(nsf_sampling.NSF_SHAPES)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    context = dict(
        started=started, commit=git_commit(), machine=machine(DEVICE), versions=versions(libraries)
    )
    text = nsf_sampling.render(nsf_sampling.measure(shapes, libraries), libraries, context)
    output = (
        args.output
        if args.output != ROOT / "docs" / "benchmarks.md"
        else ROOT / "docs" / "benchmarks_nsf_sampling.md"
    )
    atomic_write_text(output, text)
    print(text)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--threads", nargs="+", type=int, default=[1], help="for the peer table")
    parser.add_argument(
        "--thread-study", nargs="+", type=int, default=[1, 2], help="maflow alone, training and density"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--quick", action="store_true", help="POWER only, one repeat, short timings")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (models and batches)")
    parser.add_argument(
        "--nsf-sampling", action="store_true", help="only the NSF exact-sampling study (nsf_sampling.py)"
    )
    parser.add_argument(
        "--probe-memory", nargs=3, metavar=("LIBRARY", "SHAPE", "OPERATION"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    if args.probe_memory:
        torch.set_num_threads(1)
        print(json.dumps(probe_memory(*args.probe_memory, args.layers)))
        return 0
    if args.nsf_sampling:
        return nsf_sampling_study(args)
    if args.quick:
        args.shapes, args.repeats, args.min_time, args.threads = ["POWER"], 1, 0.2, [1]
        args.thread_study = [1, 2]
    libraries = available(LIBRARIES) + list(ROW_OPERATIONS)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = git_commit()  # the code measured is the code at the start
    load_before = os.getloadavg()
    wall0 = time.perf_counter()
    speed = measure_speed(args.shapes, libraries, args.threads, args.repeats, args.min_time, args.layers)
    study = measure_speed(
        args.shapes,
        ["maflow"],
        args.thread_study,
        args.repeats,
        args.min_time,
        args.layers,
        ("train", "density"),
    )
    memory = (
        {}
        if args.no_memory
        else measure_memory(args.shapes, [lib for lib in libraries if lib in LIBRARIES], args.layers)
    )
    elapsed = time.perf_counter() - wall0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    text = render(
        args, speed, memory, libraries, started, load_before, os.getloadavg(), elapsed, study, commit
    )
    from maflow.utils.io import atomic_write_text

    atomic_write_text(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
