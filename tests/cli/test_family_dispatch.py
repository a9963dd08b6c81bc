"""``maflow evaluate --run`` and ``maflow sample --run`` on the run folders of the VAE, MNF and toy
families, end to end on tiny runs, and the families' own ``evaluate`` and ``sample`` commands."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import maflow.data
from maflow.cli import main
from maflow.run.folder import RunLock
from tests.train.test_mnf import tiny_mnist


def _one_line_error(capsys) -> str:
    """The refusal: one line on stderr, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    return err.strip()


# --- toy runs ------------------------------------------------------------------------------------

TOY = ["toy", "--flow", "maf", "--epochs", "1", "--limit-train", "500", "--batch-size", "250", "--quiet"]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "run"
    assert main([*TOY, "--out", str(out)]) == 0
    return out


def test_evaluate_run_scores_a_toy_run_on_fresh_points(toy_run, capsys):
    assert main(["evaluate", "--run", str(toy_run)]) == 0
    out = capsys.readouterr().out
    assert "holds a 'toy' run: maflow toy evaluate" in out and "fresh points" in out
    results = json.loads((toy_run / "results.json").read_text())
    evaluation = results["evaluation"]
    assert results["flow"] == "maf" and evaluation["data"] == "moons"  # the training's part is kept
    ll = evaluation["test"]["log_likelihood"]
    assert ll["count"] == 10_000 and np.isfinite(ll["mean"]) and ll["error_2se"] > 0
    assert evaluation["test_data_units"]["mean"] == pytest.approx(
        ll["mean"] - evaluation["test_data_units"]["log_std_sum"]
    )
    text = (toy_run / "results.txt").read_text()
    assert "test average log-likelihood" in text and "[toy flow]" in text and "[evaluation]" in text
    # The same seed draws the same points; another seed other ones.
    assert main(["toy", "evaluate", "--out", str(toy_run), "-N", "300", "--seed", "4"]) == 0
    first = json.loads((toy_run / "results.json").read_text())["evaluation"]["test"]["log_likelihood"]
    assert main(["toy", "evaluate", "--out", str(toy_run), "-N", "300", "--seed", "4"]) == 0
    again = json.loads((toy_run / "results.json").read_text())["evaluation"]["test"]["log_likelihood"]
    assert first["count"] == 300 and first["mean"] == again["mean"]


def test_a_rebuilt_toy_run_gives_the_test_nll_its_training_reported(toy_run):
    from maflow.run.metrics import log_likelihoods
    from maflow.run.toy import load_toy_run, toy_splits

    run = load_toy_run(toy_run, "latest")
    _, test = toy_splits("moons", 0)
    nll = -log_likelihoods(run.model, test).mean()
    assert nll == pytest.approx(json.loads((toy_run / "results.json").read_text())["test_nll"], rel=1e-5)
    assert run.data == "moons" and len(run.train) == 500  # --limit-train, from the fingerprint


def test_toy_evaluate_scores_the_runs_own_test_and_training_points(toy_run, capsys):
    trained = json.loads((toy_run / "results.json").read_text())
    assert main(["toy", "evaluate", "--out", str(toy_run), "--checkpoint", "latest", "--split", "test"]) == 0
    assert "the run's 2000 test points" in capsys.readouterr().out
    evaluation = json.loads((toy_run / "results.json").read_text())["evaluation"]
    ll = evaluation["test"]["log_likelihood"]
    assert evaluation["split"] == "test" and ll["count"] == 2000
    assert -ll["mean"] == pytest.approx(trained["test_nll"], rel=1e-5)
    assert main(["toy", "evaluate", "--out", str(toy_run), "--split", "train"]) == 0
    evaluation = json.loads((toy_run / "results.json").read_text())["evaluation"]
    assert evaluation["num_points"] == 500  # --limit-train 500: the points it trained on
    assert main(["toy", "evaluate", "--out", str(toy_run), "--split", "test", "-N", "50"]) == 2
    assert "drop -N" in _one_line_error(capsys)


def test_an_older_toy_checkpoint_without_its_density_is_recognised(toy_run, tmp_path):
    import shutil

    from maflow.run.toy import load_toy_run
    from maflow.utils.io import load_checkpoint, save_checkpoint

    old = tmp_path / "old"
    shutil.copytree(toy_run, old)
    checkpoint = load_checkpoint(old / "checkpoints" / "best.pth")
    del checkpoint["training_config"]["data"]
    save_checkpoint(old / "checkpoints" / "best.pth", checkpoint)
    assert load_toy_run(old).data == "moons"


def test_sample_short_count_flag_reaches_the_toy_sampler(toy_run, capsys):
    # -N is the flag of every family's own sampler; the shared command takes it too
    assert main(["sample", "--run", str(toy_run), "-N", "7", "--seed", "1"]) == 0
    assert "-N 7" in capsys.readouterr().out


def test_sample_run_draws_a_toy_run_in_the_datas_units(toy_run, tmp_path, capsys):
    assert main(["sample", "--run", str(toy_run), "--num-samples", "50", "--seed", "1"]) == 0
    assert "maflow toy sample" in capsys.readouterr().out
    samples = np.load(toy_run / "samples" / "samples.npy")
    assert samples.shape == (50, 2) and np.isfinite(samples).all()
    assert (toy_run / "samples" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    png = tmp_path / "elsewhere.png"
    assert main(["toy", "sample", "--out", str(toy_run), "-N", "50", "--seed", "1", "--png", str(png)]) == 0
    assert np.array_equal(np.load(tmp_path / "elsewhere.npy"), samples)
    assert main(["sample", "--run", str(toy_run)]) == 0  # the toy's own default: 1000 points
    assert np.load(toy_run / "samples" / "samples.npy").shape == (1000, 2)


def test_a_toy_run_started_over_loses_its_stale_samples(tmp_path):
    out = tmp_path / "run"
    assert main([*TOY, "--out", str(out)]) == 0
    assert main(["toy", "sample", "--out", str(out), "-N", "5"]) == 0
    assert main([*TOY, "--out", str(out), "--overwrite"]) == 0
    assert not (out / "samples" / "samples.npy").exists()


def test_toy_actions_refuse_in_one_line(toy_run, tmp_path, capsys):
    assert main(["toy", "--out", str(tmp_path / "x")]) == 2
    assert "--flow" in _one_line_error(capsys)
    assert main(["toy", "evaluate", "--out", str(tmp_path / "none")]) == 2
    assert "no checkpoints/best.pth" in _one_line_error(capsys)
    assert main(["toy", "sample", "--out", str(toy_run), "--png", str(tmp_path / "s.jpg")]) == 2
    assert ".png" in _one_line_error(capsys)
    assert main(["toy", "evaluate", "--out", str(toy_run), "-N", "1"]) == 2
    assert "--num-points" in _one_line_error(capsys)
    with RunLock(toy_run):  # a live writer
        assert main(["toy", "evaluate", "--out", str(toy_run)]) == 2
        assert "is in use" in _one_line_error(capsys)


# --- VAE runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    images = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    dataset = SimpleNamespace(name="mnist_grey", image_shape=(1, 28, 28), split=lambda split: images)
    out = tmp_path_factory.mktemp("vae") / "run"
    argv = ["vae", "train", "--out", str(out), "--epochs", "1", "--limit-train", "20", "--quiet"]
    for setting in ("train.batch_size=10", "model.hidden_features=[8]", "model.latent_features=2"):
        argv += ["--set", setting]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: dataset)
        assert main([*argv, "--set", "model.flow_steps=1"]) == 0
    return out


def test_sample_run_draws_binary_images_from_a_vae(vae_run, capsys):
    assert main(["sample", "--run", str(vae_run), "--num-samples", "6", "--seed", "2"]) == 0
    assert "holds a 'vae' run: maflow vae sample" in capsys.readouterr().out
    samples = np.load(vae_run / "samples" / "samples.npy")
    assert samples.shape == (6, 784) and samples.dtype == np.uint8 and set(np.unique(samples)) <= {0, 1}
    assert (vae_run / "samples" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["vae", "sample", "--out", str(vae_run), "-N", "6", "--seed", "2"]) == 0
    assert np.array_equal(np.load(vae_run / "samples" / "samples.npy"), samples)  # the same seed


def test_vae_sample_mean_gives_the_decoders_probabilities(vae_run, tmp_path):
    png = tmp_path / "means.png"
    argv = ["vae", "sample", "--out", str(vae_run), "-N", "4", "--mean", "--png", str(png)]
    assert main([*argv, "--checkpoint", "best"]) == 0
    means = np.load(tmp_path / "means.npy")
    assert means.dtype == np.float32 and means.shape == (4, 784) and 0 < means.min() <= means.max() < 1
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_vae_sample_refuses_in_one_line(vae_run, tmp_path, capsys):
    assert main(["vae", "sample", "--out", str(vae_run), "--png", str(tmp_path / "s.npy")]) == 2
    assert ".png" in _one_line_error(capsys)
    assert main(["vae", "sample", "--out", str(vae_run), "-N", "0"]) == 2
    assert "--num-samples" in _one_line_error(capsys)
    with RunLock(vae_run):
        assert main(["sample", "--run", str(vae_run)]) == 2
        assert "is in use" in _one_line_error(capsys)
    assert main(["evaluate", "--run", str(vae_run), "--checkpoint", "best"]) == 2
    assert "checkpoints/latest.pth" in _one_line_error(capsys)


# --- MNF runs ------------------------------------------------------------------------------------


@pytest.fixture
def mnist(monkeypatch):
    data = tiny_mnist(num_train=50, num_other=20)
    monkeypatch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: data)
    return data


def _mnf_run(out, model: str) -> None:
    argv = ["mnf", "train", "--model", model, "--epochs", "1", "--limit-train", "50", "--batch-size", "25"]
    assert main([*argv, "--test-samples", "2", "--quiet", "--out", str(out)]) == 0


def test_evaluate_run_reports_the_test_error_of_an_mnf_run(tmp_path, mnist, capsys):
    out = tmp_path / "lenet"
    _mnf_run(out, "lenet")
    trained = json.loads((out / "results.json").read_text())["test"]
    capsys.readouterr()
    assert main(["evaluate", "--run", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "holds a 'mnf' run: maflow mnf evaluate" in printed and "test error" in printed
    results = json.loads((out / "results.json").read_text())
    evaluation = results["evaluation"]
    # The last epoch's weights, as training scored them: the same test error and NLL.
    assert evaluation["error_percent"] == trained["error_percent"] and evaluation["count"] == 20
    assert evaluation["nll"] == pytest.approx(trained["nll"], rel=1e-9)
    assert evaluation["error_percent_2se"] > 0 and evaluation["nll_2se"] > 0
    assert evaluation["num_samples"] == 1 and results["model"] == "lenet"
    assert "[lenet]" in (out / "results.txt").read_text()
    assert main(["mnf", "evaluate", "--out", str(out), "--checkpoint", "best"]) == 0


def test_mnf_evaluate_takes_posterior_samples_and_checks_the_data(tmp_path, mnist, monkeypatch, capsys):
    out = tmp_path / "mnf-lenet"
    _mnf_run(out, "mnf-lenet")
    torch.manual_seed(0)
    assert main(["mnf", "evaluate", "--out", str(out), "--test-samples", "3"]) == 0
    evaluation = json.loads((out / "results.json").read_text())["evaluation"]
    assert evaluation["num_samples"] == 3 and evaluation["model"] == "mnf-lenet"
    assert main(["evaluate", "--run", str(out)]) == 0  # as trained: --test-samples 2
    assert json.loads((out / "results.json").read_text())["evaluation"]["num_samples"] == 2
    other = tiny_mnist(num_train=50, num_other=20, seed=1)
    monkeypatch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: other)
    capsys.readouterr()
    assert main(["mnf", "evaluate", "--out", str(out)]) == 2
    assert "--data-dir" in _one_line_error(capsys)


def test_sample_run_says_why_an_mnf_run_has_nothing_to_sample(tmp_path, mnist, capsys):
    out = tmp_path / "lenet"
    _mnf_run(out, "lenet")
    capsys.readouterr()
    assert main(["sample", "--run", str(out)]) == 2
    error = _one_line_error(capsys)
    assert "classifier" in error and "maflow mnf rotate" in error and "maflow mnf ood" in error
    assert main(["mnf", "evaluate", "--out", str(out), "--test-samples", "0"]) == 2
    assert "--test-samples" in _one_line_error(capsys)
