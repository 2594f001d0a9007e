"""Benchmark structure builders: composition, density, neutrality, no overlaps, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from lesdistill.systems import build, hcl_solution, tio2_water_interface, water_box
from lesdistill.systems.packing import AMU_PER_G_CM3_A3, min_intermolecular_distances
from lesdistill.systems.tio2 import (
    ION_ION_MIN_A,
    ION_SURFACE_MIN_A,
    ION_WATER_H_MIN_A,
    ION_WATER_O_MIN_A,
    _coordination,
    tio2_slab,
)

FORMAL = {"H": 1.0, "O": -2.0, "Cl": -1.0, "Ti": 4.0, "Na": 1.0}  # formal oxidation states


def _molecule_ids(sizes: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes)


def _density(atoms: Atoms, volume: float | None = None) -> float:
    return float(atoms.get_masses().sum() / ((volume or atoms.get_volume()) * AMU_PER_G_CM3_A3))


def _formal_charge(atoms: Atoms) -> float:
    return sum(FORMAL[s] for s in atoms.get_chemical_symbols())


@pytest.mark.parametrize("n", [8, 32, 64])
def test_water_box(n: int) -> None:
    atoms = water_box(n_molecules=n, density_g_cm3=0.997, seed=3)
    assert atoms.get_chemical_formula(mode="hill") == f"H{2 * n}O{n}"
    assert atoms.pbc.all() and np.allclose(atoms.cell.cellpar()[3:], 90)
    lengths = atoms.cell.lengths()
    assert np.allclose(lengths, lengths[0])
    assert _density(atoms) == pytest.approx(0.997, rel=1e-3)
    d_heavy, d_any = min_intermolecular_distances(atoms, _molecule_ids([3] * n))
    assert d_heavy >= 2.5 and d_any >= 1.5
    # intact molecules: every O has exactly its two H within 1.0 Å
    i, j = neighbor_list("ij", atoms, 1.0)
    assert np.all(np.bincount(i, minlength=len(atoms))[atoms.numbers == 8] == 2)
    assert _formal_charge(atoms) == 0


def test_water_box_seeded_and_validated() -> None:
    a, b, c = water_box(16, seed=1), water_box(16, seed=1), water_box(16, seed=2)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    with pytest.raises(ValueError, match="density_g_cm3"):
        water_box(8, density_g_cm3=5.0)
    with pytest.raises(ValueError, match="n_molecules"):
        water_box(0)


@pytest.mark.parametrize(("conc", "n_water"), [(2.0, 128), (4.0, 64)])
def test_hcl_solution(conc: float, n_water: int) -> None:
    atoms = hcl_solution(concentration_mol_L=conc, n_water=n_water, seed=0)
    n = atoms.info["n_hydronium"]
    assert atoms.info["n_chloride"] == n
    counts = {s: atoms.get_chemical_symbols().count(s) for s in ("H", "O", "Cl")}
    assert counts == {"H": 2 * n_water + n, "O": n_water, "Cl": n}
    assert _formal_charge(atoms) == 0  # n H3O+ + n Cl- + waters: neutral
    assert atoms.info["concentration_mol_L"] == pytest.approx(conc, rel=0.12)
    assert _density(atoms) == pytest.approx(atoms.info["density_g_cm3"], rel=1e-3)
    sizes = [4] * n + [1] * n + [3] * (n_water - n)
    d_heavy, d_any = min_intermolecular_distances(atoms, _molecule_ids(sizes))
    assert d_heavy >= 2.6 and d_any >= 1.5
    # hydronium: each of the first n oxygens has three H within 1.1 Å
    i = neighbor_list("i", atoms, 1.1)
    cn = np.bincount(i, minlength=len(atoms))
    assert np.all(cn[np.arange(n) * 4] == 3)


@pytest.mark.parametrize(("phase", "surface"), [("anatase", "101"), ("rutile", "110")])
def test_tio2_slab_ideal_termination(phase: str, surface: str) -> None:
    slab = tio2_slab(phase, layers=3, repeats=(1, 1))
    ti = slab.numbers == 22
    assert 2 * ti.sum() == (~ti).sum()  # stoichiometric
    cn = _coordination(slab)
    assert cn[ti].min() == 5 and cn[ti].max() == 6  # 5-fold surface Ti, 6-fold bulk
    assert cn[~ti].min() == 2 and cn[~ti].max() == 3  # 2-fold bridging O, 3-fold bulk
    # the two faces are equivalent: same number of 5-fold Ti on top and bottom
    z = slab.positions[:, 2]
    mid = 0.5 * (z.min() + z.max())
    assert ((cn == 5) & ti & (z > mid)).sum() == ((cn == 5) & ti & (z < mid)).sum() > 0


@pytest.mark.parametrize("phase", ["anatase", "rutile"])
def test_tio2_water_interface(phase: str) -> None:
    atoms = tio2_water_interface(phase=phase, layers=2, water_thickness_A=6.0, seed=1)
    assert atoms.pbc.all()
    n_ti = int((atoms.numbers == 22).sum())
    n_w = atoms.info["n_water"]
    counts = {s: atoms.get_chemical_symbols().count(s) for s in ("Ti", "O", "H")}
    assert counts == {"Ti": n_ti, "O": 2 * n_ti + n_w, "H": 2 * n_w}
    assert _formal_charge(atoms) == 0
    assert atoms.cell.lengths()[2] == pytest.approx(atoms.info["slab_thickness_A"] + 12.0)
    assert min(atoms.cell.lengths()[:2]) >= 10.0
    # water density in the gap (minus 1.5 Å of interface) is the requested one
    area = np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))
    water = atoms[atoms.numbers != 22][2 * n_ti:]
    assert _density(water, area * (12.0 - 1.5)) == pytest.approx(0.997, rel=0.05)
    slab_size = 3 * n_ti
    sizes = [1] * slab_size + [3] * n_w  # slab atoms each their own "molecule"
    ids = _molecule_ids(sizes)
    d = atoms.get_all_distances(mic=True)
    water_slab = d[slab_size:, :slab_size]
    heavy_w = atoms.numbers[slab_size:] != 1
    assert water_slab[heavy_w].min() >= 2.4 and water_slab.min() >= 1.5
    other = ids[:, None] != ids[None, :]
    both_water = np.zeros_like(other)
    both_water[slab_size:, slab_size:] = True
    assert d[other & both_water].min() >= 1.5


def _ion_distances(atoms: Atoms) -> dict[str, float]:
    """Minimum-image distances (Å) from the ions to other ions, water O, water H and the slab."""
    n_slab = 3 * int((atoms.numbers == 22).sum())
    ions = np.flatnonzero(np.isin(atoms.numbers, (11, 17)))
    water = np.arange(ions.max() + 1, len(atoms))
    d = atoms.get_all_distances(mic=True)[ions]
    other_ions = d[:, ions] + np.eye(len(ions)) * 1e9
    return {"ion": float(other_ions.min()), "slab": float(d[:, :n_slab].min()),
            "O": float(d[:, water[atoms.numbers[water] == 8]].min()),
            "H": float(d[:, water[atoms.numbers[water] == 1]].min())}


@pytest.mark.parametrize("vacuum", [0.0, 12.0])
def test_tio2_water_nacl(vacuum: float) -> None:
    kw = {
        "phase": "rutile",
        "layers": 2,
        "repeats": (2, 4),
        "water_thickness_A": 7.0,
        "vacuum_A": vacuum,
    }
    atoms = tio2_water_interface(n_ion_pairs=2, seed=3, **kw)
    symbols = atoms.get_chemical_symbols()
    n_ti, n_w = symbols.count("Ti"), atoms.info["n_water"]
    assert symbols.count("Na") == symbols.count("Cl") == atoms.info["n_ion_pairs"] == 2
    assert symbols.count("O") == 2 * n_ti + n_w and symbols.count("H") == 2 * n_w
    assert _formal_charge(atoms) == 0
    # each ion pair takes the place of one water molecule
    assert n_w == tio2_water_interface(seed=3, **kw).info["n_water"] - 2
    # order: slab, then Na, Cl alternating, then water
    n_slab = 3 * n_ti
    assert symbols[n_slab : n_slab + 4] == ["Na", "Cl", "Na", "Cl"]
    dist = _ion_distances(atoms)
    assert (
        dist["ion"] >= ION_ION_MIN_A
        and dist["O"] >= ION_WATER_O_MIN_A
        and dist["H"] >= ION_WATER_H_MIN_A
    )
    assert dist["slab"] >= ION_SURFACE_MIN_A
    # the seed fixes the structure
    again = tio2_water_interface(n_ion_pairs=2, seed=3, **kw)
    assert np.array_equal(again.positions, atoms.positions) and np.array_equal(
        again.numbers, atoms.numbers
    )
    assert not np.allclose(
        tio2_water_interface(n_ion_pairs=2, seed=4, **kw).positions, atoms.positions
    )


def test_tio2_water_vacuum_slab_geometry() -> None:
    atoms = tio2_water_interface(phase="rutile", layers=2, repeats=(2, 4), water_thickness_A=6.0,
                                 vacuum_A=15.0, n_ion_pairs=2, seed=0)
    t = atoms.info["slab_thickness_A"]
    height = atoms.cell.lengths()[2]
    assert height == pytest.approx(t + 2 * 6.0 + 15.0)
    z = atoms.positions[:, 2]
    # the block sits in the middle, not wrapped across the boundary: at least the vacuum is free
    assert z.min() > 0.0 and z.max() < height and height - (z.max() - z.min()) >= 15.0
    slab_z = z[atoms.numbers == 22]
    water_o = np.flatnonzero(atoms.numbers == 8)[-atoms.info["n_water"]:]
    below = (z[water_o] < slab_z.min()).sum()
    above = (z[water_o] > slab_z.max()).sum()
    assert (
        below + above == atoms.info["n_water"] and abs(int(below) - int(above)) <= 1
    )  # a film on each side
    ions = np.flatnonzero(np.isin(atoms.numbers, (11, 17)))
    assert (z[ions] < slab_z.min()).sum() == 2  # one neutral pair per film
    assert _formal_charge(atoms) == 0


def test_tio2_water_concentration_and_errors() -> None:
    atoms = tio2_water_interface(phase="rutile", layers=2, repeats=(2, 4), water_thickness_A=8.0,
                                 concentration_mol_L=1.0, seed=0)
    area = np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))
    expected = round(1.0 * 6.02214076e-4 * area * 16.0)
    assert atoms.info["n_ion_pairs"] == expected >= 1
    assert atoms.info["concentration_mol_L"] == pytest.approx(1.0, rel=0.5 / expected)
    with pytest.raises(ValueError, match="not both"):
        tio2_water_interface(n_ion_pairs=1, concentration_mol_L=1.0)
    with pytest.raises(ValueError, match="n_ion_pairs"):
        tio2_water_interface(n_ion_pairs=-1)
    with pytest.raises(ValueError, match="vacuum_A"):
        tio2_water_interface(vacuum_A=-2.0)
    with pytest.raises(ValueError, match="preset"):
        tio2_water_interface(preset="huge")


@pytest.mark.slow
def test_tio2_water_paper_preset() -> None:
    atoms = tio2_water_interface(preset="paper", seed=0)  # ~1 min: 2228 waters packed
    assert len(atoms) == 8748  # the paper's atom count
    a, b, c = atoms.cell.lengths()
    assert (a, b) == pytest.approx((32.484, 32.549), abs=1e-3)  # paper: 30.7 x 33.9 Å
    assert c == pytest.approx(84.70, abs=0.01)  # paper: 83.4 Å
    assert atoms.info["phase"] == "rutile" and atoms.info["n_ion_pairs"] == 42
    assert _formal_charge(atoms) == 0


def test_build_dispatch_and_errors() -> None:
    assert len(build("water", n_molecules=4, seed=0)) == 12
    assert len(build("ionic", n_pairs=3, seed=0)) == 6
    with pytest.raises(ValueError, match="unknown system"):
        build("ice")
    with pytest.raises(ValueError, match="phase"):
        tio2_water_interface(phase="brookite")
    with pytest.raises(ValueError, match="concentration"):
        hcl_solution(concentration_mol_L=-1)
