"""Trajectory store for spectra MD: a directory of atomically written ``.npz`` parts.

Layout of a trajectory directory ``OUT/`` (all arrays float64 unless noted, units in brackets)::

    OUT/meta.json        written once at the start: format tag, run settings and the system
                         format = "lesdistill-md/1", timestep_fs [fs], stride [steps between
                         stored frames], temperature_K [K], numbers (N,) int, masses (N,) [amu],
                         pbc (3,) bool, thermostat, production, seed, n_equil, n_steps, groups
                         (names of group dipole currents), bec_every, calculator, eps_inf
    OUT/part-00000.npz   stored frames, chunk by chunk, each written to a temp file and renamed:
                         step (F,) int (production step of the frame; frame k is at k*stride),
                         positions (F, N, 3) [Å, unwrapped], velocities (F, N, 3) [Å/fs],
                         cell (F, 3, 3) [Å, rows are lattice vectors],
                         dipole_current (F, 3) [e Å/fs] = dM/dt = sum_i Z*_i v_i,
                         group__<name> (F, 3) [e Å/fs] (dM/dt restricted to a group of atoms),
                         atom_current (F, N, 3) [e Å/fs] (j_i = Z*_i v_i, if atom_currents;
                         their sum is dipole_current),
                         energy (F,) [eV, potential], kinetic (F,) [eV],
                         bec (B, N, 3, 3) [e] and bec_frame (B,) int (frame index), if requested
    OUT/state.npz        resume checkpoint, rewritten atomically after every part:
                         phase ("equil" | "prod"), step, momenta/positions/cell of that step,
                         random-generator state, n_parts (the manifest: only part-00000 ..
                         part-{n_parts-1} are valid), complete flag
    OUT/summary.json     written at the end: frames, mean temperature, NVE drift (meV/atom/ps)

A kill at any moment leaves every file either absent, complete-old or complete-new: parts beyond
``n_parts`` (a kill between writing a part and the state) are ignored and rewritten on resume.
:func:`load_trajectory` also reads extended-XYZ files from other MD codes (see
:mod:`lesdistill.md.extxyz`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.units import KB_EV_PER_K

FORMAT = "lesdistill-md/1"
META = "meta.json"
STATE = "state.npz"
SUMMARY = "summary.json"
GROUP_PREFIX = "group__"
ATOM_CURRENT = "atom_current"


def part_path(directory: Path, index: int) -> Path:
    """Path of the ``index``-th part file in a trajectory directory."""
    return directory / f"part-{index:05d}.npz"


def write_npz_atomic(path: Path, **arrays: Any) -> None:
    """``np.savez`` to a temporary sibling, then rename onto ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_meta(directory: Path) -> dict[str, Any]:
    """Read ``meta.json`` of a trajectory directory, checking the format tag."""
    meta_file = directory / META
    if not meta_file.is_file():
        raise FileNotFoundError(f"{directory} is not a lesdistill MD trajectory (no {META}); "
                                "run `lesdistill md` first or pass an extxyz trajectory")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise UserInputError(f"{meta_file}: unknown trajectory format {meta.get('format')!r}; "
                             f"expected {FORMAT!r}")
    return meta


def read_state(directory: Path) -> dict[str, Any] | None:
    """Read the resume checkpoint, or ``None`` if the run never reached one."""
    state_file = directory / STATE
    if not state_file.is_file():
        return None
    with np.load(state_file, allow_pickle=False) as data:
        state = {key: data[key] for key in data.files}
    state["phase"] = str(state["phase"])
    state["rng_state"] = json.loads(str(state["rng_state"]))
    for key in ("step", "n_parts"):
        state[key] = int(state[key])
    state["complete"] = bool(state["complete"])
    return state


@dataclass(frozen=True)
class Trajectory:
    """Stored production frames of a spectra MD run (units in field comments).

    ``frame_dt_fs = timestep_fs * stride`` is the sampling interval of every time series.
    """

    timestep_fs: float  # MD integration time step, fs
    stride: int  # MD steps between stored frames
    numbers: np.ndarray  # (N,) atomic numbers
    masses: np.ndarray  # (N,) amu
    pbc: np.ndarray  # (3,) bool
    cell: np.ndarray  # (F, 3, 3) Å, rows are lattice vectors
    step: np.ndarray  # (F,) production step of each frame
    dipole_current: np.ndarray  # (F, 3) e Å/fs
    positions: np.ndarray | None = None  # (F, N, 3) Å
    velocities: np.ndarray | None = None  # (F, N, 3) Å/fs
    energy: np.ndarray | None = None  # (F,) potential energy, eV
    kinetic: np.ndarray | None = None  # (F,) kinetic energy, eV
    group_currents: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (F, 3)
    bec: np.ndarray | None = None  # (B, N, 3, 3) e
    bec_frame: np.ndarray | None = None  # (B,) frame indices of ``bec``
    atom_currents: np.ndarray | None = None  # (F, N, 3) e Å/fs, j_i = Z*_i v_i
    temperature_K: float | None = None  # target temperature of the run, K
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.dipole_current.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.numbers.shape[0])

    @property
    def frame_dt_fs(self) -> float:
        """Sampling interval of the stored frames, fs."""
        return float(self.timestep_fs * self.stride)

    @property
    def time_fs(self) -> np.ndarray:
        """(F,) time of each frame since the start of production, fs."""
        return self.step.astype(float) * self.timestep_fs

    @property
    def volume_A3(self) -> float:
        """Mean cell volume, Å^3. Raises if periodic data has no cell (zero volume)."""
        volumes = np.abs(np.linalg.det(self.cell))
        if not np.all(volumes > 1e-6):
            where = f" in {self.path}" if self.path else ""
            raise UserInputError(f"periodic trajectory{where} has no cell (zero volume); store "
                                 "the cell with the frames or pass volume_A3 explicitly")
        return float(volumes.mean())

    def temperature_series_K(self) -> np.ndarray:
        """(F,) instantaneous kinetic temperature, K (3N degrees of freedom for Langevin
        production, else 3N - 3: the total momentum is conserved at zero)."""
        if self.kinetic is None:
            raise UserInputError("trajectory has no kinetic energies stored")
        free = self.meta.get("production") == "langevin"
        dof = max(3 * self.n_atoms - (0 if free else 3), 1)
        return 2.0 * self.kinetic / (dof * KB_EV_PER_K)

    def energy_drift_mev_per_atom_ps(self) -> float:
        """Slope of a linear fit of total energy per atom vs time, meV/atom/ps (NVE check)."""
        if self.energy is None or self.kinetic is None or self.n_frames < 3:
            raise UserInputError("energy drift needs potential and kinetic energies of >= 3 frames")
        total_mev_per_atom = (self.energy + self.kinetic) / self.n_atoms * 1e3
        slope_per_fs = np.polyfit(self.time_fs, total_mev_per_atom, 1)[0]
        return float(slope_per_fs * 1e3)

    def to_atoms(self, index: int):  # -> ase.Atoms
        """Frame ``index`` as :class:`ase.Atoms` (positions, cell, pbc, masses, velocities)."""
        from ase import Atoms
        from ase import units as ase_units

        if self.positions is None:
            raise UserInputError("trajectory was loaded without positions")
        atoms = Atoms(numbers=self.numbers, positions=self.positions[index], cell=self.cell[index],
                      pbc=self.pbc, masses=self.masses)
        if self.velocities is not None:
            atoms.set_velocities(self.velocities[index] / ase_units.fs)
        return atoms


def check_uniform(step: np.ndarray, stride: int, where: str) -> None:
    """Raise if stored frames are not equally spaced by ``stride`` steps."""
    if step.size > 1:
        gaps = np.diff(step)
        if not np.all(gaps == stride):
            bad = int(np.flatnonzero(gaps != stride)[0])
            raise UserInputError(
                f"{where}: non-uniform stride (frames {bad} and {bad + 1} are {int(gaps[bad])} "
                f"steps apart, expected {stride}); spectra need equally spaced frames")


def load_run(path: Path, *, positions: bool = True) -> Trajectory:
    """Load a trajectory folder written by :func:`lesdistill.md.run_md` (see
    :func:`lesdistill.md.load_trajectory`, which also reads extxyz files).

    positions: also load positions, velocities and per-atom currents (False: total and group
        currents and energies only, less memory).
    Raises UserInputError for a run with no stored frames, missing velocities, non-uniform
    stride, or a periodic trajectory without a cell.
    """
    meta = read_meta(path)
    state = read_state(path)
    n_parts = 0 if state is None else state["n_parts"]
    if n_parts == 0:
        raise UserInputError(f"{path}: no stored frames yet; resume the run with `lesdistill md`")
    chunks: dict[str, list[np.ndarray]] = {}
    for index in range(n_parts):
        with np.load(part_path(path, index), allow_pickle=False) as data:
            for key in data.files:
                if not positions and key in ("positions", "velocities", ATOM_CURRENT):
                    continue
                chunks.setdefault(key, []).append(data[key])
            if "velocities" not in data.files:
                raise UserInputError(f"{part_path(path, index)}: trajectory has no velocities; "
                                     "rerun `lesdistill md` (it stores velocities)")
    arrays = {key: np.concatenate(value) for key, value in chunks.items()}
    check_uniform(arrays["step"], int(meta["stride"]), str(path))
    pbc = np.asarray(meta["pbc"], dtype=bool)
    traj = Trajectory(
        timestep_fs=float(meta["timestep_fs"]), stride=int(meta["stride"]),
        numbers=np.asarray(meta["numbers"], dtype=int),
        masses=np.asarray(meta["masses"], dtype=float), pbc=pbc, cell=arrays["cell"],
        step=arrays["step"], dipole_current=arrays["dipole_current"],
        positions=arrays.get("positions"), velocities=arrays.get("velocities"),
        energy=arrays.get("energy"), kinetic=arrays.get("kinetic"),
        group_currents={key[len(GROUP_PREFIX):]: value for key, value in arrays.items()
                        if key.startswith(GROUP_PREFIX)},
        bec=arrays.get("bec"), bec_frame=arrays.get("bec_frame"),
        atom_currents=arrays.get(ATOM_CURRENT),
        temperature_K=float(meta["temperature_K"]), path=path, meta=meta)
    if pbc.any():
        _ = traj.volume_A3  # raises for a periodic run without a cell
    return traj


def concatenate_frames(frames: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Stack per-frame dicts into the arrays of one part file."""
    out: dict[str, np.ndarray] = {}
    for key in frames[0]:
        if key in ("bec",):
            continue
        out[key] = np.stack([np.asarray(frame[key]) for frame in frames])
    becs = [(frame["frame"], frame["bec"]) for frame in frames if frame.get("bec") is not None]
    if becs:
        out["bec_frame"] = np.asarray([index for index, _ in becs], dtype=int)
        out["bec"] = np.stack([value for _, value in becs])
    out.pop("frame", None)
    return out
