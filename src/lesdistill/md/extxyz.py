"""Read MD trajectories from other codes (extended XYZ) for the IR analysis.

Each frame needs velocities (ASE ``momenta`` array) and a uniform time axis: the info key
``time_fs`` (:data:`lesdistill.keys.TIME_FS`) on every frame, or ``frame_dt_fs`` given by the
caller. The dipole current per frame is the info key ``dipole_current`` (e Å/fs); without it,
fixed charges (``charges`` or ``initial_charges`` array, e) give dM/dt = sum_i q_i v_i.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.md.trajectory import Trajectory, check_uniform

TIME_FS = getattr(keys, "TIME_FS", "time_fs")


def _charges(atoms) -> np.ndarray:
    """Fixed charges of a frame (e): calculator results, ``charges`` array or initial charges."""
    if atoms.calc is not None and keys.CHARGES in getattr(atoms.calc, "results", {}):
        return np.asarray(atoms.calc.results[keys.CHARGES], dtype=float)
    if keys.CHARGES in atoms.arrays:
        return np.asarray(atoms.arrays[keys.CHARGES], dtype=float)
    return atoms.get_initial_charges()


def load_extxyz(path: Path, *, frame_dt_fs: float | None = None) -> Trajectory:
    """Load an extxyz MD trajectory as a :class:`Trajectory` (see the module docstring)."""
    from ase import units as ase_units

    from lesdistill.data.frames import read_frames

    frames = read_frames(path, what="trajectory")
    first = frames[0]
    if any(len(atoms) != len(first) for atoms in frames):
        raise UserInputError(f"{path}: the number of atoms changes between frames")
    if not all(atoms.has("momenta") for atoms in frames):
        raise UserInputError(f"{path}: trajectory has no velocities (no 'momenta' array on every "
                             "frame); write frames with velocities to compute spectra")
    velocities = np.stack([atoms.get_velocities() * ase_units.fs for atoms in frames])
    if all(TIME_FS in atoms.info for atoms in frames):
        time = np.array([float(atoms.info[TIME_FS]) for atoms in frames])
        gaps = np.diff(time)
        dt = float(gaps[0]) if gaps.size else float(frame_dt_fs or 1.0)
        if gaps.size and (dt <= 0 or not np.allclose(gaps, dt, rtol=1e-6, atol=1e-9)):
            bad = int(np.flatnonzero(~np.isclose(gaps, dt, rtol=1e-6, atol=1e-9))[0])
            raise UserInputError(f"{path}: non-uniform stride (time step between frames "
                                 f"{bad} and {bad + 1} is {gaps[bad]:g} fs, expected {dt:g} fs)")
    elif frame_dt_fs is not None:
        dt = float(frame_dt_fs)
    else:
        raise UserInputError(f"{path}: frames have no '{TIME_FS}' info; pass the time between "
                             "frames (--frame-dt-fs)")
    if all(keys.DIPOLE_CURRENT in atoms.info for atoms in frames):
        current = np.stack([np.asarray(atoms.info[keys.DIPOLE_CURRENT], float).reshape(3)
                            for atoms in frames])
    else:
        charges = [_charges(atoms) for atoms in frames]
        if not np.any(charges[0]):
            raise UserInputError(f"{path}: no '{keys.DIPOLE_CURRENT}' info and no charges; "
                                 "cannot compute the dipole current")
        current = np.einsum("fi,fia->fa", np.stack(charges), velocities)
    pbc = np.asarray(first.pbc, dtype=bool)
    traj = Trajectory(
        timestep_fs=dt, stride=1, numbers=first.numbers.copy(), masses=first.get_masses(),
        pbc=pbc, cell=np.stack([np.array(atoms.cell) for atoms in frames]),
        step=np.arange(len(frames)), dipole_current=current,
        positions=np.stack([atoms.positions for atoms in frames]), velocities=velocities,
        temperature_K=first.info.get(keys.TEMPERATURE_K), path=path)
    check_uniform(traj.step, 1, str(path))
    if pbc.any():
        _ = traj.volume_A3
    return traj
