"""The one way lesdistill reads ``torch.save`` files: tensors and plain Python values only.

:func:`load_tensors` calls ``torch.load(weights_only=True)`` so that unpickling can build only
tensors, containers and numbers, never call a function named in the file. Two things in the
same process could weaken that, and both are neutralised for the duration of the load:

- ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (importing mace sets it for the whole process). In
  torch 2.13 it only changes the default of calls that do not pass ``weights_only``, but older
  releases let it override an explicit ``weights_only=True``; it is removed from the
  environment while we load.
- globals that other packages register with ``torch.serialization.add_safe_globals`` (classes
  the weights-only unpickler may then construct): cleared while we load, restored afterwards.

Our files (students, training states) need neither. Loads are serialised by a lock because
both settings are process-wide.
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import torch

_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_LOCK = threading.Lock()


class UnreadableTorchFile(Exception):
    """``path`` is not a readable weights-only torch file; ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_tensors(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, safe whatever the process
    has set (see the module docstring). Raises :class:`UnreadableTorchFile` with a one-line
    reason for truncated, corrupted, foreign or code-carrying files."""
    target = Path(path)
    if not zipfile.is_zipfile(target):
        size = target.stat().st_size
        raise UnreadableTorchFile(
            "empty file"
            if size == 0
            else f"not a torch zip archive ({size} bytes): truncated or not a .pt file"
        )
    serialization = torch.serialization
    with _LOCK:
        saved_env = os.environ.pop(_ENV, None)
        saved_globals = list(serialization.get_safe_globals())
        serialization.clear_safe_globals()
        try:
            return torch.load(target, map_location="cpu", weights_only=True, mmap=False)
        except Exception as exc:  # torch raises many types for garbage or code-carrying files
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            if "Weights only load failed" in text or "Unsupported global" in text:
                line = next((ln for ln in text.splitlines() if "Unsupported global" in ln), first)
                first = f"it contains pickled code or objects, refused ({line.strip()[:120]})"
            raise UnreadableTorchFile(first[:200]) from None
        finally:
            if saved_globals:
                serialization.add_safe_globals(saved_globals)
            if saved_env is not None:
                os.environ[_ENV] = saved_env
