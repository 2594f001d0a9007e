"""Report section for a solid/water interface: the water density profile and the layer cuts.

``data["ir"]["groups"]`` with selector ``tio2-water`` (from the ir stage,
:func:`lesdistill.analysis.groups.summary`): ``cuts_A`` (layer cuts, Å from the surface),
``atoms_per_group`` and ``profile`` = {``r_A``, ``g_cm3``: water O density vs the distance to the
nearest slab atom, per interface; ``z_A``, ``z_g_cm3``: along the surface normal, slab centred;
``slab_z_A``: the slab's height range}. Densities in g/cm^3 (water molecules counted by their O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lesdistill.report.html import Figure, Section, Table

__all__ = ["layer_rows", "profile_png", "section_water_profile"]


def layer_rows(r_A: Sequence[float], rho: Sequence[float], cuts_A: Sequence[float],
               atoms_per_group: Mapping[str, Mapping[str, float]]) -> list[list[Any]]:
    """One row per water group: name, range (Å from the surface), density maximum position (Å)
    and value (g/cm^3), mean density over the range (g/cm^3), mean water molecules per frame."""
    r, y = np.asarray(r_A, float), np.asarray(rho, float)
    filled = np.flatnonzero(y > 0)
    end = float(r[filled[-1]]) if filled.size else float(r[-1])
    bounds = [0.0, *sorted(float(c) for c in cuts_A), end]
    names = [f"layer{k + 1}" for k in range(len(cuts_A))] + ["bulk"]
    rows = []
    for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True):
        inside = (r >= lo) & (r < hi)
        if not inside.any():
            continue
        k = int(np.argmax(np.where(inside, y, -np.inf)))
        atoms = (atoms_per_group.get(name) or {}).get("mean")
        rows.append([name, f"{lo:.2f}-{hi:.2f}", round(float(r[k]), 2), round(float(y[k]), 3),
                     round(float(y[inside].mean()), 3),
                     None if atoms is None else round(float(atoms) / 3.0, 1)])
    return rows


def profile_png(profile: Mapping[str, Any], cuts_A: Sequence[float]) -> bytes:
    """Two panels: density vs distance to the surface with the layer cuts; density along z with
    the slab's height range shaded."""
    from lesdistill.report.figures import _figure, _png

    fig = _figure(8.0, 3.4)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    left.plot(profile["r_A"], profile["g_cm3"], color="#1f77b4", lw=1.0)
    for k, cut in enumerate(cuts_A):
        left.axvline(cut, color="#d62728", lw=0.8, ls="--", label="layer cuts" if k == 0 else None)
    left.axhline(0.997, color="0.6", lw=0.6, ls=":", label="bulk water 0.997")
    left.set_xlabel("water O distance to the nearest slab atom (Å)")
    left.set_ylabel("water density (g/cm$^3$)")
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    if "z_A" in profile:
        right.plot(profile["z_A"], profile["z_g_cm3"], color="#1f77b4", lw=1.0)
        lo, hi = profile.get("slab_z_A", (None, None))
        if lo is not None:
            right.axvspan(lo, hi, color="0.85", label="slab")
            right.legend(fontsize=7)
        right.set_xlabel("height along the surface normal, slab centred (Å)")
        right.grid(alpha=0.3)
    return _png(fig)


def section_water_profile(data: Mapping[str, Any]) -> Section | None:
    """Water density profile and layer cuts of a ``tio2-water`` group decomposition."""
    groups = (data.get("ir") or {}).get("groups") or {}
    profile = groups.get("profile")
    if groups.get("selector") != "tio2-water" or not profile:
        return None
    cuts = list(groups.get("cuts_A") or [])
    fig = Figure("water_profile", profile_png(profile, cuts),
                 "water density (by O) vs the distance to the nearest slab atom, per interface "
                 "(dashed: layer cuts), and along the surface normal (grey: slab)")
    table = Table(
        [
            "group",
            "range (Å from the surface)",
            "density maximum at (Å)",
            "maximum density (g/cm^3)",
            "mean density (g/cm^3)",
            "water molecules per frame",
        ],
        layer_rows(profile["r_A"], profile["g_cm3"], cuts, groups.get("atoms_per_group") or {}),
        "water layers at the interface, from the student MD frames",
    )
    paras = ["Water layers: each water O is assigned by its distance to the nearest slab atom; the "
             "cuts are the first density minima of this profile (found automatically unless given "
             "as ir.cuts_A) and are recomputed from the frames of this run: "
             + (", ".join(f"{c:.2f} Å" for c in cuts) if cuts else "none") + ". The layer1 "
             "group spectrum is compared with the interfacial-water band table in the group "
             "section."]
    return Section("Water at the interface: density profile and layers", paras, [table], [fig])
