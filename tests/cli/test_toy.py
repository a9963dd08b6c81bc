import json

import pytest

from maflow.cli import main


@pytest.mark.parametrize("flow", ["glow", "iaf"])
def test_toy_writes_every_picture(tmp_path, flow):
    assert main(["toy", "--flow", flow, "--steps", "15", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 15 and summary["data"] == "moons" and summary["flow"] == flow
    for name in ("overview", "density", "samples", "point-flow", "x2z-z2x"):
        picture = tmp_path / f"{name}.png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert picture.stat().st_size < 150_000


def test_toy_rejects_bad_settings(tmp_path, capsys):
    assert main(["toy", "--flow", "maf", "--lr", "0", "--out", str(tmp_path)]) == 2
    assert "--lr" in capsys.readouterr().err
