"""Spectra MD on fixed-charge systems: exact peaks/intensities, sum rule, NVE drift, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from lesdistill import units
from lesdistill.errors import UnstableDynamicsError, UserInputError
from lesdistill.md import load_trajectory, run_md
from lesdistill.spectra import ir_spectrum
from lesdistill.spectra.ir import ir_prefactor

from .fixed_charge_toy import TetheredCharges, spring_for_wavenumber, tethered_system

HERE = Path(__file__).parent
# the toy systems have no bands above ~2000 cm^-1: long strides are fine here
pytestmark = pytest.mark.filterwarnings("ignore:frames every:UserWarning")


def four_oscillators(wavenumbers=(600.0, 1000.0, 1400.0, 1800.0)) -> Atoms:
    atoms = Atoms("OHOH", positions=[[1, 1, 1], [4, 4, 4], [7, 1, 4], [1, 7, 7]], cell=[9] * 3,
                  pbc=True)
    springs = [spring_for_wavenumber(nu, m) for nu, m in zip(wavenumbers, atoms.get_masses(),
                                                                 strict=True)]
    atoms.calc = TetheredCharges(atoms.positions.copy(), springs, [0.8, -0.8, 0.4, -0.4])
    return atoms


def test_nve_harmonic_peaks_band_intensities_and_drift(tmp_path):
    wavenumbers, dt = (600.0, 1000.0, 1400.0, 1800.0), 0.5
    path = run_md(four_oscillators(wavenumbers), tmp_path / "md", temperature_K=300.0,
                  timestep_fs=dt, n_equil=1000, n_steps=8000, stride=2, production="nve",
                  seed=1, progress=False)
    traj = load_trajectory(path)
    assert traj.n_frames == 4001 and traj.frame_dt_fs == 1.0
    drift = traj.energy_drift_mev_per_atom_ps()
    assert abs(drift) < 1.0
    summary = json.loads((path / "summary.json").read_text())
    assert summary["nve_drift_meV_per_atom_ps"] == pytest.approx(drift)
    s = ir_spectrum(traj, window="hann", window_ps=0.5, resolution_cm=0.5)
    q = np.array([0.8, -0.8, 0.4, -0.4])
    v2 = (traj.velocities**2).sum(axis=2).mean(axis=0)  # <|v_i|^2>, Å^2/fs^2
    assert s.temperature_K == pytest.approx(
        traj.temperature_series_K().mean()
    )  # kinetic, not 300 K
    scale = ir_prefactor() / (traj.volume_A3 * s.temperature_K)
    for k, nu in enumerate(wavenumbers):
        omega = units.wavenumber_cm_to_omega_rad_per_fs(nu)
        verlet_nu = nu * (2.0 / (omega * dt)) * np.arcsin(omega * dt / 2.0)  # Verlet frequency
        band = np.abs(s.wavenumber_cm - nu) < 180.0
        x, y = s.wavenumber_cm[band], s.n_alpha_per_cm[band]
        assert x[np.argmax(y)] == pytest.approx(verlet_nu, abs=1.5)
        integral = np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x))
        expected = scale * q[k] ** 2 * v2[k] / (2.0 * units.SPEED_OF_LIGHT_CM_PER_FS)
        assert integral == pytest.approx(expected, rel=0.03)


def test_sum_rule_on_fixed_charge_langevin_md(tmp_path):
    # canonical sampling (strong Langevin coupling, many decorrelated samples): the integral of
    # n*alpha must equal sum_i <|Z_i|^2>/m_i / (12 eps0 c^2 V) from the stored BEC
    atoms = tethered_system(8, wavenumbers=(150.0, 250.0), seed=1)
    path = run_md(atoms, tmp_path / "md", temperature_K=300.0, timestep_fs=2.0, n_equil=500,
                  n_steps=30000, stride=5, thermostat="langevin", coupling_fs=20.0,
                  production="langevin", production_coupling_fs=20.0, bec_every=100, seed=1,
                  chunk_frames=1000, guard_min_distance_A=None, progress=False)
    traj = load_trajectory(path, positions=False)
    assert traj.bec.shape == (61, 8, 3, 3)
    s = ir_spectrum(traj, window_ps=0.2, max_wavenumber_cm=None)
    assert abs(s.sum_rule.relative_mismatch) < 0.02
    flipped = ir_spectrum(traj.__class__(**{**traj.__dict__,
                                            "dipole_current": -traj.dipole_current}),
                          window_ps=0.2, max_wavenumber_cm=None)
    np.testing.assert_array_equal(flipped.n_alpha_per_cm, s.n_alpha_per_cm)


def test_resume_after_kill_gives_the_same_trajectory(tmp_path):
    from .resume_worker import RUN, system

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "tests.md.resume_worker", str(killed)],
                            cwd=HERE.parents[1])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            state = killed / "state.npz"
            if state.is_file() and int(np.load(state)["n_parts"]) >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "worker finished before it could be killed"
        proc.kill()
    finally:
        proc.wait()
    assert not bool(np.load(killed / "state.npz")["complete"])
    # what a kill during a write can leave: a temp file, a part beyond the manifest
    (killed / ".part-00004.x1y2z3.npz").write_bytes(b"PK\x03")
    (killed / "part-00099.npz").write_bytes(b"")
    run_md(system(), killed, **RUN)  # resume in-process
    fresh = run_md(system(), tmp_path / "fresh", **RUN)
    a, b = load_trajectory(killed), load_trajectory(fresh)
    for name in ("step", "positions", "velocities", "dipole_current", "energy", "bec", "cell"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.group_currents["cations"], b.group_currents["cations"])
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in fresh.iterdir())


def test_bussi_groups_and_extending_a_finished_run(tmp_path):
    atoms = tethered_system(16, seed=2)
    kw = dict(temperature_K=300.0, timestep_fs=1.0, n_equil=500, stride=4, thermostat="bussi",
              production="bussi", production_coupling_fs=200.0, seed=4, chunk_frames=30,
              groups={"O": [i for i in range(16) if i % 2 == 0],
                      "H": lambda a: a.numbers == 1}, progress=False)
    path = run_md(atoms, tmp_path / "md", n_steps=1000, **kw)
    traj = load_trajectory(path)
    total = traj.group_currents["O"] + traj.group_currents["H"]
    np.testing.assert_allclose(total, traj.dipole_current, atol=1e-12)
    assert traj.temperature_series_K().mean() == pytest.approx(300.0, rel=0.15)
    run_md(atoms, path, n_steps=2000, **kw)  # extend
    longer = load_trajectory(path)
    assert longer.n_frames == 501
    np.testing.assert_array_equal(longer.step, np.arange(501) * 4)
    np.testing.assert_array_equal(longer.dipole_current[:251], traj.dipole_current)


def test_md_bad_inputs(tmp_path):
    atoms = tethered_system(4)
    with pytest.raises(UserInputError, match="unknown thermostat"):
        run_md(atoms, tmp_path / "a", temperature_K=300, thermostat="nose")
    bare = atoms.copy()
    from ase.calculators.emt import EMT

    bare.calc = EMT()
    with pytest.raises(UserInputError, match="get_dipole_current"):
        run_md(bare, tmp_path / "b", temperature_K=300)
    with pytest.warns(UserWarning, match="resolve IR bands only up to 3336 cm"):
        run_md(atoms, tmp_path / "c", temperature_K=300, n_equil=10, n_steps=20, stride=10,
               progress=False)
    with pytest.raises(UserInputError, match="different settings"):
        run_md(atoms, tmp_path / "c", temperature_K=350, n_equil=10, n_steps=20, stride=10,
               progress=False)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("x")
    with pytest.raises(UserInputError, match="not an MD trajectory"):
        run_md(atoms, tmp_path / "d", temperature_K=300, n_steps=20, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_collapsing_potential_stops_with_a_clear_error_and_keeps_finished_parts(tmp_path):
    """Two atoms tethered to one site run into each other (as a student outside its training
    data may): the run stops at the first check with the closest pair, finished parts stay."""
    atoms = tethered_system(4, seed=3)
    calc = atoms.calc
    calc.sites[1] = calc.sites[0]  # atom 1 starts 3 Å away and swings through atom 0
    calc.springs[1] = 0.01  # eV/Å^2: slow, so the temperature guard does not fire first
    atoms.positions[1] = calc.sites[0] + np.array([3.0, 0.0, 0.0])
    atoms.set_velocities(np.full((4, 3), 1e-6))  # (not redrawn): a head-on swing
    with pytest.raises(
        UnstableDynamicsError, match=r"production: atoms overlap at step \d+: closest pair"
    ):
        run_md(atoms, tmp_path / "md", temperature_K=300, n_equil=0, n_steps=4000, stride=2,
               chunk_frames=5, progress=False)
    parts = sorted((tmp_path / "md").glob("part-*.npz"))
    assert parts  # frames before the collapse were written
    for part in parts:
        with np.load(part) as data:
            d = np.linalg.norm(data["positions"][:, 1] - data["positions"][:, 0], axis=1)
            assert d.min() >= 0.5


def test_cli_reports_unstable_md_in_one_line(monkeypatch, capsys):
    import lesdistill.cli as cli

    def explode(*args, **kwargs):
        raise UnstableDynamicsError("spectra MD became unphysical in production: NaN\nsecond line")

    monkeypatch.setattr(cli, "app", explode)
    with pytest.raises(SystemExit) as info:
        cli.main(["md"])
    assert info.value.code == 1
    assert (
        capsys.readouterr().err
        == "lesdistill: error: spectra MD became unphysical in production: NaN\n"
    )
