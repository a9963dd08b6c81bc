"""Why eager CPU ratios stay near 1x: operations per training step, and the cost of the scale map.

Counts the aten operations that one training step (plain Adam, batch 100) of the same MAF runs in
maflow, nflows, zuko and normflows (torch.profiler, one thread; the models of
``benchmarks/peers.py``), and times ``softplus`` against ``exp`` and ``log`` on a density batch
of the MINIBOONE shape (1000 x 43): maflow's default scale is a softplus, zuko's an exp.

    python benchmarks/step_profile.py [--shape POWER|MINIBOONE|MNIST]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import LIBRARIES, SHAPES, Model, available  # noqa: E402


def aten_calls_per_step(library: str, features: int, hidden: int, steps: int = 10) -> int:
    model = Model(library, features, hidden, 5)
    x = torch.randn(100, features)
    for _ in range(20):  # warm-up: lazy initialisation and the allocator
        model.train_step(x)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            model.train_step(x)
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::")) // steps


def microseconds(fn, repeats: int = 2000) -> float:
    for _ in range(50):
        fn()
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="POWER")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    features, hidden = SHAPES[args.shape]
    print(f"aten operations per training step, {args.shape} shape (D {features}, H {hidden}, K 5):")
    for library in available(LIBRARIES):
        print(f"  {library:10s} {aten_calls_per_step(library, features, hidden):,}")
    a = torch.randn(1000, 43) * 2
    print("microseconds per call on a 1000 x 43 tensor (CPU time, one thread):")
    for name, fn in (
        ("softplus", lambda: F.softplus(a)),
        ("exp", lambda: a.exp()),
        ("abs, log", lambda: a.abs().log()),
    ):
        print(f"  {name:10s} {microseconds(fn):.0f}")
    print(
        f"share of aten::softplus in maflow's density pass (MINIBOONE shape, batch 1000): {softplus_share():.0%}"
    )
    return 0


def softplus_share() -> float:
    model, x = Model("maflow", 43, 100, 5), torch.randn(1000, 43)
    with torch.no_grad():
        for _ in range(20):
            model.log_prob(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(20):
                model.log_prob(x)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key == "aten::softplus") / total


if __name__ == "__main__":
    raise SystemExit(main())
