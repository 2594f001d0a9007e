"""Exponential moving average (EMA) of model weights, with a state dict for exact resume.

shadow <- d * shadow + (1 - d) * param after every optimizer step, with the warm-up
d = min(decay, (1 + n) / (10 + n)) (n = number of updates so far) so early averages are not
dominated by the random initial weights. Validation and saved students use the shadow weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class ExponentialMovingAverage:
    """EMA of the floating-point parameters of ``model`` (buffers are not averaged)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.shadow = {name: p.detach().clone() for name, p in self._params(model)}

    @staticmethod
    def _params(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Parameter]]:
        return ((n, p) for n, p in model.named_parameters() if p.is_floating_point())

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))
        for name, p in self._params(model):
            self.shadow[name].mul_(d).add_(p.detach(), alpha=1.0 - d)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        for name, p in self._params(model):
            p.copy_(self.shadow[name])

    @contextlib.contextmanager
    def average_parameters(self, model: torch.nn.Module) -> Iterator[None]:
        """Temporarily load the EMA weights into ``model``; restore the live weights afterwards."""
        backup = {name: p.detach().clone() for name, p in self._params(model)}
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in self._params(model):
                    p.copy_(backup[name])

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, object]) -> None:
        shadow = state["shadow"]
        if not isinstance(shadow, dict) or set(shadow) != set(self.shadow):
            raise ValueError("EMA state does not match the model parameters")
        self.decay = float(state["decay"])  # type: ignore[arg-type]
        self.num_updates = int(state["num_updates"])  # type: ignore[call-overload]
        for k, v in shadow.items():
            self.shadow[k].copy_(v)
