"""Resume state of a training run (``state.pt``): saved atomically, loaded with weights_only.

The state holds everything that the next optimizer step depends on: model weights, optimizer,
LR scheduler, EMA, torch RNG states, epoch and step within the epoch, running sums of the epoch,
best validation loss, early-stopping counter, stage, learning-curve history, and a fingerprint of
the run (config + data hashes) so a re-run with a different command fails clearly instead of
silently mixing two runs. ``state.pt`` is the commit point: outputs (``last.pt``, CSV) are written
before it, so a kill between the two only repeats work that gives the same result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from lesdistill.errors import UserInputError, not_found
from lesdistill.fileio import atomic_path
from lesdistill.safeload import UnreadableTorchFile, load_tensors

STATE_FORMAT = "lesdistill-train-state"
STATE_VERSION = 1


def rng_state() -> dict[str, Any]:
    """Torch CPU (and CUDA, if used) generator states."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain Python values only) to ``path`` atomically."""
    payload = {"format": STATE_FORMAT, "version": STATE_VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a resume state (weights only, never code); one-line errors for missing, corrupted
    or foreign files. The student it holds is rebuilt by ``modelio.rebuild``, which checks its
    backbone like any student file."""
    path = Path(path)
    if not path.is_file():
        raise not_found("training state", path, "run `lesdistill train` without it to start afresh")
    try:
        state = load_tensors(path)
    except UnreadableTorchFile as exc:  # truncated zip, pickled code, ...
        raise UserInputError(f"{path} is not a readable lesdistill training state ({exc.reason}); "
                             "delete it to restart training from scratch") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UserInputError(f"{path} is not a lesdistill training state; use another --out folder")
    if state.get("version") != STATE_VERSION:
        raise UserInputError(
            f"{path} has state version {state.get('version')}, this lesdistill reads "
            f"{STATE_VERSION}; delete it to restart training"
        )
    return state


def describe_mismatch(saved: dict[str, Any], current: dict[str, Any]) -> str | None:
    """Name the first differing fingerprint entry, or None when the runs match."""
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            return key
    return None
