"""Training of LES students: config, losses, loop (resume, fine-tuning, DDP) and evaluation.

Public API::

    from lesdistill.training import TrainConfig, TrainResult, train, evaluate, write_parity_plots

``train(config, train_files, *, valid_files=None, out_dir, init=None, allow_new_elements=False,
device="cpu", progress=True) -> TrainResult`` writes ``best.pt``, ``last.pt``, ``state.pt`` and
``learning_curve.csv`` into ``out_dir``; ``evaluate(model_path, data_files, *, device="cpu",
out_dir=None) -> dict`` gives MAE/RMSE tables (and parity plots with ``out_dir``).
Heavy modules are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Not lazy: ``evaluate`` is also the name of the submodule that defines it, and importing the
# submodule (``lesdistill.training.evaluate``) would otherwise replace the lazy function on the
# package by the module. Importing it here binds the function once (numpy-only imports); the
# module itself is ``importlib.import_module("lesdistill.training.evaluate")``.
from lesdistill.training.evaluate import evaluate, write_parity_plots

if TYPE_CHECKING:  # the lazy exports below, for type checkers and IDEs
    from lesdistill.training.config import TrainConfig
    from lesdistill.training.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "evaluate", "train", "write_parity_plots"]

_WHERE = {"TrainConfig": "config", "TrainResult": "loop", "train": "loop"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"lesdistill.training.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'lesdistill.training' has no attribute {name!r}")
