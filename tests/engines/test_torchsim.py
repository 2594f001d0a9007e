"""torch-sim engine: the batched student equals the ASE calculator system by system."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch_sim")

import torch  # noqa: E402
from ase import units  # noqa: E402
from ase.md.velocitydistribution import Stationary, thermalize_momenta  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402

from lesdistill.calculator import StudentCalculator  # noqa: E402
from lesdistill.engines.torchsim import StudentTorchSimModel, state_from_atoms  # noqa: E402
from lesdistill.model import StudentConfig, StudentModel  # noqa: E402
from lesdistill.systems.water import water_box  # noqa: E402


@pytest.fixture(scope="module")
def student() -> StudentModel:
    torch.manual_seed(0)
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64")
    return StudentModel(config)


def _starts(n: int, periodic: bool = True, vacuum_A: float = 0.0) -> list:
    starts = []
    for k in range(n):
        atoms = water_box(3 + k, seed=k)  # different sizes and cells
        if not periodic:
            atoms.pbc = False
        if vacuum_A:  # a water layer with vacuum above it (a slab)
            cell = atoms.cell.array.copy()
            cell[2, 2] += vacuum_A
            atoms.set_cell(cell, scale_atoms=False)
        thermalize_momenta(atoms, 300.0, rng=np.random.default_rng(k))
        Stationary(atoms)
        starts.append(atoms)
    return starts


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


@pytest.mark.parametrize("periodic", [True, False])
def test_batched_properties_equal_ase_per_system(student, periodic):
    starts = _starts(3, periodic)
    model = StudentTorchSimModel(student, compute_stress=periodic)
    state = state_from_atoms(starts, model)
    out = model(state)
    velocities = torch.tensor(np.concatenate([a.get_velocities() for a in starts])) * units.fs
    response = model.response(state)
    currents = response.dipole_currents(velocities).numpy()
    becs = response.born_effective_charges()
    start = 0
    for s, atoms in enumerate(starts):
        n = len(atoms)
        atoms.calc = StudentCalculator(student)
        assert float(out["energy"][s]) == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
        assert _rel(out["forces"][start:start + n], atoms.get_forces()) < 1e-12
        assert _rel(out["charges"][start:start + n], atoms.get_charges()) < 1e-12
        if periodic:
            assert _rel(out["stress"][s], atoms.get_stress(voigt=False)) < 1e-12
        assert _rel(currents[s], atoms.calc.get_dipole_current(atoms)) < 1e-10
        bec = atoms.calc.get_property("born_effective_charges", atoms)
        assert _rel(becs[s].numpy(), bec) < 1e-10
        start += n


def test_batched_nve_steps_equal_single_ase_steps(student):
    """N replicas advanced by torch-sim's velocity Verlet = N separate ASE VelocityVerlet runs."""
    from torch_sim.integrators import nve

    starts = _starts(3)
    model = StudentTorchSimModel(student)
    timestep_fs, n_steps = 0.5, 6
    dt = torch.tensor(timestep_fs * units.fs, dtype=torch.float64)
    init, step = nve(model, dt=dt, kT=torch.tensor(units.kB * 300.0, dtype=torch.float64))
    state = init(state_from_atoms(starts, model))
    state.momenta = torch.tensor(np.concatenate([a.get_momenta() for a in starts]))
    for _ in range(n_steps):
        state = step(state, dt=dt)
    start = 0
    for s, atoms in enumerate(starts):
        n = len(atoms)
        atoms.calc = StudentCalculator(student)
        VelocityVerlet(atoms, timestep=timestep_fs * units.fs).run(n_steps)
        batched = state.positions[start:start + n].numpy()
        # torch-sim wraps positions into the cell: compare modulo lattice vectors
        frac = np.linalg.solve(atoms.cell.array.T, (batched - atoms.positions).T).T
        delta = (frac - np.round(frac)) @ atoms.cell.array
        assert np.abs(delta).max() < 1e-10
        assert _rel(state.momenta[start:start + n].numpy(), atoms.get_momenta()) < 1e-10
        assert float(state.energy[s]) == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
        start += n


def test_slab_response_equals_ase_per_system(student):
    """A slab student (les_slab_correction): energies, BECs and dipole currents as the
    calculator."""
    slab = StudentModel(StudentConfig.from_dict({**student.config.to_dict(),
                                                 "les_slab_correction": "yeh-berkowitz"}))
    slab.load_state_dict(student.state_dict())
    starts = _starts(2, vacuum_A=8.0)
    model = StudentTorchSimModel(slab)
    state = state_from_atoms(starts, model)
    out = model(state)
    velocities = torch.tensor(np.concatenate([a.get_velocities() for a in starts])) * units.fs
    response = model.response(state)
    currents = response.dipole_currents(velocities).numpy()
    becs = response.born_effective_charges()
    for s, atoms in enumerate(starts):
        atoms.calc = StudentCalculator(slab)
        assert float(out["energy"][s]) == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
        assert _rel(currents[s], atoms.calc.get_dipole_current(atoms)) < 1e-10
        assert (
            _rel(becs[s].numpy(), atoms.calc.get_property("born_effective_charges", atoms)) < 1e-10
        )
