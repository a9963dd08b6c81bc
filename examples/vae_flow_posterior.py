"""Tutorial 3: a variational autoencoder with a flow posterior, in about 40 lines.

The encoder gives a Gaussian q0(z | x) and a context h; maflow's FlowPosterior pushes q0
through inverse autoregressive flow (IAF) steps conditioned on h, and returns z with its exact
log q(z | x). The model is a Bernoulli decoder on binarised 8x8 digits (scikit-learn's; needs
``pip install 'maflow[data]'``), trained on the ELBO = E_q[log p(x | z) + log p(z) - log q(z | x)].

    python examples/vae_flow_posterior.py
    MAFLOW_QUICK=1 python examples/vae_flow_posterior.py    # or --quick: a short run (CI)
"""

import math
import os
import sys

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional as F

from maflow.models.vae import FlowPosterior

QUICK = "--quick" in sys.argv or os.environ.get("MAFLOW_QUICK") == "1"
torch.manual_seed(0)
x = torch.bernoulli(torch.as_tensor(load_digits().data / 16, dtype=torch.float32))  # (1797, 64), 0/1
train, test = x[:1500], x[1500:]
D, L, H = 64, 8, 64  # data, latent and context sizes (H: the width of the steps' MADEs)


class FlowVAE(nn.Module):
    def __init__(self, flow: str = "iaf", steps: int = 4):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(D, 256), nn.ELU(), nn.Linear(256, 2 * L + H))
        self.decoder = nn.Sequential(nn.Linear(L, 256), nn.ELU(), nn.Linear(256, D))
        self.posterior = FlowPosterior(
            L, context_features=H, num_steps=steps, hidden_features=[H], normalization="none", flow=flow
        )

    def elbo(self, x: torch.Tensor, samples: int = 1) -> torch.Tensor:
        """The ELBO of each row of x (nats), averaged over ``samples`` draws of z."""
        mean, log_std, h = self.encoder(x).split([L, L, H], dim=-1)
        z, log_q = self.posterior.rsample_and_log_prob(mean, log_std, h, num_samples=samples)
        log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
        logits = self.decoder(z)
        log_lik = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
        return (log_lik.sum(-1) + log_prior - log_q).mean(0)


for name, steps in (("diagonal Gaussian", 0), ("IAF, 4 steps", 4)):
    model = FlowVAE(steps=steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _epoch in range(2 if QUICK else 150):
        for batch in train[torch.randperm(len(train))].split(100):
            loss = -model.elbo(batch).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        print(f"{name:18}: test ELBO {model.elbo(test, samples=10).mean().item():.2f} nats per digit")
