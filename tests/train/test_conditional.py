import json
import math

import pytest

from maflow.train.conditional import main


@pytest.mark.slow
def test_class_conditional_maf_on_digits_learns_labels(tmp_path):
    # Chance accuracy is 0.1; a conditional MAF that ignored its context would stay there.
    main(
        "--dataset digits --model maf --num-layers 2 --hidden-dim 32 --hidden-layers 1 "
        f"--epochs 8 --lr 1e-3 --out {tmp_path}".split()
    )
    results = json.loads((tmp_path / "results.json").read_text())
    test = results["test"]
    assert results["model_config"]["context_features"] == 10 and results["epochs_run"] == 8
    assert test["accuracy"] > 0.35
    assert all(math.isfinite(test[k]) for k in ("log_p_x", "log_p_x_given_y"))
    # log p(x) = logsumexp_y log p(x|y) - log 10 >= log p(x|y_true) - log 10, point by point.
    assert test["log_p_x"] > test["log_p_x_given_y"] - math.log(10) - 1e-6
    checkpoint = tmp_path / "checkpoints" / "best.pth"
    main(["--dataset", "digits", "--evaluate-checkpoint", str(checkpoint)])
    again = json.loads(checkpoint.with_suffix(".test.json").read_text())["test"]
    assert math.isclose(again["log_p_x"], test["log_p_x"], rel_tol=1e-9)


def test_unlabelled_data_set_is_rejected(tmp_path):
    from maflow.errors import ConfigError

    with pytest.raises(ConfigError, match="labels"):
        main(f"--dataset moons --model maf --num-layers 1 --hidden-dim 8 --epochs 1 --out {tmp_path}".split())
