"""Spectra MD with the LES student (untrained tiny model; slow: minutes on a busy CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from lesdistill.md import load_trajectory, run_md


@pytest.mark.slow
def test_student_nve_drift_and_current_equals_bec_times_velocity(tmp_path):
    import torch

    from lesdistill.calculator import StudentCalculator
    from lesdistill.model import StudentConfig, StudentModel
    from lesdistill.systems.water import water_box

    torch.manual_seed(0)
    atoms = water_box(4, seed=0)
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64")
    atoms.calc = StudentCalculator(StudentModel(config))
    path = run_md(atoms, tmp_path / "md", temperature_K=300.0, timestep_fs=0.25, n_equil=0,
                  n_steps=80, stride=4, production="nve", bec_every=5, seed=0, chunk_frames=10,
                  progress=False)
    traj = load_trajectory(path)
    assert abs(traj.energy_drift_mev_per_atom_ps()) < 1.0
    assert traj.meta["eps_inf"] == pytest.approx(config.eps_inf)
    for z, frame in zip(traj.bec, traj.bec_frame, strict=True):
        expected = np.einsum("nab,nb->a", z, traj.velocities[frame])
        np.testing.assert_allclose(traj.dipole_current[frame], expected, rtol=1e-8, atol=1e-12)
