"""Markdown report of benchmarks/peers.py: ratios maflow / fastest peer, then the raw numbers."""

from __future__ import annotations

# Same plain Adam for all: 1.5x in training and density at the MNIST and MINIBOONE shapes, 1.2x
# at POWER's (six features: every library is mostly per-call overhead there), 30x in sampling.
TARGETS = {"train": 1.5, "density": 1.5, "sample": 30.0}
SHAPE_TARGETS = {("POWER", "train"): 1.2, ("POWER", "density"): 1.2}


def target(shape: str, op: str) -> float:
    """The ratio maflow / fastest peer aimed at for ``op`` at ``shape``."""
    return SHAPE_TARGETS.get((shape, op), TARGETS[op])


NAMES = {"train": "training", "density": "density", "sample": "exact sampling"}


NSF_SAMPLING_NOTE = (
    "Exact sampling from an autoregressive neural spline flow against nflows and zuko: "
    "[benchmarks_nsf_sampling.md](benchmarks_nsf_sampling.md) (`python benchmarks/peers.py --nsf-sampling`)."
)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def report(args, speed, memory, study, libraries, shapes, threads, operations, context) -> str:
    peers = [lib for lib in libraries if not lib.startswith("maflow")]
    lines = [
        "# Benchmarks: maflow against nflows, zuko and normflows",
        "",
        "Produced by one command, `python benchmarks/peers.py` (this file is overwritten). "
        f"Run started {context['started']} at commit `{context['commit']}`, took "
        f"{context['elapsed'] / 60:.1f} min.",
        "",
        f"- Machine: {context['machine']}. **Shared**: other jobs ran on the same cores "
        f"(load average {context['load_before'][0]:.1f} before, {context['load_after'][0]:.1f} after), "
        "so absolute samples/s are low and noisy; the ratios are what to read: every library was "
        "measured in the same process, interleaved in a shuffled order, "
        f"{args.repeats} repeats, median. Samples/s are per second of CPU time of this process "
        "(`time.process_time`), which time-slicing by other jobs does not inflate; wall-clock ratios are given too.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in context["versions"].items()) + ".",
        f"- Model: K={args.layers} MADE layers, two hidden layers of H units each, ReLU, orders reversed "
        "between layers, affine maps, no batch norm (zuko has none), N(0, I) base. normflows' "
        "`MaskedAffineAutoregressive` is used with its two directions swapped, because as shipped it "
        "computes log_prob with D passes per layer (it is an IAF in cost); swapped, it is the same MAF "
        "as the others.",
        f"- Operations: training = zero_grad + forward + backward + Adam step at batch "
        f"{context['batches']['train']} with the same plain `torch.optim.Adam()` for every library (the "
        "ratios); the row `maflow-fused-adam` shows maflow with `Adam(fused=True)`, as its trainer uses, "
        f"an option open to every peer's user too); density = `log_prob` under `no_grad` at batch {context['batches']['density']}; "
        "exact sampling under `no_grad` at batch "
        + ", ".join(f"{s} {b}" for s, b in context["sample_batches"].items())
        + " (the same batch for every library).",
        "- Threads: `torch.set_num_threads(n)` for n in " + ", ".join(map(str, threads)) + ", interleaved.",
        "",
        "## Ratios maflow / fastest peer (higher is better; memory: lower is better)",
        "",
    ]
    header = "| Shape (D, H) | threads | " + " | ".join(
        f"{NAMES[op]} (target >= {TARGETS[op]:g}x" + (", POWER 1.2x)" if op != "sample" else ")")
        for op in operations
    )
    if memory:
        header += " | peak memory, training (target <= 1x) | peak memory, density"
    lines += [header + " |", "|" + "---|" * (header.count("|") - 0)]
    for shape in shapes:
        d, h = context["shapes"][shape]
        for count in threads:
            cells = []
            for op in operations:
                best = max(peers, key=lambda p: speed[shape, count, p, op]["cpu"])
                ratio = speed[shape, count, "maflow", op]["cpu"] / speed[shape, count, best, op]["cpu"]
                wall = speed[shape, count, "maflow", op]["wall"] / max(
                    speed[shape, count, p, op]["wall"] for p in peers
                )
                mark = "met" if ratio >= target(shape, op) else "not met"
                cells.append(f"**{ratio:.2f}x** vs {best} ({mark}; wall {wall:.2f}x)")
            if memory:
                for op in ("train", "density"):
                    smallest = min(peers, key=lambda p: memory[shape, p, op])
                    ratio = memory[shape, "maflow", op] / max(memory[shape, smallest, op], 1e-9)
                    cells.append(
                        f"{ratio:.2f}x vs {smallest} ({memory[shape, 'maflow', op]:.1f} / "
                        f"{memory[shape, smallest, op]:.1f} MiB)"
                    )
            lines.append(f"| {shape} ({d}, {h}) | {count} | " + " | ".join(cells) + " |")
            if "maflow-compiled" in libraries:
                lines.append(_compiled_row(speed, shape, count, peers, operations, bool(memory)))
    lines += ["", "## Samples per CPU-second (median)", ""]
    lines += ["| Shape | threads | library | " + " | ".join(NAMES[op] for op in operations) + " |"]
    lines += ["|---|---|---|" + "---|" * len(operations)]
    for shape in shapes:
        for count in threads:
            for lib in libraries:
                cells = [
                    _fmt(speed[shape, count, lib, op]["cpu"]) if (shape, count, lib, op) in speed else "-"
                    for op in operations
                ]
                lines.append(f"| {shape} | {count} | {lib} | " + " | ".join(cells) + " |")
    lines += ["", "## Wall-clock samples per second (median; inflated by the shared machine's load)", ""]
    lines += ["| Shape | threads | library | " + " | ".join(NAMES[op] for op in operations) + " |"]
    lines += ["|---|---|---|" + "---|" * len(operations)]
    for shape in shapes:
        for count in threads:
            for lib in libraries:
                cells = [
                    _fmt(speed[shape, count, lib, op]["wall"]) if (shape, count, lib, op) in speed else "-"
                    for op in operations
                ]
                lines.append(f"| {shape} | {count} | {lib} | " + " | ".join(cells) + " |")
    if memory:
        lines += ["", "## Peak memory above the built model (MiB, one thread, fresh process each)", ""]
        lines += ["| Shape | library | training (2 steps) | density |", "|---|---|---|---|"]
        for shape in shapes:
            for lib in [lib for lib in libraries if (shape, lib, "train") in memory]:
                cells = [f"{memory[shape, lib, op]:.1f}" for op in ("train", "density")]
                lines.append(f"| {shape} | {lib} | " + " | ".join(cells) + " |")
    counts = sorted({key[1] for key in study})
    lines += [
        "",
        "## Threads: maflow alone, samples per wall-clock second (median)",
        "",
        "Interleaved in one process; on a shared 2-core machine a second thread competes with "
        "the other jobs, so read this as what this box gives, not what an idle one would.",
        "",
        "| Shape | "
        + " | ".join(f"training, {n} thread(s)" for n in counts)
        + " | "
        + " | ".join(f"density, {n} thread(s)" for n in counts)
        + " |",
        "|---|" + "---|" * (2 * len(counts)),
    ]
    for shape in shapes:
        cells = [_fmt(study[shape, n, "maflow", op]["wall"]) for op in ("train", "density") for n in counts]
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    lines += ["", NSF_SAMPLING_NOTE, ""]
    return "\n".join(lines)


def _compiled_row(speed, shape: str, count: int, peers, operations, memory: bool) -> str:
    """The ratios of ``maflow train --compile`` (torch.compile of log_prob) to the fastest eager peer."""
    cells = []
    for op in operations:
        if (shape, count, "maflow-compiled", op) not in speed:
            cells.append("-")
            continue
        best = max(peers, key=lambda p: speed[shape, count, p, op]["cpu"])
        ratio = speed[shape, count, "maflow-compiled", op]["cpu"] / speed[shape, count, best, op]["cpu"]
        mark = "met" if ratio >= target(shape, op) else "not met"
        cells.append(f"{ratio:.2f}x vs {best} ({mark})")
    cells += ["-", "-"] if memory else []
    return f"| {shape}, maflow `--compile` | {count} | " + " | ".join(cells) + " |"
