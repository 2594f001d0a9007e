"""ZBL repulsion prior: literature values, exact zero at ordinary distances, smooth switch,
forces."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.model.repulsion import ZBLRepulsion, smoothstep_off, zbl_energy


def _zbl_reference(r: float, z1: int, z2: int) -> float:
    """ZBL universal potential written out independently (Bohr radius, Coulomb constant in eV Å)."""
    bohr = 0.529177210903
    coulomb = 14.3996454784
    a = 0.8854 * bohr / (z1**0.23 + z2**0.23)
    x = r / a
    phi = (0.18175 * math.exp(-3.1998 * x) + 0.50986 * math.exp(-0.94229 * x)
           + 0.28022 * math.exp(-0.4029 * x) + 0.02817 * math.exp(-0.20162 * x))
    return coulomb * z1 * z2 / r * phi


@pytest.mark.parametrize(("r", "z1", "z2"), [(0.3, 1, 8), (0.2, 1, 1), (1.0, 22, 8), (0.5, 8, 8)])
def test_zbl_energy_matches_the_universal_formula(r, z1, z2):
    value = zbl_energy(
        torch.tensor([r], dtype=torch.float64),
        torch.tensor([float(z1)], dtype=torch.float64),
        torch.tensor([float(z2)], dtype=torch.float64),
    )
    assert value.item() == pytest.approx(_zbl_reference(r, z1, z2), rel=2e-5)


def test_switch_is_c2_and_vanishes_beyond_r_out():
    r_out = torch.tensor(0.6, dtype=torch.float64)
    r = torch.linspace(0.0, 1.0, 2001, dtype=torch.float64, requires_grad=True)
    s = smoothstep_off(r, r_out)
    (d1,) = torch.autograd.grad(s.sum(), r, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), r)
    assert torch.all(s[r <= 0.3] == 1.0) and torch.all(s[r >= 0.6] == 0.0)
    assert torch.all(s[1:] <= s[:-1])  # monotonic
    for edge in (0.3, 0.6):  # first and second derivatives go to zero at both ends (grid 5e-4 Å)
        near = (r - edge).abs() < 6e-4
        assert d1[near].abs().max() < 1e-3 * d1.abs().max()
        assert d2[near].abs().max() < 0.03 * d2.abs().max()


def _pair(
    symbols: str, distance: float, repulsion: str, cell: float = 8.0
) -> tuple[StudentModel, Atoms]:
    model = StudentModel(StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64",
                                                   repulsion=repulsion, seed=2)).eval()
    atoms = Atoms(
        symbols, positions=[[1.0, 1.0, 1.0], [1.0 + distance, 1.0, 1.0]], cell=[cell] * 3, pbc=True
    )
    return model, atoms


def _energy(model: StudentModel, atoms: Atoms) -> float:
    return float(
        model(AtomicBatch.from_atoms([atoms], model.cutoff), compute_forces=False)[
            keys.ENERGY
        ].detach()
    )


def test_zero_at_ordinary_distances_and_a_wall_below():
    """O-H: r_out = 0.6 (0.31 + 0.66) Å = 0.582 Å. Above it the student is the network alone."""
    for d in (0.6, 0.96, 1.8, 3.0):
        with_zbl, atoms = _pair("OH", d, "zbl")
        without, _ = _pair("OH", d, "none")
        assert _energy(with_zbl, atoms) == _energy(without, atoms)
    with_zbl, atoms = _pair("OH", 0.25, "zbl")
    without, _ = _pair("OH", 0.25, "none")
    assert _energy(with_zbl, atoms) - _energy(without, atoms) == pytest.approx(
        _zbl_reference(0.25, 1, 8), rel=1e-6
    )
    energies = []
    for d in np.linspace(0.2, 0.58, 20):
        model, atoms = _pair("OH", d, "zbl")
        none, _ = _pair("OH", d, "none")
        energies.append(_energy(model, atoms) - _energy(none, atoms))
    assert np.all(np.diff(energies) < 0) and energies[0] > 50.0  # repulsive all the way in


def test_forces_and_stress_match_finite_differences_inside_the_switch():
    model = StudentModel(
        StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64", seed=2)
    ).eval()
    atoms = Atoms(
        "OHHO",
        positions=[[1.0, 1.0, 1.0], [1.45, 1.1, 0.95], [3.0, 3.0, 3.0], [3.1, 3.2, 3.5]],
        cell=[[6.0, 0.0, 0.0], [0.3, 6.2, 0.0], [0.0, 0.4, 5.8]],
        pbc=True,
    )
    out = model(AtomicBatch.from_atoms([atoms], model.cutoff), compute_stress=True)
    forces, stress = out[keys.FORCES].detach().numpy(), out[keys.STRESS][0].detach().numpy()
    assert abs(forces[1]).max() > 1.0  # the O-H pair at 0.47 Å is inside the switch
    h = 1e-5
    for i, b in [(0, 0), (1, 0), (1, 1), (3, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, b] += h
        minus.positions[i, b] -= h
        fd = -(_energy(model, plus) - _energy(model, minus)) / (2 * h)
        assert forces[i, b] == pytest.approx(fd, rel=1e-6, abs=1e-7)
    strain = np.zeros((3, 3))
    strain[0, 1] = strain[1, 0] = h / 2
    sheared = []
    for sign in (1, -1):
        a = atoms.copy()
        a.set_cell(atoms.cell.array @ (np.eye(3) + sign * strain), scale_atoms=True)
        sheared.append(_energy(model, a))
    fd_stress = (sheared[0] - sheared[1]) / (2 * h) / atoms.get_volume()
    assert stress[0, 1] == pytest.approx(fd_stress, rel=1e-5, abs=1e-8)


def test_range_must_fit_inside_the_cutoff():
    ZBLRepulsion([1, 8])
    with pytest.raises(ValueError, match="beyond the cutoff"):
        StudentModel(StudentConfig(elements=("Cs", "Fr"), cutoff=2.5, repulsion="zbl"))
    with pytest.raises(ValueError, match="repulsion must be one of"):
        StudentConfig(elements=("H",), repulsion="lj")


def _water_frames(n: int = 3):
    from lesdistill.data.dataset import LabelledFrame
    from lesdistill.systems import water_box

    frames = []
    for seed in range(n):
        atoms = water_box(n_molecules=8, seed=seed)
        atoms.rattle(0.05, seed=seed)
        frames.append(
            LabelledFrame(
                atoms=atoms,
                energy=-10.0 * len(atoms),
                forces=np.zeros((len(atoms), 3)),
                stress=None,
                bec=None,
                source=f"water:{seed}",
            )
        )
    return frames


def test_closest_pair_distances_match_brute_force():
    from lesdistill.data.neighbors import closest_pair_distances

    frames = _water_frames()
    got = closest_pair_distances([f.atoms for f in frames], cutoff=4.5)
    expected: dict[tuple[int, int], float] = {}
    for f in frames:
        d = f.atoms.get_all_distances(mic=True)
        z = f.atoms.numbers
        for i in range(len(z)):
            for j in range(i + 1, len(z)):
                pair = tuple(sorted((int(z[i]), int(z[j]))))
                expected[pair] = min(d[i, j], expected.get(pair, np.inf))
    assert set(got) == {(1, 1), (1, 8), (8, 8)}
    for pair, value in expected.items():
        assert got[pair] == pytest.approx(value, abs=1e-10)


def test_trainer_ends_the_prior_at_the_closest_contact_of_the_data():
    from lesdistill.data.neighbors import closest_pair_distances
    from lesdistill.training import modelio
    from lesdistill.training.config import TrainConfig

    frames = _water_frames()
    config = TrainConfig(
        model_preset="tiny", dtype="float64", model={"repulsion_range": {"O-O": 1.0}}
    )
    model = modelio.new_student(config, ["H", "O"], frames)
    closest = closest_pair_distances([f.atoms for f in frames], model.cutoff)
    assert model.config.repulsion_range == pytest.approx(
        {"H-H": 0.999 * closest[(1, 1)], "H-O": 0.999 * closest[(1, 8)], "O-O": 1.0}, rel=1e-12)
    float32 = StudentModel(StudentConfig.from_dict({**model.config.to_dict(), "dtype": "float32"}))
    for frame in frames:  # no training pair inside the range, even after float32 rounding
        for student in (model, float32):
            batch = AtomicBatch.from_atoms([frame.atoms], student.cutoff).to(
                student.device, student.dtype
            )
            species = student.species(batch.numbers)
            vectors = student._edge_vectors(batch, batch.positions, batch.cell)
            r_out = student.repulsion.r_out.to(vectors.dtype)[
                species[batch.edge_index[0]], species[batch.edge_index[1]]
            ]
            assert torch.all((vectors * vectors).sum(1) >= r_out * r_out)
    # ... and on in a compressed H-H contact below it (2 H at 1.0 Å inside H-H ~1.4 Å)
    h2 = Atoms("HH", positions=[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    batch = AtomicBatch.from_atoms([h2], model.cutoff)
    vectors = model._edge_vectors(batch, batch.positions, batch.cell)
    wall = model.repulsion(model.species(batch.numbers), batch.edge_index, vectors).sum().item()
    r_out = 0.999 * closest[(1, 1)]
    t = (1.0 - r_out / 2) / (r_out / 2)
    assert wall == pytest.approx(
        _zbl_reference(1.0, 1, 1) * (1 - t**3 * (10 - 15 * t + 6 * t * t)), rel=1e-6
    )
    # fine-tuning on data with a closer O-H contact moves that range in, never out
    close = _water_frames(1)
    close[0].atoms.positions[1] = close[0].atoms.positions[0] + [0.0, 0.0, 0.7]
    path = Path(tempfile.mkdtemp()) / "student.pt"
    modelio.save(model, path, {})
    tuned = modelio.from_init(path, ["H", "O"], False, close)
    assert tuned.config.repulsion_range["H-O"] == pytest.approx(0.999 * 0.7, abs=1e-9)
    assert tuned.config.repulsion_range["O-O"] == 1.0
    assert (
        modelio.load(path).config.repulsion_range == model.config.repulsion_range
    )  # saved with the model


def test_bad_repulsion_ranges_are_named():
    with pytest.raises(ValueError, match="two element symbols"):
        StudentConfig(elements=("H", "O"), repulsion_range={"HO": 0.5})
    with pytest.raises(ValueError, match=r"repulsion_range\['O-H'\] must be in \(0, cutoff"):
        StudentConfig(elements=("H", "O"), repulsion_range={"O-H": 7.0})
    assert StudentConfig(elements=("H", "O"), repulsion_range={"O-H": 0.5}).repulsion_range == {
        "H-O": 0.5
    }


def test_masked_device_path_equals_the_selected_pairs(monkeypatch):
    """On a GPU the prior runs on every pair, masked (no data-dependent selection); it gives the
    energies and gradients of the CPU path, which selects the close pairs."""
    rep = ZBLRepulsion([1, 8], {"H-O": 1.2, "H-H": 1.0, "O-O": 1.5}).double()
    rng = np.random.default_rng(3)
    n = 12
    positions = torch.tensor(rng.uniform(0.0, 3.0, (n, 3)))
    i, j = torch.triu_indices(n, n, 1)
    edge_index = torch.cat([torch.stack([i, j]), torch.stack([j, i])], dim=1)
    species = torch.tensor(rng.integers(0, 2, n))

    def energy_and_grad():
        vectors = (positions[edge_index[1]] - positions[edge_index[0]]).requires_grad_(True)
        energies = rep(species, edge_index, vectors)
        (grad,) = torch.autograd.grad(energies.sum(), vectors)
        return energies.detach(), grad

    selected = energy_and_grad()
    monkeypatch.setattr("lesdistill.model.repulsion.host_reads_are_free", lambda tensor: False)
    masked = energy_and_grad()
    assert selected[0].abs().max() > 0.1  # some pairs are inside the prior's range
    for a, b in zip(selected, masked):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
