"""CUDA: the same results on the GPU as on the CPU. Skipped cleanly without CUDA (``-m gpu`` selects them)."""

import pytest
import torch

from maflow.models.registry import build_model
from maflow.nn import MADE, made_inverse, naive_inverse
from maflow.nn.masked import MaskedLinear
from maflow.transforms import MaskedAffineAutoregressive, MaskedRQSAutoregressive
from tests.contract import check_transform

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
CUDA = torch.device("cuda")


@pytest.mark.parametrize("name", ["maf", "nsf-ar", "realnvp", "naf", "glow", "maf-mog"])
def test_density_and_sampling_agree_with_the_cpu(name):
    torch.manual_seed(0)
    flow = build_model(name, 5, num_layers=2, hidden_features=16).double().eval()
    x = torch.randn(64, 5, dtype=torch.float64)
    cpu = flow.log_prob(x)
    gpu = flow.to(CUDA).log_prob(x.to(CUDA))
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-8)
    samples = flow.sample((32,))
    assert samples.device.type == "cuda" and torch.isfinite(samples).all()


@pytest.mark.parametrize("layer", ["affine", "spline"])
def test_transform_contract_on_the_gpu(layer):
    torch.manual_seed(0)
    make = MaskedAffineAutoregressive if layer == "affine" else MaskedRQSAutoregressive
    transform = make(4, hidden_features=[12, 9], context_features=2, order="random", seed=3).to(CUDA)
    # The contract draws its inputs on the CPU: run it on a copy, then compare the GPU result.
    check_transform(make(4, hidden_features=[12, 9], context_features=2, order="random", seed=3), 4, 2)
    x = torch.randn(6, 4, device=CUDA, dtype=torch.float64)
    c = torch.randn(6, 2, device=CUDA, dtype=torch.float64)
    transform = transform.double().eval()
    y, logabsdet = transform(x, c)
    back, inverse_logabsdet = transform.inverse(y, c)
    assert torch.allclose(back, x, atol=1e-8) and torch.allclose(inverse_logabsdet, -logabsdet, atol=1e-8)


def test_degree_ordered_inverse_equals_the_naive_one_on_the_gpu():
    made = (
        MADE(20, hidden_features=[40, 40], output_multiplier=2, context_features=3, seed=1).double().to(CUDA)
    )

    def invert(y, params):
        return y * torch.exp(torch.tanh(params[:, 1])) + params[:, 0], torch.tanh(params[:, 1]).sum(-1)

    y = torch.randn(16, 20, dtype=torch.float64, device=CUDA)
    c = torch.randn(16, 3, dtype=torch.float64, device=CUDA)
    with torch.no_grad():
        fast, naive = made_inverse(made, y, invert, c), naive_inverse(made, y, invert, c)
    assert torch.allclose(fast[0], naive[0], atol=1e-10) and torch.allclose(fast[1], naive[1], atol=1e-10)


def test_block_masked_product_matches_the_dense_one_forward_and_backward():
    made = MADE(300, hidden_features=[256, 256], output_multiplier=2).double().to(CUDA)
    layer: MaskedLinear = made.hidden_layers[1]
    assert layer._blocks() is not None  # the staircase is blocked
    x = torch.randn(32, 256, dtype=torch.float64, device=CUDA, requires_grad=True)
    blocked = layer(x)
    dense = torch.nn.functional.linear(x, layer.weight * layer.mask, layer.bias)
    assert torch.allclose(blocked, dense, atol=1e-10)
    grads = [torch.autograd.grad(out.square().sum(), [x, layer.weight]) for out in (blocked, dense)]
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-9)


def test_a_vae_step_on_the_gpu():
    from maflow.models.vae import VAE

    torch.manual_seed(0)
    vae = VAE(
        image_shape=(1, 4, 4), latent_features=3, encoder="dense", decoder="dense", hidden_features=[16],
        context_features=16, flow_steps=2, flow_hidden_features=[16], posterior="iaf",
    ).to(CUDA)  # fmt: skip
    x = torch.bernoulli(torch.full((8, 16), 0.5, device=CUDA))
    loss = -vae(x, num_samples=2).elbo.mean()
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in vae.parameters() if p.requires_grad)


def test_batch_norm_statistics_of_rows_kept_in_cpu_memory_equal_the_cpu_ones():
    # Training rows too large for the GPU stay in pinned CPU memory; the statistics still come out exact.
    from maflow.transforms.batchnorm import recompute_batchnorm_statistics

    torch.manual_seed(0)
    flow = build_model("maf", 5, num_layers=3, hidden_features=16, batch_norm=True).double()
    x = torch.randn(500, 5, dtype=torch.float64)
    recompute_batchnorm_statistics(flow.transform, x, batch_size=128)
    cpu = {k: v.clone() for k, v in flow.state_dict().items() if "running" in k}
    flow.to(CUDA)
    recompute_batchnorm_statistics(flow.transform, x.pin_memory(), batch_size=128)
    for key, value in cpu.items():
        assert torch.allclose(flow.state_dict()[key].cpu(), value, atol=1e-12), key
