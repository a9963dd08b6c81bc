"""Tutorial 1: density estimation and scoring on your own data.

Fits a masked autoregressive flow (MAF) to the rows of a numpy array, then scores rows: the
log-density of each row under the fitted model, in nats, on the scale of the original data.
Rows with a low score are unusual under the model (an outlier detector).

    python examples/density_estimation.py              # a built-in 4-D example data set
    python examples/density_estimation.py data.npy     # your own (N, D) array
    MAFLOW_QUICK=1 python examples/density_estimation.py   # or --quick: a short run (CI)
"""

import copy
import os
import sys

import numpy as np
import torch

from maflow import MAF
from maflow.transforms.batchnorm import recompute_batchnorm_statistics

QUICK = "--quick" in sys.argv or os.environ.get("MAFLOW_QUICK") == "1"
torch.manual_seed(0)


def example_data(n: int, rng: np.random.Generator) -> np.ndarray:
    """Four columns with curved dependencies and a heavy tail: hard for a Gaussian, easy for a flow."""
    a = rng.normal(size=n)
    b = a**2 + 0.3 * rng.normal(size=n)
    c = np.sin(2 * a) + 0.2 * rng.normal(size=n)
    d = rng.standard_t(df=3, size=n)
    return np.stack([a, b, c, d], axis=1)


# 1. The data: any (N, D) array of floats; hold out 10% of the rows for validation.
files = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
data = np.load(files[0]) if files else example_data(6000, np.random.default_rng(0))
data = data[np.random.default_rng(1).permutation(len(data))]
train, val = data[len(data) // 10 :], data[: len(data) // 10]

# 2. Standardise with the training statistics (flows train best on unit scale). The density of
#    the original rows is the density of the standardised ones divided by prod(std).
mean, std = train.mean(0), train.std(0)


def standardise(rows: np.ndarray) -> torch.Tensor:
    return torch.as_tensor((rows - mean) / std, dtype=torch.float32)


x_train, x_val = standardise(train), standardise(val)

# 3. The model: 5 MADE layers with 2 hidden layers of 64 units each; maximum likelihood with Adam,
#    keeping the parameters of the best validation log-likelihood.
flow = MAF(features=data.shape[1], num_layers=5, hidden_features=64)
optimizer = torch.optim.Adam(flow.parameters(), lr=1e-3)
best_ll, best_state = -float("inf"), None
for epoch in range(2 if QUICK else 60):
    flow.train()
    for batch in x_train[torch.randperm(len(x_train))].split(128):
        loss = -flow.log_prob(batch).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    flow.eval()
    recompute_batchnorm_statistics(flow.transform, x_train)  # batch norm: whole-training-set statistics
    with torch.no_grad():
        val_ll = flow.log_prob(x_val).mean().item()
    if val_ll > best_ll:
        best_ll, best_state = val_ll, copy.deepcopy(flow.state_dict())
    if epoch % 10 == 0 or QUICK:
        print(f"epoch {epoch + 1}: validation log-likelihood {val_ll:.3f} nats per row (standardised)")
flow.load_state_dict(best_state)


# 4. Scoring: the log-density of each row of the original data, in nats.
@torch.no_grad()
def score(rows: np.ndarray) -> np.ndarray:
    return flow.log_prob(standardise(rows)).double().numpy() - np.log(std).sum()


scores = score(val)
standard_error = scores.std(ddof=1) / np.sqrt(len(scores))
print(f"validation: mean log-density {scores.mean():.3f} ± {2 * standard_error:.3f} nats (± 2 SE)")
gaussian = -0.5 * np.linalg.slogdet(2 * np.pi * np.e * np.cov(train.T))[1]
print(f"(a Gaussian fitted to the same rows: about {gaussian:.3f} nats per row)")
print("the 3 most unusual validation rows:")
for index in np.argsort(scores)[:3]:
    print(f"  row {index}: {np.array2string(val[index], precision=2)}  log p = {scores[index]:.2f}")

# 5. The model is generative too: new rows, back on the original scale.
samples = flow.sample((1000,)).double().numpy() * std + mean
print(f"means of the samples {np.array2string(samples.mean(0), precision=2)}, of the data {mean.round(2)}")
