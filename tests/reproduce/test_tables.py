"""Every reproduction table: sourced published values, and commands the CLI accepts at both budgets."""

from pathlib import Path

import pytest

from maflow.cli import build_parser
from maflow.reproduce import BUDGETS, TABLES
from maflow.reproduce.runner import format_table, missing_data
from maflow.reproduce.table import Measured, Settings, binomial_error, slug

ROWS = [(table, row) for table in TABLES.values() for row in table.rows]


def test_the_six_tables_of_the_reproduction_are_there():
    assert set(TABLES) == {
        "maf-mnist",
        "maf-uci",
        "made-binarized-mnist",
        "made-uci-binary",
        "vae-iaf",
        "mnf-mnist",
    }
    mnist_models = {row.label for row in TABLES["maf-mnist"].rows}
    for name in ("MADE", "MADE MoG", "Real NVP (5)", "Real NVP (10)", "MAF (5)", "MAF (10)", "MAF MoG (5)"):
        assert {name, f"{name}, conditional"} <= mnist_models


@pytest.mark.parametrize("table, row", ROWS, ids=[f"{t.name}/{slug(r.label)}" for t, r in ROWS])
def test_each_row_has_a_source_and_commands_the_cli_accepts(table, row, tmp_path):
    assert "arXiv" in row.published.source or "/" in row.published.source
    assert row.published.verification().startswith(("yes: ", "no "))
    parser = build_parser()
    for budget in BUDGETS:
        assert budget in table.budgets
        settings = Settings(budget, "cpu", "/data", tmp_path / slug(row.label))
        argvs = row.commands(settings)
        assert argvs
        for argv in argvs:
            args = parser.parse_args(argv)  # exits on a flag the command does not have
            assert getattr(args, "device", "cpu") == "cpu"
            assert any(
                word.startswith(str(settings.folder)) for word in argv
            )  # the row's folder, or a seed's in it


def test_rows_are_unique_and_their_folders_distinct():
    for table in TABLES.values():
        labels = [row.label for row in table.rows]
        assert len(set(labels)) == len(labels) and len({slug(label) for label in labels}) == len(labels)


def test_missing_data_names_the_files_and_where_to_get_them(tmp_path):
    missing = missing_data(["power", "dna"], str(tmp_path))
    assert set(missing) == {"power", "dna"}
    assert "power/{data.npy" in missing["power"] and "zenodo" in missing["power"]
    (tmp_path / "made_uci_binary").mkdir()
    (tmp_path / "made_uci_binary" / "dna.npz").write_bytes(b"")
    assert set(missing_data(["power", "dna"], str(tmp_path))) == {"power"}


def test_a_table_without_its_data_says_once_where_to_get_it(tmp_path):
    from maflow.errors import DataError
    from maflow.reproduce.runner import run_table

    with pytest.raises(DataError) as caught:
        run_table(TABLES["maf-uci"], "quick", tmp_path / "out", data_dir=str(tmp_path), run_command=None)
    message = str(caught.value)
    assert message.count("zenodo.org") == 1 and "for bsds300, gas, hepmass, miniboone, power" in message
    assert f"{tmp_path}/gas/{{ethylene_CO.txt" in message and "\n" not in message


def test_the_markdown_table_carries_published_measured_command_commit_device_and_time():
    table = TABLES["mnf-mnist"]
    row = table.rows[0]
    header = {
        "budget": "quick",
        "budget_text": "x",
        "device": "cpu (test)",
        "commit": "abc1234",
        "started": "now",
    }
    argvs = row.commands(Settings("quick", "cpu", None, Path("f")))
    text = format_table(table, header, [(row, Measured(0.91, 0.19, "note"), None, argvs, 90.0)])
    line = next(line for line in text.splitlines() if line.startswith(f"| {row.label}"))
    assert "| 0.7 |" in line and "arXiv 1703.01961" in line and "0.91 ± 0.19 (note)" in line
    assert "1.5 min" in line and "`maflow mnf train --model mnf-lenet" in line
    assert "Commit: abc1234" in text and "Device: cpu (test)" in text


def test_binomial_error_of_a_test_error_rate():
    assert binomial_error(0.0, 10_000) == 0.0
    assert binomial_error(50.0, 100) == pytest.approx(10.0)


def test_an_interrupted_row_stops_the_reproduction_and_keeps_the_table(tmp_path):
    from maflow.reproduce.runner import run_table

    calls = []

    def stopped(argv):  # the command line's entry point, interrupted by SIGTERM
        calls.append(argv)
        return 143

    data = tmp_path / "data" / "made_uci_binary"
    data.mkdir(parents=True)
    (data / "dna.npz").write_bytes(b"")
    path, status = run_table(
        TABLES["made-uci-binary"],
        "quick",
        tmp_path / "out",
        "cpu",
        str(data.parent),
        ["DNA"],
        run_command=stopped,
    )
    assert status == 143 and len(calls) == 1
    text = path.read_text()
    assert (
        "stopped: `maflow made` was interrupted (exit 143)" in text and "DNA: MADE mask sampling" not in text
    )


def test_a_bar_in_a_cell_does_not_break_the_markdown_table():
    table = TABLES["maf-mnist"]
    row = next(row for row in table.rows if row.label == "MAF (5), conditional")
    header = {"budget": "quick", "budget_text": "x", "device": "cpu", "commit": "c", "started": "now"}
    argvs = row.commands(Settings("quick", "cpu", None, Path("f")))
    text = format_table(table, header, [(row, Measured(-1300.0, 2.0, "p(x|y) averaged"), None, argvs, 60.0)])
    line = next(line for line in text.splitlines() if line.startswith("| MAF (5), conditional"))
    assert line.replace("\\|", "").count("|") == 8 and "p(x\\|y) averaged" in line


def test_made_uci_paper_commands_keep_dna_s_and_take_the_validation_choices_elsewhere():
    def paper_argv(label):
        row = next(row for row in TABLES["made-uci-binary"].rows if row.label == label)
        return " ".join(row.commands(Settings("paper", "cpu", None, Path("f")))[0])

    # DNA: the MADE authors' README command (AdaDelta, fresh masks, 1,000 test masks)
    dna = paper_argv("DNA: MADE mask sampling")
    assert "--optimizer adadelta --lr 1 --rho 0.95 --eps 1e-5" in dna and "--fresh-masks -r 1" in dna
    assert "-s 1000 --val-samples 300" in dna and "--direct-input" in dna
    assert "-n 1 -s 1" in paper_argv("DNA: MADE, one mask")
    # Mushrooms and NIPS-0-12: Adam and 8 cycled masks, chosen on the validation split
    for name in ("Mushrooms", "NIPS-0-12"):
        sampling, one = paper_argv(f"{name}: MADE mask sampling"), paper_argv(f"{name}: MADE, one mask")
        assert "-n 8 -r 1 -s 8" in sampling and "-n 1 -s 1" in one
        for argv in (sampling, one):
            assert "--lr 1e-3" in argv and "adadelta" not in argv and "--patience 30" in argv
            assert ("--direct-input" in argv) == (name == "Mushrooms")
        if name == "NIPS-0-12":
            assert "--weight-decay 0.2" in one and "--weight-decay 0.1" in sampling


def test_the_mnf_paper_row_trains_two_seeds_and_reports_their_mean(tmp_path):
    import json

    row = TABLES["mnf-mnist"].rows[0]
    argvs = row.commands(Settings("paper", "cpu", None, tmp_path))
    assert [argv[argv.index("--seed") + 1] for argv in argvs] == ["0", "1"]
    assert [argv[argv.index("--out") + 1] for argv in argvs] == [
        str(tmp_path / "seed-0"),
        str(tmp_path / "seed-1"),
    ]
    for seed, (error, nll) in enumerate([(0.82, 0.0351), (0.71, 0.0285)]):
        (tmp_path / f"seed-{seed}").mkdir()
        test = {"error_percent": error, "nll": nll, "count": 10_000}
        (tmp_path / f"seed-{seed}" / "results.json").write_text(json.dumps({"test": test}))
    measured = row.read(tmp_path)
    assert measured.value == pytest.approx(0.765) and measured.error == pytest.approx(
        binomial_error(0.765, 10_000)
    )
    assert "seed 0: 0.82, seed 1: 0.71" in measured.note and "test NLL 0.0318" in measured.note
    quick = row.commands(Settings("quick", "cpu", None, tmp_path / "q"))
    assert len(quick) == 1 and "--seed" not in quick[0]
