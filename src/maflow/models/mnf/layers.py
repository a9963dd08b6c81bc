"""Bayesian linear and convolutional layers with a multiplicative-normalizing-flow posterior (MNF)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maflow.models.mnf.flows import GatedMaskedFlow

__all__ = ["MNFLayer", "MNFLinear", "MNFConv2d"]

_LOG_2PI = math.log(2 * math.pi)


def _normal_kl_to_standard(mean: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)), summed."""
    return 0.5 * (log_var.exp() + mean.pow(2) - 1 - log_var).sum()


class MNFLayer(nn.Module):
    r"""What MNF linear and convolutional layers share: q(z), r(z|W) and the KL bound.

    The posterior over the weights is :math:`q(W) = \int q(W|z) q(z) dz` with
    :math:`q(W|z) = \prod N(z_i \mu_{ij}, \sigma^2_{ij})` and :math:`q(z)` a Gaussian
    :math:`q_0` pushed through a gated masked flow. The KL to the prior N(0, 1) is bounded above
    (MNF, eq. 13) by the single-sample estimate

    .. math:: \mathrm{KL}(q(W|z_T) \| p(W)) + \log q(z_T) - \log r(z_T | W),

    with :math:`z_T \sim q(z)`, :math:`W \sim q(W|z_T)`, and an auxiliary
    :math:`r(z_T|W) = N(f_r(z_T); \mu_r(W), \mathrm{diag}\,e^{-\ell(W)}) |\det \partial f_r / \partial z_T|`
    whose flow :math:`f_r` has its own parameters. :math:`\log q_0` uses its exact expectation
    :math:`-\tfrac12 \sum (\log 2\pi + \log \sigma_0^2 + 1)`; every other term is the sample value.
    Subclasses define the weight shapes, ``_scaled_weight_mean`` and ``_auxiliary_projection``.

    References:
        Louizos and Welling, "Multiplicative Normalizing Flows for Variational Bayesian Neural
        Networks", ICML 2017, arXiv:1703.01961.
    """

    z_features: int

    def _build_variational(
        self, weight_shape, bias_mean: bool, num_flows_q, num_flows_r, hidden_features, mask_mode, max_std
    ):
        if max_std is not None and not max_std > 0:
            raise ValueError(f"max_std must be a positive number or None, got {max_std}")
        self.max_std = max_std
        out_features = weight_shape[0]
        # He-normal means and z near 1 start the network at its deterministic counterpart; janosh/torch-mnf's
        # 0.1 N(0, 1) for both scales every weight by ~0.1 and learns visibly slower (docs/decisions.md).
        fan_in = math.prod(weight_shape[1:])
        self.weight_mean = nn.Parameter(math.sqrt(2 / fan_in) * torch.randn(weight_shape))
        self.weight_log_var = nn.Parameter(-9 + 0.1 * torch.randn(weight_shape))
        self.bias_mean = nn.Parameter(torch.zeros(out_features)) if bias_mean else None
        self.bias_log_var = nn.Parameter(-9 + 0.1 * torch.randn(out_features))
        d = self.z_features
        self.q0_mean = nn.Parameter(1 + 0.1 * torch.randn(d))
        self.q0_log_var = nn.Parameter(-9 + 0.1 * torch.randn(d))
        self.r0_c = nn.Parameter(0.1 * torch.randn(d))
        self.r0_b1 = nn.Parameter(0.1 * torch.randn(d))
        self.r0_b2 = nn.Parameter(0.1 * torch.randn(d))
        self.flow_q = GatedMaskedFlow(d, num_flows_q, hidden_features, mask_mode, seed=1)
        self.flow_r = GatedMaskedFlow(d, num_flows_r, hidden_features, mask_mode, seed=2)

    def sample_z(self, num_samples: int) -> tuple[Tensor, Tensor]:
        """Draws ``num_samples`` z_T ~ q(z); returns (z_T, log q(z_T)) with log q(z_T) of shape (num_samples,).

        log q(z_T) is the sample value here (the KL uses the expectation of the q0 part).
        """
        eps = torch.randn(num_samples, self.z_features, device=self.q0_mean.device, dtype=self.q0_mean.dtype)
        z0 = self.q0_mean + (0.5 * self.q0_log_var).exp() * eps
        z, logabsdet = self.flow_q(z0)
        log_q0 = -0.5 * (_LOG_2PI + self.q0_log_var + eps.pow(2)).sum(-1)
        return z, log_q0 - logabsdet

    def kl_divergence(self) -> Tensor:
        """A one-sample estimate of the MNF upper bound on KL(q(W) || p(W)) for this layer (a scalar)."""
        eps = torch.randn(1, self.z_features, device=self.q0_mean.device, dtype=self.q0_mean.dtype)
        z0 = self.q0_mean + (0.5 * self.q0_log_var).exp() * eps
        z, logabsdet_q = self.flow_q(z0)
        z = z[0]
        log_q = -0.5 * (_LOG_2PI + self.q0_log_var + 1).sum() - logabsdet_q[0]

        weight_mean = self._scaled_weight_mean(z)
        kl_weight = _normal_kl_to_standard(weight_mean, self.weight_log_var)
        bias_mean = self.bias_mean if self.bias_mean is not None else torch.zeros_like(self.bias_log_var)
        kl_bias = _normal_kl_to_standard(bias_mean, self.bias_log_var)

        a = self._auxiliary_projection(weight_mean, bias_mean)
        r_mean = self.r0_b1 * a.mean()
        r_log_precision = self.r0_b2 * a.mean()
        z_r, logabsdet_r = self.flow_r(z.unsqueeze(0))
        log_r = (
            logabsdet_r[0]
            + 0.5 * (r_log_precision - r_log_precision.exp() * (z_r[0] - r_mean).pow(2) - _LOG_2PI).sum()
        )
        return kl_weight + kl_bias + log_q - log_r

    def forward_variances(self) -> tuple[Tensor, Tensor]:
        """The variances of W and b that the forward pass draws with.

        With ``max_std`` they are capped at ``max_std**2``, as the MNF authors' ``thres_var``
        (AMLab-Amsterdam/MNF_VBNN): only the predictions see the cap; the KL keeps the
        uncapped variances, so the bound describes the uncapped posterior.
        """
        weight_var, bias_var = self.weight_log_var.exp(), self.bias_log_var.exp()
        if self.max_std is not None:
            cap = self.max_std**2
            weight_var, bias_var = weight_var.clamp(max=cap), bias_var.clamp(max=cap)
        return weight_var, bias_var

    def sample_weight(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """One draw of (W, b) from q(W, b | z) for a single z of shape (z_features,)."""
        weight_var, bias_var = self.forward_variances()
        weight = self._scaled_weight_mean(z) + weight_var.sqrt() * torch.randn_like(self.weight_mean)
        bias_mean = self.bias_mean if self.bias_mean is not None else torch.zeros_like(self.bias_log_var)
        bias = bias_mean + bias_var.sqrt() * torch.randn_like(bias_mean)
        return weight, bias

    def _scaled_weight_mean(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def _auxiliary_projection(self, weight_mean: Tensor, bias_mean: Tensor) -> Tensor:
        raise NotImplementedError

    def _projection_sample(self, mean: Tensor, var: Tensor) -> Tensor:
        # c·W for W ~ q(W|z), drawn by the local reparameterisation (one sample per coordinate).
        return mean + var.sqrt() * torch.randn_like(mean)


class MNFLinear(MNFLayer):
    r"""A fully connected layer whose weights have an MNF posterior; z scales the inputs.

    The output uses the local reparameterisation: for an input x and a fresh
    :math:`z \sim q(z)` per example, the pre-activation is Gaussian with mean
    :math:`(x \odot z) \mu^\top + \mu_b` and variance :math:`x^2 (\sigma^2)^\top + \sigma_b^2`.
    The auxiliary model uses :math:`a = \tanh(W c)`.

    References:
        Louizos and Welling, "Multiplicative Normalizing Flows for Variational Bayesian Neural
        Networks", ICML 2017, arXiv:1703.01961.

    Arguments:
        in_features, out_features: sizes of the layer (z has ``in_features`` dimensions).
        num_flows_q, num_flows_r: gated steps in the flows of q(z) and r(z|W) (2 and 2).
        hidden_features: width of those steps (50).
        mask_mode: ``"fixed"`` masks (default) or ``"fresh"`` Bernoulli masks per call (the paper's code).
        max_std: cap on the standard deviation of W and b in the forward pass (the MNF
            authors' ``thres_var``, 0.5 in their script); ``None`` (default): no cap.

    Example:
        >>> import torch
        >>> layer = MNFLinear(6, 3, hidden_features=8)
        >>> layer(torch.randn(5, 6)).shape, layer.kl_divergence().shape
        (torch.Size([5, 3]), torch.Size([]))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_flows_q: int = 2,
        num_flows_r: int = 2,
        hidden_features: int = 50,
        mask_mode: str = "fixed",
        max_std: float | None = None,
    ):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.z_features = in_features
        self._build_variational(
            (out_features, in_features), True, num_flows_q, num_flows_r, hidden_features, mask_mode, max_std
        )

    def _scaled_weight_mean(self, z: Tensor) -> Tensor:
        return self.weight_mean * z

    def _auxiliary_projection(self, weight_mean: Tensor, bias_mean: Tensor) -> Tensor:
        mean = weight_mean @ self.r0_c
        var = self.weight_log_var.exp() @ self.r0_c.pow(2)
        return torch.tanh(self._projection_sample(mean, var))

    def forward(self, x: Tensor) -> Tensor:
        z, _ = self.sample_z(x.shape[0])
        mean = F.linear(x * z, self.weight_mean, self.bias_mean)
        var = F.linear(x.pow(2), *self.forward_variances())
        return mean + var.sqrt() * torch.randn_like(mean)


class MNFConv2d(MNFLayer):
    r"""A 2-D convolution whose weights have an MNF posterior; z scales the output channels.

    Each example gets its own :math:`z \sim q(z)`. The output is
    :math:`z \odot \mathrm{conv}(x, \mu) + \sqrt{\mathrm{conv}(x^2, \sigma^2) + \sigma_b^2}\,\epsilon`
    (local reparameterisation). As in janosh/torch-mnf the bias has a variance but a mean fixed at zero;
    the auxiliary model uses a linear projection :math:`a = c^\top W` over the output channels,
    bias included (no tanh, following the MNF authors' code).

    References:
        Louizos and Welling, arXiv:1703.01961.

    Arguments:
        in_channels, out_channels, kernel_size: as ``nn.Conv2d`` (z has ``out_channels`` dimensions).
        stride, padding: as ``nn.Conv2d``.
        num_flows_q, num_flows_r, hidden_features, mask_mode, max_std: as :class:`MNFLinear`.

    Example:
        >>> import torch
        >>> layer = MNFConv2d(1, 4, 3, hidden_features=8)
        >>> layer(torch.randn(2, 1, 6, 6)).shape
        torch.Size([2, 4, 4, 4])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        num_flows_q: int = 2,
        num_flows_r: int = 2,
        hidden_features: int = 50,
        mask_mode: str = "fixed",
        max_std: float | None = None,
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.padding = stride, padding
        self.z_features = out_channels
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self._build_variational(shape, False, num_flows_q, num_flows_r, hidden_features, mask_mode, max_std)

    def _scaled_weight_mean(self, z: Tensor) -> Tensor:
        return self.weight_mean * z[:, None, None, None]

    def _auxiliary_projection(self, weight_mean: Tensor, bias_mean: Tensor) -> Tensor:
        c = self.r0_c
        mean = weight_mean.flatten(1).T @ c
        var = self.weight_log_var.exp().flatten(1).T @ c.pow(2)
        # The bias enters every coordinate of c·W through one shared draw.
        bias = self._projection_sample(bias_mean @ c, self.bias_log_var.exp() @ c.pow(2))
        return self._projection_sample(mean, var) + bias

    def forward(self, x: Tensor) -> Tensor:
        z, _ = self.sample_z(x.shape[0])
        mean = F.conv2d(x, self.weight_mean, None, self.stride, self.padding) * z[:, :, None, None]
        var = F.conv2d(x.pow(2), *self.forward_variances(), self.stride, self.padding)
        return mean + var.sqrt() * torch.randn_like(mean)
