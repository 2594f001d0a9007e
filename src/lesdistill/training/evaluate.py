"""Accuracy of a student on labelled frames: the one evaluation path and its metric schema.

Every consumer (``lesdistill train``'s validation, ``lesdistill evaluate``, the pipeline's
evaluate and fine-tune stages, ``lesdistill compare``) uses :func:`predict` + :func:`metrics_of`
(or :func:`evaluate` on files), so one set of names holds everywhere. :func:`evaluate` returns a
JSON-ready dict (units in the key names):

* ``energy_mae_meV_per_atom``, ``energy_rmse_meV_per_atom`` (per-atom energy error),
* ``forces_mae_meV_per_A``, ``forces_rmse_meV_per_A`` (all Cartesian components),
* ``forces_per_element``: ``{symbol: {"mae_meV_per_A", "rmse_meV_per_A", "n_atoms"}}``,
* ``stress_mae_meV_per_A3``, ``stress_rmse_meV_per_A3`` when frames carry stress,
* ``bec_mae_e``, ``bec_rmse_e`` when frames carry BEC labels,
* ``n_frames``, ``n_atoms``, ``model``, ``data``; with ``out_dir``: ``metrics.json`` and
  ``parity_energy.png``, ``parity_forces.png`` (and ``parity_stress.png``), listed in ``plots``.

:func:`charge_stats` summarises the student's (physical) charges per element and
:func:`parity_arrays` gives the per-frame/per-atom arrays behind the parity plots (for an npz).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill import keys
from lesdistill.fileio import atomic_path, write_text_atomic

PathLike = str | os.PathLike[str]


@dataclass
class Predictions:
    """Reference vs student values. energy per atom [F] eV/atom; forces [N, 3] eV/Å with the
    atomic numbers [N]; stress [M, 6] eV/Å^3 (frames with a stress label); bec [K, 3, 3] e;
    the student's physical charges [N] e (latent * sqrt(eps_inf)); atoms per frame [F]."""

    energy_ref: np.ndarray
    energy_pred: np.ndarray
    forces_ref: np.ndarray
    forces_pred: np.ndarray
    numbers: np.ndarray
    stress_ref: np.ndarray
    stress_pred: np.ndarray
    bec_ref: np.ndarray
    bec_pred: np.ndarray
    charges: np.ndarray
    n_atoms: np.ndarray


def predict(model: Any, frames: Sequence[Any], *, batch_size: int = 8) -> Predictions:
    """Run ``model`` (a StudentModel) on :class:`~lesdistill.data.dataset.LabelledFrame` objects."""
    from lesdistill.training import losses, modelio

    model.eval()
    has_stress = any(f.stress is not None for f in frames)
    has_bec = any(f.bec is not None for f in frames)
    parts = modelio.batch_parts([f.atoms for f in frames], modelio.cutoff(model))
    e_ref, e_pred, f_ref, f_pred, zs, s_ref, s_pred, b_ref, b_pred, q = ([] for _ in range(10))
    for start in range(0, len(frames), batch_size):
        chunk = frames[start:start + batch_size]
        batch = modelio.collate(parts[start:start + batch_size]).to(model.device, model.dtype)
        bec = [f.bec is not None for f in chunk] if has_bec else False
        out = modelio.predict(model, batch, stress=has_stress, bec=bec, training=False)
        n = np.array([f.n_atoms for f in chunk], dtype=float)
        e_ref.append(np.array([f.energy for f in chunk]) / n)
        e_pred.append(out[keys.ENERGY].cpu().double().numpy() / n)
        f_ref.append(np.concatenate([f.forces for f in chunk]))
        f_pred.append(out[keys.FORCES].cpu().double().numpy())
        zs.append(np.concatenate([f.atoms.numbers for f in chunk]))
        q.append(out[keys.CHARGES].cpu().double().numpy())
        if has_stress:
            stress = losses.voigt(out[keys.STRESS]).cpu().double().numpy()
            for k, f in enumerate(chunk):
                if f.stress is not None:
                    s_ref.append(f.stress[None])
                    s_pred.append(stress[k][None])
        if keys.BEC in out:  # computed only for the frames of this chunk with BEC labels
            z = out[keys.BEC].cpu().double().numpy()
            offset = 0
            for f in chunk:
                if f.bec is not None:
                    b_ref.append(f.bec)
                    b_pred.append(z[offset:offset + f.n_atoms])
                offset += f.n_atoms

    def cat(items: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        return np.concatenate(items) if items else np.zeros((0, *shape))

    return Predictions(cat(e_ref, ()), cat(e_pred, ()), cat(f_ref, (3,)), cat(f_pred, (3,)),
                       cat(zs, ()).astype(int), cat(s_ref, (6,)), cat(s_pred, (6,)),
                       cat(b_ref, (3, 3)), cat(b_pred, (3, 3)), cat(q, ()),
                       np.array([f.n_atoms for f in frames], dtype=int))


def _mae_rmse(ref: np.ndarray, pred: np.ndarray, scale: float = 1000.0) -> tuple[float, float]:
    if ref.size == 0:
        return math.nan, math.nan
    d = (pred - ref).reshape(-1)
    return float(scale * np.abs(d).mean()), float(scale * np.sqrt((d ** 2).mean()))


def metrics_of(p: Predictions) -> dict[str, Any]:
    """Error table of :class:`Predictions` (see module docstring for the keys and units)."""
    from ase.data import chemical_symbols

    out: dict[str, Any] = {"n_frames": int(p.energy_ref.size), "n_atoms": int(p.numbers.size)}
    out["energy_mae_meV_per_atom"], out["energy_rmse_meV_per_atom"] = _mae_rmse(
        p.energy_ref, p.energy_pred
    )
    out["forces_mae_meV_per_A"], out["forces_rmse_meV_per_A"] = _mae_rmse(
        p.forces_ref, p.forces_pred
    )
    per_element = {}
    for z in np.unique(p.numbers):
        mask = p.numbers == z
        mae, rmse = _mae_rmse(p.forces_ref[mask], p.forces_pred[mask])
        per_element[chemical_symbols[int(z)]] = {"mae_meV_per_A": mae, "rmse_meV_per_A": rmse,
                                                 "n_atoms": int(mask.sum())}
    out["forces_per_element"] = per_element
    if p.stress_ref.size:
        out["stress_mae_meV_per_A3"], out["stress_rmse_meV_per_A3"] = _mae_rmse(
            p.stress_ref, p.stress_pred
        )
    if p.bec_ref.size:
        out["bec_mae_e"], out["bec_rmse_e"] = _mae_rmse(p.bec_ref, p.bec_pred, scale=1.0)
    return out


def charge_stats(p: Predictions) -> dict[str, dict[str, float]]:
    """The student's physical charges per element: {symbol: {mean, std, min, max, n}} in e."""
    from ase.data import chemical_symbols

    out = {}
    for z in np.unique(p.numbers):
        q = p.charges[p.numbers == z]
        out[chemical_symbols[int(z)]] = {"mean": float(q.mean()), "std": float(q.std()),
                                         "min": float(q.min()), "max": float(q.max()),
                                         "n": int(q.size)}
    return dict(sorted(out.items()))


def parity_arrays(p: Predictions) -> dict[str, np.ndarray]:
    """Arrays behind the parity plots and charge histograms (for ``np.savez``): energy_ref/pred
    (F,) eV/atom, forces_ref/pred (N, 3) eV/Å, stress_ref/pred (M, 6) eV/Å^3, n_atoms (F,),
    charges_<symbol> (n,) e."""
    from ase.data import chemical_symbols

    out = {"energy_ref": p.energy_ref, "energy_pred": p.energy_pred, "forces_ref": p.forces_ref,
           "forces_pred": p.forces_pred, "stress_ref": p.stress_ref, "stress_pred": p.stress_pred,
           "n_atoms": p.n_atoms}
    for z in np.unique(p.numbers):
        out[f"charges_{chemical_symbols[int(z)]}"] = p.charges[p.numbers == z]
    return out


def evaluate(model_path: PathLike | Any, data_files: PathLike | Iterable[PathLike], *,
             device: str = "cpu", out_dir: PathLike | None = None, batch_size: int = 8,
             label_keys: Any = None) -> dict[str, Any]:
    """Errors of a student (checkpoint path or StudentModel) on labelled frames; plots + JSON
    with ``out_dir``.

    ``label_keys``: a :class:`~lesdistill.data.dataset.LabelKeys` for datasets that store the
    reference under other names (default: ASE calculator results energy/forces/stress).
    """
    from lesdistill.data.dataset import LabelKeys, read_frames
    from lesdistill.training import modelio

    if isinstance(model_path, (str, os.PathLike)):
        model = modelio.load(model_path, device=device)
    else:
        model = model_path.to(device)
        model_path = "<in-memory StudentModel>"
    frames = read_frames(data_files, label_keys or LabelKeys())
    preds = predict(model, frames, batch_size=batch_size)
    result = metrics_of(preds)
    files = [data_files] if isinstance(data_files, (str, os.PathLike)) else list(data_files)
    result["model"] = str(model_path)
    result["data"] = [str(f) for f in files]
    if out_dir is not None:
        out = Path(out_dir)
        result["plots"] = [str(p) for p in write_parity_plots(preds, out)]
        write_text_atomic(out / "metrics.json", json.dumps(result, indent=2, allow_nan=True) + "\n")
    return result


def write_parity_plots(preds: Predictions, out_dir: PathLike, prefix: str = "parity") -> list[Path]:
    """Parity plots (student vs reference) as PNG files in ``out_dir``, written atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    panels = [
        ("energy", preds.energy_ref, preds.energy_pred, "energy (eV/atom)", 1000.0, "meV/atom"),
        (
            "forces",
            preds.forces_ref.reshape(-1),
            preds.forces_pred.reshape(-1),
            "force component (eV/Å)",
            1000.0,
            "meV/Å",
        ),
    ]
    if preds.stress_ref.size:
        panels.append(("stress", preds.stress_ref.reshape(-1), preds.stress_pred.reshape(-1),
                       "stress component (eV/Å³)", 1000.0, "meV/Å³"))
    if preds.bec_ref.size:
        panels.append(
            (
                "bec",
                preds.bec_ref.reshape(-1),
                preds.bec_pred.reshape(-1),
                "BEC component (e)",
                1.0,
                "e",
            )
        )
    written = []
    for name, ref, pred, label, scale, unit in panels:
        fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=120)
        ax.scatter(ref, pred, s=4, alpha=0.5, linewidths=0)
        lo, hi = (
            (float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max())))
            if ref.size
            else (0.0, 1.0)
        )
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        mae, rmse = _mae_rmse(ref, pred, scale)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"student {label}")
        ax.set_title(f"MAE {mae:.3g} {unit}, RMSE {rmse:.3g} {unit}", fontsize=9)
        fig.tight_layout()
        path = out / f"{prefix}_{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(path)
    return written


def format_table(metrics: dict[str, Any]) -> str:
    """Plain-text table of an :func:`evaluate` result."""
    rows = [
        ("quantity", "MAE", "RMSE", "unit"),
        (
            "energy",
            metrics["energy_mae_meV_per_atom"],
            metrics["energy_rmse_meV_per_atom"],
            "meV/atom",
        ),
        ("forces", metrics["forces_mae_meV_per_A"], metrics["forces_rmse_meV_per_A"], "meV/Å"),
    ]
    for sym, m in metrics.get("forces_per_element", {}).items():
        rows.append((f"  forces {sym}", m["mae_meV_per_A"], m["rmse_meV_per_A"], "meV/Å"))
    if "stress_mae_meV_per_A3" in metrics:
        rows.append(
            (
                "stress",
                metrics["stress_mae_meV_per_A3"],
                metrics["stress_rmse_meV_per_A3"],
                "meV/Å³",
            )
        )
    if "bec_mae_e" in metrics:
        rows.append(("BEC", metrics["bec_mae_e"], metrics["bec_rmse_e"], "e"))
    lines = [f"{metrics.get('n_frames', '?')} frames, {metrics.get('n_atoms', '?')} atoms"]
    for name, mae, rmse, unit in rows:
        fm = mae if isinstance(mae, str) else f"{mae:.4g}"
        fr = rmse if isinstance(rmse, str) else f"{rmse:.4g}"
        lines.append(f"{name:<14}{fm:>12}{fr:>12}  {unit}")
    return "\n".join(lines)
