"""IR plot: n*alpha (cm^-1) with error band, group decomposition and the experimental curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.fileio import atomic_path
from lesdistill.spectra.peaks import REFERENCE_CITATION, load_reference, reference_bands


def plot_ir(spectrum: Any, path: str | Path, *, reference: str | None = "water",
            groups: bool = True, max_wavenumber_cm: float | None = None,
            title: str | None = None, bands: str | None = None) -> Path:
    """Write a PNG (atomically) of an :class:`~lesdistill.spectra.ir.IRSpectrum` (n*alpha,
    cm^-1) or a :class:`~lesdistill.spectra.paper.PaperSpectrum` (paper style, a.u.).

    reference: system whose experimental curve is overlaid ("water"; None for no overlay), in
    the same absolute units, or normalised to its maximum for a paper-style spectrum.
    groups: also draw the group spectra. bands: system whose reference band positions are
    marked by dotted vertical lines when no experimental curve is drawn.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    paper = hasattr(spectrum, "intensity")
    x = np.asarray(spectrum.wavenumber_cm)
    fig = Figure(figsize=(7.0, 4.2), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    if paper:
        src = spectrum.source
        label = (f"MD, paper style ({src.temperature_K:g} K): classical, NQE-shifted"
                 if src is not None else "MD, paper style")
    else:
        label = f"MD ({spectrum.correction} correction, {spectrum.temperature_K:g} K)"
    ax.plot(x, spectrum.n_alpha_per_cm, color="C0", lw=1.4, label=label)
    err = np.asarray(spectrum.error if paper else spectrum.error_per_cm)
    if np.all(np.isfinite(err)):
        ax.fill_between(x, spectrum.n_alpha_per_cm - err, spectrum.n_alpha_per_cm + err,
                        color="C0", alpha=0.25, lw=0)
    if groups:
        for k, (name, value) in enumerate(spectrum.groups.items()):
            values = value[0] if isinstance(value, tuple) else value
            ax.plot(x, values, lw=1.0, ls="--", color=f"C{k + 2}", label=f"group {name}")
    if reference is not None:
        ref_x, ref_y = load_reference(reference)
        if paper:
            ref_y = ref_y / np.max(ref_y)
        ax.plot(ref_x, ref_y, color="k", lw=1.0, alpha=0.8,
                label=f"experiment: {REFERENCE_CITATION.get(reference, reference)}")
    elif bands is not None:
        marked = [p for p in reference_bands(bands) if p.resolved]
        for k, peak in enumerate(marked):
            ax.axvline(peak.position_cm, color="k", lw=0.8, ls=":", alpha=0.7,
                       label=(f"experiment: {REFERENCE_CITATION.get(bands, bands)}"
                              if k == 0 else None))
    x_max = float(max_wavenumber_cm or x[-1])
    ax.set_xlim(0.0, x_max)
    visible = [np.asarray(spectrum.n_alpha_per_cm)[x <= x_max]]
    if reference is not None:
        visible.append(ref_y[ref_x <= x_max])
    top = max(float(np.max(v)) for v in visible if v.size)
    ax.set_ylim(min(0.0, float(np.min(spectrum.n_alpha_per_cm))), 1.08 * top if top > 0 else 1.0)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel("intensity (a.u., normalised as in arXiv 2606.15001)" if paper
                  else r"$n(\omega)\,\alpha(\omega)$ (cm$^{-1}$)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target
