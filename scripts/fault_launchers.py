"""How scripts/fault_injection.py starts the runs it kills: a new process, or a forked child.

A launcher's ``start(argv, log)`` runs ``maflow ARGV`` with its output appended to ``log`` and
returns a handle with ``poll()``, ``kill()`` (SIGKILL) and ``wait()``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from fault_families import DATASET


class SubprocessLauncher:
    """Runs ``python -m maflow ARGV`` as a new process (what a user's job is)."""

    def start(self, argv: list[str], log: Path):
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        with open(log, "ab") as file:
            return subprocess.Popen(
                [sys.executable, "-m", "maflow", *argv], stdout=file, stderr=subprocess.STDOUT, env=env
            )


class _ForkedChild:
    def __init__(self, pid: int):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)

    def wait(self):
        while self.poll() is None:
            time.sleep(0.01)
        return self.returncode


class ForkLauncher:
    """Runs ``maflow.cli.main(ARGV)`` in a forked child: no interpreter start-up, same code path."""

    def __init__(self):
        # Everything slow to import is loaded once here, so that children start at once.
        import matplotlib.pyplot  # noqa: F401
        import torch.utils.tensorboard  # noqa: F401

        import maflow.evaluate.flow  # noqa: F401
        import maflow.train.flow  # noqa: F401
        import maflow.train.mnf  # noqa: F401
        import maflow.train.vae  # noqa: F401
        from maflow.data import load

        load(DATASET)  # imports scikit-learn
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # imports torch._dynamo

    def start(self, argv: list[str], log: Path):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return _ForkedChild(pid)
        code = 1
        try:  # the child: never returns into the caller's code
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            from maflow.cli import main

            code = main(argv)
        except BaseException:  # noqa: BLE001 (report anything, then leave without cleanup)
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 1)
