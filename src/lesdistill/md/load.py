"""Load a trajectory for the spectra: a folder written by :func:`lesdistill.md.run_md` or an
extended-XYZ file from another code (:mod:`lesdistill.md.extxyz`)."""

from __future__ import annotations

from pathlib import Path

from lesdistill.md.extxyz import load_extxyz
from lesdistill.md.trajectory import Trajectory, load_run

__all__ = ["load_trajectory"]


def load_trajectory(path: str | Path, *, positions: bool = True,
                    frame_dt_fs: float | None = None) -> Trajectory:
    """Load a trajectory directory written by :func:`lesdistill.md.run_md` (or an extxyz file).

    positions: also load positions, velocities and per-atom currents (False: total and group
        currents and energies only, less memory).
    frame_dt_fs: sampling interval for extxyz files without a ``time_fs`` info key.
    Raises FileNotFoundError / UserInputError for a missing path, a run with no stored frames,
    missing velocities, non-uniform stride, or a periodic trajectory without a cell.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory not found: {path}; pass a folder written by "
                                "`lesdistill md` (or an extxyz file with velocities)")
    if path.is_file():
        return load_extxyz(path, frame_dt_fs=frame_dt_fs)
    return load_run(path, positions=positions)
