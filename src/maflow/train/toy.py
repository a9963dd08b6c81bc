"""Training a flow on a 2-D toy density through the one Trainer: the runs of the flow gallery."""

from __future__ import annotations

import math
import random
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maflow.errors import CheckpointError, ConfigError
from maflow.run.checkpoint import (
    check_compatible,
    data_fingerprint,
    load_training_checkpoint,
    make_checkpoint,
)
from maflow.run.toy import SAMPLE_FILES, toy_splits
from maflow.train.guard import NonFiniteGuard, NonFiniteLossError
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer

__all__ = ["TOY_FLOWS", "toy_splits", "toy_run_files", "train_toy_flow"]

# Builder name -> options for a 2-D toy (small nets, enough layers to bend the moons).
TOY_FLOWS: dict[str, tuple[str, dict[str, Any]]] = {
    "realnvp": ("realnvp", dict(num_layers=8, hidden_features=64)),
    "nice": ("nice", dict(num_layers=6, hidden_features=64)),
    # Plain MADE layers, as the gallery's recorded numbers were made (MAF now defaults to residual).
    "maf": ("maf", dict(num_layers=5, hidden_features=64, residual=False)),
    "iaf": ("iaf", dict(num_layers=5, hidden_features=64)),
    # The NSFs keep the MAF code's init, as the gallery's recorded numbers were made with
    # (NSF now defaults to PyTorch's).
    "nsf-ar": (
        "nsf-ar",
        dict(num_layers=3, hidden_features=32, num_bins=8, tail_bound=4.0, weight_init="maf"),
    ),
    "nsf-cl": (
        "nsf-cl",
        dict(num_layers=4, hidden_features=32, num_bins=8, tail_bound=4.0, weight_init="maf"),
    ),
    "naf": ("naf", dict(num_layers=3, hidden_features=32, sigmoid_units=8)),
    "glow": ("glow", dict(num_layers=6, hidden_features=64)),
    "made-mog": ("made-mog", dict(hidden_features=64, num_components=10)),
    "maf-mog": ("maf-mog", dict(num_layers=3, hidden_features=64, num_components=10)),
}
LATEST, BEST = Path("checkpoints") / "latest.pth", Path("checkpoints") / "best.pth"
LOG_NAME = Path("logs") / "training.log"
NAN_ADVICE = "Lower --lr (the gallery uses 3e-3), or check the --set options"
# Settings a resume must share with the run it continues (the steps fix the cosine schedule).
# Another --lr is allowed: a deliberate change (e.g. after a NaN stop), logged and recorded.
SAME_ON_RESUME = ("flow", "builder", "options", "steps", "batch_size", "seed")


def toy_run_files(out: Path, figures: list[str], results: list[str], older=()) -> tuple[list[Path], dict]:
    """The files that mark a toy run in ``out`` and the names the command writes there.

    Arguments:
        out: the run folder.
        figures: the pictures' names in ``out/figures/``.
        results: the results files' names in ``out``.
        older: names an older version wrote directly into ``out`` (a run still; ours to replace).

    Example:
        >>> artefacts, own = toy_run_files(Path("g"), ["density.png"], ["results.json"], ["summary.json"])
        >>> [p.as_posix() for p in artefacts]
        ['g/checkpoints/latest.pth', 'g/checkpoints/best.pth', 'g/results.json', 'g/summary.json', 'g/figures/density.png']
    """
    at_root = [*results, *older]
    artefacts = [
        out / LATEST,
        out / BEST,
        *(out / name for name in at_root),
        *(out / "figures" / n for n in figures),
    ]
    own = {
        out: at_root,
        out / "figures": list(figures),
        out / "checkpoints": [LATEST.name, BEST.name],
        out / "logs": [LOG_NAME.name],
        out / "samples": list(SAMPLE_FILES),  # maflow toy sample's: stale once the run starts over
    }
    return artefacts, own


def train_toy_flow(
    flow: str,
    train: torch.Tensor,
    test: torch.Tensor,
    out: str | Path,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    echo: bool = True,
    options: dict | None = None,
    device=None,
    progress: bool | None = None,
    resume: bool = False,
    data: str | None = None,
    tf32: bool = False,
):
    """Adam with cosine decay to 0 over ``steps`` minibatches drawn with replacement from ``train``.

    The loop is the one :class:`~maflow.train.loop.Trainer`: an epoch is ``ceil(N / batch_size)``
    steps (the last one shorter), each batch ``batch_size`` indices drawn uniformly from the data-
    order generator, the cosine schedule advanced once a step. The run folder ``out`` gets
    ``checkpoints/latest.pth`` and ``checkpoints/best.pth`` (the latest weights: a toy run has no
    validation) and ``logs/training.log``; ``resume`` continues ``latest.pth`` exactly (same
    settings). A NaN or infinite loss, gradient or test log-likelihood stops with
    :class:`NonFiniteLossError` (a lower ``lr`` helps). ``options`` replace some of the flow's
    gallery options (:data:`TOY_FLOWS`); the model trains on ``device`` and comes back on the CPU;
    ``progress`` switches the bar (``None``: on a terminal); ``data``, the toy density's name, is
    recorded in the checkpoint (for ``maflow toy evaluate`` and ``sample``); ``tf32`` allows
    TensorFloat-32 products on a CUDA device. Returns the model and a summary.
    """
    from maflow.models.registry import build_model

    out = Path(out)
    torch.manual_seed(seed)
    random.seed(seed)  # unused by the flows, but checkpointed: a resume must match them too
    np.random.seed(seed % 2**32)
    builder, defaults = TOY_FLOWS[flow]
    options = {**defaults, **(options or {})}
    try:
        model = build_model(builder, 2, **options).to(device)
    except (TypeError, ValueError) as error:  # a builder's own check of an option given with --set
        raise ConfigError(f"{flow} with options {options}: {str(error).splitlines()[0][:200]}") from None
    settings = {"flow": flow, "builder": builder, "options": options, "steps": steps}
    settings |= {"batch_size": batch_size, "lr": lr, "seed": seed}
    if data is not None:
        settings["data"] = data
    with TrainingLogger(out / LOG_NAME, out / "tensorboard", echo=echo) as logger:
        run = _ToyRun(model, train.to(device), settings, out, logger, progress)
        run.trainer.tf32 = tf32  # a setting of the machine, not of the run: not among its settings
        if resume and (out / LATEST).is_file():
            run.restore()
        run.trainer.fit(run.train)
    return model.cpu().eval(), run.summary(test)


class _ToyRun:
    """One toy run: its model, optimiser, schedule and checkpoints in the one Trainer."""

    def __init__(self, model, train: torch.Tensor, settings: dict, out: Path, logger, progress):
        self.model, self.train, self.settings, self.out, self.logger = model, train, settings, out, logger
        steps, batch_size = settings["steps"], settings["batch_size"]
        self.optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, max(steps, 1))
        self.generator = torch.Generator().manual_seed(settings["seed"])
        self.steps_per_epoch = -(-len(train) // batch_size)
        self.fingerprint = data_fingerprint(train.cpu().numpy())
        # The last steps' losses, for the summary: tensors, read back once at the end (no wait per step).
        self.losses: deque[torch.Tensor] = deque(maxlen=100)
        self.trainer = Trainer(
            model,
            self.optimizer,
            self.loss,
            lambda model: (None, {}),  # no validation split: best.pth is the latest weights
            self.checkpoint,
            out / "checkpoints",
            logger,
            epochs=max(1, -(-steps // self.steps_per_epoch)),
            batch_size=batch_size,
            patience=None,
            generator=self.generator,
            progress=progress,
            nan_guard=NonFiniteGuard("stop", advice=NAN_ADVICE),
            before_step=self.advance_schedule,
            batches_fn=self.batches,
            restore_best=False,
        )

    def batches(self, num_examples: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        left = self.settings["steps"] - self.trainer.epoch * self.steps_per_epoch
        count = max(0, min(self.steps_per_epoch, left))
        return [torch.randint(0, num_examples, (batch_size,), generator=generator) for _ in range(count)]

    def advance_schedule(self, step: int) -> None:
        if step > 0:  # once after every step, as the scheduler is usually stepped
            self.schedule.step()

    def loss(self, model, batch: torch.Tensor) -> torch.Tensor:
        loss = -model.log_prob(batch).mean()
        self.losses.append(loss.detach())
        return loss

    def checkpoint(self, **progress) -> dict:
        return make_checkpoint(
            self.model,
            self.settings["builder"],
            {"features": 2, **self.settings["options"]},
            "toy",
            self.fingerprint,
            self.optimizer,
            scheduler=self.schedule,
            generator=self.generator,
            training_config=self.settings,
            family="toy",
            **progress,
        )

    def restore(self) -> None:
        path = self.out / LATEST
        latest = load_training_checkpoint(path)
        stored = latest.get("training_config", {})
        for key in SAME_ON_RESUME:
            if stored.get(key) != self.settings[key]:
                raise CheckpointError(
                    f"{path} was trained with {key}={stored.get(key)!r}, now {self.settings[key]!r}; "
                    "leave the flag out to continue the run as it was, or start over with --overwrite"
                )
        # After the settings: the toy points are drawn from the seed, so another --seed is named as such.
        check_compatible(latest, path, fingerprint=self.fingerprint)
        self.trainer.restore(latest)
        self.schedule.load_state_dict(latest["scheduler_state"])
        if stored.get("lr") != self.settings["lr"]:
            self.rescale_learning_rate(float(stored["lr"]))
        self.logger.info(f"resumed from {path} at step {self.trainer.step}")

    def rescale_learning_rate(self, old: float) -> None:
        """The cosine schedule from here on as if it had started at the new ``lr``."""
        new, trainer = self.settings["lr"], self.trainer
        for group in self.optimizer.param_groups:  # exactly the new rate at the schedule's start
            group["lr"] = new if self.schedule.last_epoch == 0 else group["lr"] * new / old
        self.schedule.base_lrs = [new for _ in self.schedule.base_lrs]
        trainer.lr_changes.append({"epoch": trainer.epoch, "step": trainer.step, "from": old, "to": new})
        self.logger.info(f"learning rate changed on resume at step {trainer.step}: {old:g} -> {new:g}")

    @torch.no_grad()
    def summary(self, test: torch.Tensor) -> dict:
        """Test NLL of the trained flow (batch-norm statistics of the whole training set)."""
        from maflow.transforms.batchnorm import recompute_batchnorm_statistics

        model = self.model
        recompute_batchnorm_statistics(model.transform, self.train)
        model.cpu().eval()
        test_ll = model.log_prob(test).double()
        bad = int((~torch.isfinite(test_ll)).sum())
        if bad:
            raise NonFiniteLossError(
                f"{self.settings['flow']}: the test log-likelihood is not finite at {bad} of {len(test_ll)} "
                f"points after {self.trainer.step} steps. {NAN_ADVICE}"
            )
        return dict(
            **self.settings,
            epochs=self.trainer.epoch,
            parameters=sum(p.numel() for p in model.parameters()),
            final_train_loss=float(np.mean([v.item() for v in self.losses])) if self.losses else None,
            test_nll=float(-test_ll.mean()),
            test_nll_2se=float(2 * test_ll.std() / math.sqrt(len(test_ll))),
            train_seconds=self.trainer.elapsed,
        )
