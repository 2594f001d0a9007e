"""The shared frames of a comparison: drawn once, split once, relabelled by every teacher.

Frames come from one teacher's MD (``lesdistill.sampling.sample``) or from a user's extxyz file
(which may carry DFT BEC labels in the per-atom array ``bec``). They are split into train / valid /
test once (the pipeline's split), so every student is trained and tested on the same geometries;
``bec.n_frames`` test frames, evenly spaced, are where all students' BECs are compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lesdistill.data.frames import read_frames as read_any
from lesdistill.data.frames import write_frames as write_any
from lesdistill.errors import UserInputError
from lesdistill.sampling.md import SampleSettings, sample
from lesdistill.systems import build, load_structure

if TYPE_CHECKING:
    from ase import Atoms

def build_structure(system: dict[str, Any], *, seed: int = 0) -> Atoms:
    """The starting structure of a compare config's ``system`` block (builder or file)."""
    if "file" in system:
        return load_structure(system["file"])

    return build(system["builder"], seed=seed, **system.get("params", {}))


def read_frames(path: str | Path) -> list[Atoms]:
    """All frames of an extxyz file (FileNotFoundError / UserInputError on bad input)."""
    return read_any(path, what="frames file", hint="check sampling.file in the config")


def write_frames(path: str | Path, frames: list[Atoms]) -> Path:
    """Write frames as extxyz atomically (labels, ``info`` and per-atom arrays kept)."""
    return write_any(path, frames)


def bec_frame_indices(test: list[int], n: int) -> list[int]:
    """``n`` of the test-frame indices, evenly spaced (all of them if there are fewer)."""
    if len(test) <= n:
        return list(test)
    pick = np.unique(np.linspace(0, len(test) - 1, n).round().astype(int))
    return [test[i] for i in pick]


def geometry_only(atoms: Atoms) -> Atoms:
    """A copy with positions, cell, numbers, info and per-atom arrays but no calculator labels."""
    out = atoms.copy()
    out.calc = None
    return out


def draw_frames(system_atoms: Atoms, settings: SampleSettings | None, out_path: str | Path, *,
                teacher: Any = None, file: str | Path | None = None, seed: int = 0,
                progress: bool = True) -> Path:
    """Write the shared frames to ``out_path``: MD of ``teacher`` with ``settings`` (the
    teacher-MD protocol, resumable) or a copy of ``file``."""
    if file is not None:
        return write_frames(out_path, read_frames(file))
    if teacher is None:
        raise UserInputError("no teacher to draw the shared frames with: every listed teacher "
                             "is unusable here; fix one or give sampling.file")
    teacher.check(system_atoms)
    return Path(sample(system_atoms, teacher, out_path, settings, seed=seed, progress=progress))
