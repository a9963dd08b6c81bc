"""Your own data from the command line: train, score, evaluate and sample, against known densities.

A 4-D Gaussian mixture with columns on scales 1e-3 to 1e3, written as .npy and as a .csv with a
header (and a text column to leave out), and a 2-D conditional Gaussian with a continuous
context: the mean held-out log-density that ``maflow score`` reports must be within 0.05 nats
per dimension of the exact one. Bad files and flags are one line and exit status 2.
"""

import json

import numpy as np
import pytest
import torch

from maflow.cli import main
from tests.data.known_densities import (
    conditional_log_density,
    conditional_sample,
    mixture_log_density,
    mixture_sample,
)

# Small and fast (about 15 s of one CPU core per run): 5 MADEs of 64 units, 12 epochs at most.
FAST = [
    "--num-layers", "5", "--hidden-features", "64", "--lr", "2e-3", "--epochs", "12", "--patience", "3",
    "--batch-size", "128", "--threads", "1", "--quiet", "--num-samples", "16",
]  # fmt: skip
TOLERANCE_PER_DIMENSION = 0.05


def _ok(argv):
    assert main(argv) == 0, argv


@pytest.fixture(scope="module")
def mixture_runs(tmp_path_factory):
    """The mixture trained from .npy and from .csv; fresh held-out rows with their exact log-density."""
    folder = tmp_path_factory.mktemp("own")
    x = mixture_sample(5000, seed=0)
    np.save(folder / "mixture.npy", x)
    names = ["tiny", "unit", "huge", "ten"]
    with open(folder / "mixture.csv", "w") as file:
        file.write("id," + ",".join(names) + "\n")
        for i, row in enumerate(x):
            file.write(f"row{i}," + ",".join(f"{v:.10g}" for v in row) + "\n")
    out = folder / "out"
    _ok(["train", "--data", str(folder / "mixture.npy"), "--out", str(out / "mixture"), *FAST])
    csv_run = ["--data", str(folder / "mixture.csv"), "--columns", ",".join(names), "--name", "mixture_csv"]
    _ok(["train", *csv_run, "--out", str(out / "mixture_csv"), *FAST])
    held_out = mixture_sample(4000, seed=1)
    np.save(folder / "held_out.npy", held_out)
    with open(folder / "held_out.csv", "w") as file:  # the columns in another order: found by name
        file.write(",".join(reversed(names)) + "\n")
        np.savetxt(file, held_out[:, ::-1], delimiter=",", fmt="%.10g")
    return folder, out, mixture_log_density(held_out)


@pytest.mark.parametrize("run, held_out", [("mixture", "held_out.npy"), ("mixture_csv", "held_out.csv")])
def test_score_matches_the_known_mixture_density(mixture_runs, run, held_out, capsys):
    folder, out, truth = mixture_runs
    output = folder / f"{run}_scores.csv"
    _ok(
        [
            "score",
            "--run",
            str(out / run),
            "--data",
            str(folder / held_out),
            "--output",
            str(output),
            "--quiet",
        ]
    )
    scores = np.loadtxt(output, skiprows=1)
    assert scores.shape == truth.shape
    gap = abs(scores.mean() - truth.mean())
    with capsys.disabled():  # the measured gap, for the record (pytest -s)
        print(f"\n{run}: score {scores.mean():.4f}, exact {truth.mean():.4f}, gap {gap:.4f} nats")
    assert gap < TOLERANCE_PER_DIMENSION * 4, (scores.mean(), truth.mean())
    assert f"mean log-density {scores.mean():.4f}" in capsys.readouterr().out


def test_score_output_is_the_same_as_npy_and_csv_and_in_every_batch_size(mixture_runs):
    folder, out, _ = mixture_runs
    run = ["score", "--run", str(out / "mixture"), "--data", str(folder / "held_out.npy"), "--quiet"]
    _ok([*run, "--output", str(folder / "a.npy"), "--batch-size", "333"])
    _ok([*run, "--output", str(folder / "b.csv")])
    assert np.allclose(np.load(folder / "a.npy"), np.loadtxt(folder / "b.csv", skiprows=1), rtol=0, atol=1e-8)


def test_a_csv_is_scored_batch_by_batch_as_its_npy_twin(mixture_runs):
    folder, out, _ = mixture_runs
    rows = np.load(folder / "held_out.npy")[:500]
    np.savetxt(folder / "ordered.csv", rows, delimiter=",", fmt="%.17g")  # no header: the columns in order
    np.save(folder / "ordered.npy", rows)
    run = ["score", "--run", str(out / "mixture"), "--quiet", "--batch-size", "7"]
    _ok([*run, "--data", str(folder / "ordered.csv"), "--output", str(folder / "from_csv.npy")])
    _ok([*run, "--data", str(folder / "ordered.npy"), "--output", str(folder / "from_npy.npy")])
    assert np.array_equal(np.load(folder / "from_csv.npy"), np.load(folder / "from_npy.npy"))


def test_score_never_writes_over_its_input_or_an_existing_file_unasked(mixture_runs, capsys):
    folder, out, _ = mixture_runs
    data = folder / "held_out.npy"
    before = data.read_bytes()
    run = ["score", "--run", str(out / "mixture"), "--data", str(data), "--quiet"]
    for output, words in (
        (data, "is one of the input files"),
        (folder / "mixture.csv", "exists: pass --overwrite"),
    ):
        capsys.readouterr()
        assert main([*run, "--output", str(output), "--overwrite" if output == data else "--quiet"]) == 2
        assert words in capsys.readouterr().err
    assert data.read_bytes() == before
    _ok([*run, "--output", str(folder / "again.npy")])
    _ok([*run, "--output", str(folder / "again.npy"), "--overwrite"])


def test_evaluate_and_sample_a_data_run_in_the_data_units(mixture_runs, capsys):
    folder, out, _ = mixture_runs
    _ok(["evaluate", "--run", str(out / "mixture"), "--quiet", "--u-points", "0", "--num-samples", "8"])
    evaluation = json.loads((out / "mixture" / "results.json").read_text())["evaluation"]
    assert evaluation["density"] == "log p(x)" and "data's own units" in evaluation["space"]
    checkpoint = torch.load(out / "mixture" / "checkpoints" / "best.pth", weights_only=True)
    stored = checkpoint["data"]
    assert (
        stored["path"] == str((folder / "mixture.npy").resolve())
        and len(stored["standardization"]["scale"]) == 4
    )
    assert "test average log p(x), nats in the data's units" in capsys.readouterr().out
    _ok(["sample", "--run", str(out / "mixture"), "--num-samples", "2000", "--output", str(folder / "s.npy")])
    samples = np.load(folder / "s.npy")
    reference = mixture_sample(2000, seed=2)
    assert samples.shape == (2000, 4)  # back in the data's units: each column's spread within 20%
    assert np.allclose(samples.std(0), reference.std(0), rtol=0.2)


def test_evaluate_follows_moved_data_and_refuses_changed_data(mixture_runs, capsys):
    folder, out, _ = mixture_runs
    moved = folder / "elsewhere.npy"
    x = np.load(folder / "mixture.npy")
    np.save(moved, x)
    run = ["evaluate", "--run", str(out / "mixture"), "--quiet", "--u-points", "0", "--num-samples", "0"]
    _ok([*run, "--data", str(moved), "--output-dir", str(folder / "evaluations")])
    assert (folder / "evaluations" / "results.json").is_file()
    x[2500, 1] += 1e-6  # one value in a middle row
    np.save(moved, x)
    capsys.readouterr()
    assert main([*run, "--data", str(moved), "--output-dir", str(folder / "evaluations")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the data this run was trained on" in err[0]


def test_evaluate_writes_elsewhere_when_the_run_folder_is_read_only(mixture_runs, capsys):
    folder, out, _ = mixture_runs
    root = out / "mixture_csv"
    modes = {path: path.stat().st_mode for path in [root, *root.rglob("*")] if path.is_dir()}
    for path in modes:
        path.chmod(0o555)
    try:
        run = ["evaluate", "--run", str(root), "--quiet", "--u-points", "0", "--num-samples", "0"]
        if main(run) == 2:  # not as root, who may write anyway
            assert "pass --output-dir DIR" in capsys.readouterr().err
        _ok([*run, "--output-dir", str(folder / "read_only_results")])
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert (folder / "read_only_results" / "results.json").is_file()


def test_a_conditional_run_scores_log_p_x_given_c(tmp_path, capsys):
    x, c = conditional_sample(5000, seed=0)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "c.csv", c, delimiter=",", header="temperature", comments="")
    out = tmp_path / "out"
    _ok(
        [
            "train",
            "--data",
            str(tmp_path / "x.npy"),
            "--context",
            str(tmp_path / "c.csv"),
            "--out",
            str(out / "x"),
            *FAST,
        ]
    )
    new_x, new_c = conditional_sample(3000, seed=1)
    np.save(tmp_path / "new_x.npy", new_x)
    np.save(tmp_path / "new_c.npy", new_c)
    scores = tmp_path / "scores.npy"
    run = str(out / "x")
    _ok(["score", "--run", run, "--data", str(tmp_path / "new_x.npy"), "--context", str(tmp_path / "new_c.npy"),
         "--output", str(scores), "--quiet"])  # fmt: skip
    truth = conditional_log_density(new_x, new_c).mean()
    gap = abs(np.load(scores).mean() - truth)
    with capsys.disabled():
        print(f"\nconditional: score {np.load(scores).mean():.4f}, exact {truth:.4f}, gap {gap:.4f} nats")
    assert gap < TOLERANCE_PER_DIMENSION * 2
    _ok(["evaluate", "--run", run, "--quiet", "--u-points", "0", "--num-samples", "0"])
    assert "test average log p(x | c)" in capsys.readouterr().out
    _ok(
        [
            "sample",
            "--run",
            run,
            "--context",
            "50",
            "--num-samples",
            "3000",
            "--output",
            str(tmp_path / "s.npy"),
        ]
    )
    samples = np.load(tmp_path / "s.npy")  # x | c = 50: means (1, -25), spreads (0.6, 50)
    assert np.allclose(samples.mean(0), [1.0, -25.0], atol=[0.1, 8.0])
    assert np.allclose(samples.std(0), [0.6, 50.0], rtol=0.15)
    capsys.readouterr()
    assert (
        main(
            [
                "score",
                "--run",
                run,
                "--data",
                str(tmp_path / "new_x.npy"),
                "--output",
                str(tmp_path / "o.npy"),
            ]
        )
        == 2
    )
    assert "this run's model is conditional: give --context PATH" in capsys.readouterr().err


def _write(path, content):
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    return path


GOOD = np.random.default_rng(0).normal(size=(300, 3))
NAN_ROW = GOOD.copy()
NAN_ROW[41, 2] = np.inf
CONSTANT = GOOD.copy()
CONSTANT[:, 1] = 7.0

# (file name, content, extra flags, words of the one-line error)
BAD_INPUTS = [
    ("nan.npy", NAN_ROW, [], "row 41 holds NaN or Inf in column 2 (1 such row(s))"),
    ("nan.csv", "a,b\n1,2\n3,nan\n", [], "row 1 (line 3) holds NaN or Inf in column 'b' (1)"),
    ("constant.npy", CONSTANT, [], "column 1 is constant (7 in every training row)"),
    ("words.csv", "a,b\n1,x\n", [], "column 'b' (1) holds 'x' at line 2, not a number"),
    ("few.npy", GOOD[:50], ["--batch-size", "100"], "40 training rows, fewer than one batch of 100"),
    ("text.npy", np.array([["a", "b"]] * 5), [], "holds text, not real numbers"),
    ("cube.npy", np.ones((5, 2, 2)), [], "has shape (5, 2, 2)"),
    ("missing.npy", None, [], "not found"),
    ("x.parquet.bak", "", [], "unknown file type '.bak'"),
    ("ints.npy", GOOD, ["--dequantize"], "--dequantize is for integer data"),
    ("cols.csv", "a,b\n1,2\n", ["--columns", "c"], "has no column 'c'"),
    ("frac.npy", GOOD, ["--val-fraction", "1.5"], "must each be in (0, 1)"),
    ("ctx.npy", GOOD, ["--context", "CTX"], "give one context row per data row"),
    ("both.npy", GOOD, ["--context", "CTX", "--labels", "CTX"], "not both"),
    ("cond.npy", GOOD, ["--conditional"], "give --context PATH (continuous) or --labels PATH"),
]


@pytest.mark.parametrize("name, content, flags, words", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_a_bad_file_or_flag_is_one_line_and_exit_2(tmp_path, capsys, name, content, flags, words):
    path = tmp_path / name if content is None else _write(tmp_path / name, content)
    np.save(tmp_path / "context.npy", GOOD[:10, :1])
    flags = [str(tmp_path / "context.npy") if flag == "CTX" else flag for flag in flags]
    code = main(["train", "--data", str(path), "--out", str(tmp_path / "out"), "--batch-size", "10", *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.pth"))


def test_data_flags_without_data_are_refused(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--columns", "a", "--out", str(tmp_path)]) == 2
    assert "--columns is for --data PATH" in capsys.readouterr().err


TINY = ["--num-layers", "1", "--hidden-features", "8", "--epochs", "1", "--quiet", "--threads", "1"]


def test_labels_train_score_and_sample_by_class(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(400, 2))
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "y.csv", (x[:, :1] > 0) * 5, fmt="%d", header="label", comments="")
    out = tmp_path / "out"
    _ok(
        [
            "train",
            "--data",
            str(tmp_path / "x.npy"),
            "--labels",
            str(tmp_path / "y.csv"),
            "--out",
            str(out / "x"),
            *TINY,
        ]
    )
    run = str(out / "x")
    _ok(
        ["sample", "--run", run, "--labels", "0,5", "--num-samples", "3", "--output", str(tmp_path / "s.csv")]
    )
    assert np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1).shape == (6, 2)
    scores = tmp_path / "scores.npy"
    _ok(["score", "--run", run, "--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.csv"),
         "--output", str(scores), "--quiet"])  # fmt: skip
    assert np.load(scores).shape == (400,) and np.isfinite(np.load(scores)).all()
    capsys.readouterr()
    assert main(["sample", "--run", run, "--labels", "4", "--output", str(tmp_path / "t.npy")]) == 2
    assert "row 0 has label 4; the run knows the classes [0, 5]" in capsys.readouterr().err


@pytest.mark.parametrize(
    "tamper, words",
    [
        (lambda record: record["standardization"].update(scale=[-1.0, 1.0]), "scale that is not positive"),
        (lambda record: record.update(options={"shell": "rm"}), "unknown options"),
        (lambda record: record.update(source=None), "no valid source"),
    ],
)
def test_a_tampered_data_record_is_one_line(tmp_path, capsys, tamper, words):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(200, 2)))
    out = tmp_path / "out"
    _ok(["train", "--data", str(tmp_path / "x.npy"), "--out", str(out / "x"), *TINY])
    best = out / "x" / "checkpoints" / "best.pth"
    checkpoint = torch.load(best, weights_only=True)
    tamper(checkpoint["data"])
    torch.save(checkpoint, best)
    capsys.readouterr()
    for command in (["evaluate"], ["sample"]):
        assert main([*command, "--run", str(out / "x")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


CONTEXT_MODELS = [
    "maf",
    "made",
    "iaf",
    "naf",
    "realnvp",
    "nice",
    "nsf-ar",
    "nsf-cl",
    "glow",
    "made-mog",
    "maf-mog",
]


@pytest.mark.parametrize("model", CONTEXT_MODELS)
def test_every_model_that_takes_a_context_trains_scores_and_samples_from_the_command_line(tmp_path, model):
    x, c = conditional_sample(300, seed=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "c.npy", c)
    out = tmp_path / "out"
    flags = ["--model", model, *TINY, "--num-samples", "0", "--batch-size", "50"]
    _ok(
        [
            "train",
            "--data",
            str(tmp_path / "x.npy"),
            "--context",
            str(tmp_path / "c.npy"),
            "--out",
            str(out / "x"),
            *flags,
        ]
    )
    scores = tmp_path / "scores.npy"
    run = str(out / "x")
    _ok(["score", "--run", run, "--data", str(tmp_path / "x.npy"), "--context", str(tmp_path / "c.npy"),
         "--output", str(scores), "--quiet"])  # fmt: skip
    assert np.isfinite(np.load(scores)).all()
    _ok(
        [
            "sample",
            "--run",
            run,
            "--context",
            "-20,40",
            "--num-samples",
            "4",
            "--output",
            str(tmp_path / "s.npy"),
        ]
    )
    assert np.load(tmp_path / "s.npy").shape == (8, 2)


def test_a_data_run_resumes_exactly_where_it_stopped(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(300, 2)))
    out = tmp_path / "out"
    run = ["train", "--data", str(tmp_path / "x.npy"), "--out", str(out / "x"), *TINY, "--num-samples", "0"]
    _ok(run)
    _ok([*run, "--epochs", "2", "--resume"])
    training = json.loads((out / "x" / "results.json").read_text())["training"]
    assert training["epochs_run"] == 2 and training["space"] == "data space nats"


def test_a_read_only_run_folder_is_advised_to_use_output_dir(mixture_runs, capsys, monkeypatch):
    from maflow.errors import StorageError
    from maflow.run import folder

    folder_path, out, _ = mixture_runs

    def refuse(self):
        raise StorageError(f"cannot write to {out}: Read-only file system; choose another --out")

    monkeypatch.setattr(folder.RunLock, "__enter__", refuse)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(out / "mixture"), "--quiet", "--num-samples", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "pass --output-dir DIR" in err[0]
        and "--out" not in err[0].replace("--output-dir", "")
    )


RUN_FLAG_CASES = [
    (
        ["score", "--data", "DATA", "--output", "OUT", "--seed", "-1"],
        "must be a whole number from 0 to 2**63 - 1",
    ),
    (["score", "--data", "DATA", "--output", "OUT", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["score", "--data", "DATA", "--output", "x.xlsx"], "write .npy or .csv"),
    (["score", "--data", "DATA", "--output", "OUT", "--context", "DATA"], "takes no context"),
    (["sample", "--seed", "18446744073709551616"], "must be a whole number from 0 to 2**63 - 1"),
    (["sample", "--context", "0.5"], "takes no context"),
    (["sample", "--num-samples", "0"], "--num-samples must be at least 1"),
    (["evaluate", "--dataset", "digits"], "was trained on data set 'x', not 'digits': drop --dataset"),
]


@pytest.mark.parametrize(
    "argv, words", RUN_FLAG_CASES, ids=[" ".join(case[0][:1] + case[0][-2:]) for case in RUN_FLAG_CASES]
)
def test_bad_flags_of_score_sample_and_evaluate_are_one_line(tmp_path, capsys, argv, words):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).normal(size=(200, 2)))
    _ok(["train", "--data", str(data), "--out", str(tmp_path / "out" / "x"), *TINY, "--num-samples", "0"])
    capsys.readouterr()
    names = {"DATA": str(data), "OUT": str(tmp_path / "scores.npy")}
    full = [argv[0], "--run", str(tmp_path / "out" / "x"), *(names.get(a, a) for a in argv[1:])]
    try:
        code = main(full)
    except SystemExit as exit:  # argparse's own checks
        code = exit.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and words in err[-1] and not any("Traceback" in line for line in err), err


def test_integer_data_is_advised_to_dequantize_and_dequantized_samples_are_integers(tmp_path, capsys):
    np.save(tmp_path / "counts.npy", np.random.default_rng(0).poisson(5.0, size=(400, 2)))
    run = ["train", "--data", str(tmp_path / "counts.npy"), "--out", str(tmp_path / "out" / "counts"), *TINY]
    _ok([*run, "--num-samples", "0"])
    assert "pass --dequantize" in capsys.readouterr().out
    _ok([*run, "--num-samples", "0", "--dequantize", "--overwrite"])
    assert "pass --dequantize" not in capsys.readouterr().out
    _ok(
        [
            "sample",
            "--run",
            str(tmp_path / "out" / "counts"),
            "--num-samples",
            "50",
            "--output",
            str(tmp_path / "s.npy"),
        ]
    )
    samples = np.load(tmp_path / "s.npy")
    assert np.array_equal(samples, np.floor(samples))
    scores = tmp_path / "scores.npy"
    _ok(["score", "--run", str(tmp_path / "out" / "counts"), "--data", str(tmp_path / "counts.npy"),
         "--output", str(scores), "--quiet"])  # fmt: skip
    assert np.isfinite(np.load(scores)).all()


def test_a_data_run_named_like_a_registered_set_is_evaluated_on_its_own_file(tmp_path, capsys):
    np.save(tmp_path / "moons.npy", np.random.default_rng(0).normal(size=(300, 3)))  # not the moons set
    out = tmp_path / "out"
    _ok(["train", "--data", str(tmp_path / "moons.npy"), "--out", str(out), *TINY, "--num-samples", "0"])
    capsys.readouterr()
    _ok(
        [
            "evaluate",
            "--dataset",
            "moons",
            "--out",
            str(out),
            "--quiet",
            "--u-points",
            "0",
            "--num-samples",
            "0",
        ]
    )
    assert "test average log p(x), nats in the data's units" in capsys.readouterr().out
