"""Molecular dynamics for spectra: NVT equilibration, NVE/weakly thermostatted production that
stores positions, velocities and the dipole current; resumable trajectory store.

    run_md(atoms, out_path, *, temperature_K, timestep_fs, n_equil, n_steps, stride, thermostat,
           production, seed, progress=True) -> Path
    load_trajectory(path) -> Trajectory
"""

from __future__ import annotations

from lesdistill.md.driver import format_summary, run_md, summarize
from lesdistill.md.trajectory import Trajectory, load_trajectory

__all__ = ["Trajectory", "format_summary", "load_trajectory", "run_md", "summarize"]
