"""Dynamic groups: H3O+ core / shell / bulk with a proton hop, TiO2 water layers of a known slab,
and group currents that add up to the total dipole current."""

from __future__ import annotations

import numpy as np
import pytest

from lesdistill.analysis import groups
from lesdistill.errors import UserInputError
from lesdistill.md.trajectory import Trajectory


def _traj(numbers, positions, cell, atom_currents=None):
    positions = np.asarray(positions, float)
    n_frames = positions.shape[0]
    current = (np.zeros((n_frames, 3)) if atom_currents is None
               else np.asarray(atom_currents).sum(axis=1))
    return Trajectory(timestep_fs=1.0, stride=1, numbers=np.asarray(numbers),
                      masses=np.ones(len(numbers)), pbc=np.ones(3, bool),
                      cell=np.broadcast_to(np.asarray(cell, float), (n_frames, 3, 3)).copy(),
                      step=np.arange(n_frames), dipole_current=current, positions=positions,
                      atom_currents=atom_currents)


def _hop_frames():
    """A proton shared by O_a and O_b across the periodic x boundary (O-O 2.5 Å), hopping from
    O_a (frame 0) to O_b (frame 1); O_c is 2.8 Å from O_a only; W and Cl are far away."""
    a, b, c, w = (0.3, 6, 6), (9.8, 6, 6), (0.3, 6, 8.8), (6, 6, 2)
    atoms = [
        ("O", a), ("H", (0.6, 6.9, 6)), ("H", (0.6, 5.1, 6)),            # 0-2  O_a and its H
        ("O", b), ("H", (9.5, 6, 6.9)), ("H", (9.5, 6, 5.1)),            # 3-5  O_b and its H
        ("H", None),                                                      # 6    the proton
        ("O", c), ("H", (0.3, 6.0, 9.77)), ("H", (0.3, 6.92, 9.05)),     # 7-9  O_c
        ("O", w), ("H", (6.0, 6.0, 1.03)), ("H", (6.0, 6.92, 2.25)),     # 10-12 W
        ("Cl", (6, 0.5, 0.5)),                                            # 13
    ]
    from ase.data import atomic_numbers

    numbers = [atomic_numbers[s] for s, _ in atoms]
    frames = []
    # proton 0.98 Å from O_a through the boundary (1.52 Å from O_b), then 0.98 Å from O_b
    for proton_x in (11.32, 10.78):
        frames.append(np.array([p if p is not None else (proton_x, 6, 6) for _, p in atoms]))
    return numbers, np.stack(frames), np.eye(3) * 12.0


def test_hydronium_core_follows_the_proton_hop_across_the_boundary():
    numbers, positions, cell = _hop_frames()
    labels = groups.hcl_labels(_traj(numbers, positions, cell))
    core, shell, bulk = 0, 1, 2
    assert labels.names == ("core", "shell", "bulk")
    first, second = labels.labels
    np.testing.assert_array_equal(np.flatnonzero(first == core), [0, 1, 2, 6])
    np.testing.assert_array_equal(np.flatnonzero(first == shell), [3, 4, 5, 7, 8, 9])
    np.testing.assert_array_equal(np.flatnonzero(first == bulk), [10, 11, 12, 13])
    np.testing.assert_array_equal(np.flatnonzero(second == core), [3, 4, 5, 6])
    np.testing.assert_array_equal(np.flatnonzero(second == shell), [0, 1, 2])
    np.testing.assert_array_equal(np.flatnonzero(second == bulk), [7, 8, 9, 10, 11, 12, 13])
    assert labels.counts()["core"].tolist() == [4, 4]
    # the Cl within 3 Å of the core O joins the shell
    moved = positions.copy()
    moved[:, 13] = (0.3, 6, 3.5)  # 2.5 Å from O_a, 3.54 Å from O_b
    again = groups.hcl_labels(_traj(numbers, moved, cell)).labels
    assert again[0, 13] == shell and again[1, 13] == bulk
    with pytest.raises(UserInputError, match="excess protons"):
        groups.hcl_labels(_traj(numbers, positions, cell), n_excess=9)


def test_group_currents_add_up_to_the_total_every_frame():
    numbers, positions, cell = _hop_frames()
    rng = np.random.default_rng(3)
    j = rng.normal(size=(2, len(numbers), 3))
    traj, labels = groups.with_group_currents(_traj(numbers, positions, cell, j), "hcl")
    total = sum(traj.group_currents[name] for name in labels.names)
    np.testing.assert_allclose(total, j.sum(axis=1), atol=1e-12)
    # the proton's current moves from the core of O_a's molecule to the core of O_b's
    np.testing.assert_allclose(traj.group_currents["core"][0], j[0, [0, 1, 2, 6]].sum(axis=0))
    np.testing.assert_allclose(traj.group_currents["core"][1], j[1, [3, 4, 5, 6]].sum(axis=0))
    with pytest.raises(UserInputError, match="no per-atom currents"):
        groups.with_group_currents(_traj(numbers, positions, cell), "hcl")
    with pytest.raises(UserInputError, match="unknown group selector"):
        groups.group_labels(traj, "micelle")


def _slab_frames(n_frames=40, seed=0):
    """A TiO2-like slab (Ti at z=1, O at z=0 and 2 on a 3 Å grid) with water O placed directly
    above top O sites (so the distance to the nearest slab atom is the height above z=2):
    layer 1 at 2.2 +- 0.1 Å, layer 2 at 3.5 +- 0.15 Å, bulk uniform in 4.6-8 Å."""
    rng = np.random.default_rng(seed)
    grid = np.array([(x, y) for x in range(0, 12, 3) for y in range(0, 12, 3)], float)
    slab = [(22, (x, y, 1.0)) for x, y in grid] + [(8, (x, y, z)) for x, y in grid
                                                   for z in (0.0, 2.0)]
    numbers = [n for n, _ in slab] + [8, 1, 1] * len(grid)
    frames, expected = [], []
    for _ in range(n_frames):
        layer = rng.integers(0, 3, len(grid))
        height = np.where(layer == 0, np.clip(rng.normal(2.2, 0.1, len(grid)), 1.9, 2.5),
                          np.where(layer == 1, np.clip(rng.normal(3.5, 0.15, len(grid)), 3.1, 3.9),
                                   rng.uniform(4.6, 8.0, len(grid))))
        water = []
        for (x, y), h in zip(grid, height, strict=True):
            z = 2.0 + h
            water += [(x, y, z), (x + 0.76, y, z + 0.59), (x - 0.76, y, z + 0.59)]
        frames.append(np.array([p for _, p in slab] + water))
        expected.append(layer)
    return numbers, np.stack(frames), np.diag([12.0, 12.0, 30.0]), np.array(expected), len(slab)


def test_layers_of_a_known_slab_are_found_from_the_density_minima():
    numbers, positions, cell, layer, n_slab = _slab_frames()
    labels = groups.tio2_labels(_traj(numbers, positions, cell))
    assert labels.names == ("slab", "layer1", "layer2", "bulk", "other")
    cut1, cut2 = labels.info["cuts_A"]
    assert 2.5 < cut1 < 3.1 and 3.9 < cut2 < 4.6
    assert labels.info["n_slab_atoms"] == n_slab
    assert np.all(labels.labels[:, :n_slab] == 0)
    water_o = np.arange(n_slab, len(numbers), 3)
    np.testing.assert_array_equal(labels.labels[:, water_o], 1 + layer)
    for k in (1, 2):  # every H follows its O
        np.testing.assert_array_equal(labels.labels[:, water_o + k], labels.labels[:, water_o])
    fixed = groups.tio2_labels(_traj(numbers, positions, cell), cuts_A=[3.0])
    assert fixed.names == ("slab", "layer1", "bulk", "other")
    np.testing.assert_array_equal(fixed.labels[:, water_o], 1 + (layer > 0))
    with pytest.raises(UserInputError, match="density minima"):
        groups.tio2_labels(_traj(numbers, positions, cell), n_layers=5)


def test_water_profiles_of_a_known_slab_in_the_summary():
    """Along z the water density integrates to the water count per frame; the slab's height
    range is that of its atoms; the distance profile peaks in the first layer."""
    from lesdistill.systems.packing import AMU_PER_G_CM3_A3

    numbers, positions, cell, _, n_slab = _slab_frames()
    out = groups.summary(groups.tio2_labels(_traj(numbers, positions, cell)))
    profile = out["profile"]
    assert set(profile) >= {"r_A", "g_cm3", "z_A", "z_g_cm3", "slab_z_A"}
    z, rho = np.array(profile["z_A"]), np.array(profile["z_g_cm3"])
    molecules = rho.sum() * (z[1] - z[0]) * 144.0 * AMU_PER_G_CM3_A3 / 18.01528
    assert molecules == pytest.approx(16.0, rel=1e-9)  # 16 waters per frame
    # the slab (z = 0..2 in a 30 Å cell) is put in the middle: 14..16 Å, even when it straddles
    # the cell boundary
    assert profile["slab_z_A"] == pytest.approx([14.0, 16.0])
    assert z[np.argmax(rho)] == pytest.approx(16.0 + 2.2, abs=0.2)  # layer 1: 2.2 Å above the top
    shifted = positions.copy()
    shifted[:, :, 2] = (shifted[:, :, 2] - 1.0) % 30.0  # slab bottom O wrapped to z = 29
    again = groups.summary(groups.tio2_labels(_traj(numbers, shifted, cell)))["profile"]
    assert again["slab_z_A"] == pytest.approx([14.0, 16.0])
    np.testing.assert_allclose(again["z_g_cm3"], profile["z_g_cm3"], atol=1e-9)
    r, g = np.array(profile["r_A"]), np.array(profile["g_cm3"])
    assert r[np.argmax(g)] < out["cuts_A"][0]
