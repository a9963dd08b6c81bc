"""The settings of a flow's training run, and how ``maflow train`` resolves them from flags and presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from maflow.errors import ConfigError
from maflow.run.locate import locate_run
from maflow.train.compile import COMPILE_BACKEND
from maflow.train.guard import NonFiniteGuard
from maflow.train.loop import SYNC_EVERY

__all__ = ["FlowTrainingConfig", "flow_config_from_args", "resumed_config"]


@dataclass
class FlowTrainingConfig:
    """Settings of one training run (presets fill them, command-line flags override them).

    The defaults are the MAF code's (Adam, batch 100, lr 1e-4, weight decay 1e-6, patience
    30, batch-norm statistics of the whole training set at validation) plus the MAF-v1.0 specification's
    gradient clipping at 5.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        dataset, model: Names for :func:`maflow.data.load` and the model registry.
        model_options: Keyword arguments of the model builder.
        epochs, batch_size, lr, patience: As usual; epochs counts resumed epochs too.
        weight_decay: L2 coefficient; ``weight_decay_mode="l2"`` is Adam's coupled decay, the
            same gradient as the MAF code's (wd/2)·Σw² loss term; ``"decoupled"`` is AdamW.
        grad_clip: Maximum gradient norm (0 or ``None``: off).
        seed: Seeds initialisation, masks' random draws and the data order.
        bn_stats: ``"dataset"``: recompute batch-norm statistics on the whole training set before
            each validation (MAF code); ``"running"``: use running averages.
        threads: torch intra-op threads (``None``: torch's default, or 1 on a machine already
            busy; see :func:`maflow.run.device.default_threads`).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; the
            model and the data move there.
        limit_train: Train on the first N training examples only (smoke runs; the data
            fingerprint covers exactly what is trained on).
        num_samples: Samples drawn for the picture at the end.
        progress: Progress bar (``None``: only on a terminal).
        nan_policy, nan_lr_factor, max_rollbacks: On NaN or Inf, roll back to the epoch's start
            with the learning rate times ``nan_lr_factor`` (at most ``max_rollbacks`` times), or
            stop (see :class:`maflow.train.guard.NonFiniteGuard`).
        tf32: ``--tf32``: TensorFloat-32 matrix products while training on a CUDA GPU (off:
            float32 exact; no effect on the CPU).
        compile, compile_backend: ``--compile``: the training loss through ``torch.compile``
            with this backend (``"inductor"``; ``"aot_eager"`` needs no C compiler).
        sync_every: Steps between the trainer's read-backs from the device (its NaN checks; see
            :class:`maflow.train.loop.Trainer`).

    tf32, compile, compile_backend and sync_every change the speed, not the run: a resumed run
    takes today's values.
    """

    dataset: str
    model: str = "maf"
    model_options: dict = field(default_factory=dict)
    epochs: int = 1000
    batch_size: int = 100
    lr: float = 1e-4
    weight_decay: float = 1e-6
    weight_decay_mode: str = "l2"
    grad_clip: float | None = 5.0
    patience: int = 30
    seed: int = 0
    bn_stats: str = "dataset"
    threads: int | None = None
    device: str = "auto"
    limit_train: int | None = None
    num_samples: int = 64
    eval_batch_size: int = 1000
    progress: bool | None = None
    nan_policy: str = "rollback"
    nan_lr_factor: float = 0.5
    max_rollbacks: int = 3
    tf32: bool = False
    compile: bool = False
    compile_backend: str = COMPILE_BACKEND
    sync_every: int = SYNC_EVERY

    def validate(self) -> FlowTrainingConfig:
        checks = [
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.patience >= 1, f"--patience must be at least 1, got {self.patience}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (
                self.grad_clip is None or self.grad_clip >= 0,
                f"--grad-clip must be >= 0, got {self.grad_clip}",
            ),
            (self.threads is None or self.threads >= 1, f"--threads must be at least 1, got {self.threads}"),
            (
                self.limit_train is None or self.limit_train >= 1,
                f"--limit-train must be at least 1, got {self.limit_train}",
            ),
            (self.num_samples >= 0, f"--num-samples must be >= 0, got {self.num_samples}"),
            (self.sync_every >= 1, f"--set train.sync_every must be at least 1, got {self.sync_every}"),
            (
                isinstance(self.compile_backend, str) and bool(self.compile_backend),
                f"--set train.compile_backend must name a torch.compile backend, got {self.compile_backend!r}",
            ),
            (
                self.bn_stats in ("dataset", "running"),
                f"--bn-stats must be dataset or running, got {self.bn_stats!r}",
            ),
            (
                self.weight_decay_mode in ("l2", "decoupled"),
                f"--weight-decay-mode must be l2 or decoupled, got {self.weight_decay_mode!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.nan_guard()  # checks the three NaN settings
        for key in ("hidden_features", "num_layers", "num_hidden_layers"):
            value = self.model_options.get(key)
            values = value if isinstance(value, list) else [value]
            if value is not None and any(not isinstance(v, int) or v < 1 for v in values):
                flag = {"hidden_features": "--hidden-features", "num_layers": "--num-layers"}.get(
                    key, "--hidden-layers"
                )
                raise ConfigError(f"{flag} must be a positive integer, got {value!r}")
        return self

    def nan_guard(self) -> NonFiniteGuard:
        return NonFiniteGuard(self.nan_policy, self.nan_lr_factor, self.max_rollbacks)


def flow_config_from_args(
    args, dataset: str, preset: str | None = None, resumed: dict | None = None
) -> FlowTrainingConfig:
    """The resolved configuration of ``maflow train``: the data set's preset, the flags, then ``--set``.

    ``preset`` names the preset when it is not the data set's own (``"default"`` for one's own data).
    ``resumed``: the training configuration stored in the checkpoint of the run that ``--resume``
    continues (:func:`resumed_config`); it takes the preset's place, so a resumed run keeps its
    own model and settings, and only a flag given again is compared with them.
    """
    from maflow.configs import load_preset
    from maflow.train.flag_parsing import apply_settings, pick
    from maflow.train.flow_flags import TRAIN_FLAGS, model_options_from_args

    if resumed is not None:
        train = {k: v for k, v in resumed.items() if k in _FIELDS and k not in _MACHINE_SETTINGS}
        options = train.pop("model_options", {})
        train.pop("dataset", None)
        if args.model is not None:  # a different --model is refused by name when the run resumes
            train["model"] = args.model
    else:
        train, options, _ = load_preset(preset or dataset, args.model)
    for flag in TRAIN_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            train[flag] = value
    given = pick(args, "weight_decay_mode", "seed", "bn_stats", "device", "limit_train", "num_samples")
    given |= pick(args, "nan_policy", "nan_lr_factor", "max_rollbacks")
    train.update({key: value for key, value in given.items() if value is not None})
    config = FlowTrainingConfig(
        dataset=dataset,
        model=train.pop("model"),
        model_options=model_options_from_args(args, options),
        progress=False if (args.no_progress or args.quiet) else None,
        **train,
    )
    if args.threads is not None:
        config.threads = args.threads
    config.tf32 = config.tf32 or bool(getattr(args, "tf32", False))
    config.compile = config.compile or bool(getattr(args, "compile", False))
    if args.settings:
        values = asdict(config)
        sections = {"model": values.pop("model_options"), "train": values}
        apply_settings(sections, args.settings, open_sections=("model",))
        try:
            config = FlowTrainingConfig(**sections["train"], model_options=sections["model"])
        except TypeError as error:
            raise ConfigError(f"--set: {error}") from None
    return config.validate()


_FIELDS = {f.name for f in fields(FlowTrainingConfig)}
# Settings of the machine a run happens to be on, not of the run: a resumed run takes today's.
_MACHINE_SETTINGS = ("threads", "device", "progress", "tf32", "compile", "compile_backend", "sync_every")


def resumed_config(out: str | Path, dataset: str | None = None) -> dict | None:
    """The training configuration stored in the latest checkpoint of the run in ``out`` (None: no run).

    Only the configuration is read here; :func:`train_flow` checks the whole checkpoint when it
    resumes.

    Example:
        >>> resumed_config("/no/such/run") is None
        True
    """
    from maflow.train.resume_flags import stored_settings

    return stored_settings(locate_run(out, dataset, quiet=True).latest, "flow") or None
