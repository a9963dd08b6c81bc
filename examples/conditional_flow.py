"""Tutorial 2: a conditional flow, sampled for given contexts.

Learns p(x | c) for 2-D points x whose distribution depends on a scalar context c, with one
conditional MAF (``context_features=1``: every MADE sees c as an extra input), then draws
samples for contexts of our choice and checks them against the true conditional distribution.

    python examples/conditional_flow.py
    MAFLOW_QUICK=1 python examples/conditional_flow.py    # or --quick: a short run (CI)
"""

import os
import sys

import numpy as np
import torch

from maflow import MAF

QUICK = "--quick" in sys.argv or os.environ.get("MAFLOW_QUICK") == "1"
torch.manual_seed(0)


def simulate(c: torch.Tensor) -> torch.Tensor:
    """x | c: x1 ~ N(2c, 0.2 + 0.3|c|), x2 = c x1^2 + N(0, 0.1): mean, spread and shape all move with c."""
    x1 = 2 * c + (0.2 + 0.3 * c.abs()) * torch.randn_like(c)
    x2 = c * x1**2 + 0.1 * torch.randn_like(c)
    return torch.cat([x1, x2], dim=1)


# 1. Training pairs (x, c), c uniform on [-1, 1].
c_train = 2 * torch.rand(20_000, 1) - 1
x_train = simulate(c_train)

# 2. A conditional MAF: p(x | c) = N(f(x; c); 0, I) |det df/dx|.
flow = MAF(features=2, num_layers=5, hidden_features=64, context_features=1, batch_norm=False)
optimizer = torch.optim.Adam(flow.parameters(), lr=1e-3)
steps = 100 if QUICK else 4000
for step in range(steps):
    rows = torch.randint(len(x_train), (256,))
    loss = -flow.log_prob(x_train[rows], context=c_train[rows]).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 1000 == 0 or step == steps - 1:
        print(f"step {step + 1}: -log p(x | c) = {loss.item():.3f} nats")
flow.eval()

# 3. Samples for given contexts: one context row per condition; sample_shape counts draws per row.
contexts = torch.tensor([[-0.8], [0.0], [0.8]])
with torch.no_grad():
    samples = flow.sample((2000,), context=contexts)  # (2000, 3, 2): draws x contexts x features
    truth = torch.stack([simulate(c.expand(2000, 1)) for c in contexts], dim=1)
print("context | mean of x1, x2 (flow) | (true) | std of x1 (flow) | (true)")
for k, c in enumerate(contexts[:, 0].tolist()):
    flow_mean, true_mean = samples[:, k].mean(0).numpy(), truth[:, k].mean(0).numpy()
    print(
        f"{c:+.1f}    | {np.array2string(flow_mean, precision=2):>14} | {np.array2string(true_mean, precision=2):>14}"
        f" | {samples[:, k, 0].std().item():.3f}            | {truth[:, k, 0].std().item():.3f}"
    )

# 4. Conditional densities: the same point is likely under one context and not another.
point = torch.tensor([[1.6, 2.0]])
with torch.no_grad():
    for c in (-0.8, 0.8):
        log_p = flow.log_prob(point, context=torch.tensor([[c]])).item()
        print(f"log p(x = (1.6, 2.0) | c = {c:+.1f}) = {log_p:.2f} nats")
