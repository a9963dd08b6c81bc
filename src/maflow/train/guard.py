"""Non-finite guard: NaN or Inf in the loss, gradients or weights rolls training back or stops it."""

from __future__ import annotations

import copy

import torch

from maflow.errors import ConfigError, MaflowError
from maflow.run.checkpoint import get_rng_states, set_rng_states

__all__ = [
    "NonFiniteLossError",
    "NonFiniteGuard",
    "NonFiniteRecord",
    "gradient_norm",
    "parameters_finite",
    "optimizer_step",
]

POLICIES = ("rollback", "stop")
ADVICE = "Resume with --resume and a lower --lr (the change is recorded), or check the data"


class NonFiniteLossError(MaflowError):
    """The loss, a gradient or a weight became NaN or infinite; training stopped."""


def gradient_norm(parameters) -> torch.Tensor:
    """Euclidean norm of all gradients together (NaN or Inf when any gradient is), on their device.

    Example:
        >>> layer = torch.nn.Linear(2, 1)
        >>> layer(torch.ones(1, 2)).sum().backward()
        >>> round(float(gradient_norm(layer.parameters())) ** 2, 4)
        3.0
    """
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total_norm = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6: fused per device
    if total_norm is not None:
        return total_norm(grads)
    return torch.stack([g.norm() for g in grads]).norm()


def optimizer_step(
    optimizer, loss: torch.Tensor, problem, parameters=None, grad_clip: float | None = None
) -> None:
    """One step on ``loss``: refused with :class:`NonFiniteLossError` (``problem()`` says where and
    what to do) when the loss is NaN or infinite; gradients clipped to ``grad_clip`` when given.
    """
    if not torch.isfinite(loss):
        raise NonFiniteLossError(problem())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()


def parameters_finite(module: torch.nn.Module) -> bool:
    """Whether every floating-point parameter and buffer of ``module`` is finite (one read-back per device)."""
    flags: dict[torch.device, list[torch.Tensor]] = {}
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point() and t.numel():
            flags.setdefault(t.device, []).append(torch.isfinite(t.detach()).all())
    return all(bool(torch.stack(each).all()) for each in flags.values())


class NonFiniteRecord:
    """The first NaN or Inf among the values of a stretch of training steps, noted on their device.

    :meth:`note` costs a few tensor operations on the value's device and never waits for it, so
    a training step can check its loss and gradient norm without a host synchronisation;
    :meth:`first` reads the record back (one synchronisation) when the trainer can act on it.

    Example:
        >>> record = NonFiniteRecord()
        >>> record.note(torch.tensor(1.0), tag=0)
        >>> record.note(torch.tensor(float("inf")), tag=3)
        >>> record.note(torch.tensor(float("nan")), tag=4)
        >>> record.first()
        (3, inf)
        >>> NonFiniteRecord().first() is None
        True
    """

    def __init__(self) -> None:
        self._tag: torch.Tensor | None = None  # -1 until a non-finite value is noted
        self._value: torch.Tensor | None = None

    def note(self, value: torch.Tensor, tag: int) -> None:
        """Keeps ``tag`` (a non-negative number naming the step and what was checked) and the value,
        if ``value`` is not finite and nothing was noted before."""
        value = value.detach()
        if self._tag is None or self._value is None:
            # torch.full writes on the device itself: no copy from the host, no waiting.
            self._tag = torch.full((), -1, dtype=torch.int64, device=value.device)
            self._value = torch.zeros((), dtype=torch.float64, device=value.device)
        first = ~torch.isfinite(value).all() & (self._tag < 0)
        self._tag = torch.where(first, tag, self._tag)
        self._value = torch.where(first, value.double().sum(), self._value)  # a bad value stays bad

    def first(self) -> tuple[int, float] | None:
        """The tag and value of the first non-finite value noted, or ``None`` (reads the device)."""
        if self._tag is None or self._value is None:  # nothing noted: no read-back
            return None
        tag = int(self._tag)
        return (tag, float(self._value)) if tag >= 0 else None


class NonFiniteGuard:
    """What a :class:`~maflow.train.loop.Trainer` does when training produces NaN or Inf.

    Before each epoch the trainer calls :meth:`remember`, which keeps the good state in memory
    (weights, optimiser, scheduler, every RNG and the data order: what ``latest.pth`` holds).
    When the loss, the gradient norm or, at the end of the epoch, a weight is not finite, the
    trainer calls :meth:`recover`: with ``policy="rollback"`` it restores that state, multiplies
    the learning rate by ``lr_factor`` and lets the epoch run again, at most ``max_rollbacks``
    times per run; with ``policy="stop"`` (or when the rollbacks are used up) it raises
    :class:`NonFiniteLossError` naming the step and the last good checkpoint. Rolling back to the
    epoch's start replays the same data order, so a resumed run rolls back exactly as the
    original did; the reduced rate lives in the optimiser state and the count in the checkpoint.

    Arguments:
        policy: ``"rollback"`` or ``"stop"``.
        lr_factor: Multiplies the learning rate at each rollback, in (0, 1].
        max_rollbacks: Rollbacks allowed before stopping (>= 0).
        advice: What the message of a stop tells the user to do (each family has its flags).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> guard = NonFiniteGuard("rollback", lr_factor=0.5, max_rollbacks=1)
        >>> guard.remember(model, optimizer, step=0)
        >>> with torch.no_grad():
        ...     _ = model.weight.fill_(float("nan"))
        >>> parameters_finite(model)
        False
        >>> guard.recover("the weights became nan", model, optimizer)
        0
        >>> parameters_finite(model), optimizer.param_groups[0]["lr"], guard.rollbacks
        (True, 0.05, 1)
    """

    def __init__(
        self, policy: str = "stop", lr_factor: float = 0.5, max_rollbacks: int = 3, advice: str | None = None
    ):
        if policy not in POLICIES:
            raise ConfigError(f"--nan-policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        if not 0 < lr_factor <= 1:
            raise ConfigError(f"--nan-lr-factor must be in (0, 1], got {lr_factor}")
        if max_rollbacks < 0:
            raise ConfigError(f"--max-rollbacks must be >= 0, got {max_rollbacks}")
        self.policy = policy
        self.lr_factor = lr_factor
        self.max_rollbacks = max_rollbacks
        self.rollbacks = 0
        self.advice = advice or ADVICE
        self._state: dict | None = None

    def remember(
        self, model, optimizer, scheduler=None, generator=None, step: int = 0, always: bool = False
    ) -> None:
        """Keeps the current (good) state; only under the rollback policy, which needs it, unless
        ``always``: then a stop also restores it, for a trainer whose checks come a few steps late
        (it may have stepped on NaN gradients since; the state in memory stays the last good one).
        """
        if self.policy != "rollback" and not always:
            self._state = None
            return
        self._state = {
            "model": copy.deepcopy(model.state_dict()),
            "optimizer": copy.deepcopy(optimizer.state_dict()),
            "scheduler": copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None,
            "rng": get_rng_states(generator),
            "step": step,
        }

    def recover(
        self, problem: str, model, optimizer, scheduler=None, generator=None, last_good: str = ""
    ) -> int:
        """Rolls back to the remembered state with a smaller learning rate, or raises.

        ``problem`` says what became non-finite and where; ``last_good`` names the last good
        checkpoint for the message. Returns the step of the restored state. A stop leaves the
        remembered state, when there is one, in ``model`` and ``optimizer``.
        """
        if self.policy == "stop" or self._state is None or self.rollbacks >= self.max_rollbacks:
            if self._state is not None:
                self._restore(model, optimizer, scheduler, generator)
            after = f" after {self.rollbacks} rollback(s)" if self.rollbacks else ""
            raise NonFiniteLossError(
                f"{problem}; training stopped{after}, {last_good or 'no checkpoint was written yet'}. "
                f"{self.advice}"
            )
        state = self._restore(model, optimizer, scheduler, generator)
        for group in optimizer.param_groups:
            group["lr"] *= self.lr_factor
        if scheduler is not None and hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [lr * self.lr_factor for lr in scheduler.base_lrs]
        self.rollbacks += 1
        return state["step"]

    def _restore(self, model, optimizer, scheduler, generator) -> dict:
        state = self._state
        assert state is not None
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_states(state["rng"], generator)
        return state
