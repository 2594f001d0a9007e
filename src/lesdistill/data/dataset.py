"""Labelled training data: read extxyz frames with energies, forces (stress, BEC) and split them.

A labelled frame is an ``ase.Atoms`` as written by ``ase.io.write(..., format="extxyz")``. Labels
are looked up, in this order, in the ASE calculator results (``energy``/``forces``/``stress`` of a
``SinglePointCalculator``), then in ``atoms.info`` (per-frame values) and ``atoms.arrays``
(per-atom values). The keys are configurable (:class:`LabelKeys`), so datasets that store the
reference as ``REF_energy``/``REF_forces`` (the MACE convention) are read with
``LabelKeys(energy="REF_energy", forces="REF_forces", stress="REF_stress")``.

Units: energy eV, forces eV/Å, stress eV/Å^3 (Voigt xx yy zz yz xz xy, ASE sign convention;
a 3x3 / 9-value stress is converted), BEC e (per-atom ``bec`` array N x 9, row-major
Z[i, a, b] = dP_a/dr_ib), total charge e (``info["total_charge"]``, default 0).

Every problem (missing file, frame without labels, wrong shape, non-finite number) raises a
``FileNotFoundError`` / :class:`~lesdistill.errors.UserInputError` naming the file and frame.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress

from lesdistill import keys
from lesdistill.data.charge_state import charge_and_spin, finite_number
from lesdistill.data.frames import read_frames as read_images
from lesdistill.data.frames import write_frames as write_images
from lesdistill.errors import UserInputError
from lesdistill.fileio import file_sha256

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class LabelKeys:
    """Where the labels of a frame are stored (calculator result, info or arrays key)."""

    energy: str = keys.ENERGY
    forces: str = keys.FORCES
    stress: str = keys.STRESS
    bec: str = keys.BEC_ARRAY
    total_charge: str = keys.TOTAL_CHARGE


@dataclass
class LabelledFrame:
    """One structure with its reference labels.

    ``atoms`` carries positions (Å), numbers, cell, pbc, ``info["total_charge"]`` (e) and
    ``info["teacher"]`` when the file names one; it has no calculator attached. ``energy`` eV;
    ``forces`` (N, 3) eV/Å; ``stress`` (6,) eV/Å^3 Voigt or None; ``bec`` (N, 3, 3) e or None.
    ``source`` is ``"file.xyz:index"`` for error messages.
    """

    atoms: Any  # ase.Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    bec: np.ndarray | None
    source: str

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)


def _lookup(atoms: Any, key: str) -> Any:
    calc = atoms.calc
    if calc is not None and key in getattr(calc, "results", {}):
        return calc.results[key]
    if key in atoms.info:
        return atoms.info[key]
    if key in atoms.arrays:
        return atoms.arrays[key]
    return None


def _finite(value: np.ndarray, what: str, source: str) -> np.ndarray:
    if not np.all(np.isfinite(value)):
        raise UserInputError(
            f"{source}: {what} contains NaN or infinite values; fix or drop this frame"
        )
    return value


def _as_voigt(value: Any, source: str, key: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 9:
        arr = full_3x3_to_voigt_6_stress(arr.reshape(3, 3))
    elif arr.size != 6:
        raise UserInputError(
            f"{source}: stress '{key}' has {arr.size} values; expected 6 (Voigt) or 9 (3x3)"
        )
    return _finite(arr, f"stress '{key}'", source)


def frame_from_atoms(atoms: Any, source: str, label_keys: LabelKeys = LabelKeys()) -> LabelledFrame:
    """Extract the labels of one ``ase.Atoms`` (see module docstring); raise on anything missing."""
    from ase import Atoms

    n = len(atoms)
    if n == 0:
        raise UserInputError(f"{source}: frame has no atoms")
    _finite(np.asarray(atoms.positions), "positions", source)
    _finite(np.asarray(atoms.cell.array), "cell", source)
    energy = _lookup(atoms, label_keys.energy)
    forces = _lookup(atoms, label_keys.forces)
    if energy is None or forces is None:
        missing = [
            k for k, v in ((label_keys.energy, energy), (label_keys.forces, forces)) if v is None
        ]
        found = sorted(set(atoms.info) | set(atoms.arrays) - {"numbers", "positions"}
                       | set(getattr(atoms.calc, "results", {}) or {}))
        raise UserInputError(
            f"{source}: frame has no label {' / '.join(repr(m) for m in missing)} (found keys: "
            f"{', '.join(found) or 'none'}); label the frames with a teacher first "
            "(lesdistill label) or set the label keys (energy_key / forces_key)")
    try:
        energy_f = float(np.asarray(energy).reshape(()))
    except (TypeError, ValueError):
        raise UserInputError(
            f"{source}: energy '{label_keys.energy}' is not a single number"
        ) from None
    if not math.isfinite(energy_f):
        raise UserInputError(f"{source}: energy is NaN or infinite; fix or drop this frame")
    forces_a = np.asarray(forces, dtype=np.float64)
    if forces_a.shape != (n, 3):
        raise UserInputError(f"{source}: forces '{label_keys.forces}' have shape {forces_a.shape}; "
                             f"expected ({n}, 3)")
    _finite(forces_a, f"forces '{label_keys.forces}'", source)
    stress = _lookup(atoms, label_keys.stress)
    stress_a = None
    if stress is not None:
        if not np.all(atoms.pbc):
            raise UserInputError(f"{source}: frame has a stress label but is not periodic in 3D")
        stress_a = _as_voigt(stress, source, label_keys.stress)
    bec = _lookup(atoms, label_keys.bec)
    bec_a = None
    if bec is not None:
        bec_a = np.asarray(bec, dtype=np.float64)
        if bec_a.shape not in ((n, 9), (n, 3, 3)):
            raise UserInputError(f"{source}: BEC array '{label_keys.bec}' has shape {bec_a.shape}; "
                                 f"expected ({n}, 9)")
        bec_a = _finite(bec_a.reshape(n, 3, 3), f"BEC '{label_keys.bec}'", source)
    total_charge = finite_number(atoms.info.get(label_keys.total_charge, 0.0),
                                 f"total charge '{label_keys.total_charge}'", source)
    clean = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    clean.info[keys.TOTAL_CHARGE] = total_charge
    if atoms.info.get(keys.SPIN_MULTIPLICITY) is not None:
        clean.info[keys.SPIN_MULTIPLICITY] = atoms.info[keys.SPIN_MULTIPLICITY]
    charge_and_spin(clean.info, clean.numbers, source)
    if keys.TEACHER in atoms.info:
        clean.info[keys.TEACHER] = str(atoms.info[keys.TEACHER])
    return LabelledFrame(clean, energy_f, forces_a, stress_a, bec_a, source)


def read_frames(paths: PathLike | Iterable[PathLike],
                label_keys: LabelKeys = LabelKeys()) -> list[LabelledFrame]:
    """Read every frame of one or more extxyz files (any format ASE reads works too)."""

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames: list[LabelledFrame] = []
    for path in map(Path, paths):
        images = read_images(path, what="data file")
        frames.extend(frame_from_atoms(a, f"{path}:{i}", label_keys) for i, a in enumerate(images))
    if not frames:
        raise UserInputError("no data files given")
    return frames


def split_frames(frames: Sequence[LabelledFrame], valid_fraction: float,
                 seed: int) -> tuple[list[LabelledFrame], list[LabelledFrame]]:
    """Random train/validation split reproducible from ``seed``.

    At least one validation frame when ``valid_fraction > 0`` and there are >= 2 frames; with
    ``valid_fraction == 0`` the validation set is empty.
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise UserInputError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    n = len(frames)
    n_valid = 0 if valid_fraction == 0.0 or n < 2 else max(1, int(round(valid_fraction * n)))
    n_valid = min(n_valid, n - 1)
    order = np.random.default_rng(seed).permutation(n)
    valid_idx = set(order[:n_valid].tolist())
    train = [f for i, f in enumerate(frames) if i not in valid_idx]
    valid = [f for i, f in enumerate(frames) if i in valid_idx]
    return train, valid


def load_datasets(
    train_files: PathLike | Iterable[PathLike],
    valid_files: PathLike | Iterable[PathLike] | None = None,
    *,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    label_keys: LabelKeys = LabelKeys(),
) -> tuple[list[LabelledFrame], list[LabelledFrame], list[LabelledFrame]]:
    """Train, validation and test frames.

    With explicit ``valid_files`` the caller owns the split: every frame of ``train_files``
    trains and the test set is empty. Otherwise a seeded random ``test_fraction`` of the frames
    is held out first (never trained on, never used for model selection), then a seeded
    ``valid_fraction`` of the rest (see :func:`split_frames`).
    """
    frames = read_frames(train_files, label_keys)
    if valid_files is not None:
        return frames, read_frames(valid_files, label_keys), []
    rest, test = (
        split_frames(frames, test_fraction, seed + 7919)
        if test_fraction > 0 and len(frames) >= 3
        else (frames, [])
    )
    train, valid = split_frames(rest, valid_fraction, seed)
    return train, valid, test


def write_frames(path: PathLike, frames: Sequence[LabelledFrame]) -> Path:
    """Write labelled frames to extxyz atomically, as they were read (every label, ``info`` and
    per-atom array of the source file kept), in the order given; returns ``path``.

    The frames are taken again from their source files (``frame.source`` is ``file:index``), so
    a written file holds exactly what the reader saw and reads back with the same label keys.
    """
    cache: dict[str, list[Any]] = {}
    images = []
    for frame in frames:
        name, _, index = frame.source.rpartition(":")
        if name not in cache:
            cache[name] = read_images(name, what="data file")
        images.append(cache[name][int(index)])
    return write_images(path, images)


def elements_of(frames: Iterable[LabelledFrame]) -> list[str]:
    """Sorted (by atomic number) chemical symbols present in ``frames``."""
    from ase.data import chemical_symbols

    zs: set[int] = set()
    for f in frames:
        zs.update(int(z) for z in np.unique(f.atoms.numbers))
    return [chemical_symbols[z] for z in sorted(zs)]


def file_digest(paths: PathLike | Iterable[PathLike]) -> str:
    """SHA-256 of the contents of ``paths`` (in order), to detect changed training data."""
    return file_sha256(paths, separator=True)
