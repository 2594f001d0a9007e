"""RDF: ideal gas -> 1, lattice coordination numbers, cell-shape independence, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from lesdistill.analysis.rdf import (
    compare_rdf_sources,
    compare_rdfs,
    matching_frames,
    radial_distribution,
    rdf_from_atoms,
)


def test_ideal_gas_is_flat() -> None:
    rng = np.random.default_rng(0)
    n, L, frames = 200, 12.0, 80
    pos = rng.uniform(0, L, size=(frames, n, 3))
    numbers = np.array([8] * 100 + [1] * 100)
    for pair, expected in ((("O", "O"), 99 / 100), (("O", "H"), 1.0)):
        rdf = radial_distribution(pos, np.eye(3) * L, numbers, pair, r_max_A=5.0, n_bins=10)
        # beyond the first (noisy, small-volume) bins: flat at (N-1)/N (same) or 1 (other)
        assert np.allclose(rdf.g[3:], expected, atol=0.05), rdf.g
        assert np.mean(rdf.g[3:]) == pytest.approx(expected, abs=0.015)


def test_fcc_coordination_and_cell_independence() -> None:
    a = 4.0
    prim = bulk("Cu", "fcc", a=a)  # triclinic primitive cell, one atom
    cubic = bulk("Cu", "fcc", a=a, cubic=True).repeat(2)
    r1 = rdf_from_atoms([prim], ("Cu", "Cu"), r_max_A=5.0, n_bins=50)
    r2 = rdf_from_atoms([cubic], ("Cu", "Cu"), r_max_A=5.0, n_bins=50)
    assert np.allclose(r1.g, r2.g, atol=1e-9)
    # coordination number to the first shell: 12 neighbours at a/sqrt(2)
    rho = 4 / a**3
    dr = r1.r_A[1] - r1.r_A[0]
    edges = np.append(r1.r_A - dr / 2, r1.r_A[-1] + dr / 2)
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    cn = np.cumsum(r1.g * shell * rho)
    assert cn[np.searchsorted(r1.r_A, 3.2)] == pytest.approx(12.0)
    assert r1.first_peak()[0] == pytest.approx(a / np.sqrt(2), abs=dr)


def test_water_dimer_oh_peak_and_compare() -> None:
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], cell=[8, 8, 8],
                  pbc=True)
    r = rdf_from_atoms([water, water], ("O", "H"), r_max_A=3.0, n_bins=30)
    assert r.first_peak()[0] == pytest.approx(0.95, abs=0.1)
    same = compare_rdfs(r, r)
    assert same["mean_abs_diff"] == 0.0 and same["peak_shift_A"] == 0.0


def test_bad_input() -> None:
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    with pytest.raises(ValueError, match="periodic"):
        rdf_from_atoms([water], ("O", "H"))
    with pytest.raises(ValueError, match="no Cl-Cl pairs"):
        radial_distribution(np.zeros((1, 3, 3)), np.eye(3) * 5, np.array([8, 1, 1]), ("Cl", "Cl"))
    with pytest.raises(ValueError, match="NaN"):
        radial_distribution(np.full((1, 3, 3), np.nan), np.eye(3) * 5, np.array([8, 1, 1]),
                            ("O", "H"))
    with pytest.raises(ValueError, match="unknown element"):
        radial_distribution(np.zeros((1, 3, 3)), np.eye(3) * 5, np.array([8, 1, 1]), ("Xx", "H"))


def test_matching_frames_align_a_student_run_with_a_teacher_segment() -> None:
    # teacher frames 3 fs apart: a student stored every 1 fs takes every 3rd frame
    assert matching_frames(20, 4, frame_dt_fs=1.0, target_dt_fs=3.0).tolist() == [0, 3, 6, 9]
    # same spacing, skipping the frame before the teacher's first one; never more than exist
    assert matching_frames(5, 10, frame_dt_fs=3.0, target_dt_fs=3.0, start=1).tolist() == [1, 2,
                                                                                          3, 4]
    # coarser student frames than the teacher's: every frame
    assert matching_frames(6, 3, frame_dt_fs=5.0, target_dt_fs=3.0).tolist() == [0, 1, 2]


def test_compare_rdf_sources_pairs_and_self_comparison() -> None:
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], cell=[8, 8, 8],
                  pbc=True)
    shifted = water.copy()
    shifted.positions[1:] *= 1.1  # longer O-H bonds
    pos = np.stack([water.positions, water.positions])
    cell = np.stack([np.asarray(water.cell)] * 2)
    out = compare_rdf_sources({"teacher": (pos, cell), "same": (pos, cell),
                               "longer": (np.stack([shifted.positions] * 2), cell)},
                              water.numbers, r_max_A=3.0, n_bins=30)
    assert set(out["pairs"]) == {"O-O", "O-H"} and len(out["r_A"]) == 30
    assert set(out["compare"]) == {"O-O, same", "O-O, longer", "O-H, same", "O-H, longer"}
    assert out["compare"]["O-H, same"]["mean_abs_diff"] == 0.0
    assert out["compare"]["O-H, longer"]["peak_shift_A"] == pytest.approx(0.1, abs=0.01)
