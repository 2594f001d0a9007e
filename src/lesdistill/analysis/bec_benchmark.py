"""Born effective charges of a student against reference tensors: the numbers (plain numpy).

Z[i, a, b] = dP_a / dr_ib in e, one 3x3 tensor per atom, all frames concatenated atom by atom.
A student's latent charges are learnt from energies and forces, which are even in the charges,
so its global BEC sign is arbitrary: :func:`score` first applies the sign s in {+1, -1} that
brings s * Z_pred closest to the reference (least squares) and reports it. Then, over all 9
components of all atoms,

    RMSE = sqrt(<(Z_pred - Z_ref)^2>),  MAE = <|Z_pred - Z_ref|>,
    R^2  = 1 - sum (Z_pred - Z_ref)^2 / sum (Z_ref - <Z_ref>_atoms)^2

(the mean tensor over atoms in the denominator, :func:`lesdistill.compare.metrics.bec_r2`), the
per-element mean isotropic part Tr(Z)/3 of prediction and reference, and the best global scale
lambda = sum(Z_pred Z_ref) / sum(Z_pred^2) with the errors after scaling (how much of the error is
one overall factor, e.g. a wrong eps_inf).

Yardstick: the best *isotropic constant per element* Z_i = c_e I, fitted to the reference itself
(c_e = mean Tr(Z_ref)/3 over the atoms of element e: the least-squares optimum), is an oracle
that knows the reference's average charges but nothing of the environment. A student shows that
it has learnt environment-dependent electrostatics when its MAE is at most half the constant's
(:data:`YARDSTICK_FRACTION`). On the paper's DFT frames of liquid water the constant scores R^2
0.862, RMSE 0.147 e, MAE 0.111 e.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lesdistill.compare.metrics import _as_bec, bec_r2, sign_to_match

#: A student passes the yardstick when its MAE <= this fraction of the isotropic constant's MAE.
YARDSTICK_FRACTION = 0.5

#: Name of the isotropic-constant oracle in benchmark results.
CONSTANT_NAME = "isotropic constant per element (fitted to the reference)"

__all__ = ["YARDSTICK_FRACTION", "CONSTANT_NAME", "score", "isotropic_constant", "benchmark",
           "format_benchmark"]


def _errors(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    diff = pred - ref
    return {"r2": bec_r2(pred, ref), "rmse_e": float(np.sqrt(np.mean(diff ** 2))),
            "mae_e": float(np.mean(np.abs(diff)))}


def _symbols(symbols: Sequence[str], n: int) -> np.ndarray:
    sym = np.asarray([str(s) for s in symbols])
    if sym.shape != (n,):
        raise ValueError(f"symbols has {sym.size} entries for {n} BEC tensors")
    return sym


def score(pred: Any, ref: Any, symbols: Sequence[str], *, fix_sign: bool = True) -> dict[str, Any]:
    """Errors of predicted BECs ``pred`` against ``ref`` (both (N, 3, 3) or (N, 9), e).

    Returns ``sign`` (applied to ``pred`` first; +1 with ``fix_sign=False``), ``r2``, ``rmse_e``,
    ``mae_e`` over all components, ``best_scale`` with ``scaled`` = {r2, rmse_e, mae_e} of
    ``best_scale * sign * pred``, ``per_element`` = {symbol: {n_atoms, trace_pred_e,
    trace_ref_e, mae_e}} (trace = mean Tr(Z)/3) and ``n_atoms``.
    """
    p, r = _as_bec(pred, "pred"), _as_bec(ref, "ref")
    if p.shape != r.shape:
        raise ValueError(f"BEC arrays must match atom for atom: {p.shape} vs {r.shape}")
    if p.shape[0] == 0:
        raise ValueError("no atoms to score")
    sym = _symbols(symbols, p.shape[0])
    sign = sign_to_match(p, r) if fix_sign else 1.0
    p = sign * p
    out: dict[str, Any] = {"sign": int(sign), **_errors(p, r), "n_atoms": int(p.shape[0])}
    norm = float(np.sum(p * p))
    scale = float(np.sum(p * r)) / norm if norm > 0 else float("nan")
    out["best_scale"] = scale
    out["scaled"] = _errors(scale * p, r) if norm > 0 else {}
    tr_p = np.trace(p, axis1=1, axis2=2) / 3.0
    tr_r = np.trace(r, axis1=1, axis2=2) / 3.0
    out["per_element"] = {
        str(e): {"n_atoms": int(np.sum(sym == e)), "trace_pred_e": float(tr_p[sym == e].mean()),
                 "trace_ref_e": float(tr_r[sym == e].mean()),
                 "mae_e": float(np.mean(np.abs(p[sym == e] - r[sym == e])))}
        for e in sorted(set(sym.tolist()))}
    return out


def isotropic_constant(ref: Any, symbols: Sequence[str]) -> tuple[np.ndarray, dict[str, float]]:
    """The best isotropic constant per element fitted to ``ref``: tensors (N, 3, 3) c_e I and
    {symbol: c_e} in e, with c_e = mean Tr(Z_ref)/3 of that element (least squares over all
    components)."""
    r = _as_bec(ref, "ref")
    sym = _symbols(symbols, r.shape[0])
    tr = np.trace(r, axis1=1, axis2=2) / 3.0
    consts = {str(e): float(tr[sym == e].mean()) for e in sorted(set(sym.tolist()))}
    c = np.array([consts[s] for s in sym.tolist()])
    return c[:, None, None] * np.eye(3)[None], consts


def benchmark(preds: Mapping[str, Any], ref: Any, symbols: Sequence[str]) -> dict[str, Any]:
    """Score every prediction in ``preds`` ({name: (N, 3, 3)}) against ``ref`` with the same code.

    Returns ``{"constant": {values_e, **score}, "students": {name: {**score, "yardstick": ...}},
    "reference_trace_e": {symbol: mean Tr/3}}``; ``yardstick`` = {threshold_mae_e, passed}
    (MAE <= :data:`YARDSTICK_FRACTION` x the constant's MAE).
    """
    const, values = isotropic_constant(ref, symbols)
    c = score(const, ref, symbols, fix_sign=False)
    threshold = YARDSTICK_FRACTION * c["mae_e"]
    students = {}
    for name, pred in preds.items():
        s = score(pred, ref, symbols)
        s["yardstick"] = {"threshold_mae_e": threshold, "passed": bool(s["mae_e"] <= threshold)}
        students[name] = s
    return {"constant": {"name": CONSTANT_NAME, "values_e": values, **c},
            "students": students, "yardstick_fraction": YARDSTICK_FRACTION,
            "reference_trace_e": {e: v["trace_ref_e"] for e, v in c["per_element"].items()}}


def format_benchmark(result: Mapping[str, Any]) -> str:
    """Plain-text table of a :func:`benchmark` result (one row per student, then the constant)."""
    elements = list(result["reference_trace_e"])
    head = f"{'':<34}{'sign':>5}{'R^2':>8}{'RMSE':>8}{'MAE':>8}{'scale':>7}"
    head += "".join(f"{'Tr/3 ' + e:>9}" for e in elements) + "  MAE <= constant/2"
    lines = [head + "   (e)"]

    def row(name: str, s: Mapping[str, Any], sign: str, passed: str) -> str:
        text = f"{name[:33]:<34}{sign:>5}{s['r2']:>8.3f}{s['rmse_e']:>8.3f}{s['mae_e']:>8.3f}"
        text += f"{s.get('best_scale', float('nan')):>7.2f}"
        text += "".join(f"{s['per_element'][e]['trace_pred_e']:>+9.3f}" for e in elements)
        return text + f"  {passed}"

    for name, s in result["students"].items():
        verdict = "PASS" if s["yardstick"]["passed"] else "FAIL"
        lines.append(row(name, s, f"{s['sign']:+d}", verdict))
    c = result["constant"]
    lines.append(row("isotropic constant (oracle)", c, "", f"threshold {c['mae_e'] / 2:.3f}"))
    lines.append(f"{'reference':<34}{'':>36}"
                 + "".join(f"{result['reference_trace_e'][e]:>+9.3f}" for e in elements))
    return "\n".join(lines)
