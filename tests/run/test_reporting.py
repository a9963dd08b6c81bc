"""``run_reporting``: a failed allocation is one line and exit 2; other errors keep their traceback."""

import pytest
import torch

from maflow.run.interrupt import run_reporting

CPU_ALLOCATOR = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 25600000000 bytes. Error code 12 (Cannot allocate memory)"
)


def _raise(error):
    raise error


@pytest.mark.parametrize(
    "error, size",
    [
        (RuntimeError(CPU_ALLOCATOR), "25.6 GB"),
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "2.00 GiB"),
        (MemoryError(), None),
    ],
)
def test_a_failed_allocation_is_one_line_and_exit_2(error, size, capsys):
    assert run_reporting("maflow sample", _raise, error) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("maflow sample: error: out of memory")
    assert "--num-samples" in err and "Traceback" not in err
    if size:
        assert size in err


def test_other_runtime_errors_are_not_hidden():
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_reporting("maflow train", _raise, RuntimeError("shape mismatch"))
