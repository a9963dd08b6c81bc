"""Where the training data live (on the GPU once, or pinned on the CPU), and ``--tf32``."""

import json

import pytest
import torch

from maflow.run.device import (
    DEVICE_DATA_FRACTION,
    Placement,
    fits_on_device,
    place_training_data,
    tf32_precision,
)
from maflow.train.batches import batches_on, epoch_batches, take_batch

GIB = 2**30


def test_data_fit_when_they_take_at_most_half_the_free_memory():
    assert DEVICE_DATA_FRACTION == 0.5
    assert fits_on_device(4 * GIB, 8 * GIB) and fits_on_device(0, 0)
    assert not fits_on_device(4 * GIB + 1, 8 * GIB)
    assert not fits_on_device(1, 0)  # a full GPU takes nothing
    assert fits_on_device(157_000_000, 140 * GIB)  # MNIST on an H200


def test_data_too_large_for_the_free_memory_stay_on_the_cpu_and_batches_move():
    data = torch.randn(1000, 8)  # 32,000 bytes
    asked = []

    def mem_get_info(device):
        asked.append(device)
        return 60_000, 80 * GIB  # free, total: 32,000 > half of 60,000

    placement = place_training_data(data, "cuda", mem_get_info=mem_get_info)
    assert asked == [torch.device("cuda")]
    assert placement.data.device.type == "cpu" and torch.equal(placement.data, data)
    assert placement.batch_device == torch.device("cuda")
    # Pinned where CUDA can pin; on a machine without it the copy is pageable, never an error.
    assert placement.data.is_pinned() == torch.cuda.is_available()
    assert "stay in" in placement.message and "CPU memory" in placement.message
    assert "0.00 GiB free on cuda" in placement.message and "copied there as it is used" in placement.message


@pytest.mark.skipif(not torch.cuda.is_available(), reason="moves data to a GPU")
def test_data_that_fit_move_to_the_gpu_once():
    placement = place_training_data(torch.randn(100, 4), "cuda", mem_get_info=lambda device: (GIB, GIB))
    assert placement.data.is_cuda and placement.batch_device is None and placement.message is None


def test_the_cpu_needs_no_memory_check():
    def mem_get_info(device):
        raise AssertionError("asked for the CPU")

    data = torch.randn(10, 2)
    placement = place_training_data(data, "cpu", mem_get_info=mem_get_info)
    assert placement.data is data and placement.batch_device is None and placement.message is None


def test_batches_of_data_left_on_the_cpu_are_the_same_rows():
    data = torch.randn(50, 3)
    batches = epoch_batches(50, 16, torch.Generator().manual_seed(0))
    assert batches_on(batches, torch.device("cpu")) is batches
    for index in batches:
        assert torch.equal(take_batch(data, index), data[index])
        assert torch.equal(take_batch(data, index, torch.device("cpu")), data[index])
    moved = take_batch(data, batches[0], torch.device("meta"))  # another device: gathered, then copied
    assert moved.device.type == "meta" and moved.shape == (16, 3)


def test_flow_training_keeps_rows_left_on_the_cpu_under_either_batch_norm_statistics(monkeypatch):
    # Whole-training-set statistics pass CPU rows through a GPU model chunk by chunk (tests/gpu).
    from maflow.data import from_numpy
    from maflow.models.registry import build_model
    from maflow.train import flow

    dataset = from_numpy(torch.randn(300, 2).numpy(), name="mine")
    left = Placement(torch.zeros(1), torch.device("cuda"), "left on the CPU")
    monkeypatch.setattr(flow, "place_training_data", lambda rows, device: left)
    config = flow.FlowTrainingConfig("mine", model_options={"num_layers": 1, "hidden_features": 8})
    model = build_model("maf", 2, num_layers=1, hidden_features=8)
    for bn_stats in ("dataset", "running"):
        config.bn_stats = bn_stats
        assert flow._place_training_rows(config, dataset, torch.device("cuda"), model) is left


def test_tf32_is_set_on_cuda_inside_the_block_and_restored_after():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32
    lines = []
    try:
        matmul.allow_tf32, cudnn.allow_tf32 = False, True  # torch's defaults
        with tf32_precision(True, "cuda:0", lines.append):  # only the backend flags: no GPU needed
            assert matmul.allow_tf32 and cudnn.allow_tf32
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (False, True)
        with tf32_precision(False, "cuda", lines.append):  # off means exact: cuDNN's TF32 too
            assert not matmul.allow_tf32 and not cudnn.allow_tf32
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (False, True)
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved
    assert lines == ["--tf32: float32 matrix products and cuDNN convolutions on cuda:0 use TensorFloat-32"]


def test_tf32_on_the_cpu_changes_nothing_says_so_once_and_is_recorded(tmp_path):
    from maflow.cli import main

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    argv = ["train", "--dataset", "digits", "--out", str(tmp_path), "--epochs", "1", "--limit-train", "200"]
    argv += [
        "--num-layers",
        "1",
        "--hidden-features",
        "8",
        "--num-samples",
        "0",
        "--quiet",
        "--device",
        "cpu",
    ]
    assert main([*argv, "--tf32"]) == 0
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved
    log = (tmp_path / "logs" / "training.log").read_text()
    assert log.count("--tf32 has no effect on cpu: float32 arithmetic stays exact") == 1
    config = json.loads((tmp_path / "results.json").read_text())["training"]["config"]
    assert config["tf32"] is True and config["compile"] is False
