import io

import pytest
import torch

from maflow.models.vae import VAE
from maflow.models.vae.decoders import DenseDecoder, GatedConvDecoder, ResNetDecoder
from maflow.models.vae.encoders import DenseBody, ResidualBlock, ResNetBody


def small_vae(encoder, decoder, **options):
    return VAE(
        latent_features=3,
        encoder=encoder,
        decoder=decoder,
        hidden_features=[16],
        channels=4,
        resnet_hidden_features=12,
        gated_hidden_features=8,
        context_features=6,
        flow_steps=2,
        flow_hidden_features=[6],
        **options,
    )


@pytest.mark.parametrize("encoder, decoder", [("resnet", "resnet"), ("gated", "gated"), ("dense", "dense")])
def test_each_architecture_gives_finite_elbo_and_gradients(encoder, decoder):
    torch.manual_seed(0)
    vae = small_vae(encoder, decoder)
    x = torch.bernoulli(torch.full((4, 784), 0.3))
    terms = vae(x, num_samples=2)
    assert terms.elbo.shape == (2, 4) and torch.isfinite(terms.elbo).all()
    assert torch.allclose(terms.elbo, terms.log_likelihood - terms.kl)
    (-terms.elbo.mean()).backward()
    missing = [n for n, p in vae.named_parameters() if p.grad is None]
    assert not missing, missing


def test_resnet_shapes_follow_28_14_7():
    body = ResNetBody(channels=4, hidden_features=5, batch_norm=False)
    sizes = []
    h = body.stem(torch.zeros(1, 1, 28, 28))
    for block in body.blocks:
        h = block(h)
        sizes.append(h.shape[-1])
    assert sizes == [28, 28, 14, 14, 7, 7]
    decoder = ResNetDecoder(2, channels=4)
    h = decoder.stem(torch.zeros(1, 2, 1, 1))
    sizes = []
    for block in decoder.blocks:
        h = block(h)
        sizes.append(h.shape[-1])
    assert sizes == [7, 7, 14, 14, 28, 28]
    assert GatedConvDecoder(2)(torch.zeros(1, 2)).shape == (1, 784)


def test_residual_block_scales_its_residual_by_a_tenth():
    torch.manual_seed(0)
    block = ResidualBlock(3, batch_norm=False).eval()
    x = torch.randn(2, 3, 8, 8)
    branch = block.conv2(torch.nn.functional.elu(block.conv1(torch.nn.functional.elu(x))))
    assert torch.allclose(block(x), x + 0.1 * branch)


def test_dense_layers_each_see_the_input():
    body = DenseBody(5, [4, 3], batch_norm=False)
    assert [layer.in_features for layer in body.layers] == [5, 4 + 5]
    decoder = DenseDecoder(2, 5, [4, 3], batch_norm=False)
    assert [layer.in_features for layer in decoder.layers] == [2, 4 + 2] and decoder.out.in_features == 3 + 2


def test_log_std_offset_applies_to_base_posterior():
    vae = small_vae("dense", "dense", batch_norm=False, log_std_offset=-3.0)
    x = torch.bernoulli(torch.full((2, 784), 0.5))
    _, log_std, _ = vae.encode(x)
    assert torch.allclose(vae.base_posterior(x)[1], torch.exp(log_std - 3.0))


def test_checkpoint_rebuilds_the_model_from_hparams():
    torch.manual_seed(0)
    vae = small_vae("dense", "resnet").eval()
    buffer = io.BytesIO()
    torch.save({"hparams": vae.hparams, "model": vae.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    clone = VAE(**saved["hparams"]).eval()
    clone.load_state_dict(saved["model"])
    z = torch.randn(3, 3)
    assert torch.equal(clone.logits(z), vae.logits(z))
    assert vae.sample(5).shape == (5, 784) and vae.reconstruct(torch.zeros(2, 784)).shape == (2, 784)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown encoder"):
        VAE(encoder="pixelcnn")


def test_hparams_stored_before_a_setting_existed_match_the_same_model():
    vae = VAE(
        image_shape=(1, 2, 3), latent_features=2, encoder="dense", decoder="dense", hidden_features=[8],
        context_features=8, flow_steps=1, flow_hidden_features=[8],
    )  # fmt: skip
    stored = {k: v for k, v in vae.hparams.items() if k != "posterior"}  # a checkpoint from before the choice
    assert VAE.with_defaults(stored) == vae.hparams
    assert VAE.with_defaults(dict(stored, flow_steps=2)) != vae.hparams
