"""docs/quality_zoo.md from ``benchmarks/quality_zoo.py``'s result, timing and learning-curve files."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict


def render_zoo(
    results: list[dict],
    runs: dict[str, list[str]],
    datasets: list[str],
    timing: list[dict] | None = None,
    curves: list[dict] | None = None,
) -> str:
    """docs/quality_zoo.md from benchmarks/quality_zoo.py's rows (the last row of every family, data, run, seed).

    Arguments:
        results: The rows, oldest first.
        runs: Each family's runs in display order (maflow's default first, peers by name).
        datasets: The data sets in display order.
        timing: ``quality_zoo.py time``'s lines (median seconds per step of runs timed in turn).
        curves: ``quality_zoo.py run --every N``'s rows (train and test means along the run).
    """
    from quality import DESCRIPTIONS, SETUPS  # the sibling benchmarks/quality.py

    latest: dict[tuple, dict] = {}
    for r in results:
        latest[r["family"], r["data"], r["run"], r["seed"]] = r
    seeded: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for (family, data, run, seed), r in latest.items():
        seeded[family, data, run][seed] = r
    lines = [
        "# Quality: Real NVP and neural spline flows against the peers",
        "",
        "Written by `python benchmarks/quality_zoo.py report` from `benchmarks/quality_zoo_results.jsonl`;",
        "runs by `OMP_NUM_THREADS=1 python benchmarks/quality_zoo.py run ...` (see the script's docstring).",
        "Test log-likelihood in nats (mean over seeds; ± 2 SE over the test points of the first seed).",
        "Each library keeps its own defaults; same widths, depth, K, optimiser (plain Adam), budget and",
        "minibatch order. `maflow+x` rows are one-factor variants of maflow's default. The seed sets",
        "the initialisation and the data order; the last row of every run and seed counts.",
        "",
        "Variants. Real NVP: `depth-3` one more hidden layer (nflows' parameter count); `resnet`",
        "nflows' `ResidualNet` shape in each coupling layer (linear in, a pre-activation residual block",
        "of two layers, linear out); `resnet-1` the same with one-layer blocks (the default's layer",
        "count and size); `resnet-2relu` `resnet-1` with a ReLU after the block (the default's two",
        "ReLUs and layer count); `zuko-scale` zuko's soft-clamped exp scale, shift after it; `skip`",
        "the MLP plus a linear map from its input to its output; `bn-between`",
        "no batch norm after the last coupling layer; `running` batch-norm running averages at test",
        "time; `sigmoid` the sigmoid(a + 2) scale; `no-identity` PyTorch's init for the output layer",
        "instead of the identity start; `C+S+no-identity` (`benchmarks/realnvp_variants.py`): no",
        "identity start (the output layer re-drawn with PyTorch's init after building), conditioner C",
        "(the MLP when not named) and scale S: softplus when not named, `sigmoid` nflows' sigmoid(a +",
        "2), `sigmoid2` 2 sigmoid(a) (0 to 2, 1 at a = 0), `sig1.5o1` 1.5 sigmoid(a + 1), `sig1.2o1.5`",
        "1.2 sigmoid(a + 1.5), `zuko` zuko's; `nflows+identity` nflows' model with zero output weights",
        'and biases for scale 1. `linear` `RealNVP(residual="linear")`; `res`, `res-sum` MAF\'s',
        "residual blocks in the coupling MLPs (scaled, plain sum); a `-t` suffix: the residual net's",
        "blocks keep PyTorch's init instead of starting near zero. Fifth round: `slowR` the scale as",
        "softplus(R a) (under Adam the scale learns R times as fast), `fastR` the shift and the scale",
        "both R times as fast, both from the identity start; `gain-sigmoid` Glow's coupling scale g",
        "sigmoid(a + 2) with a learned per-dimension gain g, nflows' random start (`-id`: from the",
        "identity, g = 1 / sigmoid(2)); `small-startF` output weights at F times PyTorch's init with",
        "the identity's biases (since 52ab790 the default, `start_noise=0.1`; rows of `maflow` run",
        "before it are the exact identity start, now `maflow+exact-identity`). NSF: `maf-init` the MAF code's",
        "hidden-layer init (the coupling default before 02a7c75, the autoregressive one before the",
        'fourth round of docs/decisions.md, "NSF\'s autoregressive init"; those rows were run as',
        "`maflow`), and rows run as `maflow+weight-torch` (PyTorch's init, now the default) are shown",
        "as `maflow`; each row's `recorded_as` keeps the name it ran under. `torch-init` the MAF",
        "code's init redrawn with PyTorch's after building",
        "(PyTorch's init, another draw), `no-lu` no LU layers (zuko's structure). checkerboard and",
        "two_spirals are held out: no default was chosen on them (two_spirals was added after the",
        "fourth round's choices). Seventh round (Real NVP): `mix-K` a learned linear map before every",
        "coupling layer but the first, started at the identity (`full`: a D x D matrix,",
        '`RealNVP(mixing="full")`; `lu`: a seeded permutation and an LU map; `permutation`: the',
        "permutation alone); `fixed-rotation` a fixed random rotation there (no parameters);",
        "`-rand` Glow's random orthogonal start instead; `+slowR` as above. Eighth round: the default's",
        'masks became random halves (`RealNVP(mask="random")`); `alternate-mask` the even/odd masks of',
        "before. On digits, MINIBOONE and MNIST, rows run as `maflow` before the change are shown as",
        "`maflow+alternate-mask` and rows run as `maflow+random-mask` as `maflow` (each keeps",
        "`recorded_as`); on the 2-D sets the two masks are the same. mnist-3k and mnist-50k: Real NVP",
        "from the eighth round, NSF from the ninth (seeds 0-1 at most: a run takes 5-35 minutes). Ninth",
        "round (Real NVP): `dropoutP` dropout P after every hidden activation of the coupling nets",
        "(`RealNVP(dropout=P)`) and `random+sigmoid2` the 0-to-2 sigmoid scale, both around the",
        "random-mask default, as are `act-X` (hidden activation X), `random+linear` (the linear",
        "path) and `random+depth-3`; rows first run by a scratch driver keep `recorded_as` and a note.",
        "Tenth round (Real NVP): with batch norm and D > 2 the default became the bounded recipe",
        '(`RealNVP(scale="bounded")`, docs/decisions.md); `softplus` is the default of before, and',
        "rows run as `maflow` on digits, MINIBOONE and MNIST before it are shown as `maflow+softplus`",
        "(each keeps `recorded_as`). `moons-bn`, `pinwheel-bn`: the 2-D sets with batch norm, where",
        "the default stays softplus (`bounded` the recipe there; its rows were run as `maflow`).",
        "One factor of the recipe undone: `final-bn`, `scale-sigmoid` (at most 1), `torch-blocks`,",
        "`identity-start`, `bounded+random-mask`, `plain-mlp`; `running-stats` batch norm's running",
        "averages at test time. Screening rows (`A+C+S+no-identity+bn-between`, masks A; `shift-startF`",
        "the shift outputs at F times PyTorch's init) ran from a working tree and carry a `note`.",
        "mnist-10k is held out: added after the choice, to check it.",
        "",
    ]
    for family, names in runs.items():
        present = [d for d in datasets if any((family, d, run) in seeded for run in names)]
        if not present:
            continue
        lines += [
            f"## {family}",
            "",
            "| run | " + " | ".join(present) + " |",
            "|---" * (len(present) + 1) + "|",
        ]
        for run in names:
            cells = []
            for data in present:
                rs = seeded.get((family, data, run))
                if not rs:
                    cells.append("")
                    continue
                mean = statistics.fmean(r["test_ll"] for r in rs.values())
                first = rs[min(rs)]["two_se"]
                cells.append(f"{mean:.3f} ± {first:.3f} ({len(rs)} seed{'s' * (len(rs) > 1)})")
            lines.append(f"| {run} | " + " | ".join(cells) + " |")
        lines += ["", *_zoo_seed_lines(family, names, present, seeded)]
        commits = sorted({r["commit"] for (f, *_), r in latest.items() if f == family})
        lines += [f"Commits: {', '.join(commits)}.", ""]
    lines += _zoo_timing_lines(timing or [])
    lines += _zoo_curve_lines(curves or [])
    lines += ["## Data sets", ""] + [f"- {d}: {DESCRIPTIONS[d]}" for d in datasets] + [""]
    lines += [f"- budget {d}: {json.dumps(SETUPS[d])}" for d in datasets] + [""]
    return "\n".join(lines)


def _zoo_timing_lines(timing: list[dict]) -> list[str]:
    """Each timed run's median time per step and its ratio to maflow's default timed beside it."""
    if not timing:
        return []
    out = [
        "## Time per training step",
        "",
        "From `quality_zoo.py time`: the runs take training steps in turn on the same batch (order",
        "alternating), one thread; median over the steps, and the ratio to `maflow` (the default of",
        "the commit) timed beside it. The NSF rows time the default, with its LU layers, beside",
        "`maflow+no-lu`, before and after 56b4bf1 changed how `LULinear` applies its factors; the",
        "rows at 1417697 time each family's default beside nflows' and zuko's.",
        "",
        "| family | data | run | ms per step | / maflow | steps | load | commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in timing:
        per = t["seconds_per_step"]
        base = per.get("maflow")
        for run, seconds in per.items():
            ratio = f"{seconds / base:.3f}" if base else "–"
            out.append(
                f"| {t['family']} | {t['data']} | {run} | {seconds * 1e3:.2f} | {ratio} | {t['steps']} "
                f"| {t['load']:.1f} | {t['commit']} |"
            )
    return [*out, ""]


def _zoo_seed_lines(family: str, names: list[str], present: list[str], seeded: dict) -> list[str]:
    """Each seed's value of the runs measured on several seeds, and maflow minus the best peer per seed."""
    out = []
    for data in present:
        for run in names:
            rs = seeded.get((family, data, run), {})
            if len(rs) > 1:
                each = ", ".join(f"{s}: {rs[s]['test_ll']:.3f}" for s in sorted(rs))
                out.append(f"- {data}, {run}: {each}")
        # the best peer among those measured on the same two or more seeds as maflow's default
        ours = seeded.get((family, data, "maflow"), {})
        shared = {}
        for peer in (run for run in names if not run.startswith("maflow")):
            common = [s for s in sorted(ours) if s in seeded.get((family, data, peer), {})]
            if len(common) > 1:
                shared[peer] = (
                    common,
                    statistics.fmean(seeded[family, data, peer][s]["test_ll"] for s in common),
                )
        if shared:
            best = max(shared, key=lambda p: shared[p][1])
            common = shared[best][0]
            diffs = [ours[s]["test_ll"] - seeded[family, data, best][s]["test_ll"] for s in common]
            out.append(
                f"- {data}: maflow − best peer ({best}) over seeds {', '.join(map(str, common))}: "
                f"{statistics.fmean(diffs):+.3f} (each seed: {', '.join(f'{d:+.3f}' for d in diffs)})"
            )
    return [*out, ""] if out else []


def _zoo_curve_lines(curves: list[dict]) -> list[str]:
    """Learning curves: each row's train and test means at the recorded epochs."""
    if not curves:
        return []
    out = [
        "## Learning curves",
        "",
        "From `quality_zoo.py run --every 5 --results benchmarks/quality_zoo_curves.jsonl`: train and",
        "test means (evaluation mode, float32) along the run, as epoch: train / test.",
        "",
        "| family | data | run | seed | curve | commit |",
        "|---|---|---|---|---|---|",
    ]
    for r in curves:
        points = ", ".join(f"{int(e)}: {a:.2f} / {b:.2f}" for e, a, b in r["curve"])
        out.append(f"| {r['family']} | {r['data']} | {r['run']} | {r['seed']} | {points} | {r['commit']} |")
    return [*out, ""]
