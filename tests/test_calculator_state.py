"""StudentCalculator keeps state between MD steps: results equal to a fresh calculation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from lesdistill import StudentCalculator, keys
from lesdistill.les import born_effective_charges, dipole_current
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.model.student import right_handed
from lesdistill.systems import water_box


@pytest.fixture(scope="module")
def model() -> StudentModel:
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64", eps_inf=1.6,
                                       les_method="ewald", seed=2)
    return StudentModel(config).eval()


def _fresh(model, atoms) -> dict:
    """Results of a calculator that has never seen another geometry (no skin, no kept graph)."""
    calc = StudentCalculator(model, skin=0.0)
    frame = atoms.copy()
    frame.calc = calc
    return {"energy": frame.get_potential_energy(), "forces": frame.get_forces(),
            "current": calc.get_dipole_current(frame), "bec": calc.get_property(keys.BEC, frame)}


@pytest.mark.parametrize("periodic", [True, False])
def test_md_state_matches_fresh_calculations(model, periodic):
    atoms = water_box(n_molecules=8, seed=3)
    if not periodic:
        atoms.pbc = False
        atoms.cell = None
    MaxwellBoltzmannDistribution(atoms, temperature_K=600.0, rng=np.random.default_rng(0))
    calc = StudentCalculator(model, skin=0.6)
    atoms.calc = calc
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    for step in range(12):
        calc.retain_response_graph = step % 3 == 0
        dyn.run(1)
        if step % 3 == 0 or step == 11:
            keep = calc._graph is not None
            current = calc.get_dipole_current(atoms)
            bec = calc.get_property(keys.BEC, atoms)
            ref = _fresh(model, atoms)
            assert keep == (step % 3 == 0)
            assert atoms.get_potential_energy() == pytest.approx(ref["energy"], abs=1e-10)
            assert np.allclose(atoms.get_forces(), ref["forces"], atol=1e-10)
            assert np.allclose(current, ref["current"], atol=1e-12)
            assert np.allclose(bec, ref["bec"], atol=1e-10)
            assert np.allclose(
                current, np.einsum("iab,ib->a", bec, atoms.get_velocities() * units.fs), atol=1e-12
            )
    assert 1 <= calc._neighbors.n_builds < 12
    assert keys.STRESS not in calc.results  # MD asks for forces only


def test_response_terms_match_the_library_functions(model):
    atoms = water_box(n_molecules=6, seed=5)
    rng = np.random.default_rng(1)
    atoms.set_velocities(rng.normal(scale=0.01, size=atoms.positions.shape) / units.fs)
    calc = StudentCalculator(model)
    atoms.calc = calc
    positions = torch.tensor(atoms.positions)
    cell = right_handed(torch.tensor(atoms.cell.array))
    velocities = torch.tensor(atoms.get_velocities() * units.fs)
    fn = calc.charge_function(atoms)
    want_current = dipole_current(fn, positions, velocities, cell, eps_inf=1.6)
    want_bec = born_effective_charges(fn, positions, cell, eps_inf=1.6)
    assert np.allclose(calc.get_dipole_current(atoms), want_current.numpy(), atol=1e-12)
    assert np.allclose(calc.born_effective_charges(atoms), want_bec.numpy(), atol=1e-12)
    # groups: other velocities on the same geometry reuse the backward passes
    terms = calc._terms
    half = velocities.clone()
    half[::2] = 0.0
    atoms.set_velocities(half.numpy() / units.fs)
    assert calc._response_terms(atoms) is terms
    assert np.allclose(
        calc.get_dipole_current(atoms),
        dipole_current(fn, positions, half, cell, eps_inf=1.6),
        atol=1e-12,
    )


def test_stress_only_when_asked(model):
    atoms = water_box(n_molecules=4, seed=2)
    calc = StudentCalculator(model)
    atoms.calc = calc
    forces = atoms.get_forces()
    assert keys.STRESS not in calc.results and keys.POLARIZATION not in calc.results
    stress = atoms.get_stress()
    assert stress.shape == (6,) and np.allclose(atoms.get_forces(), forces, atol=1e-12)
    reference = StudentCalculator(model)
    frame = atoms.copy()
    frame.calc = reference
    assert np.allclose(frame.get_stress(), stress, atol=1e-12)


def _kept_graph_current(calc, atoms) -> np.ndarray:
    """Dipole current of ``atoms`` from the forward graph kept by the energy+forces call."""
    calc.retain_response_graph = True
    atoms.positions = atoms.positions + 1e-3  # a new geometry: a new energy+forces call
    atoms.get_forces()
    assert calc._graph is not None
    return calc.get_dipole_current(atoms)


def test_compiled_graph_mismatch_falls_back_to_eager(model, monkeypatch, capsys):
    """The once-per-calculator check of a reused compiled graph: a compiled graph whose charge
    gradients differ from the eager ones (simulated) is not used, the eager result is, and the
    following steps no longer keep the graph."""
    atoms = water_box(n_molecules=4, seed=3)
    atoms.set_velocities(
        np.random.default_rng(0).normal(scale=0.01, size=atoms.positions.shape) / units.fs
    )
    compiled = StudentModel(model.config).eval()
    compiled.load_state_dict(model.state_dict())
    monkeypatch.setattr(StudentModel, "backbone_compiled", property(lambda self: self is compiled))
    eager_charges = StudentModel.latent_charges

    def skewed(self, batch):  # the eager pass of the check differs from the "compiled" graph
        q = eager_charges(self, batch)
        return q * (1.0 + 0.1 * torch.sin(batch.positions[:, 0]))

    monkeypatch.setattr(StudentModel, "latent_charges", skewed)
    calc = StudentCalculator(compiled)
    atoms.calc = calc
    current = _kept_graph_current(calc, atoms)
    assert calc._compiled_reuse is False
    assert "eager" in capsys.readouterr().err
    reference = StudentCalculator(compiled)  # eager response terms of the same geometry
    frame = atoms.copy()
    frame.calc = reference
    assert np.allclose(current, reference.get_dipole_current(frame), atol=1e-12)
    calc.retain_response_graph = True
    atoms.positions = atoms.positions + 1e-3
    atoms.get_forces()
    assert calc._graph is None  # no longer kept


@pytest.mark.slow
def test_compiled_graph_reused_for_the_dipole_current():
    """A compiled backbone's forward graph gives the dipole current of an eager pass (float32
    round-off) and passes the check, so spectra MD reuses it; a dipole current at a new
    geometry runs the compiled forward too (about a minute of compilation)."""
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float32", seed=3)
    eager_model = StudentModel(config).eval()
    compiled = StudentModel(config).eval()
    atoms = water_box(n_molecules=8, seed=1)
    atoms.set_velocities(
        np.random.default_rng(1).normal(scale=0.01, size=atoms.positions.shape) / units.fs
    )
    calc = StudentCalculator(compiled, compile=True)
    frame = atoms.copy()
    frame.calc = calc
    eager_frame = atoms.copy()
    eager_frame.calc = eager = StudentCalculator(eager_model, compile=False)
    for _ in range(3):
        current = _kept_graph_current(calc, frame)
        want = _kept_graph_current(eager, eager_frame)
        assert compiled.backbone_compiled and calc._compiled_reuse is True
        assert np.allclose(current, want, atol=1e-6 * max(1.0, np.abs(want).max()))
    # a new geometry without an energy+forces call: a compiled forward pass of its own
    frame.positions = eager_frame.positions = frame.positions + 2e-3
    want = eager.get_dipole_current(eager_frame)
    assert calc._graph is None
    assert np.allclose(
        calc.get_dipole_current(frame), want, atol=1e-6 * max(1.0, np.abs(want).max())
    )
