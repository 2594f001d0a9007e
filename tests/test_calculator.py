"""StudentCalculator: ASE results, physical charges, BEC on request, dipole current, NVE, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from lesdistill import StudentCalculator, keys
from lesdistill.model import StudentConfig, StudentModel, save_student

EPS_INF = 1.7


@pytest.fixture(scope="module")
def model() -> StudentModel:
    config = StudentConfig.from_preset(
        "tiny", elements=["H", "O"], dtype="float64", eps_inf=EPS_INF, les_method="ewald", seed=1
    )
    student = StudentModel(config)
    student.set_reference_energies({"H": -2.0, "O": -5.0})
    return student.eval()


def _water_cluster(n: int, seed: int, box: float = 6.0) -> Atoms:
    rng = np.random.default_rng(seed)
    mol = Atoms("OH2", positions=[[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    atoms = Atoms()
    grid = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    for site in grid:
        water = mol.copy()
        water.rotate(rng.uniform(0, 360), rng.normal(size=3), center=(0, 0, 0))
        water.positions += site * box / 2 + 0.5 + rng.uniform(0, 0.3, 3)
        atoms += water
    return atoms


@pytest.fixture
def open_water() -> Atoms:
    return _water_cluster(3, seed=0)


@pytest.fixture
def periodic_water() -> Atoms:
    atoms = _water_cluster(4, seed=1)
    atoms.set_cell([6.0, 6.2, 6.4])
    atoms.pbc = True
    return atoms


def test_results_from_checkpoint(tmp_path, model, periodic_water):
    path = save_student(model, tmp_path / "student.pt")
    calc = StudentCalculator(str(path))
    periodic_water.calc = calc
    energy = periodic_water.get_potential_energy()
    assert energy == periodic_water.get_potential_energy(force_consistent=True)
    r = calc.results
    assert r[keys.ENERGY_SHORT_RANGE] + r[keys.ENERGY_LONG_RANGE] == pytest.approx(
        energy, abs=1e-10
    )
    assert periodic_water.get_stress().shape == (6,)
    assert keys.POLARIZATION not in r  # computed on request only
    assert (
        calc.get_property(keys.POLARIZATION, periodic_water).shape == (3,) and keys.DIPOLE not in r
    )
    assert keys.BEC not in r  # computed only when asked for
    charges = periodic_water.get_charges()
    assert charges.sum() == pytest.approx(0.0, abs=1e-12)
    latent = calc.charge_function(periodic_water)(torch.tensor(periodic_water.positions))
    assert np.allclose(charges, latent.detach().numpy() * np.sqrt(EPS_INF), atol=1e-12)


def test_open_structure(model, open_water):
    calc = StudentCalculator(model)
    open_water.calc = calc
    dipole = open_water.get_dipole_moment()
    charges = open_water.get_charges()
    assert np.allclose(dipole, charges @ open_water.positions, atol=1e-10)
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        open_water.get_stress()


def _numerical_bec(
    calc: StudentCalculator, atoms: Atoms, key: str, delta: float = 1e-4
) -> np.ndarray:
    bec = np.zeros((len(atoms), 3, 3))
    for i in range(len(atoms)):
        for b in range(3):
            moments = []
            for sign in (1.0, -1.0):
                moved = atoms.copy()
                moved.positions[i, b] += sign * delta
                moved.calc = calc
                moments.append(calc.get_property(key, moved))
            bec[i, :, b] = (moments[0] - moments[1]) / (2 * delta)
    return bec


def test_bec_matches_finite_difference_dipole_and_current(model, open_water):
    calc = StudentCalculator(model)
    open_water.calc = calc
    bec = calc.get_property(keys.BEC, open_water)
    assert bec.shape == (len(open_water), 3, 3)
    assert np.allclose(bec, _numerical_bec(calc, open_water, keys.DIPOLE), atol=1e-6)
    assert np.abs(bec.sum(axis=0)).max() < 1e-10  # acoustic sum rule (neutral, open)
    MaxwellBoltzmannDistribution(open_water, temperature_K=300.0, rng=np.random.default_rng(2))
    velocities = open_water.get_velocities() * units.fs  # Å/fs
    current = calc.get_dipole_current(open_water)
    assert np.allclose(current, np.einsum("iab,ib->a", bec, velocities), atol=1e-10)


def test_periodic_bec_and_dipole_current(model, periodic_water):
    calc = StudentCalculator(model)
    periodic_water.calc = calc
    bec = calc.get_property(keys.BEC, periodic_water)
    assert bec.shape == (len(periodic_water), 3, 3) and np.all(np.isfinite(bec))
    MaxwellBoltzmannDistribution(periodic_water, temperature_K=300.0, rng=np.random.default_rng(3))
    velocities = periodic_water.get_velocities() * units.fs
    assert np.allclose(
        calc.get_dipole_current(periodic_water), np.einsum("iab,ib->a", bec, velocities), atol=1e-10
    )


def test_dipole_and_polarization_follow_the_boundary_conditions(model, open_water, periodic_water):
    calc = StudentCalculator(model)
    periodic_water.calc = calc
    with pytest.raises(
        PropertyNotImplementedError, match="not defined for a periodic cell.*polarization"
    ):
        periodic_water.get_dipole_moment()
    assert calc.get_property(keys.POLARIZATION, periodic_water).shape == (3,)
    open_water.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="get_dipole_moment"):
        calc.get_property(keys.POLARIZATION, open_water)
    assert open_water.get_dipole_moment().shape == (3,)


def test_dipole_current_needs_momenta(model, open_water):
    calc = StudentCalculator(model)
    open_water.calc = calc
    with pytest.raises(ValueError, match="no momenta"):
        calc.get_dipole_current(open_water)
    open_water.set_velocities(np.zeros((len(open_water), 3)))  # explicitly at rest: a true zero
    assert np.all(calc.get_dipole_current(open_water) == 0.0)


def test_nve_energy_conservation(model, open_water):
    open_water.calc = StudentCalculator(model)
    MaxwellBoltzmannDistribution(open_water, temperature_K=100.0, rng=np.random.default_rng(4))
    dyn = VelocityVerlet(open_water, timestep=0.1 * units.fs)
    totals = []
    for _ in range(30):
        dyn.run(1)
        totals.append(open_water.get_total_energy())
    assert np.ptp(totals) < 2e-4  # eV


def test_errors(model):
    calc = StudentCalculator(model)
    salt = Atoms("NaClH", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2, 0]])
    salt.calc = calc
    with pytest.raises(ValueError, match=r"elements \['Cl', 'Na'\] were not in the training set"):
        salt.get_potential_energy()
    with pytest.raises(TypeError, match="checkpoint path or a StudentModel"):
        StudentCalculator(model=42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        StudentCalculator("does-not-exist.pt")


def test_left_handed_cell_is_the_same_lattice(model, periodic_water):
    calc = StudentCalculator(model)
    periodic_water.calc = calc
    energy, forces = periodic_water.get_potential_energy(), periodic_water.get_forces()
    stress, polarization = (
        periodic_water.get_stress(),
        calc.get_property(keys.POLARIZATION, periodic_water),
    )
    flipped = periodic_water.copy()
    flipped.set_cell(periodic_water.cell.array[[1, 0, 2]])  # swap two vectors: det < 0
    flipped.calc = calc
    assert np.linalg.det(flipped.cell.array) < 0
    assert flipped.get_potential_energy() == pytest.approx(energy, abs=1e-10)
    assert np.allclose(flipped.get_forces(), forces, atol=1e-10)
    assert np.allclose(flipped.get_stress(), stress, atol=1e-12)
    assert np.allclose(calc.get_property(keys.POLARIZATION, flipped), polarization, atol=1e-10)


@pytest.mark.slow
def test_compiled_backbone_matches_eager(periodic_water):
    """torch.compile path (about a minute of compilation): same results, BEC still available."""
    config = StudentConfig.from_preset(
        "tiny", elements=["H", "O"], dtype="float64", les_method="ewald", seed=4
    )
    eager = StudentCalculator(StudentModel(config).eval())
    compiled = StudentCalculator(StudentModel(config).eval(), compile=True)
    for calc in (eager, compiled):
        periodic_water.calc = calc
        calc.get_property(keys.STRESS, periodic_water)  # stress only on request
        calc.get_property(keys.BEC, periodic_water)
    for key in (keys.ENERGY, keys.FORCES, keys.STRESS, keys.CHARGES, keys.BEC):
        assert np.allclose(compiled.results[key], eager.results[key], atol=1e-8), key
