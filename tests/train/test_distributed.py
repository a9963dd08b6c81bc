import socket
import warnings

import pytest
import torch
from torch import distributed as dist
from torch import multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from maflow import MAF
from maflow.train import distributed
from maflow.train.loop import epoch_batches
from maflow.transforms.batchnorm import BatchNorm, recompute_batchnorm_statistics

FEATURES, EXAMPLES, GLOBAL_BATCH, EPOCHS = 4, 43, 10, 2  # last batch of 3 rows: shards 2 + 1


def make_problem():
    torch.manual_seed(0)
    data = torch.randn(EXAMPLES, FEATURES, dtype=torch.float64) @ torch.randn(FEATURES, FEATURES).double()
    model = MAF(FEATURES, num_layers=2, hidden_features=8).double()
    # SGD: Adam divides by the gradient's size, so on parameters whose exact gradient is 0
    # (shifts absorbed by batch norm) it turns summation-order roundoff into full steps.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    return data, model, optimizer


def train(data, model, optimizer, loss_fn):
    generator = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(EPOCHS):
        for indices in epoch_batches(EXAMPLES, GLOBAL_BATCH, generator):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(data[indices]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()


def train_data_parallel(data, model, optimizer):
    # DDP's reducer holds the process group: built and dropped here, it does not outlive
    # destroy_process_group into interpreter shutdown.
    ddp = DistributedDataParallel(distributed.DataParallelLoss(model))
    train(data, model, optimizer, lambda batch: ddp(distributed.shard(batch), len(batch)))


def worker(rank, world, port, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        data, model, optimizer = make_problem()
        assert distributed.enable_batchnorm_sync(model) == 2
        train_data_parallel(data, model, optimizer)
        recompute_batchnorm_statistics(model.transform, distributed.shard(data), distributed=True)
        if rank == world - 1:
            torch.save(model.state_dict(), out)
        dist.barrier()  # a rank that leaves while its peer still works can abort (gloo)
        out.with_name(f"finished{rank}").touch()
    finally:
        dist.destroy_process_group()


def spawn(world, out):
    """Runs the workers; an abort inside gloo's teardown, after every rank finished, is not a failure.

    On a loaded machine gloo has aborted ("terminate called without an active exception")
    while leaving a process group whose work was all done; what this test checks, the
    trained weights, was written by then. An abort before every rank finished still fails.
    """
    try:
        mp.spawn(worker, args=(world, free_port(), out), nprocs=world, join=True)
    except mp.ProcessExitedException as error:
        if not all(out.with_name(f"finished{r}").exists() for r in range(world)):
            raise
        warnings.warn(f"gloo aborted while tearing down a finished process group: {error}", stacklevel=2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_at_the_same_global_batch(tmp_path):
    out = tmp_path / "rank1.pt"
    spawn(2, out)
    data, model, optimizer = make_problem()
    train(data, model, optimizer, lambda batch: -model.log_prob(batch).mean())
    recompute_batchnorm_statistics(model.transform, data)
    expected = model.state_dict()
    got = torch.load(out, weights_only=True)
    assert any(isinstance(m, BatchNorm) for m in model.modules())
    for name, value in expected.items():
        assert torch.allclose(got[name].double(), value.double(), rtol=1e-9, atol=1e-10), name


def test_single_process_helpers():
    assert not distributed.is_distributed() and distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.is_main_process()
    assert not distributed.init_from_env()  # no torchrun variables: nothing to join
    batch = torch.arange(5)
    assert torch.equal(distributed.shard(batch), batch)
    assert [len(distributed.shard(batch, r, 2)) for r in range(2)] == [3, 2]
    with pytest.raises(ValueError, match="larger batch"):
        distributed.shard(torch.arange(1), 0, 2)
