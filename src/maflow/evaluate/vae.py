"""Samples of a trained VAE: z from the prior N(0, I), then x from the Bernoulli decoder p(x | z)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["draw_vae_samples", "save_vae_samples"]


@torch.no_grad()
def draw_vae_samples(model, num_samples: int, seed: int = 0, mean: bool = False, batch_size: int = 500):
    """``num_samples`` images of ``model`` (a :class:`~maflow.models.vae.VAE`), rows of its pixels.

    The decoder's likelihood is a product of Bernoullis, so a sample of p(x) is binary: each
    pixel is drawn with the decoded probability (``uint8`` 0/1). ``mean=True`` gives those
    probabilities instead (``float32``), the smooth pictures usually shown, which are not samples
    of the model. The latents and the pixels are drawn on the CPU from a generator seeded with
    ``seed`` (the global random state is untouched), so the same seed gives the same samples on
    any device, up to the decoder's arithmetic.

    Example:
        >>> from maflow.models.vae import VAE
        >>> vae = VAE(image_shape=(1, 2, 3), latent_features=2, encoder="dense", decoder="dense",
        ...           hidden_features=[4], posterior="diagonal")
        >>> x = draw_vae_samples(vae, 5, seed=1)
        >>> x.shape, x.dtype, set(np.unique(x)) <= {0, 1}
        ((5, 6), dtype('uint8'), True)
        >>> draw_vae_samples(vae, 5, seed=1, mean=True).dtype
        dtype('float32')
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(num_samples, model.latent_features, generator=generator)
    try:
        probabilities = torch.cat(
            [torch.sigmoid(model.logits(chunk.to(device))).float().cpu() for chunk in z.split(batch_size)]
        )
    finally:
        model.train(was_training)
    if mean:
        return probabilities.numpy()
    return torch.bernoulli(probabilities, generator=generator).to(torch.uint8).numpy()


def save_vae_samples(samples: np.ndarray, image_shape, path) -> tuple[Path, Path | None]:
    """Writes ``samples`` to ``path``'s ``.npy`` and, as a grid of images, to ``path`` (a ``.png``).

    Returns the two paths (the picture's is ``None`` without matplotlib); both writes are atomic.
    """
    from maflow.run.figures import save_image_grid
    from maflow.utils.io import atomic_write

    path = Path(path)
    npy = path.with_suffix(".npy")
    atomic_write(npy, lambda f: np.save(f, samples))
    return npy, save_image_grid(samples, tuple(image_shape), path)
