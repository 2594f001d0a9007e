"""Report sections for decomposed IR spectra: per-frame groups and the paper-style view.

``data["ir"]["groups"]`` (from the ir stage, :func:`lesdistill.spectra.outputs.group_arrays`
plus :func:`lesdistill.analysis.groups.summary`): {"selector", "names", "atoms_per_group",
"mode", "spectra": {group: n*alpha cm^-1}, "cross_terms" (self mode), "sum_check": {...},
"bands": {group: {"reference", "reference_citation", "bands": [rows]}}, ...}.
``data["ir"]["paper"]`` (:func:`lesdistill.spectra.outputs.paper_arrays`): {"label",
"wavenumber_cm", "intensity_au", "bands", "groups": {... in a.u.}, ...}. Wavenumbers in cm^-1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lesdistill.report.html import Figure, Section, Table

__all__ = ["groups_png", "section_ir_groups", "section_ir_paper"]


def groups_png(wavenumber_cm: Sequence[float], total: Sequence[float],
               groups: Mapping[str, Sequence[float]], *, cross: Sequence[float] | None = None,
               bands_cm: Sequence[float] = (), ylabel: str, max_wavenumber_cm: float = 4500.0
               ) -> bytes:
    """Total and group spectra (and the cross terms) on one axis; reference band positions
    (cm^-1) as dotted vertical lines."""
    from lesdistill.report.figures import _COLORS, _figure, _png

    w = np.asarray(wavenumber_cm, float)
    keep = w <= max_wavenumber_cm
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    ax.plot(w[keep], np.asarray(total, float)[keep], color="k", lw=1.2, label="total")
    for k, (name, values) in enumerate(groups.items()):
        ax.plot(w[keep], np.asarray(values, float)[keep], color=_COLORS[k % len(_COLORS)],
                lw=1.0, label=f"group {name}")
    if cross is not None:
        ax.plot(w[keep], np.asarray(cross, float)[keep], color="0.5", lw=0.8, ls="--",
                label="cross terms")
    for x in bands_cm:
        ax.axvline(x, color="0.3", lw=0.6, ls=":")
    ax.set_xlim(0, max_wavenumber_cm)
    ax.axhline(0.0, color="0.7", lw=0.5)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def _band_rows(rows: Sequence[Mapping[str, Any]], height_key: str) -> list[list[Any]]:
    return [[r["band"], r["position_cm-1"], r["reference_cm-1"], r["shift_cm-1"],
             r["fwhm_cm-1"], r.get(height_key)] for r in rows]


def _band_tables(groups: Mapping[str, Any], height_key: str, unit: str, view: str
                 ) -> list[Table]:
    header = ["band", "position (cm^-1)", "reference (cm^-1)", "shift (cm^-1)", "FWHM (cm^-1)",
              f"height ({unit})"]
    return [Table(header, _band_rows(entry["bands"], height_key),
                  f"group {name} ({view}) vs the {entry['reference']} band table; reference: "
                  f"{entry['reference_citation']}")
            for name, entry in groups["bands"].items()]


def _reference_positions(groups: Mapping[str, Any]) -> list[float]:
    return sorted({r["reference_cm-1"] for entry in groups["bands"].values()
                   for r in entry["bands"] if r["reference_cm-1"] is not None})


def section_ir_groups(data: Mapping[str, Any]) -> Section | None:
    """Group spectra (absolute n*alpha) with their band tables and the sum check."""
    ir = data.get("ir") or {}
    groups = ir.get("groups")
    if not groups:
        return None
    mode = groups["mode"]
    fig = Figure("ir_groups", groups_png(
        ir["wavenumber_cm"], ir["n_alpha_per_cm"], groups["spectra"],
        cross=groups.get("cross_terms"), bands_cm=_reference_positions(groups),
        ylabel=r"n($\omega$) $\alpha$($\omega$) (cm$^{-1}$)",
        max_wavenumber_cm=ir.get("max_wavenumber_cm") or 4500.0),
        f"IR spectrum split into per-frame groups ({groups['selector']}, {mode} terms); dotted: "
        "reference band positions")
    sizes = Table(["group", "mean atoms", "min", "max"],
                  [[name, v["mean"], v["min"], v["max"]]
                   for name, v in groups["atoms_per_group"].items()],
                  "atoms per group per frame (groups are recomputed every stored frame)")
    check = groups.get("sum_check") or {}
    check_table = Table(["check", "value"], [
        ["max |Mdot - sum of group currents| / rms(Mdot)", check.get("current_residual")],
        ["max |total - sum of group spectra" + (" - cross terms" if mode == "self" else "")
         + "| / max total", check.get("spectrum_residual")],
        ["cross terms / total, integrated", check.get("cross_fraction")]],
        "sum check: the groups partition the atoms, so their currents add up to the total")
    what = ("each group's self term FT<Mdot_G(0).Mdot_G(t)>; the cross terms between groups make "
            "up the rest of the total" if mode == "self" else
            "each group's cross term with the total, FT<Mdot_G(0).Mdot(t)>, so the group spectra "
            "add up to the total")
    paras = [f"Per-frame groups ({groups['selector']}): the group current sums Z*_i v_i over the "
             f"atoms in the group at each stored step; the group spectra are {what}. Each group "
             "is compared with its matching reference band table."]
    if groups.get("cuts_A"):
        paras.append("Layer cuts (Å from the surface): "
                     + ", ".join(f"{c:.2f}" for c in groups["cuts_A"]))
    tables = [sizes, check_table, *_band_tables(groups, "height_cm-1", "cm^-1", "absolute")]
    return Section("Infrared spectrum by group", paras, tables, [fig])


def section_ir_paper(data: Mapping[str, Any]) -> Section | None:
    """The paper-style view (classical intensities, NQE red shift, peak normalisation)."""
    paper = (data.get("ir") or {}).get("paper")
    if not paper:
        return None
    groups = paper.get("groups")
    fig = Figure("ir_paper", groups_png(
        paper["wavenumber_cm"], paper["intensity_au"], (groups or {}).get("spectra", {}),
        bands_cm=[r["reference_cm-1"] for r in paper["bands"] if r["reference_cm-1"]],
        ylabel="intensity (a.u., paper style)",
        max_wavenumber_cm=(data.get("ir") or {}).get("max_wavenumber_cm") or 4500.0),
        f"{paper['label']}; not absolute units")
    header = ["band", "position (cm^-1)", "reference (cm^-1)", "shift (cm^-1)", "FWHM (cm^-1)",
              "height (a.u.)"]
    tables = [Table(header, _band_rows(paper["bands"], "height_au"),
                    f"total (paper style) vs the {paper['system']} band table")]
    if groups:
        tables += _band_tables(groups, "height_au", "a.u.", "paper style")
    paras = [f"This view is {paper['label']}, for laying these spectra over the figures of "
             "arXiv 2606.15001. Intensity 1 = "
             f"{paper['scale_cm-1']:.4g} cm^-1 of n*alpha; the absolute spectrum above is the "
             "one to compare with experiment in physical units."]
    return Section("Infrared spectrum, paper-style view", paras, tables, [fig])
