"""StudentModel forward contract: shapes, batching, neutrality, total charge, eps_inf, E0,
errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.model import StudentModel, fit_reference_energies
from lesdistill.model.backbone import PolynomialEnvelope


def _batch(model: StudentModel, atoms_list) -> AtomicBatch:
    return AtomicBatch.from_atoms(atoms_list, model.cutoff)


def test_forward_keys_shapes_and_sum(student_model, periodic_atoms, open_atoms):
    out = student_model(_batch(student_model, [periodic_atoms, open_atoms]), compute_stress=True)
    n = len(periodic_atoms) + len(open_atoms)
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {
        keys.ENERGY: (2,), keys.ENERGY_SHORT_RANGE: (2,), keys.ENERGY_LONG_RANGE: (2,),
        keys.ENERGIES: (n,), keys.LATENT_CHARGES: (n,), keys.CHARGES: (n,),
        keys.FORCES: (n, 3), keys.STRESS: (2, 3, 3),
    }
    assert torch.allclose(
        out[keys.ENERGY], out[keys.ENERGY_SHORT_RANGE] + out[keys.ENERGY_LONG_RANGE]
    )
    assert torch.all(out[keys.ENERGY_LONG_RANGE] != 0.0)
    assert torch.equal(
        out[keys.STRESS][1], torch.zeros(3, 3, dtype=torch.float64)
    )  # open: no stress
    assert torch.allclose(out[keys.STRESS][0], out[keys.STRESS][0].T, atol=1e-12)  # symmetric
    assert out[keys.ENERGY].dtype == torch.float64


def test_batch_equals_separate_structures(student_model, periodic_atoms, open_atoms):
    together = student_model(
        _batch(student_model, [periodic_atoms, open_atoms]), compute_stress=True
    )
    for k, atoms in enumerate([periodic_atoms, open_atoms]):
        alone = student_model(_batch(student_model, [atoms]), compute_stress=True)
        rows = slice(0, len(periodic_atoms)) if k == 0 else slice(len(periodic_atoms), None)
        assert torch.allclose(together[keys.ENERGY][k], alone[keys.ENERGY][0], atol=1e-10)
        assert torch.allclose(together[keys.FORCES][rows], alone[keys.FORCES], atol=1e-10)
        assert torch.allclose(together[keys.STRESS][k], alone[keys.STRESS][0], atol=1e-12)


def test_neutrality_and_total_charge(make_model):
    h3o = Atoms("OH3", positions=[[0, 0, 0], [0.98, 0, 0], [-0.3, 0.93, 0], [-0.3, -0.4, 0.85]])
    h3o.info[keys.TOTAL_CHARGE] = 1.0
    mean = make_model(neutrality="mean", eps_inf=2.0)
    out = mean(_batch(mean, [h3o, molecule("H2O")]), compute_forces=False)
    assert out[keys.CHARGES][:4].sum().item() == pytest.approx(1.0, abs=1e-12)  # physical charges
    assert out[keys.LATENT_CHARGES][:4].sum().item() == pytest.approx(1.0 / np.sqrt(2.0), abs=1e-12)
    assert out[keys.CHARGES][4:].sum().item() == pytest.approx(0.0, abs=1e-12)
    assert torch.allclose(out[keys.CHARGES], out[keys.LATENT_CHARGES] * np.sqrt(2.0))
    none = make_model(neutrality="none")
    raw = none(_batch(none, [h3o]), compute_forces=False)[keys.LATENT_CHARGES]
    assert abs(raw.sum().item() - 1.0) > 1e-3  # untouched: not neutralised to the total charge


def test_long_range_switches(make_model):
    water = molecule("H2O")
    water.positions += 1.0
    on, off = make_model(), make_model(long_range=False)
    out_on = on(_batch(on, [water]))
    out_off = off(_batch(off, [water]))
    assert out_off[keys.ENERGY_LONG_RANGE].item() == 0.0
    assert out_on[keys.ENERGY_LONG_RANGE].item() != 0.0
    assert torch.allclose(out_on[keys.ENERGY_SHORT_RANGE], out_off[keys.ENERGY_SHORT_RANGE])
    short = on(_batch(on, [water]), include_long_range=False)
    assert short[keys.ENERGY_LONG_RANGE].item() == 0.0
    assert torch.allclose(short[keys.FORCES], out_off[keys.FORCES])


def test_create_graph_follows_training_mode(make_model, periodic_atoms):
    model = make_model()
    batch = _batch(model, [periodic_atoms])
    model.train()
    out = model(batch, compute_stress=True)
    assert out[keys.FORCES].requires_grad and out[keys.STRESS].requires_grad
    loss = (
        out[keys.ENERGY].sum() + out[keys.FORCES].square().sum() + out[keys.STRESS].square().sum()
    )
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    assert not model(batch)[keys.FORCES].requires_grad


def test_float32_default_and_batch_cast(make_model, open_atoms):
    model = make_model(dtype="float32")
    assert next(model.parameters()).dtype == torch.float32
    out = model(AtomicBatch.from_atoms([open_atoms], model.cutoff))  # float64 batch is cast
    assert out[keys.ENERGY].dtype == torch.float32 and out[keys.FORCES].dtype == torch.float32


def test_unknown_element_is_named(student_model):
    with pytest.raises(ValueError, match=r"\['C', 'N'\] were not in the training set"):
        student_model(_batch(student_model, [molecule("CH3CN")]))


def test_seeded_initialisation_is_reproducible(make_model, open_atoms):
    a, b = make_model(seed=5), make_model(seed=5)
    assert torch.equal(
        a(_batch(a, [open_atoms]))[keys.ENERGY], b(_batch(b, [open_atoms]))[keys.ENERGY]
    )
    c = make_model(seed=6)
    assert not torch.equal(
        a(_batch(a, [open_atoms]))[keys.ENERGY], c(_batch(c, [open_atoms]))[keys.ENERGY]
    )


def test_fit_reference_energies_exact(make_model):
    e0 = {"H": -3.2, "O": -7.5, "Na": -1.25}
    rng = np.random.default_rng(0)
    structures = [rng.choice([1, 8, 11], size=rng.integers(2, 9)) for _ in range(12)]
    energies = [sum(e0[{1: "H", 8: "O", 11: "Na"}[int(z)]] for z in s) for s in structures]
    fitted = fit_reference_energies(structures, energies)
    assert fitted == pytest.approx(e0, abs=1e-10)
    model = make_model(elements=["H", "O", "Na"])
    model.set_reference_energies(fitted)
    assert model.reference_energies_dict() == pytest.approx(e0, abs=1e-10)
    # ASE Atoms work too; compositions that are always H2O give the min-norm split of E(H2O)
    waters = [molecule("H2O") for _ in range(3)]
    split = fit_reference_energies(waters, [-14.0] * 3)
    assert 2 * split["H"] + split["O"] == pytest.approx(-14.0)
    with pytest.raises(ValueError, match="missing for elements"):
        model.set_reference_energies({"H": 0.0})
    with pytest.raises(ValueError, match="2 structures but 1 energies"):
        fit_reference_energies(waters[:2], [1.0])


def test_envelope_is_smooth_and_zero_beyond_cutoff():
    env = PolynomialEnvelope(cutoff=5.0, exponent=6)
    r = torch.tensor([0.0, 4.999, 5.0, 5.5], dtype=torch.float64, requires_grad=True)
    u = env(r)
    (du,) = torch.autograd.grad(u.sum(), r)
    assert u[0].item() == 1.0 and u[2].item() == 0.0 and u[3].item() == 0.0
    assert abs(u[1].item()) < 1e-7 and abs(du[1].item()) < 1e-4 and du[3].item() == 0.0
