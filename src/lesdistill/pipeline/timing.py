"""Student-vs-reference predictions on labelled frames, error metrics, and side-by-side timing.

Metric names carry their units: ``energy_mae_meV_atom`` (energy per atom), ``force_mae_meV_A``
(per Cartesian component), ``stress_mae_meV_A3`` (per Voigt component, periodic frames only).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.errors import UserInputError

__all__ = ["predict", "error_metrics", "predict_metrics", "time_calculators"]


def _student_calc(model: str | Path | Any, device: str) -> Any:
    from lesdistill.calculator import StudentCalculator

    return StudentCalculator(model, device=device)


def predict(model: str | Path | Any, data: str | Path, *, device: str = "cpu",
            charges: bool = True) -> dict[str, Any]:
    """Run the student on every frame of a labelled extxyz file.

    Returns arrays: ``energy_ref``/``energy_pred`` (F,) eV/atom, ``forces_ref``/``forces_pred``
    (sum N, 3) eV/Å, ``stress_ref``/``stress_pred`` (F', 6) eV/Å^3 for periodic frames with a
    stress label, ``n_atoms`` (F,), and ``charges`` {element: (n,) e} (latent, physical scale).
    """
    from ase.io import read

    frames = read(data, index=":", format="extxyz")
    if not frames:
        raise UserInputError(f"{data} has no frames to evaluate on")
    calc = _student_calc(model, device)
    out: dict[str, list] = {k: [] for k in ("energy_ref", "energy_pred", "forces_ref",
                                            "forces_pred", "stress_ref", "stress_pred", "n_atoms")}
    per_element: dict[str, list[np.ndarray]] = {}
    for atoms in frames:
        ref = atoms.calc
        if ref is None or "energy" not in ref.results or "forces" not in ref.results:
            raise UserInputError(f"{data}: a frame has no energy/forces labels")
        n = len(atoms)
        e_ref, f_ref = float(ref.results["energy"]), np.asarray(ref.results["forces"])
        s_ref = ref.results.get("stress")
        work = atoms.copy()
        work.calc = calc
        out["energy_ref"].append(e_ref / n)
        out["energy_pred"].append(work.get_potential_energy() / n)
        out["forces_ref"].append(f_ref)
        out["forces_pred"].append(work.get_forces())
        out["n_atoms"].append(n)
        if s_ref is not None and all(atoms.pbc):
            out["stress_ref"].append(np.asarray(s_ref).reshape(-1)[:6])
            out["stress_pred"].append(work.get_stress(voigt=True))
        if charges:
            q = np.asarray(calc.get_property("charges", work))
            for sym in set(work.get_chemical_symbols()):
                mask = np.array(work.get_chemical_symbols()) == sym
                per_element.setdefault(sym, []).append(q[mask])
    result: dict[str, Any] = {
        "energy_ref": np.array(out["energy_ref"]), "energy_pred": np.array(out["energy_pred"]),
        "forces_ref": np.concatenate(out["forces_ref"]),
        "forces_pred": np.concatenate(out["forces_pred"]),
        "n_atoms": np.array(out["n_atoms"]),
        "stress_ref": np.array(out["stress_ref"]).reshape(-1, 6),
        "stress_pred": np.array(out["stress_pred"]).reshape(-1, 6),
        "charges": {k: np.concatenate(v) for k, v in per_element.items()},
    }
    return result


def error_metrics(pred: Mapping[str, Any]) -> dict[str, float]:
    """MAE/RMSE of energies (meV/atom), forces (meV/Å) and stress (meV/Å^3) from :func:`predict`."""
    def mae_rmse(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        d = (np.asarray(b) - np.asarray(a)).ravel() * 1000.0
        return float(np.mean(np.abs(d))), float(np.sqrt(np.mean(d ** 2)))

    out: dict[str, float] = {"n_frames": int(len(pred["energy_ref"]))}
    # energies per atom, shifted by nothing: the student's E0s are part of the model
    out["energy_mae_meV_atom"], out["energy_rmse_meV_atom"] = mae_rmse(pred["energy_ref"],
                                                                       pred["energy_pred"])
    out["force_mae_meV_A"], out["force_rmse_meV_A"] = mae_rmse(pred["forces_ref"],
                                                               pred["forces_pred"])
    if len(pred["stress_ref"]):
        out["stress_mae_meV_A3"], out["stress_rmse_meV_A3"] = mae_rmse(pred["stress_ref"],
                                                                       pred["stress_pred"])
    return out


def predict_metrics(model: str | Path | Any, data: str | Path, *, device: str = "cpu"
                    ) -> dict[str, float]:
    """:func:`error_metrics` of the student ``model`` on the labelled frames in ``data``."""
    return error_metrics(predict(model, data, device=device, charges=False))


def time_calculators(atoms: Any, calculators: Mapping[str, Any], *, repeats: int = 5,
                     seed: int = 0, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Milliseconds per energy+forces call of each calculator on ``atoms``, side by side.

    Calls are interleaved (model A, model B, A, B, ...) on freshly rattled copies (0.01 Å, so no
    result cache is hit) so that the shared machine's load affects all models alike. Returns
    {name: {"ms_per_step": median, "ms_min": fastest, "n_atoms": N}}.
    """
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {name: [] for name in calculators}
    for k in range(warmup + repeats):
        shift = rng.normal(scale=0.01, size=(len(atoms), 3))
        for name, calc in calculators.items():
            work = atoms.copy()
            work.positions += shift
            work.calc = calc
            start = time.perf_counter()
            work.get_potential_energy()
            work.get_forces()
            elapsed = (time.perf_counter() - start) * 1000.0
            if k >= warmup:
                times[name].append(elapsed)
    return {name: {"ms_per_step": float(np.median(t)), "ms_min": float(np.min(t)),
                   "n_atoms": len(atoms), "repeats": repeats} for name, t in times.items()}
