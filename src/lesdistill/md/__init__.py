"""Molecular dynamics for spectra: NVT equilibration, NVE/weakly thermostatted production that
stores positions, velocities and the dipole current; resumable trajectory store.

    run_md(atoms, out_path, settings=MDSettings(), *, groups=None, bec_every=0, seed=0,
           progress=True, **field_overrides) -> Path
    load_trajectory(path) -> Trajectory
"""

from __future__ import annotations

from lesdistill.md.driver import format_summary, run_md, summarize
from lesdistill.md.load import load_trajectory
from lesdistill.md.settings import MDSettings
from lesdistill.md.trajectory import Trajectory

__all__ = ["MDSettings", "Trajectory", "format_summary", "load_trajectory", "run_md", "summarize"]
