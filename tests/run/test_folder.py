"""Run folders: one writer at a time, any artefact marks a run, and only our own files are removed."""

import os
import re
import signal
import subprocess
import sys

import pytest

from maflow.errors import ConfigError
from maflow.run.folder import (
    LOCK_NAME,
    RunInUseError,
    RunLock,
    prepare_run_folder,
    remove_own_files,
    remove_own_temporaries,
)

HOLD = """
import sys, time
from maflow.run.folder import RunLock
RunLock(sys.argv[1], command="maflow train --dataset digits").acquire()
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process that holds the lock of ``tmp_path / 'run'``."""
    folder = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    yield folder, child
    child.kill()
    child.wait()


def test_a_second_writer_is_refused_with_one_line_naming_the_process(holder):
    folder, child = holder
    with pytest.raises(RunInUseError) as caught:
        RunLock(folder, command="maflow evaluate").acquire()
    message = str(caught.value)
    assert f"process {child.pid}" in message and "maflow train --dataset digits" in message
    assert "\n" not in message and "--out" in message


def test_the_lock_goes_with_its_process_even_after_sigkill(holder):
    folder, child = holder
    child.send_signal(signal.SIGKILL)
    child.wait()
    with RunLock(folder, command="maflow train --resume") as lock:  # takes over the dead holder's file
        assert lock.held
        assert str(os.getpid()) in (folder / LOCK_NAME).read_text()
    assert not (folder / LOCK_NAME).exists()  # released: the folder is left as it was


def test_a_writer_that_opened_the_lock_file_before_its_removal_takes_a_new_one(tmp_path):
    import fcntl

    from maflow.run.folder import _same_file

    first = RunLock(tmp_path).acquire()
    late = os.open(tmp_path / LOCK_NAME, os.O_RDWR)  # opened just before the holder releases
    first.release()
    fcntl.flock(late, fcntl.LOCK_EX | fcntl.LOCK_NB)  # it gets the lock of a file that is gone...
    assert not _same_file(late, tmp_path / LOCK_NAME)  # ...which acquire() notices, and starts again
    with RunLock(tmp_path) as second:
        assert second.held and _same_file(second._fd, tmp_path / LOCK_NAME)
    os.close(late)


def test_the_lock_is_not_reentrant_and_is_released_on_exit(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunInUseError, match=f"process {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):
        pass


def _touch(*paths):
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"user data")


def test_only_our_own_stale_temporaries_go(tmp_path):
    ours = tmp_path / ".latest.pth.k2j_9x1a.tmp"
    probe = tmp_path / ".maflow-write-test.abcd1234.tmp"
    theirs = [
        tmp_path / "notes.tmp",
        tmp_path / ".plot.tmp",
        tmp_path / ".thesis.pdf.k2j_9x1a.tmp",  # the temporary pattern, but not a file we write
        tmp_path / "sub" / ".latest.pth.k2j_9x1a.tmp",  # a sub-folder we were not given
    ]
    _touch(ours, probe, *theirs)
    removed = remove_own_temporaries(tmp_path, ["latest.pth", re.compile(r"samples-s\d+\.npy")])
    assert sorted(removed) == sorted([ours, probe])
    assert all(path.exists() for path in theirs)


def test_a_temporary_that_a_live_writer_holds_is_kept(tmp_path):
    import fcntl

    live = tmp_path / ".best.pth.abcdefgh.tmp"
    _touch(live)
    with open(live, "rb") as file:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert remove_own_temporaries(tmp_path, ["best.pth"]) == []
    assert live.exists()


def test_overwrite_removes_exact_names_only(tmp_path):
    ours = [tmp_path / "best.pth", tmp_path / "samples-s4-seed3.npy"]
    theirs = [tmp_path / "best.pth.bak", tmp_path / "my-samples-s4.npy", tmp_path / "notes.tmp"]
    _touch(*ours, *theirs)
    removed = remove_own_files(tmp_path, ["best.pth", re.compile(r"samples-s\d+-seed\d+\.npy")])
    assert sorted(removed) == sorted(ours)
    assert all(path.exists() for path in theirs)


def test_any_artefact_marks_a_run(tmp_path):
    latest, best, results = tmp_path / "latest.pth", tmp_path / "best.pth", tmp_path / "results.json"
    artefacts, own = [latest, best, results], {tmp_path: ["latest.pth", "best.pth", "results.json"]}
    prepare_run_folder(tmp_path, artefacts, own, resume_from=latest)  # empty: fine
    _touch(best)  # latest.pth lost (a full disk), best.pth still there
    with pytest.raises(ConfigError, match=r"already holds a run \(best.pth\).*--resume.*--overwrite"):
        prepare_run_folder(tmp_path, artefacts, own, resume_from=latest)
    with pytest.raises(ConfigError, match="no latest.pth to resume from: pass --overwrite"):
        prepare_run_folder(tmp_path, artefacts, own, resume=True, resume_from=latest)
    _touch(tmp_path / "notes.tmp")
    prepare_run_folder(tmp_path, artefacts, own, overwrite=True, resume_from=latest)
    assert not best.exists() and (tmp_path / "notes.tmp").exists()
    _touch(results)
    with pytest.raises(ConfigError, match=r"\(results.json\): pass --overwrite"):
        prepare_run_folder(tmp_path, artefacts, own)  # a command that cannot resume says so


def test_lock_file_records_pid_host_and_command(tmp_path):
    with RunLock(tmp_path, command="maflow made train --out x"):
        text = (tmp_path / LOCK_NAME).read_text()
    for expected in (f'"pid": {os.getpid()}', '"host": ', "maflow made train --out x"):
        assert expected in text
    RunLock(tmp_path).acquire().release()  # free again


def test_a_file_system_without_locks_warns_and_goes_on(tmp_path, monkeypatch, capsys):
    import errno

    import maflow.run.folder as folder

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(folder.fcntl, "flock", no_locks)
    with RunLock(tmp_path) as lock:
        assert not lock.held
    assert "cannot lock" in capsys.readouterr().err
