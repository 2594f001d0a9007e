r"""Dynamic atom groups for decomposed IR spectra: per frame, every atom gets one group label.

Groups change from frame to frame (protons hop, molecules cross layers), so a group's dipole
current is summed per stored frame with that frame's labels:

    Mdot_G(t) = sum_{i in G(t)} j_i(t),    j_i = Z*_i v_i   (per-atom current, e Å/fs)

and since the labels partition the atoms, sum_G Mdot_G(t) = Mdot(t) at every frame. The
per-atom currents come from ``lesdistill md --group hcl|tio2-water|atoms`` (stored as
``atom_current``, shape (F, N, 3)). Selectors (distances with the minimum image, vesin
neighbour lists, any cell shape):

``hcl`` (aqueous HCl; groups ``core``, ``shell``, ``bulk``):
    every H belongs to its nearest O; the ``n_excess`` O atoms owning the most H (ties: the
    shorter mean O-H distance) are the H3O+ centres, whose O and H form the ``core``
    (n_excess = n_H - 2 n_O, the excess protons, unless given). ``shell``: the molecules (O with
    its H) whose O lies within ``r_shell_A`` = 3 Å of a core O, and any other atom (Cl-) within
    3 Å of a core O. ``bulk``: the rest. The H count uses the nearest O within ``r_oh_A`` =
    1.35 Å; an H farther than that from every O still follows its nearest O.

``tio2-water`` (slab/water interface; groups ``slab``, ``layer1`` .. ``layerK``, ``bulk``,
``other``):
    the slab is every Ti plus every O that has fewer than two H within 1.3 Å in the first frame
    (lattice and bridging O; a user may pass ``slab`` indices instead). Each water O gets its
    distance d to the nearest slab atom; the layer cuts are the first K minima of the O density
    profile rho(d) over all frames (Gaussian-smoothed, :func:`find_layer_cuts`) unless given;
    O beyond the last cut (or beyond ``max_distance_A``) is ``bulk``. Every H follows its
    nearest O (H of a surface hydroxyl go with the slab). Other elements (Na+, Cl-): ``other``.

Both selectors also return the per-frame group sizes; :func:`group_currents` does the sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesdistill.errors import UserInputError
from lesdistill.spectra.settings import GROUP_SELECTORS as SELECTORS

H, O, TI = 1, 8, 22  # noqa: E741 (atomic numbers; O is oxygen)


@dataclass(frozen=True)
class GroupLabels:
    """Per-frame group labels: ``labels[f, i]`` indexes ``names`` (a partition of the atoms)."""

    names: tuple[str, ...]
    labels: np.ndarray  # (F, N) int
    info: dict[str, Any] = field(default_factory=dict)  # selector settings, cuts, profile

    def counts(self) -> dict[str, np.ndarray]:
        """(F,) number of atoms in each group per frame."""
        return {name: (self.labels == k).sum(axis=1) for k, name in enumerate(self.names)}


def _pairs(points: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs (i, j, d) with d < cutoff (Å), minimum image, any cell."""
    from vesin import NeighborList

    periodic = bool(np.all(pbc))
    if np.any(pbc) and not periodic:
        raise UserInputError("group selection needs a cell periodic in all or no directions")
    box = np.asarray(cell, float) if periodic else np.zeros((3, 3))
    nl = NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, d = nl.compute(np.asarray(points, float), box, periodic, quantities="ijd")
    return np.asarray(i, int), np.asarray(j, int), np.asarray(d, float)


def _nearest(points: np.ndarray, targets: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
             cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """For each point: (index into targets, distance Å) of its nearest target within cutoff,
    (-1, inf) if none."""
    n = len(points)
    both = np.concatenate([points, targets])
    i, j, d = _pairs(both, cell, pbc, cutoff)
    keep = (i < n) & (j >= n)
    i, j, d = i[keep], j[keep] - n, d[keep]
    best = np.full(n, np.inf)
    owner = np.full(n, -1)
    order = np.lexsort((j, d))  # deterministic: shortest first, then lowest index
    i, j, d = i[order], j[order], d[order]
    first = np.unique(i, return_index=True)[1]
    best[i[first]] = d[first]
    owner[i[first]] = j[first]
    return owner, best


def _hydrogen_owners(positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray,
                     pbc: np.ndarray, o_index: np.ndarray, cutoff: float) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """(atom index of the nearest O, distance) for every H; H beyond ``cutoff`` of every O are
    searched again with a doubled cutoff until found."""
    h_index = np.flatnonzero(numbers == H)
    owner = np.full(len(h_index), -1)
    dist = np.full(len(h_index), np.inf)
    todo = np.arange(len(h_index))
    radius = cutoff
    while todo.size and radius < 64.0:
        found, d = _nearest(positions[h_index[todo]], positions[o_index], cell, pbc, radius)
        hit = found >= 0
        owner[todo[hit]], dist[todo[hit]] = o_index[found[hit]], d[hit]
        todo, radius = todo[~hit], 2.0 * radius
    if todo.size:
        raise UserInputError(f"{todo.size} H atom(s) have no O within 64 Å; not an aqueous system")
    return owner, dist


def hcl_labels_frame(positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray,
                     pbc: np.ndarray, *, n_excess: int | None = None, r_oh_A: float = 1.35,
                     r_shell_A: float = 3.0) -> np.ndarray:
    """Labels (N,) of one frame: 0 = core (H3O+), 1 = shell, 2 = bulk (see module docstring)."""
    numbers = np.asarray(numbers)
    o_index = np.flatnonzero(numbers == O)
    n_h = int(np.sum(numbers == H))
    if n_excess is None:
        n_excess = n_h - 2 * len(o_index)
    if not 0 <= n_excess <= len(o_index):
        raise UserInputError(f"{n_excess} excess protons for {len(o_index)} O and {n_h} H: pass "
                             "n_excess (the number of H3O+)")
    labels = np.full(len(numbers), 2)
    if n_excess == 0:
        return labels
    owner, dist = _hydrogen_owners(positions, numbers, cell, pbc, o_index, r_oh_A)
    close = dist < r_oh_A
    count = np.array([np.sum(close & (owner == o)) for o in o_index])
    mean_d = np.array([dist[owner == o].mean() if np.any(owner == o) else np.inf
                       for o in o_index])
    order = np.lexsort((o_index, mean_d, -count))  # most H, then shortest O-H, then index
    centres = o_index[order[:n_excess]]
    h_index = np.flatnonzero(numbers == H)
    members = np.zeros(len(numbers), bool)  # atoms of the molecule of each O
    core = np.isin(np.arange(len(numbers)), centres)
    core[h_index[np.isin(owner, centres)]] = True
    _, near, _ = _pairs_from(positions, centres, cell, pbc, r_shell_A)
    near = np.setdiff1d(near, centres)
    shell_o = near[numbers[near] == O]
    members[shell_o] = True
    members[h_index[np.isin(owner, shell_o)]] = True
    members[near[(numbers[near] != O) & (numbers[near] != H)]] = True  # ions (Cl-)
    labels[members] = 1
    labels[core] = 0
    return labels


def _pairs_from(positions: np.ndarray, centres: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (centre atom, other atom, distance) with distance < radius, atom indices."""
    i, j, d = _pairs(positions, cell, pbc, radius)
    keep = np.isin(i, centres)
    return i[keep], j[keep], d[keep]


def _frames(traj: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if traj.positions is None:
        raise UserInputError("group selection needs positions: load the trajectory with them")
    return np.asarray(traj.positions), np.asarray(traj.cell), np.asarray(traj.pbc)


def hcl_labels(traj: Any, *, n_excess: int | None = None, r_oh_A: float = 1.35,
               r_shell_A: float = 3.0) -> GroupLabels:
    """H3O+ core / solvation shell / bulk labels of every frame of a trajectory."""
    positions, cells, pbc = _frames(traj)
    labels = np.stack([hcl_labels_frame(p, traj.numbers, c, pbc, n_excess=n_excess,
                                        r_oh_A=r_oh_A, r_shell_A=r_shell_A)
                       for p, c in zip(positions, cells, strict=True)])
    return GroupLabels(("core", "shell", "bulk"), labels,
                       {"selector": "hcl", "r_oh_A": r_oh_A, "r_shell_A": r_shell_A,
                        "n_excess": n_excess})


def slab_mask(positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray, pbc: np.ndarray
              ) -> np.ndarray:
    """Slab atoms of one frame: every Ti, and every O with fewer than two H within 1.3 Å."""
    numbers = np.asarray(numbers)
    mask = numbers == TI
    o_index = np.flatnonzero(numbers == O)
    h_index = np.flatnonzero(numbers == H)
    owner, dist = _nearest(positions[h_index], positions[o_index], cell, pbc, 1.3)
    counts = np.bincount(owner[owner >= 0], minlength=len(o_index))
    mask[o_index[counts < 2]] = True
    if not np.any(numbers[mask] == TI):
        raise UserInputError("no Ti atoms: the tio2-water selector needs a TiO2 slab (or pass "
                             "the slab atom indices)")
    return mask


def surface_distances(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                      water_o: np.ndarray, slab: np.ndarray, max_distance_A: float
                      ) -> np.ndarray:
    """(n_water_O,) distance (Å) of each water O to its nearest slab atom; inf beyond
    ``max_distance_A``."""
    _, d = _nearest(positions[water_o], positions[slab], cell, pbc, max_distance_A)
    return d


def density_profile(distances: np.ndarray, *, bin_A: float = 0.05, max_distance_A: float,
                    area_A2: float | None = None, n_frames: int = 1, n_interfaces: int = 2
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres Å, water density g/cm^3) of O distances to the surface; without ``area_A2``
    the second array is O counts per frame and Å."""
    from lesdistill.systems.packing import AMU_PER_G_CM3_A3

    edges = np.arange(0.0, max_distance_A + 1e-9, bin_A)
    counts, _ = np.histogram(distances[np.isfinite(distances)], bins=edges)
    per = counts / (n_frames * bin_A)
    if area_A2 is not None:
        per = per * 18.01528 / (n_interfaces * area_A2 * AMU_PER_G_CM3_A3)
    return 0.5 * (edges[1:] + edges[:-1]), per


def height_profile(positions: np.ndarray, cells: np.ndarray, water_o: np.ndarray,
                   slab: np.ndarray, *, bin_A: float = 0.2) -> dict[str, Any]:
    """Water density along the surface normal: (bin centres Å, g/cm^3) of the water O heights
    over all frames, in a frame that puts the slab in the middle of the cell: z = ((s_3 -
    c_3 + 1/2) mod 1) L, with s_3 the fractional coordinate along the third cell vector, c_3 the
    circular mean of the slab atoms' s_3 in that frame and L = V / A the cell height (so a slab
    that straddles the cell boundary stays in one piece); also the mean height range (Å) of the
    slab atoms in that frame."""
    from lesdistill.systems.packing import AMU_PER_G_CM3_A3

    cell0 = np.asarray(cells[0], float)
    area = float(np.linalg.norm(np.cross(cell0[0], cell0[1])))
    height = abs(float(np.linalg.det(cell0))) / area
    z_water, z_lo, z_hi = [], [], []
    for p, c in zip(positions, cells, strict=True):
        s3 = (np.asarray(p, float) @ np.linalg.inv(np.asarray(c, float)))[:, 2]
        angle = 2.0 * np.pi * s3[slab]
        centre = np.arctan2(np.sin(angle).mean(), np.cos(angle).mean()) / (2.0 * np.pi)
        z = ((s3 - centre + 0.5) % 1.0) * height
        z_water.append(z[water_o])
        z_lo.append(float(z[slab].min()))
        z_hi.append(float(z[slab].max()))
    edges = np.arange(0.0, height + bin_A, bin_A)
    counts, _ = np.histogram(np.concatenate(z_water), bins=edges)
    rho = counts * 18.01528 / (len(positions) * area * bin_A * AMU_PER_G_CM3_A3)
    return {"z_A": (0.5 * (edges[1:] + edges[:-1])).tolist(), "z_g_cm3": rho.tolist(),
            "slab_z_A": [float(np.mean(z_lo)), float(np.mean(z_hi))], "height_A": height}


def find_layer_cuts(r_A: np.ndarray, density: np.ndarray, n_cuts: int = 2, *,
                    smooth_A: float = 0.1, min_prominence: float = 0.05) -> list[float]:
    """Positions (Å) of the first ``n_cuts`` minima of a (smoothed) density profile after its
    first maximum, each with a prominence >= ``min_prominence`` x the highest peak."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    step = float(r_A[1] - r_A[0])
    rho = gaussian_filter1d(np.asarray(density, float), smooth_A / step, mode="nearest")
    top = float(rho.max())
    if not top > 0:
        raise UserInputError("empty water density profile: no water O near the surface")
    peaks, _ = find_peaks(rho, prominence=min_prominence * top)
    if not peaks.size:
        raise UserInputError("the water density profile has no layer peak; pass the layer cuts")
    minima, _ = find_peaks(-rho, prominence=min_prominence * top)
    minima = minima[minima > peaks[0]]
    if minima.size < n_cuts:
        raise UserInputError(
            f"found {minima.size} density minima of the water profile, need {n_cuts}; pass the "
            "layer cuts explicitly (cuts_A) or ask for fewer layers")
    return [float(r_A[k]) for k in minima[:n_cuts]]


def tio2_labels(traj: Any, *, n_layers: int = 2, cuts_A: list[float] | None = None,
                slab: np.ndarray | None = None, max_distance_A: float = 10.0,
                bin_A: float = 0.05) -> GroupLabels:
    """slab / layer1..K / bulk / other labels of every frame (see the module docstring)."""
    positions, cells, pbc = _frames(traj)
    numbers = np.asarray(traj.numbers)
    if slab is None:
        mask = slab_mask(positions[0], numbers, cells[0], pbc)
    else:
        mask = np.zeros(len(numbers), bool)
        mask[np.asarray(slab, int)] = True
    slab_index = np.flatnonzero(mask)
    water_o = np.flatnonzero((numbers == O) & ~mask)
    o_index = np.flatnonzero(numbers == O)
    h_index = np.flatnonzero(numbers == H)
    dist = np.stack([surface_distances(p, c, pbc, water_o, slab_index, max_distance_A)
                     for p, c in zip(positions, cells, strict=True)])
    area = float(np.linalg.norm(np.cross(cells[0][0], cells[0][1])))
    r, rho = density_profile(dist, bin_A=bin_A, max_distance_A=max_distance_A, area_A2=area,
                             n_frames=len(positions))
    if cuts_A is None:
        cuts_A = find_layer_cuts(r, rho, n_layers)
    cuts = sorted(float(c) for c in cuts_A)
    names = ("slab", *[f"layer{k + 1}" for k in range(len(cuts))], "bulk", "other")
    labels = np.full((len(positions), len(numbers)), len(names) - 1)
    labels[:, mask] = 0
    for f, (p, c) in enumerate(zip(positions, cells, strict=True)):
        labels[f, water_o] = 1 + np.digitize(dist[f], cuts)  # beyond the last cut: bulk
        owner, _ = _hydrogen_owners(p, numbers, c, pbc, o_index, 1.35)
        labels[f, h_index] = labels[f, owner]
    along_z = height_profile(positions, cells, water_o, slab_index)
    return GroupLabels(names, labels, {"selector": "tio2-water", "cuts_A": cuts,
                                       "profile_r_A": r.tolist(),
                                       "profile_g_cm3": rho.tolist(),
                                       **{f"profile_{k}": v for k, v in along_z.items()},
                                       "n_slab_atoms": int(mask.sum())})


def group_labels(traj: Any, selector: str, **options: Any) -> GroupLabels:
    """Labels of a named selector (``hcl`` or ``tio2-water``) for every frame of ``traj``."""
    if selector == "hcl":
        return hcl_labels(traj, **options)
    if selector == "tio2-water":
        return tio2_labels(traj, **options)
    raise UserInputError(f"unknown group selector {selector!r}; choose one of {SELECTORS}")


def group_currents(atom_current: np.ndarray, groups: GroupLabels) -> dict[str, np.ndarray]:
    """name -> (F, 3) group dipole current (e Å/fs): the sum of j_i over the group of each frame."""
    j = np.asarray(atom_current, float)
    if j.ndim != 3 or j.shape[:2] != groups.labels.shape:
        raise UserInputError(f"per-atom currents {j.shape} do not match the labels "
                             f"{groups.labels.shape}")
    return {name: np.einsum("fn,fnc->fc", (groups.labels == k).astype(float), j)
            for k, name in enumerate(groups.names)}


def with_group_currents(traj: Any, selector: str, **options: Any) -> tuple[Any, GroupLabels]:
    """A copy of ``traj`` whose ``group_currents`` are the dynamic groups of ``selector``
    (computed from its positions and per-atom currents), and the labels."""
    from dataclasses import replace

    if traj.atom_currents is None:
        where = f" {traj.path}" if traj.path else ""
        raise UserInputError(f"trajectory{where} has no per-atom currents: run `lesdistill md` "
                             f"with --group {selector} (stores Z*_i v_i per frame)")
    labels = group_labels(traj, selector, **options)
    return replace(traj, group_currents=group_currents(traj.atom_currents, labels)), labels


def summary(labels: GroupLabels) -> dict[str, Any]:
    """JSON-able: mean/min/max group sizes (atoms), the selector's settings and (tio2-water) the
    water density profiles under ``profile``: ``r_A`` / ``g_cm3`` vs the distance to the
    nearest slab atom (per interface), ``z_A`` / ``z_g_cm3`` along the surface normal,
    ``slab_z_A`` the slab's height range."""
    sizes = {name: {"mean": float(c.mean()), "min": int(c.min()), "max": int(c.max())}
             for name, c in labels.counts().items()}
    out = {"names": list(labels.names), "atoms_per_group": sizes,
           **{k: v for k, v in labels.info.items() if not k.startswith("profile")}}
    profile = {
        k.removeprefix("profile_"): v for k, v in labels.info.items() if k.startswith("profile_")
    }
    if profile:
        out["profile"] = profile
    return out
