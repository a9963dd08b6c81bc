"""Threads for training and density: torch's default against 1 and 2, a fresh process per setting.

    python benchmarks/threads.py                 # every shape and setting, a table on stdout
    python benchmarks/threads.py --json out.json

Each setting runs in its own Python process (torch fixes its thread pool at the first parallel
op), times Adam steps of a MAF on random data of the MNIST shape (D 784, MAF(5) 1024 x 2, the
MAF paper's preset) and the MINIBOONE shape (D 43, MAF(5) 512 x 2), and log_prob on 1,000
points; the 1-minute load average before and after each process is recorded beside it, since a
busy machine changes the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SHAPES = {"mnist": (784, 1024), "miniboone": (43, 512)}


def _child(shape: str, threads: int, steps: int, repeats: int) -> dict:
    import torch

    from maflow import MAF

    default = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    features, hidden = SHAPES[shape]
    model = MAF(features=features, num_layers=5, hidden_features=hidden, num_hidden_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(100, features)
    for _ in range(3):  # warm-up
        loss = -model.log_prob(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    step_ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            loss = -model.log_prob(x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        step_ms.append(1000 * (time.perf_counter() - start) / steps)
    model.eval()
    points = torch.randn(1000, features)
    density = []
    with torch.no_grad():
        model.log_prob(points)
        for _ in range(repeats):
            start = time.perf_counter()
            model.log_prob(points)
            density.append(1000 / (time.perf_counter() - start))
    return {
        "shape": shape,
        "threads": torch.get_num_threads(),
        "torch_default_threads": default,
        "train_ms_per_step": sorted(step_ms),
        "density_points_per_s": sorted(density),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10, help="Adam steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per process")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--child", nargs=2, metavar=("SHAPE", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]), args.steps, args.repeats)))
        return 0
    rows = []
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    for shape in SHAPES:
        for threads in (0, 1, 2):  # 0: torch's default
            load_before = os.getloadavg()[0]
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    shape,
                    str(threads),
                    "--steps",
                    str(args.steps),
                    "--repeats",
                    str(args.repeats),
                ],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout
            row = json.loads(output.strip().splitlines()[-1])
            row.update(
                setting="default" if threads == 0 else str(threads),
                load_before=load_before,
                load_after=os.getloadavg()[0],
                cpus=os.cpu_count(),
            )
            rows.append(row)
            print(
                f"{shape:9s} {row['setting']:>7s} ({row['threads']} threads): train "
                f"{row['train_ms_per_step'][0]:.0f}-{row['train_ms_per_step'][-1]:.0f} ms/step, density "
                f"{row['density_points_per_s'][0]:.0f}-{row['density_points_per_s'][-1]:.0f} points/s; "
                f"load {load_before:.1f} -> {row['load_after']:.1f} on {row['cpus']} CPUs",
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
