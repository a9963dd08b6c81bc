"""Nonsense flags on every training command: one clear error line, exit code 2, no traceback, no work."""

import pytest

from maflow.cli import main

TINY = ["--num-layers", "1", "--hidden-dim", "4", "--no-progress"]

CASES = {
    "train": [
        (["--dataset", "digits", "--lr", "-1"], "--lr must be positive"),
        (["--dataset", "digits", "--lr", "0"], "--lr must be positive"),
        (["--dataset", "digits", "--hidden-dim", "0"], "--hidden-features must be a positive integer"),
        (["--dataset", "digits", "--num-layers", "0"], "--num-layers must be a positive integer"),
        (["--dataset", "nosuchdata"], "unknown data set 'nosuchdata'"),
        (["--dataset", "digits", "--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["--dataset", "digits", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["--dataset", "digits", "--patience", "-1"], "--patience must be at least 1"),
        (["--dataset", "digits", "--epochs", "-1"], "--epochs must be at least 1"),
        (["--dataset", "digits", "--nan-lr-factor", "0"], "--nan-lr-factor must be in (0, 1]"),
        (["--dataset", "digits", "--max-rollbacks", "-1"], "--max-rollbacks must be >= 0"),
        (["--dataset", "digits", "--epochs", "two"], "invalid int value: 'two'"),
    ],
    "made train": [
        (["--dataset", "dna", "--lr", "-1"], "need lr > 0"),
        (["--dataset", "dna", "-q", "0"], "hidden layer sizes must be positive integers"),
        (["--dataset", "nosuchdata"], "unknown data set 'nosuchdata'"),
        (["--dataset", "dna", "--batch-size", "0"], "batch_size must be >= 1"),
        (["--dataset", "dna", "--patience", "-1"], "patience must be >= 1"),
        (["--dataset", "dna", "--epochs", "-1"], "epochs must be >= 1"),
    ],
    "vae train": [
        (["--set", "train.lr=-1"], "[train] lr must be a positive"),
        (["--set", "model.hidden_features=[0, 300]"], "[model] hidden_features must be positive integers"),
        (["--set", "model.latent_features=0"], "[model] latent_features must be positive integers"),
        (["--dataset", "nosuchdata"], "unknown data set 'nosuchdata'"),
        (["--set", "train.batch_size=0"], "[train] batch_size must be >= 1"),
        (["--epochs", "-1"], "[train] epochs must be >= "),
        (["--set", "train.patient=3"], "train has no setting 'patient'"),
        (["--patience", "0"], "[train] patience must be >= 1"),
    ],
    "mnf train": [
        (["--lr", "-1"], "--lr must be"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--epochs", "-1"], "--epochs must be >= 1"),
        (["--model", "nosuchmodel"], "invalid choice: 'nosuchmodel'"),
    ],
}


@pytest.mark.parametrize(
    "command, argv, words",
    [(command, argv, words) for command, cases in CASES.items() for argv, words in cases],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value)[:30],
)
def test_nonsense_flag_gives_one_clear_line_and_exit_code_2(tmp_path, capsys, command, argv, words):
    out = tmp_path / "out"
    tiny = TINY if command == "train" else []  # before argv: the flag under test wins
    full = [*command.split(), *tiny, *argv, "--out", str(out)]
    try:
        code = main(full)
    except SystemExit as exit:  # argparse's own checks (types, choices) exit directly
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert words in lines[-1] and "error" in lines[-1], err
    assert "Traceback" not in err
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), (
        err
    )  # argparse: usage, then the error
    assert not list(out.rglob("*.pt*")) if out.exists() else True  # nothing was trained


def test_help_texts_carry_no_rest_markup():
    import argparse

    from maflow.cli import build_parser

    def texts(parser):
        yield parser.description or ""
        for action in parser._actions:
            yield action.help or ""
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from texts(sub)

    found = [t for t in texts(build_parser()) if "``" in t or ":class:`" in t or ":func:`" in t]
    assert not found, found[:3]
