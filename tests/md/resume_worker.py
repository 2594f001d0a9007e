"""Subprocess worker for the resume test: ``python -m tests.md.resume_worker OUT`` (from the
repository root) runs the reference MD (the test kills it part-way, then resumes in-process). Not
collected by pytest."""

from __future__ import annotations

import sys

from lesdistill.md import run_md
from tests.md.fixed_charge_toy import tethered_system

RUN = dict(temperature_K=300.0, timestep_fs=1.0, n_equil=300, n_steps=6000, stride=2,
           thermostat="bussi", production="langevin", coupling_fs=50.0,
           production_coupling_fs=500.0, bec_every=7, seed=11, chunk_frames=40,
           groups={"cations": [0, 2, 4, 6]}, progress=False)


def system():
    return tethered_system(16, quartic=0.05, seed=3)


if __name__ == "__main__":
    run_md(system(), sys.argv[1], **RUN)
