"""Bernoulli MADE: an autoregressive density over binary vectors, with mask ensembles."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maflow.nn.made import MADE
from maflow.utils.stats import log_mean_exp

__all__ = ["BernoulliMADE"]


class BernoulliMADE(nn.Module):
    r"""A MADE with one Bernoulli logit per input: :math:`p(x) = \prod_d p(x_d \mid x_{<d})`.

    ``log_prob`` is one network pass under the current mask; ``sample`` draws exactly with
    D passes in degree order. With ``num_masks > 1`` the same weights are trained under
    several seeded order-and-connectivity draws (connectivity-agnostic training), and
    ``log_prob_ensemble`` scores the uniform mixture of the first S of them,
    :math:`\log \frac{1}{S} \sum_s p_s(x)`: probabilities are averaged, never logits
    (averaging logits does not give a normalised distribution).

    References:
        | MADE: Masked Autoencoder for Distribution Estimation (Germain et al., 2015)
        | https://arxiv.org/abs/1502.03509

    Arguments:
        features: Number of binary inputs D.
        hidden_features: Units per hidden layer (int, repeated ``num_hidden_layers`` times,
            or a sequence).
        num_hidden_layers: Number of hidden layers when ``hidden_features`` is an int.
        direct_input: Add a masked direct input-to-output linear connection (each logit
            sees the inputs that precede it), as the MADE authors' code does for its
            published runs.
        **made_options: Passed to :class:`maflow.nn.MADE`: ``context_features``, ``order``
            (``"random"`` by default here; with ``num_masks > 1`` keep it, else every mask has
            the same order and only the connectivity changes), ``hidden_degrees``
            (``"random"`` here, as the MADE paper), ``activation`` (ReLU in the MADE authors'
            best runs), ``num_masks`` (seeded mask draws cycled by ``update_masks()``),
            ``seed`` (mask ``k`` uses ``seed + k``), ``weight_init`` (``"orthogonal"``, the
            MADE authors', also draws the direct connection orthogonal), ...

    Example:
        >>> model = BernoulliMADE(6, hidden_features=16, num_masks=3)
        >>> x = torch.bernoulli(torch.full((4, 6), 0.5))
        >>> model.log_prob(x).shape
        torch.Size([4])
        >>> model.log_prob_ensemble(x, 3).shape
        torch.Size([4])
        >>> model.sample(2).shape
        torch.Size([2, 6])
    """

    def __init__(
        self,
        features: int,
        hidden_features: int | Sequence[int] = 500,
        num_hidden_layers: int = 1,
        direct_input: bool = False,
        **made_options,
    ):
        super().__init__()
        made_options.setdefault("order", "random")
        made_options.setdefault("hidden_degrees", "random")
        self.features = features
        self.made = MADE(features, hidden_features, num_hidden_layers, output_multiplier=1, **made_options)
        if direct_input:
            if made_options.get("weight_init") == "orthogonal":
                weight = nn.init.orthogonal_(torch.empty(features, features))
            else:
                weight = torch.randn(features, features) / math.sqrt(features + 1)
            self.direct_weight = nn.Parameter(weight)
        else:
            self.register_parameter("direct_weight", None)

    @property
    def num_masks(self) -> int:
        return self.made.num_masks

    @property
    def mask_index(self) -> int:
        return self.made.mask_index

    def update_masks(self) -> None:
        """Move to the next of the ``num_masks`` seeded order/connectivity draws."""
        self.made.update_masks()

    def set_mask_index(self, index: int) -> None:
        """Use the ``index``-th mask draw (0-based)."""
        self.made.set_mask_index(index)

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Logits of :math:`p(x_d = 1 \\mid x_{<d})` under the current mask, shape ``x.shape``."""
        logits = self.made(x, context)
        if self.direct_weight is not None:
            # Recomputed from the degrees at every call so it always follows the current mask.
            degrees = self.made.input_degrees
            mask = (degrees[:, None] > degrees[None, :]).to(self.direct_weight.dtype)
            logits = logits + F.linear(x, self.direct_weight * mask)
        return logits

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Log-likelihood in nats under the current mask, shape ``(batch,)``."""
        logits = self.logits(x, context)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)

    def log_prob_ensemble(
        self, x: Tensor, num_masks_to_average: int | None = None, context: Tensor | None = None
    ) -> Tensor:
        """Log of the mixture :math:`\\frac1S \\sum_{s<S} p_s(x)` over mask draws ``0..S-1``, in float64.

        ``S`` defaults to ``num_masks``; the current mask is restored afterwards.
        """
        count = self.num_masks if num_masks_to_average is None else int(num_masks_to_average)
        if not 1 <= count <= self.num_masks:
            raise ValueError(
                f"can average over 1..{self.num_masks} masks (the model's num_masks), got {count}"
            )
        previous = self.mask_index
        try:
            per_mask = []
            for index in range(count):
                self.set_mask_index(index)
                per_mask.append(self.log_prob(x, context))
        finally:
            self.set_mask_index(previous)
        return log_mean_exp(torch.stack(per_mask), dim=0)

    @torch.no_grad()
    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Exact samples under the current mask: D passes, input of degree d drawn at pass d."""
        parameter = next(self.parameters())
        if context is not None and context.shape[0] != num_samples:
            raise ValueError(f"context has {context.shape[0]} rows, expected num_samples={num_samples}")
        x = torch.zeros(num_samples, self.features, dtype=parameter.dtype, device=parameter.device)
        generation_order = torch.argsort(self.made.input_degrees)
        for index in generation_order.tolist():
            probability = torch.sigmoid(self.logits(x, context)[:, index])
            x[:, index] = torch.bernoulli(probability, generator=generator)
        return x
