"""External electric field: F = qE for fixed charges, forces = -dU/dr with U = E0 - E.P for the
student, linear response of tethered charges, NVE conservation of U, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.fd import calculate_numerical_forces

from lesdistill.errors import UserInputError
from lesdistill.md import MDSettings, load_trajectory, run_md
from lesdistill.md.field import FIELD_ENERGY, FieldCalculator
from tests.md.fixed_charge_toy import TetheredCharges, spring_for_wavenumber
from tests.model.conftest import _make_model, random_structure

FIELD = np.array([0.03, -0.05, 0.1])  # V/Å


class OpenTethered(TetheredCharges):
    """Tethered fixed charges in an open structure, with their dipole sum_i q_i r_i (e Å)."""

    implemented_properties = [*TetheredCharges.implemented_properties, "dipole"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(atoms, properties)
        self.results["dipole"] = (self.q[:, None] * self.atoms.positions).sum(axis=0)


def _open_atoms() -> Atoms:
    return random_structure(["O", "H", "H", "O", "H", "H", "H"], np.diag([4.0] * 3), False, seed=12)


def _periodic_atoms() -> Atoms:
    cell = [[5.6, 0.0, 0.0], [0.7, 5.9, 0.0], [-0.4, 0.5, 6.3]]
    return random_structure(["O", "H", "H"] * 4, cell, True, seed=11)


def _tethered(n: int = 8, seed: int = 0) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = Atoms(["O", "H"] * (n // 2), positions=rng.uniform(0.0, 8.0, (n, 3)))
    springs = np.array([spring_for_wavenumber(600.0, m) for m in atoms.get_masses()])
    charges = np.array([0.7, -0.7] * (n // 2))
    atoms.calc = OpenTethered(atoms.positions.copy(), springs, charges)
    return atoms


def test_fixed_charges_feel_exactly_qE():
    atoms = _tethered()
    atoms.rattle(0.1, seed=1)
    inner = atoms.calc
    f0, e0 = inner.get_forces(atoms).copy(), inner.get_potential_energy(atoms)
    atoms.calc = FieldCalculator(inner, FIELD)
    np.testing.assert_allclose(atoms.get_forces() - f0, inner.q[:, None] * FIELD[None, :],
                               rtol=0, atol=1e-14)
    dipole = (inner.q[:, None] * atoms.positions).sum(axis=0)
    assert atoms.get_potential_energy() == pytest.approx(e0 - FIELD @ dipole, abs=1e-12)
    assert atoms.calc.get_property(FIELD_ENERGY, atoms) == pytest.approx(-FIELD @ dipole, abs=1e-12)


def test_acoustic_sum_rule_removes_the_net_field_force():
    atoms = _tethered()
    q = atoms.calc.q
    q[0] += 0.3  # a net charge: the uncorrected field pulls the whole structure
    f0 = atoms.calc.get_forces(atoms).copy()
    atoms.calc = FieldCalculator(atoms.calc, FIELD, asr=True)
    extra = atoms.get_forces() - f0
    np.testing.assert_allclose(extra.sum(axis=0), 0.0, atol=1e-13)
    np.testing.assert_allclose(extra, (q - q.mean())[:, None] * FIELD, atol=1e-13)


@pytest.mark.parametrize("periodic", [False, True])
def test_student_field_forces_are_minus_the_gradient_of_the_enthalpy(periodic):
    from lesdistill.calculator import StudentCalculator

    atoms = _periodic_atoms() if periodic else _open_atoms()
    atoms.calc = FieldCalculator(StudentCalculator(_make_model(), skin=0.0), 3 * FIELD)
    forces = atoms.get_forces()
    numerical = calculate_numerical_forces(atoms, eps=1e-4)
    np.testing.assert_allclose(forces, numerical, atol=2e-7)
    # the field part is Z*^T E, not zero (the student's charges respond to the field)
    inner = atoms.calc.calc
    assert np.abs(forces - inner.get_forces(atoms)).max() > 1e-4


def test_tethered_dipole_grows_linearly_with_the_field(tmp_path):
    """Harmonic tethers: <P> = sum_i q_i^2 E / k_i exactly (any temperature)."""
    dipoles = []
    for scale in (1.0, 2.0):
        atoms = _tethered(n=16, seed=2)
        calc = atoms.calc
        field = scale * np.array([0.0, 0.0, 0.2])
        run_md(atoms, tmp_path / f"md{scale}", temperature_K=5.0, timestep_fs=1.0, n_equil=400,
               n_steps=400, stride=2, production="langevin", production_coupling_fs=50.0,
               field_V_per_A=tuple(field), seed=3, progress=False, guard_min_distance_A=None)
        traj = load_trajectory(tmp_path / f"md{scale}")
        moment = (calc.q[None, :, None] * (traj.positions - calc.sites[None])).sum(axis=1)
        expected = (calc.q**2 / calc.springs).sum() * field
        np.testing.assert_allclose(moment.mean(axis=0), expected, atol=0.04 * abs(expected[2]))
        dipoles.append(moment.mean(axis=0)[2])
        assert traj.meta["field_V_per_A"] == pytest.approx(list(field))
        assert atoms.calc is calc  # the caller's calculator is back
    assert dipoles[1] / dipoles[0] == pytest.approx(2.0, rel=0.05)


def test_student_nve_under_a_field_conserves_the_enthalpy(tmp_path):
    from lesdistill.calculator import StudentCalculator

    atoms = _open_atoms()
    atoms.calc = StudentCalculator(_make_model())
    run_md(atoms, tmp_path / "md", temperature_K=200.0, timestep_fs=0.25, n_equil=0, n_steps=80,
           stride=4, production="nve", field_V_per_A=(0.0, 0.0, 0.5), seed=0, progress=False,
           guard_min_distance_A=None)
    traj = load_trajectory(tmp_path / "md")
    total = traj.energy + traj.kinetic
    assert np.ptp(total) < 2e-4 * len(atoms)  # eV; the field energy is part of traj.energy
    assert np.ptp(traj.energy) > 10 * np.ptp(total)


def test_bad_field_input():
    from ase.calculators.lj import LennardJones

    from lesdistill.calculator import StudentCalculator

    with pytest.raises(UserInputError, match="Born effective charges"):
        FieldCalculator(LennardJones(), FIELD)
    with pytest.raises(UserInputError, match="no long-range"):
        FieldCalculator(StudentCalculator(_make_model(long_range=False)), FIELD)
    with pytest.raises(UserInputError, match="field_V_per_A"):
        MDSettings(field_V_per_A=(0.0, 0.1))
    assert not MDSettings().has_field and MDSettings(field_V_per_A=(0, 0, 0.1)).has_field


@pytest.mark.parametrize("field", ["0,0,0.1", "0,0.1"])
def test_cli_bad_field_exits_2_with_one_line(tmp_path, capsys, field):
    from lesdistill.cli import main
    from lesdistill.model.checkpoint import save_student

    save_student(_make_model(long_range=False), tmp_path / "s.pt")
    _open_atoms().write(tmp_path / "start.xyz")
    argv = ["md", str(tmp_path / "start.xyz"), "--model", str(tmp_path / "s.pt"), "--out",
            str(tmp_path / "md"), "--field", field, "--n-steps", "4", "--stride", "2",
            "--n-equil", "0", "--no-progress"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("Born effective" in err or "--field" in err), err
    assert not (tmp_path / "md").exists() or not any((tmp_path / "md").iterdir())


class PeriodicTethered(TetheredCharges):
    """Tethered fixed charges in a periodic cell with a (bounded) phase-form polarization."""

    implemented_properties = [*TetheredCharges.implemented_properties, "polarization"]

    def __init__(self, *args, cell=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell = np.asarray(cell, dtype=float)

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        import torch

        from lesdistill.les import polarization

        super().calculate(atoms, properties)
        p = polarization(torch.tensor(self.q), torch.tensor(self.atoms.positions),
                         torch.tensor(self.cell))
        self.results["polarization"] = p.numpy()


def test_free_ions_in_a_periodic_cell_accelerate_and_the_itinerant_dipole_grows():
    """Untethered fixed charges: v(t) = q E t / m exactly under velocity Verlet, and the kinetic
    energy gained equals E . (change of the itinerant dipole), which grows beyond one cell."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    rng = np.random.default_rng(4)
    n, box, dt_fs, steps = 8, 6.0, 1.0, 400
    atoms = Atoms(["O", "H"] * (n // 2), positions=rng.uniform(0, box, (n, 3)), cell=[box] * 3,
                  pbc=True)
    q = np.array([0.5, -0.5] * (n // 2))
    inner = PeriodicTethered(atoms.positions.copy(), np.zeros(n), q, cell=atoms.cell.array)
    field = np.array([0.0, 0.0, 0.5])
    atoms.calc = FieldCalculator(inner, field)
    start = atoms.get_positions()
    u0 = atoms.get_potential_energy()
    p0 = atoms.calc.itinerant_dipole
    VelocityVerlet(atoms, timestep=dt_fs * units.fs).run(steps)
    expected_v = (q / atoms.get_masses())[:, None] * field * steps * dt_fs * units.fs
    np.testing.assert_allclose(atoms.get_velocities(), expected_v, rtol=1e-9, atol=1e-14)
    displacement = atoms.get_positions() - start
    assert np.abs(displacement).max() > box  # ions pass through the cell
    dipole_change = atoms.calc.itinerant_dipole - p0
    np.testing.assert_allclose(dipole_change, q @ displacement, rtol=1e-10, atol=1e-12)
    u = atoms.get_potential_energy()
    assert u - u0 == pytest.approx(-field @ dipole_change, rel=1e-10)
    assert atoms.get_kinetic_energy() == pytest.approx(u0 - u, rel=1e-9)


def test_resumed_field_run_continues_the_itinerant_dipole(tmp_path):
    """A student's charges move with the atoms, so the itinerant dipole depends on the path: a
    resumed run must take it from the checkpoint to repeat the uninterrupted run."""
    from lesdistill.calculator import StudentCalculator

    model = _make_model()

    def start():
        atoms = _periodic_atoms()
        atoms.calc = StudentCalculator(model)
        return atoms

    kw = dict(n_equil=4, stride=2, timestep_fs=0.5, production="nve", temperature_K=300.0,
              field_V_per_A=(0.3, 0.0, 0.6), progress=False, guard_min_distance_A=None,
              chunk_frames=3)
    whole = run_md(start(), tmp_path / "whole", n_steps=24, **kw)
    run_md(start(), tmp_path / "part", n_steps=12, **kw)
    run_md(start(), tmp_path / "part", n_steps=24, **kw)
    a, b = load_trajectory(whole), load_trajectory(tmp_path / "part")
    np.testing.assert_allclose(b.energy, a.energy, rtol=0, atol=1e-9)


def test_cli_field_with_replicas_exits_2(tmp_path, capsys):
    from lesdistill.cli import main
    from lesdistill.model.checkpoint import save_student

    save_student(_make_model(), tmp_path / "s.pt")
    _open_atoms().write(tmp_path / "start.xyz")
    with pytest.raises(SystemExit) as exc:
        main(["md", str(tmp_path / "start.xyz"), "--model", str(tmp_path / "s.pt"), "--out",
              str(tmp_path / "md"), "--field", "0,0,0.1", "--replicas", "2", "--no-progress"])
    assert exc.value.code == 2
    assert "--replicas" in capsys.readouterr().err


class _FixedChargeWater(Calculator):
    """Rigid TIP3P-charged water molecules with no interactions: energy and forces zero, BECs
    q_i 1, dipole sum_i q_i r_i (open structure). Under a field only the field acts on them."""

    implemented_properties = ["energy", "forces", "charges", "born_effective_charges", "dipole"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        q = np.tile([-0.834, 0.417, 0.417], len(self.atoms) // 3)
        self.results = {"energy": 0.0, "forces": np.zeros((len(q), 3)), "charges": q,
                        "born_effective_charges": q[:, None, None] * np.eye(3),
                        "dipole": q @ self.atoms.positions}


def test_water_molecules_orient_along_the_field_as_langevin_predicts():
    """Rigid dipoles (TIP3P water, mu = 0.489 e Å) in a field E at temperature T align on average
    as mu L(mu E / k_B T) per molecule (Langevin function; ~ mu^2 E / 3 k_B T at weak field):
    Langevin MD of 32 free rigid molecules with the field forces Z*^T E."""
    from ase import units
    from ase.calculators.tip3p import angleHOH, rOH
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from lesdistill.sampling.equilibration import RigidWater, tip3p_start
    from lesdistill.systems import water_box

    liquid = tip3p_start(water_box(n_molecules=32, seed=0), ps=0.02, seed=0)  # TIP3P geometry
    theta = np.deg2rad(angleHOH)
    mu = 2 * 0.417 * rOH * np.cos(theta / 2)
    kt = units.kB * 300.0
    means = {}
    for field in (0.0, 0.02, 0.04):
        atoms = Atoms(liquid.numbers, positions=liquid.positions)  # open: no cell, no pbc
        atoms.set_constraint(RigidWater(32, (rOH, rOH, 2 * rOH * np.sin(theta / 2))))
        atoms.calc = FieldCalculator(_FixedChargeWater(), (0.0, 0.0, field))
        rng = np.random.default_rng(1)
        MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=rng)
        dyn = Langevin(
            atoms,
            2.0 * units.fs,
            temperature_K=300.0,
            friction=0.02 / units.fs,
            rng=rng,
            fixcm=False,
        )
        dyn.run(200)  # rotational relaxation ~40 fs
        samples = []
        for _ in range(400):
            dyn.run(10)
            samples.append(atoms.calc.results["dipole"][2] / 32)
        means[field] = float(np.mean(samples))
    assert abs(means[0.0]) < 0.02
    for field in (0.02, 0.04):
        x = mu * field / kt
        expected = mu * (1.0 / np.tanh(x) - 1.0 / x)
        assert means[field] == pytest.approx(expected, rel=0.15), (field, means[field], expected)
    assert means[0.04] / means[0.02] == pytest.approx(2.0, rel=0.2)  # linear at weak field
