"""Gallery of the flows without a closed-form inverse: each fitted to Rezende and Mohamed's ring
energy U1 by reverse KL (they cannot be fitted to data by likelihood), drawn as a histogram of
their samples next to exp(-U1).

    python scripts/ring_gallery.py docs/img/gallery/ring-energy.png
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from maflow.models.registry import build_model  # noqa: E402
from maflow.models.variational import STEPS  # noqa: E402


def ring_energy(z):
    a = torch.exp(-0.5 * ((z[:, 0] - 2) / 0.6) ** 2)
    b = torch.exp(-0.5 * ((z[:, 0] + 2) / 0.6) ** 2)
    return 0.5 * ((z.norm(dim=-1) - 2) / 0.4) ** 2 - torch.log(a + b + 1e-30)


def fit(name: str, steps: int = 1000) -> tuple[np.ndarray, float]:
    torch.manual_seed(0)
    flow = build_model(name, 2, num_layers=16)
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(steps):
        z, log_q = flow.rsample_and_log_prob((256,))
        loss = (log_q + ring_energy(z)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        z, log_q = flow.rsample_and_log_prob((20000,))
        return z.numpy(), (log_q + ring_energy(z)).mean().item()


def main(path: str) -> None:
    grid = np.linspace(-4, 4, 200)
    xx, yy = np.meshgrid(grid, grid)
    target = torch.exp(-ring_energy(torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1)))).reshape(200, 200)
    figure, axes = plt.subplots(1, len(STEPS) + 1, figsize=(2.4 * (len(STEPS) + 1), 2.6))
    axes[0].imshow(target.numpy(), extent=(-4, 4, -4, 4), origin="lower", cmap="magma")
    axes[0].set_title("exp(-U1)", fontsize=9)
    for axis, name in zip(axes[1:], STEPS):
        z, objective = fit(name)
        axis.hist2d(z[:, 0], z[:, 1], bins=100, range=[[-4, 4], [-4, 4]], cmap="magma")
        axis.set_title(f"{name}\nE[log q + U] = {objective:.2f}", fontsize=8)
        print(name, round(objective, 3), flush=True)
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_aspect("equal")
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    figure.savefig(path, dpi=80)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ring-energy.png")
