"""Nonsense, out-of-range and wrong-type flags on every command: one line, exit 2, no work done."""

import pytest

from .cases import TINY, assert_one_line_refusal, run

TRAIN = ["train", "--dataset", "digits", *TINY]

# (argv after the command, words of the error line)
CASES = {
    "train --lr -1e-3 (a negative number in exponent notation)": (
        [*TRAIN, "--lr", "-1e-3"],
        ["--lr must be positive, got -0.001"],
    ),
    "train --lr -inf": ([*TRAIN, "--lr", "-inf"], ["argument --lr: must be a finite number"]),
    "train --lr nan": ([*TRAIN, "--lr", "nan"], ["argument --lr: must be a finite number, got 'nan'"]),
    "train --weight-decay nan": (
        [*TRAIN, "--weight-decay", "nan"],
        ["--weight-decay", "must be a finite number"],
    ),
    "train --grad-clip inf": ([*TRAIN, "--grad-clip", "inf"], ["--grad-clip", "must be a finite number"]),
    "train --seed 2**64": (
        [*TRAIN, "--seed", str(2**64)],
        ["argument --seed: must be a whole number from 0 to 2**63 - 1"],
    ),
    # numpy's generators refuse a negative seed, so every command does, in the same words
    "train --seed -1": (
        [*TRAIN, "--seed", "-1"],
        ["argument --seed: must be a whole number from 0 to 2**63 - 1"],
    ),
    "made train --seed -1": (
        ["made", "train", "--seed", "-1"],
        ["argument --seed: must be a whole number from 0 to 2**63 - 1"],
    ),
    "train --seed 1.5": ([*TRAIN, "--seed", "1.5"], ["argument --seed: expected a whole number"]),
    "train --activation foo": ([*TRAIN, "--activation", "foo"], ["unknown activation 'foo'"]),
    "train --model-option features=10": (
        [*TRAIN, "--model-option", "features=10"],
        ["features is not a model option, the data set sets it"],
    ),
    "train --model-option context_features=3": (
        [*TRAIN, "--model-option", "context_features=3"],
        ["context_features is not a model option, --conditional sets it"],
    ),
    "train --set model.features=10": (
        [*TRAIN, "--set", "model.features=10"],
        ["--set model.features: features is not a model option"],
    ),
    "train --set lr=abc": ([*TRAIN, "--set", "lr=abc"], ["--set lr: takes a number", "'abc'"]),
    "train --set epochs=1.5": ([*TRAIN, "--set", "epochs=1.5"], ["--set epochs: takes a whole number"]),
    "train --set train.nan_policy=3": ([*TRAIN, "--set", "train.nan_policy=3"], ["takes a word"]),
    "vae train --set train.epochs=abc": (
        ["vae", "train", "--set", "train.epochs=abc"],
        ["whole number", "'abc'"],
    ),
    "train nsf-cl num_bins=0": (
        [*TRAIN, "--model", "nsf-cl", "--model-option", "num_bins=0"],
        ["model 'nsf-cl': num_bins must be >= 1"],
    ),
    "train nsf-cl tail_bound=-1": (
        [*TRAIN, "--model", "nsf-cl", "--model-option", "tail_bound=-1"],
        ["model 'nsf-cl': tail_bound must be > 0"],
    ),
    "train made-mog num_components=0": (
        [*TRAIN, "--model", "made-mog", "--model-option", "num_components=0"],
        ["model 'made-mog': num_components must be >= 1"],
    ),
    "train --model-option num_layers=true": (
        [*TRAIN, "--model-option", "num_layers=true"],
        ["num_layers must be a whole number"],
    ),
    "made train --lr nan": (
        ["made", "train", "--dataset", "dna", "--lr", "nan"],
        ["--lr: must be a finite number"],
    ),
    "made train --weight-decay nan": (
        ["made", "train", "--dataset", "dna", "--weight-decay", "nan"],
        ["--weight-decay: must be a finite number"],
    ),
    "made train --lr -1e-3": (["made", "train", "--dataset", "dna", "--lr", "-1e-3"], ["need lr > 0"]),
    "mnf train --lr -1e-3": (["mnf", "train", "--lr", "-1e-3"], ["--lr must be", "positive"]),
    "toy --lr nan": (["toy", "--flow", "maf", "--lr", "nan"], ["--lr: must be a finite number"]),
    "vae train --seed 2**64": (["vae", "train", "--seed", str(2**64)], ["--seed: must be a whole number"]),
    "mnf train --lr inf": (["mnf", "train", "--lr", "inf"], ["--lr: must be a finite number"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_flag_is_one_line_with_exit_code_2(tmp_path, capsys, case):
    argv, words = CASES[case]
    out = tmp_path / "out"
    code = run([*argv, "--out", out])
    assert_one_line_refusal(code, capsys.readouterr().err, *words)
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and p.name != ".maflow.lock"]


@pytest.mark.parametrize(
    "command", [["data", "prepare", "mnist"], ["data", "list"], ["train", "--dataset", "mnist"]]
)
def test_a_file_given_as_data_dir_is_named_as_such(tmp_path, capsys, command):
    afile = tmp_path / "README.md"
    afile.write_text("not a folder\n")
    code = run([*command, "--data-dir", afile])
    err = capsys.readouterr().err
    assert_one_line_refusal(code, err, f"{afile} is a file; give the folder")
    assert f"{afile}/mnist" not in err  # no advice to download into a file
