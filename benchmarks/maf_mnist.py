"""Samples per second of the MNIST-shaped MAF (D=784, H=512, K=5): training step, density, exact sampling.

    python benchmarks/maf_mnist.py                      # the trainer's model and optimiser
    python benchmarks/maf_mnist.py --naive-sampling     # also the D-pass inverse, for comparison

The model is ``maflow.MAF(784, num_layers=5, hidden_features=512)`` with batch norm after
every MADE (the MAF code's placement) and the trainer's optimiser (fused Adam when the
torch build has it). Times are medians over repeats, in samples per wall-clock second and
per CPU second (the latter is not inflated by other jobs on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402


def timed(fn, batch: int, repeats: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(batch / (time.perf_counter() - w0))
        cpu.append(batch / (time.process_time() - c0))
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=100)
    parser.add_argument("--density-batch", type=int, default=1000)
    parser.add_argument("--sample-batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--naive-sampling", action="store_true", help="also time the D-pass inverse (slow)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from maflow import MAF
    from maflow.train.flow_config import FlowTrainingConfig
    from maflow.train.flow_setup import make_optimizer

    flow = MAF(args.features, num_layers=args.layers, hidden_features=args.hidden)
    optimizer = make_optimizer(flow, FlowTrainingConfig(dataset="mnist"))
    x_train = torch.randn(args.train_batch, args.features)
    x_density = torch.randn(args.density_batch, args.features)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        (-flow.log_prob(x_train).mean()).backward()
        optimizer.step()

    def density():
        with torch.no_grad():
            flow.log_prob(x_density)

    def sample(method: str):
        for layer in flow.transform.transforms:
            if hasattr(layer, "inverse_method"):
                layer.inverse_method = method
        with torch.no_grad():
            flow.sample((args.sample_batch,))

    flow.train()
    train_step()  # warm-up: optimiser state, allocator
    rows = [("training step", args.train_batch, *timed(train_step, args.train_batch, args.repeats))]
    flow.eval()
    density()
    rows.append(("density (no grad)", args.density_batch, *timed(density, args.density_batch, args.repeats)))
    rows.append(
        (
            "exact sampling",
            args.sample_batch,
            *timed(lambda: sample("degree"), args.sample_batch, args.repeats),
        )
    )
    if args.naive_sampling:
        rows.append(
            (
                "exact sampling, D-pass",
                args.sample_batch,
                *timed(lambda: sample("naive"), args.sample_batch, 1),
            )
        )
    print(
        f"MAF D={args.features} H={args.hidden} K={args.layers}, {args.threads} thread(s), "
        f"torch {torch.__version__}, optimiser {type(optimizer).__name__}"
        f"{' (fused)' if optimizer.defaults.get('fused') else ''}"
    )
    for name, batch, wall, cpu in rows:
        print(f"{name:24s} batch {batch:5d}: {wall:10.1f} samples/s wall, {cpu:10.1f} samples/s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
