"""Exact sampling from the same autoregressive neural spline flow in maflow, nflows and zuko.

Each library builds K rational-quadratic spline autoregressive layers (MADEs of two hidden
layers of H units, 8 bins, tail bound 5), the order reversed between layers, a standard
normal base. Sampling inverts every layer: nflows and zuko run the whole MADE once per
dimension (D passes per layer); maflow computes each MADE unit once in degree order. In
one process, libraries alternate in a shuffled order per repeat; medians are reported.
Run through ``python benchmarks/peers.py --nsf-sampling``.
"""

from __future__ import annotations

import random
import statistics
import time

import torch

# name: (D, H, K, batch, repeats). The MNIST shape's peers take D = 784 passes per layer.
NSF_SHAPES = {"D64": (64, 128, 5, 1000, 5), "MNIST": (784, 512, 2, 100, 1)}
NSF_LIBRARIES = ["maflow", "nflows", "zuko"]
BINS, TAIL_BOUND = 8, 5.0


def build(library: str, features: int, hidden: int, layers: int):
    """``sample(n)`` for the library's autoregressive NSF."""
    torch.manual_seed(0)
    if library == "maflow":
        from maflow.models.nsf import NSF

        flow = NSF(
            features,
            num_layers=layers,
            hidden_features=hidden,
            num_bins=BINS,
            tail_bound=TAIL_BOUND,
            linear="reverse",
            identity_init=False,
        ).eval()
        return lambda n: flow.sample((n,))
    if library == "nflows":
        from nflows.distributions import StandardNormal
        from nflows.flows import Flow
        from nflows.transforms import CompositeTransform, ReversePermutation
        from nflows.transforms.autoregressive import MaskedPiecewiseRationalQuadraticAutoregressiveTransform

        transforms = []
        for _ in range(layers):
            transforms += [
                ReversePermutation(features),
                MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
                    features, hidden, num_bins=BINS, tails="linear", tail_bound=TAIL_BOUND, num_blocks=1
                ),
            ]
        flow = Flow(CompositeTransform(transforms), StandardNormal([features])).eval()
        return flow.sample
    if library == "zuko":
        import zuko

        flow = zuko.flows.NSF(features, transforms=layers, bins=BINS, hidden_features=[hidden, hidden]).eval()
        return lambda n: flow().sample((n,))
    raise ValueError(f"unknown library {library!r}")


def seconds_per_batch(sample, batch: int) -> float:
    with torch.no_grad():
        start = time.process_time()
        sample(batch)
        return time.process_time() - start


def measure(shapes=tuple(NSF_SHAPES), libraries=tuple(NSF_LIBRARIES)) -> dict:
    """{(shape, library): median CPU seconds per batch}, one thread."""
    torch.set_num_threads(1)
    rng = random.Random(0)
    results = {}
    for shape in shapes:
        features, hidden, layers, batch, repeats = NSF_SHAPES[shape]
        samplers = {lib: build(lib, features, hidden, layers) for lib in libraries}
        times = {lib: [] for lib in libraries}
        for _ in range(repeats):
            order = list(libraries)
            rng.shuffle(order)
            for lib in order:
                times[lib].append(seconds_per_batch(samplers[lib], batch))
        for lib in libraries:
            results[shape, lib] = statistics.median(times[lib])
    return results


def render(results: dict, libraries, context: dict) -> str:
    lines = [
        "# Benchmark: exact sampling from an autoregressive neural spline flow",
        "",
        f"Measured {context['started']} at commit {context['commit']} on {context['machine']}; "
        "one thread, "
        + ", ".join(f"{k} {v}" for k, v in context["versions"].items())
        + ". Command: `python benchmarks/peers.py --nsf-sampling`.",
        "",
        "Same flow in each library: K spline autoregressive layers (MADE 2 x H, 8 bins, tail "
        "bound 5), orders reversed between layers. nflows and zuko run the MADE once per "
        "dimension to sample; maflow computes each MADE unit once, in degree order. CPU "
        "seconds per batch (median over repeats, libraries interleaved); ratio = fastest "
        "peer's time / maflow's time.",
        "",
        "| shape | D | H | K | batch | "
        + " | ".join(libraries)
        + " | maflow speed-up over the fastest peer |",
        "|---|---|---|---|---|" + "---|" * len(libraries) + "---|",
    ]
    for shape, (features, hidden, layers, batch, _) in NSF_SHAPES.items():
        if (shape, "maflow") not in results:
            continue
        row = [f"{results[shape, lib]:.3f} s" for lib in libraries]
        peers = [results[shape, lib] for lib in libraries if lib != "maflow"]
        ratio = min(peers) / results[shape, "maflow"] if peers else float("nan")
        lines.append(
            f"| {shape} | {features} | {hidden} | {layers} | {batch} | "
            + " | ".join(row)
            + f" | {ratio:.1f}x |"
        )
    return "\n".join(lines) + "\n"
