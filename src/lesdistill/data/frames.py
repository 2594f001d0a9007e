"""Frames on disk: the one reader and writer of structure files for every stage.

Every structure file lesdistill reads goes through :func:`read_frames` (all frames) or
:func:`read_frame` (one frame), so every reader applies the same policy:

* a missing path raises ``FileNotFoundError`` (``"<what> not found: <path>; <hint>"``);
* a folder, a file ASE cannot parse, a file without frames (unless ``allow_empty``) and a frame
  with NaN or infinite positions or cell vectors raise :class:`~lesdistill.errors.UserInputError`
  with one line that names the file (and the frame);
* any format ASE reads is accepted (``format`` when the name does not tell it).

Frames are written as extended XYZ (calculator results, ``info`` and per-atom arrays kept)
atomically by :func:`write_frames`; :func:`frames_text` / :func:`parse_frames_text` are the same
format in memory (files appended frame by frame, :mod:`lesdistill.sampling.store`). Labels keep
ASE's names and units: energy eV, forces eV/Å, stress eV/Å^3 in Voigt order xx yy zz yz xz xy
(``ase.stress.full_3x3_to_voigt_6_stress`` / ``voigt_6_to_full_3x3_stress`` convert).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_path

__all__ = ["check_finite", "frames_text", "parse_frames_text", "read_frame", "read_frames",
           "write_frames"]

PathLike = str | os.PathLike[str]


def _existing_file(path: PathLike, what: str, hint: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}; {hint or 'check the path'}")
    if p.is_dir():
        raise UserInputError(f"{what} {p} is a directory, not a file")
    return p


def _unreadable(p: Path, what: str, exc: Exception) -> UserInputError:
    text = str(exc).strip()
    detail = text.splitlines()[0] if text else type(exc).__name__
    return UserInputError(f"{p} is not a {what} ASE can read ({detail})")


def check_finite(frames: Sequence[Atoms], source: str) -> None:
    """Raise UserInputError if a frame of ``source`` has NaN/inf positions or cell vectors."""
    for k, atoms in enumerate(frames):
        if not np.all(np.isfinite(atoms.positions)):
            raise UserInputError(f"{source}:{k}: NaN or infinite positions; fix the file or drop "
                                 "this frame")
        if not np.all(np.isfinite(atoms.cell.array)):
            raise UserInputError(f"{source}:{k}: NaN or infinite cell vectors; fix the file or "
                                 "drop this frame")


def read_frames(path: PathLike, *, what: str = "frames file", hint: str = "",
                format: str | None = None, allow_empty: bool = False) -> list[Atoms]:
    """Every frame of ``path``, validated as the module docstring says.

    ``what`` names the file in messages ("data file", "structure file"); ``hint`` says how to
    fix a missing path.
    """
    p = _existing_file(path, what, hint)
    try:
        frames = list(read(p, index=":", format=format))
    except Exception as exc:  # ASE raises many types for a broken file
        raise _unreadable(p, what, exc) from None
    if not frames and not allow_empty:
        raise UserInputError(f"{p} contains no frames")
    check_finite(frames, str(p))
    return frames


def read_frame(path: PathLike, index: int = 0, *, what: str = "structure file", hint: str = "",
               format: str | None = None) -> Atoms:
    """Frame ``index`` of ``path`` (the policy of :func:`read_frames`)."""
    p = _existing_file(path, what, hint)
    try:
        atoms = read(p, index=index, format=format)
    except Exception as exc:  # ASE raises many types for unreadable input
        raise _unreadable(p, what, exc) from None
    if isinstance(atoms, list):  # some readers ignore a scalar index
        atoms = atoms[0]
    check_finite([atoms], str(p))
    return atoms


def write_frames(path: PathLike, frames: Atoms | Sequence[Atoms]) -> Path:
    """Write ``frames`` as extended XYZ atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp, frames, format="extxyz")
    return Path(path)


def frames_text(frames: Atoms | Sequence[Atoms]) -> str:
    """``frames`` as extended-XYZ text (what :func:`write_frames` writes)."""
    buffer = io.StringIO()
    write(buffer, frames, format="extxyz")
    return buffer.getvalue()


def parse_frames_text(text: str) -> list[Atoms]:
    """The frames of extended-XYZ ``text`` (the inverse of :func:`frames_text`)."""
    return list(read(io.StringIO(text), index=":", format="extxyz"))
