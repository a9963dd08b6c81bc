"""Tests of the batched posterior predictive summaries."""

import torch

from maflow.models.mnf import LeNet, MNFLinear, predict, predictive_summary


def test_summary_decomposes_entropy_into_expected_entropy_and_mutual_information():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(7, 5, 4), -1)
    p = predictive_summary(probs)
    assert torch.allclose(p.mean.sum(-1), torch.ones(5))
    assert torch.allclose(p.entropy, p.expected_entropy + p.mutual_information, atol=1e-6)
    assert (p.mutual_information > 0).all()  # the samples disagree, so MI is positive (Jensen)


def test_deterministic_network_has_zero_mutual_information():
    torch.manual_seed(0)
    p = predict(LeNet(), torch.rand(3, 784), num_samples=4)
    assert torch.allclose(p.mutual_information, torch.zeros(3), atol=1e-6)


def test_all_samples_come_from_one_pass_per_chunk_and_are_distinct():
    torch.manual_seed(0)
    layer = MNFLinear(4, 3, hidden_features=6)
    layer.q0_log_var.data.fill_(-1.0)
    model = torch.nn.Sequential(layer, torch.nn.LogSoftmax(-1))
    calls = []
    layer.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    p = predict(model, torch.randn(5, 4), num_samples=20, batch_size=1000)
    assert calls == [100]
    assert p.probs.shape == (20, 5, 3)
    assert (p.probs.std(0) > 0).all()
