"""Single-file student checkpoints (``.pt``), loadable with ``torch.load(weights_only=True)``.

File content (a dict of tensors and plain python types only, no pickled code)::

    {"format": "lesdistill-student", "format_version": 1,
     "config": StudentConfig.to_dict(),          # incl. elements, cutoff, LES options
     "state_dict": {name: Tensor},               # weights + reference_energies buffer
     "reference_energies": {symbol: eV},         # E0, human-readable copy
     "units": {"energy": "eV", "length": "Å", ...},
     "metadata": {...},                          # teacher, data hashes, training info (plain types)
     "lesdistill_version": "x.y.z"}

:func:`save_student` writes atomically (temp file + rename); :func:`load_student` turns a missing,
corrupted or foreign file into a one-line ``FileNotFoundError`` / ``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from lesdistill.model.config import StudentConfig
from lesdistill.model.student import StudentModel

FORMAT = "lesdistill-student"
FORMAT_VERSION = 1
UNITS = {"energy": "eV", "length": "Å", "force": "eV/Å", "stress": "eV/Å^3", "charge": "e"}
_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN) or isinstance(value, torch.Tensor):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint metadata keys must be strings, got {k!r} in {where}")
            _check_plain(v, f"{where}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            _check_plain(v, f"{where}[{k}]")
        return
    raise TypeError(
        f"checkpoint metadata must hold plain types (str, int, float, bool, None, list, dict, "
        f"Tensor); {where} is a {type(value).__name__}"
    )


def student_state(model: StudentModel, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (what :func:`save_student` writes)."""
    from lesdistill import __version__

    metadata = dict(metadata or {})
    _check_plain(metadata, "metadata")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "reference_energies": model.reference_energies_dict(),
        "units": dict(UNITS),
        "metadata": metadata,
        "lesdistill_version": __version__,
    }


def save_student(
    model: StudentModel, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``model`` (+ plain-type ``metadata``: teacher name, data hashes, ...) to ``path``
    atomically; returns the path."""
    if not isinstance(model, StudentModel):
        raise TypeError(f"save_student expects a StudentModel, got {type(model).__name__}")
    state = student_state(model, metadata)
    from lesdistill.fileio import atomic_path

    target = Path(path)
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    return target


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a checkpoint dict (tensors on CPU) without building the model."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"student checkpoint not found: {target}")
    try:
        state = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for garbage input
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{target} is not a readable lesdistill student checkpoint ({first[:160]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{target} is not a lesdistill student checkpoint (no '{FORMAT}' format tag)")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{target} has checkpoint format version {version!r}; this lesdistill reads <= {FORMAT_VERSION}, upgrade it"
        )
    for key in ("config", "state_dict"):
        if not isinstance(state.get(key), dict):
            raise ValueError(f"{target} is a damaged student checkpoint (missing '{key}')")
    return state


def model_from_state(
    state: Mapping[str, Any], device: str | torch.device = "cpu", source: str = "checkpoint"
) -> StudentModel:
    """Rebuild a :class:`StudentModel` from a checkpoint dict (see :func:`read_checkpoint`)."""
    try:
        config = StudentConfig.from_dict(dict(state["config"]))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source} has an invalid student config: {err}") from None
    model = StudentModel(config)
    weights = {k: v.to(model.dtype) if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"{source}: weights do not match its config ({first[:160]})") from None
    return model.to(device).eval()


def load_student(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> StudentModel:
    """Load a student saved by :func:`save_student`, in eval mode on ``device``.

    The checkpoint's metadata is available as ``model.metadata`` (dict)."""
    state = read_checkpoint(path)
    model = model_from_state(state, device, source=str(path))
    model.metadata = dict(state.get("metadata") or {})
    return model


def extend_elements(model: StudentModel, elements: Sequence[str]) -> StudentModel:
    """A copy of ``model`` that also knows ``elements`` (for fine-tuning with new elements).

    All weights are copied; embeddings of new elements are freshly initialised (seeded by the
    config seed) and their reference energies set to 0 eV. Only backbones whose per-element
    parameters are rows indexed by element (like the built-in ``embedding``) are supported.
    """
    new_elements = tuple(dict.fromkeys([*model.elements, *elements]))
    config = StudentConfig.from_dict({**model.config.to_dict(), "elements": list(new_elements)})
    new = StudentModel(config).to(device=model.device, dtype=model.dtype)
    old_index = {e: k for k, e in enumerate(model.elements)}
    old_state = model.state_dict()
    new_state = new.state_dict()
    for name, value in new_state.items():
        old = old_state[name]
        if old.shape == value.shape:
            new_state[name] = old.clone()
        elif (
            old.shape[0] == len(model.elements)
            and value.shape[0] == len(new_elements)
            and old.shape[1:] == value.shape[1:]
        ):
            merged = value.clone()
            for row, element in enumerate(config.elements):
                if element in old_index:
                    merged[row] = old[old_index[element]]
                elif name == "reference_energies":
                    merged[row] = 0.0
            new_state[name] = merged
        else:
            raise ValueError(f"cannot extend parameter {name!r} of shape {tuple(old.shape)} to new elements")
    new.load_state_dict(new_state)
    return new
