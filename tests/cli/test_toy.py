import json

import pytest

from maflow.cli import main


@pytest.mark.parametrize("flow", ["glow", "iaf"])
def test_toy_writes_every_picture(tmp_path, flow):
    assert main(["toy", "--flow", flow, "--steps", "15", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["steps"] == 15 and summary["data"] == "moons" and summary["flow"] == flow
    for name in ("overview", "density", "samples", "point-flow", "x2z-z2x"):
        picture = tmp_path / "figures" / f"{name}.png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert picture.stat().st_size < 150_000


def test_toy_rejects_bad_settings(tmp_path, capsys):
    from tests.reliability.cases import run  # argparse's own refusals exit too

    assert run(["toy", "--flow", "maf", "--lr", "0", "--out", str(tmp_path)]) == 2
    assert "--lr" in capsys.readouterr().err


def test_toy_run_folder_holds_checkpoints_and_a_log(tmp_path):
    from maflow.utils.io import load_checkpoint

    assert (
        main(["toy", "--flow", "maf", "--steps", "12", "--batch-size", "1000", "--out", str(tmp_path)]) == 0
    )
    latest = load_checkpoint(tmp_path / "checkpoints" / "latest.pth")
    assert latest["family"] == "toy" and latest["progress"]["step"] == 12 and latest["progress"]["epoch"] == 2
    assert latest["model_config"]["num_layers"] == 5 and latest["scheduler_state"]["last_epoch"] == 11
    assert (tmp_path / "checkpoints" / "best.pth").is_file()
    assert "epoch 2 step 12" in (tmp_path / "logs" / "training.log").read_text()


def test_the_one_trainer_reproduces_the_gallery_loop_it_replaced(tmp_path):
    # maflow toy --flow maf --steps 100 --batch-size 128 as the gallery's own loop trained it
    # (commit 9fb563b): the same test NLL, error bar and last-100-step loss, bit for bit. The
    # softplus scale's contiguous kernel (elementwise.SoftplusAffine) changed the float32
    # round-off once: 9fb563b gave 2.324590734899044, 0.016037093619013006, 2.441583948135376.
    assert (
        main(["toy", "--flow", "maf", "--steps", "100", "--batch-size", "128", "--out", str(tmp_path)]) == 0
    )
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["test_nll"] == 2.324590802907944 and summary["test_nll_2se"] == 0.01603709615753774
    assert summary["final_train_loss"] == 2.4415839195251463


def test_a_diverged_toy_resumes_with_a_lower_rate_as_if_started_with_it(tmp_path, capsys):
    from tests.reliability.cases import run

    toy = ["toy", "--flow", "maf", "--steps", "30", "--batch-size", "1000", "--quiet"]
    assert run([*toy, "--lr", "1e6", "--out", str(tmp_path / "a")]) == 2
    assert "training stopped" in capsys.readouterr().err
    assert main([*toy, "--lr", "3e-3", "--out", str(tmp_path / "a"), "--resume"]) == 0
    assert main([*toy, "--lr", "3e-3", "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / n / "results.json").read_text()) for n in "ab")
    assert a["test_nll"] == b["test_nll"]
    assert (
        "learning rate changed on resume at step 0: 1e+06 -> 0.003"
        in (tmp_path / "a" / "logs" / "training.log").read_text()
    )
