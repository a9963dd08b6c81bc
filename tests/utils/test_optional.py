"""The core install is lean: optional packages are skipped with one line, and imports stay light."""

import subprocess
import sys

import pytest

from maflow.utils import optional


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_maflow_and_its_models_imports_no_optional_package():
    modules = _run(
        "import sys, maflow, maflow.models, maflow.transforms, maflow.distributions; "
        "from maflow import MAF; MAF(features=3, num_layers=1, hidden_features=4); "
        "print(' '.join(sorted(sys.modules)))"
    ).split()
    heavy = {"matplotlib", "tensorboard", "sklearn", "scipy"}
    assert not heavy & {name.split(".")[0] for name in modules}


@pytest.fixture
def missing(monkeypatch):
    """Pretends that the given modules are not installed."""
    hidden: set[str] = set()
    real = optional.available
    monkeypatch.setattr(optional, "available", lambda module: module not in hidden and real(module))
    monkeypatch.setattr(optional, "_noticed", set())
    return hidden


def test_pictures_are_skipped_with_one_line_without_matplotlib(missing, tmp_path, capsys):
    import numpy as np

    from maflow.run.figures import save_image_grid, save_u_marginals

    missing.add("matplotlib")
    assert save_image_grid(np.random.rand(4, 16), (1, 4, 4), tmp_path / "g.png") is None
    assert save_u_marginals(np.random.randn(50, 3), tmp_path / "u.png") is None
    assert not list(tmp_path.iterdir())
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "pip install matplotlib" in lines[0] and "maflow[plots]" in lines[0]


def test_training_logs_go_on_without_tensorboard(missing, tmp_path, capsys):
    from maflow.train.logger import TrainingLogger

    missing.add("tensorboard")
    with TrainingLogger(tmp_path / "training.log", tmp_path / "tb", echo=False) as log:
        log.info("epoch 1")
        log.scalars({"loss": 1.0}, step=1)
    assert "epoch 1" in (tmp_path / "training.log").read_text() and not (tmp_path / "tb").exists()
    assert "maflow[tensorboard]" in capsys.readouterr().err


def test_data_that_needs_scikit_learn_names_the_extra(missing):
    from maflow.data.toy import TOY_SAMPLERS

    missing.add("sklearn")
    with pytest.raises(optional.MissingDependencyError, match=r"maflow\[data\]"):
        TOY_SAMPLERS["moons"](10, None)
