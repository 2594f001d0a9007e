"""Comparison plots as PNG bytes (matplotlib Figure objects, no pyplot global state).

Every plot colours teachers by level of theory (one colour per level, line styles within a level)
so the reader sees at a glance whether level of theory or architecture explains the spread.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

_LEVEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
                 "#e377c2", "#7f7f7f", "#bcbd22")
_STYLES = ("-", "--", ":", "-.")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def level_styles(levels: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """(colour, line style) per teacher: one colour per level of theory, styles within a level."""
    order = sorted(set(levels.values()), key=str.lower)
    count: dict[str, int] = {}
    out = {}
    for teacher, level in levels.items():
        k = count.get(level, 0)
        count[level] = k + 1
        out[teacher] = (_LEVEL_COLORS[order.index(level) % len(_LEVEL_COLORS)],
                        _STYLES[k % len(_STYLES)])
    return out


def bec_agreement_png(names: Sequence[str], matrix: np.ndarray) -> bytes:
    """Heat map of the BEC R^2 matrix (row: student, column: student taken as reference)."""
    m = np.asarray(matrix, dtype=float)
    n = len(names)
    fig = _figure(1.6 + 0.75 * n, 1.2 + 0.65 * n)
    ax = fig.add_subplot()
    im = ax.imshow(np.clip(m, -1.0, 1.0), vmin=-1.0, vmax=1.0, cmap="RdYlGn")
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("reference student")
    ax.set_ylabel("student")
    for i in range(n):
        for j in range(n):
            text = "n/a" if not np.isfinite(m[i, j]) else f"{m[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="R² of per-atom BEC tensors")
    return _png(fig)


def ir_overlay_png(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                   levels: Mapping[str, str], *, experiment: tuple | None = None,
                   experiment_label: str = "experiment", max_wavenumber_cm: float = 4500.0,
                   normalise: bool = True) -> bytes:
    """IR spectra n*alpha (cm^-1) of all students, experiment in black. With ``normalise`` each
    curve is scaled to unit maximum below ``max_wavenumber_cm`` (band positions are compared)."""
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    styles = level_styles({k: levels.get(k, "unknown") for k in curves})

    def prep(w, y):
        w, y = np.asarray(w, float), np.asarray(y, float)
        keep = (w <= max_wavenumber_cm) & (w >= 0)
        w, y = w[keep], y[keep]
        if normalise and y.size and np.nanmax(y) > 0:
            y = y / np.nanmax(y)
        return w, y

    for name, (w, y) in curves.items():
        color, ls = styles[name]
        ax.plot(*prep(w, y), color=color, ls=ls, lw=1.2, label=f"{name} [{levels.get(name, '?')}]")
    if experiment is not None:
        ax.plot(*prep(*experiment), color="k", lw=1.6, label=experiment_label)
    ax.set_xlim(0, max_wavenumber_cm)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel(r"n$\alpha$ (normalised)" if normalise else r"n$\alpha$ (cm$^{-1}$)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)


def rdf_overlay_png(rdfs: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
                    levels: Mapping[str, str], *,
                    reference: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                    reference_label: str = "shared frames") -> bytes:
    """RDFs of all students: ``rdfs[pair][teacher] = (r_A, g)``, one panel per pair; optional
    ``reference[pair] = (r_A, g)`` drawn in black."""
    pairs = list(rdfs)
    fig = _figure(4.2 * max(1, len(pairs)), 3.5)
    axes = fig.subplots(1, max(1, len(pairs)), squeeze=False)[0]
    teachers = sorted({t for p in pairs for t in rdfs[p]})
    styles = level_styles({t: levels.get(t, "unknown") for t in teachers})
    for ax, pair in zip(axes, pairs, strict=False):
        for teacher, (r, g) in rdfs[pair].items():
            color, ls = styles[teacher]
            ax.plot(r, g, color=color, ls=ls, lw=1.2, label=teacher)
        if reference and pair in reference:
            ax.plot(*reference[pair], color="k", lw=1.6, label=reference_label)
        ax.axhline(1.0, color="gray", lw=0.5)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel(f"g(r) {pair}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)


def by_level_png(values: Mapping[str, Mapping[str, float]], levels: Mapping[str, str]) -> bytes:
    """One panel per quantity (``values[quantity][teacher]``): teachers as points, grouped on the
    x axis by level of theory, so within-level and between-level spreads can be compared.
    Quantity names carry their unit, e.g. ``"bend peak (cm^-1)"``."""
    quantities = [q for q in values if values[q]]
    ncol = min(4, max(1, len(quantities)))
    nrow = max(1, -(-len(quantities) // ncol))
    fig = _figure(3.2 * ncol, 3.4 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax in axes[len(quantities):]:
        ax.set_visible(False)
    order = sorted({levels.get(t, "unknown") for q in quantities for t in values[q]}, key=str.lower)
    for ax, q in zip(axes, quantities, strict=False):
        styles = level_styles({t: levels.get(t, "unknown") for t in values[q]})
        for teacher, v in values[q].items():
            x = order.index(levels.get(teacher, "unknown"))
            ax.scatter([x], [v], color=styles[teacher][0], s=28)
            ax.annotate(teacher, (x, v), fontsize=6, xytext=(4, 0), textcoords="offset points")
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(order) - 0.3)
        ax.set_title(q, fontsize=9)
        ax.grid(alpha=0.3)
    return _png(fig)
