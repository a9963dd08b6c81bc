"""A trainer removes the temporary files that a killed run left in its output folder."""

import numpy as np

from maflow.train.made import MadeTrainConfig, train_made


def test_binary_made_training_removes_a_killed_runs_temporary(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    stale = tmp_path / "checkpoints" / ".latest.pth.dead.tmp"
    stale.write_bytes(b"half a checkpoint")
    rng = np.random.default_rng(0)
    train = (rng.random((40, 6)) < 0.5).astype(np.float32)
    val = (rng.random((20, 6)) < 0.5).astype(np.float32)
    config = MadeTrainConfig(hidden_features=[8], epochs=1, batch_size=20)
    train_made(train, val, config, tmp_path, log=lambda message: None)
    assert not stale.exists() and (tmp_path / "checkpoints" / "latest.pth").is_file()
