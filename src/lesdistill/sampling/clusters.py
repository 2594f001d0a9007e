"""Molecular clusters cut out of a periodic frame, for labelling in open boundaries.

A cluster is the ``n_molecules`` whole molecules nearest to a centre molecule (distances between
molecule centroids, minimum image), each molecule unwrapped as a whole around the centre, in
open boundaries (``pbc=False``, no cell). Molecules are the connected components of the bond
graph with ASE's natural cutoffs x ``bond_factor`` (minimum image), so water, hydronium,
chloride and other solutes are handled alike; a molecule that percolates through the periodic
cell (a covalent network, a slab) cannot be cut out and is refused.

Clusters are configurations with a surface and a net dipole that a teacher with open
boundaries (``teacher.info.open``) labels without Ewald sums or Berry phases; mixed with the
periodic frames they constrain how the latent charges respond to the environment, and the
dipole of a cluster is an observable the teacher's own response can be checked against.

    molecules(atoms, bond_factor=1.2) -> list[np.ndarray]
    cut_cluster(atoms, n_molecules, rng, *, centre=None, bond_factor=1.2) -> Atoms
    cluster_plan(frames, n_clusters, n_molecules, seed, first_id, done) -> iterator

In :func:`lesdistill.sampling.sample`, ``n_clusters`` (> 0) adds that many cluster frames after
the ``n_frames`` periodic ones (ids ``n_frames`` ..), each cut from a recorded teacher-MD frame
and labelled by the same teacher; they say ``origin: cluster`` and inherit the source frame's
temperature and strain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from ase import Atoms

from lesdistill.errors import UserInputError

__all__ = ["check_cluster_sampling", "cluster_plan", "cut_cluster", "molecules"]


def molecules(atoms: Atoms, bond_factor: float = 1.2) -> list[np.ndarray]:
    """Atom indices of each molecule (connected components of the bond graph, minimum image),
    ordered by their first atom."""
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(atoms)
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=bond_factor))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for atom, lab in enumerate(label):
        groups.setdefault(int(lab), []).append(atom)
    return sorted((np.array(g) for g in groups.values()), key=lambda g: int(g[0]))


def _unwrapped(atoms: Atoms, members: np.ndarray) -> np.ndarray:
    """Positions of one molecule made whole: every atom at the minimum image of its bond path
    from the first atom (breadth-first over the bonds)."""
    from ase.geometry import find_mic

    pos = atoms.positions[members]
    whole = pos.copy()
    placed = {0}
    frontier = [0]
    while frontier:
        a = frontier.pop()
        for b in range(len(members)):
            if b in placed:
                continue
            d, dist = find_mic(pos[b] - pos[a], atoms.cell, atoms.pbc)
            if dist < 2.5:  # a bond (natural cutoffs are below 2.5 Å for the light elements)
                whole[b] = whole[a] + d
                placed.add(b)
                frontier.append(b)
    if len(placed) != len(members):  # far apart within the molecule: a network, not a molecule
        raise UserInputError("a molecule percolates through the periodic cell; clusters can be "
                             "cut only from molecular systems (liquids, solutions)")
    return whole


def cut_cluster(atoms: Atoms, n_molecules: int, rng: np.random.Generator, *,
                centre: int | None = None, bond_factor: float = 1.2) -> Atoms:
    """The ``n_molecules`` molecules nearest to a centre molecule of periodic ``atoms``, whole,
    centred at the origin, in open boundaries (positions Å).

    ``centre``: index of the centre molecule in :func:`molecules` order (default: drawn from
    ``rng``). ``arrays["source_index"]``: each cluster atom's index in ``atoms``. Charged
    cells are refused (a cluster's charge would be unknown).
    """
    from ase.geometry import find_mic

    if not atoms.pbc.all():
        raise UserInputError("clusters are cut from periodic frames; this frame is not periodic")
    if float(atoms.info.get("total_charge", 0.0)) != 0.0:
        raise UserInputError("cutting clusters from a charged cell would leave their charge "
                             "unknown; use clusters only for neutral systems")
    mols = molecules(atoms, bond_factor)
    if not 1 <= n_molecules <= len(mols):
        raise UserInputError(f"a cluster of {n_molecules} molecules from a frame with "
                             f"{len(mols)}; choose 1..{len(mols)}")
    whole = [_unwrapped(atoms, m) for m in mols]
    centroids = np.array([w.mean(axis=0) for w in whole])
    c = int(rng.integers(len(mols))) if centre is None else int(centre)
    shift, dist = find_mic(centroids - centroids[c], atoms.cell, atoms.pbc)
    order = np.argsort(dist, kind="stable")[:n_molecules]
    positions, numbers, source = [], [], []
    for k in order:
        positions.append(whole[k] - centroids[k] + shift[k])  # whole molecule at its image
        numbers.append(atoms.numbers[mols[k]])
        source.append(mols[k])
    cluster = Atoms(numbers=np.concatenate(numbers), positions=np.concatenate(positions),
                    pbc=False)
    cluster.positions -= cluster.positions.mean(axis=0)
    cluster.arrays["source_index"] = np.concatenate(source)
    return cluster


def cluster_plan(frames: list[Atoms], n_clusters: int, n_molecules: int, seed: int,
                 first_id: int, done: int) -> Iterator[tuple[int, Atoms, Atoms]]:
    """Yield ``(frame_id, cluster, source)`` for the clusters still to label: cluster k is cut
    from teacher-MD frame ``linspace(0, n_md - 1, n_clusters)[k]`` around a centre molecule
    drawn from ``default_rng([seed, 1000003, k])``; frame ids ``first_id + k``, resuming at
    ``done`` (the number of frames already in the file)."""
    from lesdistill.sampling.snapshots import frame_origin

    md = [f for f in frames if frame_origin(f) == "md"]
    if not md:
        raise UserInputError("clusters are cut from teacher-MD frames, and none were recorded; "
                             "lower snapshot_fraction below 1")
    picks = np.linspace(0, len(md) - 1, n_clusters).round().astype(int)
    for k in range(max(0, done - first_id), n_clusters):
        source = md[int(picks[k])]
        rng = np.random.default_rng([seed, 1000003, k])
        yield first_id + k, cut_cluster(source, n_molecules, rng), source


def check_cluster_sampling(atoms: Atoms, teacher: Any, cluster_molecules: int) -> None:
    """Refuse cluster sampling before any teacher call when clusters of ``cluster_molecules``
    molecules cannot be cut from ``atoms`` or labelled by ``teacher``."""
    if not teacher.info.open:
        raise UserInputError(f"teacher {teacher.name!r} cannot label open (non-periodic) "
                             "structures, so it cannot label clusters; set n_clusters: 0 or pick "
                             "a teacher with open-boundary support (xtb, mace, fairchem, ...)")
    if not atoms.pbc.all():
        raise UserInputError("n_clusters needs a periodic structure to cut clusters from")
    if float(atoms.info.get("total_charge", 0.0)) != 0.0:
        raise UserInputError("n_clusters needs a neutral structure (a cluster's charge would be "
                             "unknown); set n_clusters: 0")
    n_mol = len(molecules(atoms))
    if cluster_molecules > n_mol:
        raise UserInputError(f"cluster_molecules = {cluster_molecules} but the structure has "
                             f"{n_mol} molecules; choose at most {n_mol}")
