"""``torch.compile`` for a student's backbone: a compiled callable that keeps the graph usable
for several backward passes and falls back to eager if compilation fails
(:meth:`lesdistill.model.StudentModel.compile_backbone`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = ["CompiledForward"]


def _keep_backward_buffers() -> None:
    """Compile without donated backward buffers (process-wide torch setting), so the compiled
    graph supports ``retain_graph=True``: several backward passes through one forward, as the
    response functions of ``les.response`` run (StudentCalculator reuses the compiled forward
    of the forces for the dipole current; it checks the first reuse against an eager pass)."""
    try:
        import torch._functorch.config as functorch_config
    except ImportError:  # pragma: no cover - other torch layouts
        return
    if hasattr(functorch_config, "donated_buffer"):
        functorch_config.donated_buffer = False


class CompiledForward:
    """``torch.compile``-d callable that falls back to the eager one if compilation fails.

    The weights of ``module`` are constants inside the compiled call (``requires_grad`` off
    for its duration): the compiled backward then computes gradients w.r.t. the inputs
    (positions) only, not the weight gradients that inference never uses."""

    def __init__(self, eager: Callable[..., Any], module: nn.Module | None = None) -> None:
        self.eager = eager
        self.module = module
        _keep_backward_buffers()
        self.compiled = torch.compile(eager, dynamic=True)
        self.failed = False

    def _run_compiled(self, *args: Any, **kwargs: Any) -> Any:
        weights = (
            [] if self.module is None else [p for p in self.module.parameters() if p.requires_grad]
        )
        for p in weights:
            p.requires_grad_(False)
        try:
            return self.compiled(*args, **kwargs)
        finally:
            for p in weights:
                p.requires_grad_(True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            try:
                return self._run_compiled(*args, **kwargs)
            except Exception as err:  # compiler missing / unsupported op: keep working, eagerly
                import warnings

                message = (
                    f"torch.compile of the backbone failed ({type(err).__name__}); running eager"
                )
                warnings.warn(message, stacklevel=2)
                self.failed = True
        return self.eager(*args, **kwargs)
