"""Odd run folders: a file where the run keeps a folder, or the reverse: one line before any work,
and the user's file or folder left exactly as it was."""

import errno

import pytest

from maflow.run.interrupt import run_reporting

from .cases import TINY, assert_one_line_refusal, run

# relative path under the run folder (--out): (what to put there, words of the error)
CASES = {
    "checkpoints": ("file", ["checkpoints: a file where the run keeps a folder"]),
    "tensorboard": ("file", ["tensorboard: a file where the run keeps a folder"]),
    "samples": ("file", ["samples: a file where the run keeps a folder"]),
    "logs": ("file", ["logs: a file where the run keeps a folder"]),
    "logs/training.log": ("folder", ["training.log is a folder where maflow reads or writes a file"]),
    "results.json": ("folder", ["results.json: a folder where the run keeps a file"]),
    "checkpoints/best.pth": ("folder", ["best.pth: a folder where the run keeps a file"]),
}


@pytest.mark.parametrize("relative", sorted(CASES))
def test_odd_run_folder_is_one_line_and_left_alone(tmp_path, capsys, relative):
    kind, words = CASES[relative]
    target = tmp_path / "out" / "digits" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file":
        target.write_text("the user's own file\n")
    else:
        (target / "inside").mkdir(parents=True)
    code = run(["train", "--dataset", "digits", *TINY, "--out", tmp_path / "out" / "digits"])
    assert_one_line_refusal(code, capsys.readouterr().err, *words)
    if kind == "file":
        assert target.read_text() == "the user's own file\n"
    else:
        assert (target / "inside").is_dir()
    assert not list((tmp_path / "out").rglob("*.pth")) or relative == "checkpoints/best.pth"


# An OSError about a file that no command checks for itself: one line, exit 2.
ERRORS = {
    "a folder where a file belongs": (
        IsADirectoryError(errno.EISDIR, "Is a directory", "x/a.log"),
        "is a folder",
    ),
    "a file where a folder belongs": (
        FileExistsError(errno.EEXIST, "File exists", "x/dir"),
        "is a file where",
    ),
    "no permission": (PermissionError(errno.EACCES, "Permission denied", "x/f"), "check its permissions"),
    "disk full": (OSError(errno.ENOSPC, "No space left on device", "x/f"), "free there"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_file_system_error_reaching_the_command_is_one_line(capsys, case):
    error, words = ERRORS[case]

    def command():
        raise error

    assert run_reporting("maflow train", command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "maflow train: error:" in err, err


def test_an_os_error_about_no_file_is_still_a_traceback():
    # A bug, not a user's mistake: it must not be hidden behind a one-line message.
    def command():
        raise OSError("something unrelated to files")

    with pytest.raises(OSError, match="unrelated"):
        run_reporting("maflow train", command)
