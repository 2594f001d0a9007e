"""Report plots as PNG bytes, from plain numbers (no files read here).

Uses ``matplotlib.figure.Figure`` directly (no pyplot, no global backend state), so plots are
safe in threads and headless machines.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["learning_curve_png", "parity_png", "charges_png", "rdf_png", "ir_png",
           "bec_png", "finetune_png"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _figure(width: float = 5.0, height: float = 3.6):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def learning_curve_png(epochs: Sequence[float], curves: Mapping[str, Sequence[float]],
                       ylabel: str = "MAE", final: Mapping[str, tuple[float, float]] | None = None
                       ) -> bytes:
    """Learning curves (one line per named series, log y axis) against epoch; ``final[label] =
    (epoch, value)`` adds one marker per series (e.g. the final weights evaluated on both sets)."""
    fig = _figure()
    ax = fig.add_subplot()
    for k, (label, values) in enumerate(curves.items()):
        vals = np.asarray(values, dtype=float)
        if np.all(~np.isfinite(vals)):
            continue
        ax.plot(epochs, vals, label=label, color=_COLORS[k % len(_COLORS)])
    for k, (label, (epoch, value)) in enumerate((final or {}).items()):
        if np.isfinite(value):
            ax.plot([epoch], [value], ls="none", marker="o" if k == 0 else "s", mfc="none",
                    color="k", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def parity_png(reference: Sequence[float], predicted: Sequence[float], *, quantity: str,
               unit: str, mae: float | None = None, mae_unit: str | None = None) -> bytes:
    """Student vs teacher parity plot with the y = x line; axes in ``unit``, the MAE in the
    title in ``mae_unit`` (default ``unit``)."""
    ref, pred = np.asarray(reference, float).ravel(), np.asarray(predicted, float).ravel()
    fig = _figure(4.0, 3.8)
    ax = fig.add_subplot()
    ax.scatter(ref, pred, s=4, alpha=0.5, color=_COLORS[0], rasterized=True)
    if ref.size:
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
    ax.set_xlabel(f"teacher {quantity} ({unit})")
    ax.set_ylabel(f"student {quantity} ({unit})")
    if mae is not None:
        ax.set_title(f"{quantity}: MAE {mae:.3g} {mae_unit or unit}", fontsize=9)
    ax.grid(alpha=0.3)
    return _png(fig)


def _per_element_histogram_png(values: Mapping[str, Sequence[float]], xlabel: str,
                               decimals: int) -> bytes:
    """One histogram per element, with the element mean (e) in the legend."""
    fig = _figure()
    ax = fig.add_subplot()
    for k, (element, series) in enumerate(sorted(values.items())):
        vals = np.asarray(series, float)
        ax.hist(vals, bins=40, alpha=0.6, color=_COLORS[k % len(_COLORS)],
                label=f"{element} (mean {vals.mean():+.{decimals}f} e)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def charges_png(charges: Mapping[str, Sequence[float]],
                xlabel: str = r"charge $\sqrt{\epsilon_\infty}\,q$ (e)") -> bytes:
    """Histogram of charges per element (e); label them with ``xlabel`` (latent or scaled)."""
    return _per_element_histogram_png(charges, xlabel, 3)


def bec_png(diagonals: Mapping[str, Sequence[float]]) -> bytes:
    """Histogram of BEC diagonal components per element (e)."""
    return _per_element_histogram_png(diagonals, "Born effective charge, diagonal Z_aa (e)", 2)


def rdf_png(r_A: Sequence[float], curves: Mapping[str, Mapping[str, Sequence[float]]]) -> bytes:
    """RDFs: ``curves[pair][source] = g`` (e.g. curves["O-O"]["teacher"]); one panel per pair."""
    pairs = list(curves)
    fig = _figure(4.2 * max(1, len(pairs)), 3.4)
    axes = fig.subplots(1, max(1, len(pairs)), squeeze=False)[0]
    for ax, pair in zip(axes, pairs, strict=False):
        for k, (source, g) in enumerate(curves[pair].items()):
            ax.plot(r_A, g, label=source, color=_COLORS[k % len(_COLORS)],
                    ls="-" if k == 0 else "--")
        ax.set_xlabel("r (Å)")
        ax.set_ylabel(f"g(r) {pair}")
        ax.axhline(1.0, color="gray", lw=0.5)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _png(fig)


def ir_png(wavenumber_cm: Sequence[float], n_alpha_per_cm: Sequence[float], *,
           error: Sequence[float] | None = None, reference: tuple | None = None,
           label: str = "student", reference_label: str = "experiment",
           max_wavenumber_cm: float = 4500.0) -> bytes:
    """IR absorption n*alpha(omega) (cm^-1) of the student with an optional reference overlay."""
    w, y = np.asarray(wavenumber_cm, float), np.asarray(n_alpha_per_cm, float)
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    keep = w <= max_wavenumber_cm
    ax.plot(w[keep], y[keep], color=_COLORS[0], label=label)
    if error is not None:
        e = np.asarray(error, float)
        ax.fill_between(w[keep], (y - e)[keep], (y + e)[keep], color=_COLORS[0], alpha=0.25, lw=0)
    if reference is not None:
        rw, ry = (np.asarray(v, float) for v in reference)
        rk = rw <= max_wavenumber_cm
        ax.plot(rw[rk], ry[rk], color="k", lw=1.0, label=reference_label)
    ax.set_xlim(0, max_wavenumber_cm)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel(r"n($\omega$) $\alpha$($\omega$) (cm$^{-1}$)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def dielectric_png(wavenumber_cm: Sequence[float], real: Sequence[float],
                   imag: Sequence[float], *, max_wavenumber_cm: float = 1200.0) -> bytes:
    """eps'(omega) and eps''(omega) (dimensionless) of the student MD up to max_wavenumber_cm."""
    w = np.asarray(wavenumber_cm, float)
    keep = w <= max_wavenumber_cm
    fig = _figure(6.4, 3.4)
    ax = fig.add_subplot()
    ax.plot(w[keep], np.asarray(real, float)[keep], color=_COLORS[0], label="eps' (real)")
    ax.plot(w[keep], np.asarray(imag, float)[keep], color=_COLORS[1], label="eps'' (imaginary)")
    ax.set_xlim(0, max_wavenumber_cm)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel(r"$\varepsilon(\omega)$")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def finetune_png(metrics: Mapping[str, Mapping[str, float]]) -> bytes:
    """Bar chart of error metrics before/after fine-tuning: ``metrics[stage][metric]``."""
    stages = list(metrics)
    names = sorted({m for v in metrics.values() for m in v})
    fig = _figure(1.6 + 1.6 * len(names), 3.2)
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        vals = [metrics[s].get(name, np.nan) for s in stages]
        ax.bar(stages, vals, color=[_COLORS[k % len(_COLORS)] for k in range(len(stages))])
        what, unit = metric_label(name)
        ax.set_title(what, fontsize=8)
        ax.set_ylabel(unit, fontsize=8)
        ax.set_xlabel("student", fontsize=8)
        ax.tick_params(labelsize=7)
    return _png(fig)


_UNIT_SUFFIXES = (("_meV_atom", "meV/atom"), ("_meV_per_atom", "meV/atom"), ("_meV_A3", "meV/Å³"),
                  ("_meV_per_A3", "meV/Å³"), ("_meV_A", "meV/Å"), ("_meV_per_A", "meV/Å"),
                  ("_me", "me"), ("_e", "e"), ("_cm", "cm⁻¹"), ("_s", "s"))


def metric_label(name: str) -> tuple[str, str]:
    """``"force_mae_meV_A"`` -> ``("force MAE", "meV/Å")``: a metric key as title and unit."""
    for suffix, unit in _UNIT_SUFFIXES:  # noqa: B007 (unit is used after the break)
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            break
    else:
        stem, unit = name, "value"
    words = [w.upper() if w in ("mae", "rmse", "r2") else w for w in stem.split("_")]
    return " ".join(words), unit
