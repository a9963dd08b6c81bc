import json
from pathlib import Path

import pytest

from maflow.cli import main
from maflow.cli.vae import load_vae_config
from maflow.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def test_packaged_configurations_load_and_unknown_names_are_clear():
    assert load_vae_config("vae_dense_cpu")["data"]["dataset"] == "mnist_grey"
    with pytest.raises(ConfigError, match="vae_resnet_gpu"):
        load_vae_config("vae_nonexistent")


def test_bad_override_is_a_clear_error(tmp_path, capsys):
    code = main(["vae", "train", "--out", str(tmp_path), "--set", "no_such_setting=3"])
    assert code == 2 and "no_such_setting" in capsys.readouterr().err
    code = main(["vae", "train", "--out", str(tmp_path), "--set", "train.no_such_setting=3"])
    assert code == 2 and "no_such_setting" in capsys.readouterr().err
    assert main(["vae", "train", "--out", str(tmp_path), "--set", "flow_steps=3", "--print-config"]) == 0
    assert '"flow_steps": 3' in capsys.readouterr().out


@pytest.mark.shared_data
def test_train_then_evaluate_on_mnist(tmp_path, capsys):
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip("../shared/data/mnist is absent")
    out = tmp_path / "run"
    small = ["model.hidden_features=[16]", "model.context_features=16", "model.flow_hidden_features=[16]"]
    args = ["vae", "train", "--out", str(out), "--data-dir", str(SHARED_DATA), "--epochs", "1"]
    args += ["--train-size", "100", "--set", "train.batch_size=50"]
    for pair in small:
        args += ["--set", pair]
    assert main(args) == 0
    assert (
        main(
            ["vae", "evaluate", "--out", str(out), "--data-dir", str(SHARED_DATA), "--num-examples", "10"]
            + [
                "--is-samples",
                "20",
                "--hais",
                "--hais-examples",
                "4",
                "--hais-steps",
                "3",
                "--hais-chains",
                "2",
            ]
        )
        == 0
    )
    report = json.loads((out / "evaluation_test.json").read_text())
    assert (
        report["importance_sampling"]["num_samples"] == 20
        and report["importance_sampling"]["num_examples"] == 10
    )
    assert report["importance_sampling"]["nll"] <= report["importance_sampling"]["neg_elbo"]
    assert report["hais"]["num_examples"] == 4 and report["epochs_trained"] == 1
    assert "-log p(x) (IS, k=20" in capsys.readouterr().out
