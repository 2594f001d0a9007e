"""Numbers that compare students with each other and with a reference (plain numpy, no I/O).

Born effective charges (BEC) are per-atom 3x3 tensors Z[i, a, b] = dP_a / dr_ib in e. Two students
"agree" when their tensors on the *same* atoms of the *same* frames agree; we measure this with the
coefficient of determination over all tensor components,

    R^2(pred, ref) = 1 - sum_{i,a,b} (Z^pred_iab - Z^ref_iab)^2
                       / sum_{i,a,b} (Z^ref_iab - <Z^ref>_ab)^2,

where <Z^ref>_ab is the mean tensor over all atoms (so the diagonal/off-diagonal offset does not
inflate the score). R^2 = 1 is perfect agreement; R^2 <= 0 means the prediction is no better than
the mean tensor. It is not symmetric: the agreement matrix M[i, j] = R^2(pred=student i,
ref=student j), with M[i, i] = 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Canonical names of levels of theory, found by a token in the squeezed lower-case text (spaces
#: removed, 'ω'/'omega' -> 'w'); checked in this order, so specific tokens come before general ones.
_LEVEL_TOKENS = (
    ("gfn1", "GFN1-xTB"), ("gfn2", "GFN2-xTB"), ("gfn-ff", "GFN-FF"), ("gfnff", "GFN-FF"),
    ("wb97m-v", "ωB97M-V"), ("wb97mv", "ωB97M-V"), ("wb97m-d3", "ωB97M-D3(BJ)"),
    ("wb97x-d", "ωB97X-D"), ("ccsd(t)", "CCSD(T)"), ("r2scan", "r2SCAN"), ("pbesol", "PBEsol"),
    ("revpbe-d3", "revPBE-D3"), ("revpbe+d3", "revPBE-D3"), ("revpbe", "revPBE"),
    ("pbe0", "PBE0"), ("pbe+u", "PBE/PBE+U"), ("pbeu", "PBE/PBE+U"), ("pbe-d3", "PBE-D3"),
    ("pbe+d3", "PBE-D3"), ("pbe", "PBE"), ("scan", "SCAN"), ("classicalionic", "analytic"),
    ("analytic", "analytic"),
)


def _as_bec(z: Any, name: str) -> np.ndarray:
    arr = np.asarray(z, dtype=float)
    if arr.ndim < 2 or arr.shape[-2:] != (3, 3):
        if arr.ndim >= 1 and arr.shape[-1] == 9:
            arr = arr.reshape(*arr.shape[:-1], 3, 3)
        else:
            raise ValueError(f"{name} must have shape (..., 3, 3) or (..., 9), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr.reshape(-1, 3, 3)


def bec_r2(pred: Any, ref: Any) -> float:
    """R^2 of per-atom BEC tensors ``pred`` against ``ref`` (shapes (..., 3, 3), same atoms).

    Returns nan when the reference has no spread (all tensors equal) and the prediction differs.
    """
    p, r = _as_bec(pred, "pred"), _as_bec(ref, "ref")
    if p.shape != r.shape:
        raise ValueError(f"BEC arrays must match atom for atom: {p.shape} vs {r.shape}")
    ss_res = float(np.sum((p - r) ** 2))
    ss_tot = float(np.sum((r - r.mean(axis=0)) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else float("nan")
    return 1.0 - ss_res / ss_tot


def bec_agreement_matrix(becs: Mapping[str, Any]) -> tuple[list[str], np.ndarray]:
    """Pairwise R^2 between students: names and M[i, j] = bec_r2(pred=i, ref=j)."""
    names = list(becs)
    mats = {n: _as_bec(becs[n], n) for n in names}
    m = np.ones((len(names), len(names)))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                m[i, j] = bec_r2(mats[a], mats[b])
    return names, m


def bec_errors(pred: Any, ref: Any, symbols: Sequence[str] | None = None) -> dict[str, Any]:
    """Error of predicted BECs against a reference, in e.

    Returns ``mae_e`` and ``rmse_e`` over all tensor components, ``r2`` (see :func:`bec_r2`),
    ``trace_mae_e`` (error of the isotropic part Tr Z / 3) and, when per-atom ``symbols`` are
    given (repeated for every frame, length = number of atoms in ``pred``), ``per_element`` MAE.
    """
    p, r = _as_bec(pred, "pred"), _as_bec(ref, "ref")
    if p.shape != r.shape:
        raise ValueError(f"BEC arrays must match atom for atom: {p.shape} vs {r.shape}")
    diff = p - r
    out: dict[str, Any] = {
        "mae_e": float(np.mean(np.abs(diff))),
        "rmse_e": float(np.sqrt(np.mean(diff**2))),
        "r2": bec_r2(p, r),
        "trace_mae_e": float(np.mean(np.abs(np.trace(diff, axis1=1, axis2=2) / 3.0))),
    }
    if symbols is not None:
        sym = np.asarray(list(symbols))
        if sym.shape[0] != p.shape[0]:
            raise ValueError(f"symbols has {sym.shape[0]} entries for {p.shape[0]} BEC tensors")
        out["per_element"] = {str(e): float(np.mean(np.abs(diff[sym == e])))
                              for e in sorted(set(sym.tolist()))}
    return out


def per_element_mean(values: Any, symbols: Sequence[str]) -> dict[str, float]:
    """Mean of a per-atom scalar (e.g. latent charge in e) for every element."""
    v = np.asarray(values, dtype=float).reshape(-1)
    sym = np.asarray(list(symbols))
    if sym.shape[0] != v.shape[0]:
        raise ValueError(f"symbols has {sym.shape[0]} entries for {v.shape[0]} values")
    return {str(e): float(v[sym == e].mean()) for e in sorted(set(sym.tolist()))}


def bec_trace_per_element(becs: Any, symbols: Sequence[str]) -> dict[str, float]:
    """Mean isotropic BEC Tr(Z)/3 (e) for every element."""
    z = _as_bec(becs, "becs")
    return per_element_mean(np.trace(z, axis1=1, axis2=2) / 3.0, symbols)


def acoustic_sum_rule_residual(becs_per_frame: Sequence[Any]) -> float:
    """Largest |sum_i Z_i,ab| (e) over frames and components; 0 for a neutral, translation-
    invariant model (the acoustic sum rule)."""
    worst = 0.0
    for z in becs_per_frame:
        worst = max(worst, float(np.max(np.abs(_as_bec(z, "becs").sum(axis=0)))))
    return worst


def canonical_level(level: str | None) -> str:
    """Canonical name of a level of theory, so that teachers described differently group
    together: ``"DFT PBE / PBE+U (Materials Project GGA/GGA+U mix)"`` -> ``PBE/PBE+U``,
    ``wB97M-V`` -> ``ωB97M-V``, ``"semi-empirical tight binding GFN1-xTB ..."`` -> ``GFN1-xTB``.
    Text with no known token is returned stripped; empty/None -> ``unknown``."""
    if level is None or not str(level).strip():
        return "unknown"
    text = str(level).strip()
    key = text.lower().replace("ω", "w").replace("omega", "w").replace(" ", "").replace("_", "-")
    for token, name in _LEVEL_TOKENS:
        if token in key:
            return name
    return text


def group_by_level(levels: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Teachers grouped by canonical level of theory: {level: [teacher, ...]}, levels sorted by
    name, teachers in input order."""
    groups: dict[str, list[str]] = {}
    for teacher, level in levels.items():
        groups.setdefault(canonical_level(level), []).append(teacher)
    return dict(sorted(groups.items(), key=lambda kv: kv[0].lower()))


def spread_within_and_between(values: Mapping[str, float],
                              groups: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Does level of theory explain the spread of a per-teacher number (e.g. a band position)?

    Returns the total standard deviation, the mean within-group standard deviation (groups with
    >= 2 members), and the standard deviation of group means; nan where undefined.
    """
    vals = {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}
    total = float(np.std(list(vals.values()))) if len(vals) >= 2 else float("nan")
    within, means = [], []
    for members in groups.values():
        xs = [vals[m] for m in members if m in vals]
        if xs:
            means.append(float(np.mean(xs)))
        if len(xs) >= 2:
            within.append(float(np.std(xs)))
    return {
        "std_total": total,
        "std_within_level_mean": float(np.mean(within)) if within else float("nan"),
        "std_between_levels": float(np.std(means)) if len(means) >= 2 else float("nan"),
    }


def sign_to_match(pred: Any, ref: Any) -> float:
    """The global sign s in {+1, -1} that brings ``s * pred`` closest to ``ref`` (least squares).

    LES latent charges are learnt from energies and forces, which are even in the charges
    (E_lr ~ |S(k)|^2), so a student's overall charge (and BEC) sign is not fixed by training."""
    p, r = _as_bec(pred, "pred"), _as_bec(ref, "ref")
    if p.shape != r.shape:
        raise ValueError(f"BEC arrays must match atom for atom: {p.shape} vs {r.shape}")
    return -1.0 if float(np.sum(p * r)) < 0.0 else 1.0


def conventional_sign(becs: Any, symbols: Sequence[str]) -> float | None:
    """Sign convention without a reference: hydrogen carries a positive mean BEC trace (true in
    water, acids and hydroxylated surfaces). None when there is no hydrogen."""
    sym = np.asarray(list(symbols))
    if "H" not in set(sym.tolist()):
        return None
    z = _as_bec(becs, "becs")
    if sym.shape[0] != z.shape[0]:
        raise ValueError(f"symbols has {sym.shape[0]} entries for {z.shape[0]} BEC tensors")
    trace = np.trace(z[sym == "H"], axis1=1, axis2=2)
    return -1.0 if float(trace.mean()) < 0.0 else 1.0
