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
corrupted or foreign file into a one-line :class:`~lesdistill.errors.UserInputError` (a
``ValueError``; ``FileNotFoundError`` too for a missing file). Loading never runs code from the
file: it is read by :func:`lesdistill.safeload.load_tensors` (weights only, whatever other
packages set in the process), and a config that names a custom backbone is refused unless the
caller passes ``trust_backbone=True`` (see :mod:`lesdistill.model.backbone`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from lesdistill import __version__
from lesdistill.device import check_device
from lesdistill.errors import UserInputError, not_found
from lesdistill.fileio import atomic_path
from lesdistill.model.backbone import check_backbone_trusted
from lesdistill.model.config import StudentConfig
from lesdistill.model.student import StudentModel
from lesdistill.safeload import UnreadableTorchFile, load_tensors

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

    target = Path(path)
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    return target


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a checkpoint dict (tensors on CPU) without building the model."""
    target = Path(path)
    if target.is_dir():
        raise UserInputError(f"{target} is a folder, not a student checkpoint; pass its .pt file "
                             "(e.g. best.pt inside it)")
    if not target.is_file():
        raise not_found("student checkpoint", target, "train one with `lesdistill train` or "
                        "check the path")
    try:
        state = load_tensors(target)
    except UnreadableTorchFile as err:
        raise UserInputError(f"{target} is not a readable lesdistill student checkpoint "
                             f"({err.reason}); copy or re-save the file, or train a new "
                             "student") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserInputError(f"{target} is not a lesdistill student checkpoint (no '{FORMAT}' "
                             "format tag); pass a .pt written by `lesdistill train`")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserInputError(
            f"{target} has checkpoint format version {version!r}; this lesdistill reads "
            f"<= {FORMAT_VERSION}: upgrade lesdistill"
        )
    for key in ("config", "state_dict"):
        if not isinstance(state.get(key), dict):
            raise UserInputError(f"{target} is a damaged student checkpoint (missing '{key}'); "
                                 "copy or re-save the file")
    if not all(isinstance(v, torch.Tensor) for v in state["state_dict"].values()):
        raise UserInputError(f"{target} is a damaged student checkpoint (non-tensor weights); "
                             "copy or re-save the file")
    return state


def model_from_state(
    state: Mapping[str, Any], device: str | torch.device = "cpu", source: str = "checkpoint",
    *, trust_backbone: bool = False,
) -> StudentModel:
    """Rebuild a :class:`StudentModel` from a checkpoint dict (see :func:`read_checkpoint`).

    A config naming a custom backbone (``module:Factory``) raises
    :class:`~lesdistill.errors.UntrustedCodeError` unless ``trust_backbone``: building it would
    import and call that code."""
    raw = state.get("config")
    if not isinstance(raw, Mapping):
        raise UserInputError(f"{source} has no student config; copy or re-save the file")
    check_backbone_trusted(raw.get("backbone", "painn"), trust=trust_backbone, source=source)
    try:
        config = StudentConfig.from_dict(dict(raw))
    except (TypeError, ValueError) as err:
        raise UserInputError(f"{source} has an invalid student config: {err}") from None
    model = StudentModel(config)
    weights = {
        k: v.to(model.dtype) if v.is_floating_point() else v for k, v in state["state_dict"].items()
    }
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise UserInputError(f"{source}: weights do not match its config ({first[:160]}); "
                             "copy or re-save the file") from None
    return model.to(device).eval()


def load_student(path: str | os.PathLike[str], device: str | torch.device = "cpu", *,
                 trust_backbone: bool = False) -> StudentModel:
    """Load a student saved by :func:`save_student`, in eval mode on ``device``.

    ``trust_backbone=True`` lets a checkpoint that names a custom backbone import and run it
    (only for files you trust). The checkpoint's metadata is available as ``model.metadata``."""
    device = check_device(device)
    state = read_checkpoint(path)
    model = model_from_state(state, device, source=str(path), trust_backbone=trust_backbone)
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
            raise ValueError(
                f"cannot extend parameter {name!r} of shape {tuple(old.shape)} to new elements"
            )
    new.load_state_dict(new_state)
    return new
