"""Per-teacher results of a comparison and the JSON summary of all numbers (no plotting, no I/O).

Units are in the key names: meV/atom, meV/Å, ms (per energy+forces call = one MD step), e, cm^-1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lesdistill.compare import metrics

#: Teacher metadata fields copied into the table (from TeacherInfo, then config overrides).
INFO_FIELDS = ("family", "architecture", "training_data", "level_of_theory")


@dataclass
class TeacherResult:
    """What the comparison learned about one teacher and its student.

    ``status`` is ``"ok"`` (all stages ran), ``"skipped"`` (teacher not usable here: ``reason``
    says why) or ``"failed"`` (a stage raised: ``reason`` is its one-line message).
    """

    name: str
    spec: str
    status: str = "ok"
    reason: str = ""
    info: dict[str, str] = field(default_factory=dict)
    energy_mae_meV_per_atom: float | None = None
    forces_mae_meV_per_A: float | None = None
    energy_rmse_meV_per_atom: float | None = None
    forces_rmse_meV_per_A: float | None = None
    teacher_ms_per_step: float | None = None
    student_ms_per_step: float | None = None
    mean_charge_e: dict[str, float] = field(default_factory=dict)
    bec_trace_e: dict[str, float] = field(default_factory=dict)  # mean Tr(Z)/3 per element
    asr_residual_e: float | None = None  # max |sum_i Z_i| over the shared BEC frames
    latent_sign: float = 1.0  # global sign applied to the student's charges/BECs (see collect)
    sign_rule: str = ""  # how the sign was chosen
    bec_vs_reference: dict[str, Any] | None = None
    ir_peaks_cm: dict[str, float] = field(default_factory=dict)  # band name -> student peak
    ir_curve: dict[str, list[float]] | None = None  # {"wavenumber_cm": [], "n_alpha_per_cm": []}
    rdf: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # pair -> {r_A, g}
    md_stable: bool | None = None  # None: not checked
    md_issues: list[str] = field(default_factory=list)
    md_temperature_K: float | None = None  # mean production temperature of the student MD
    stage_seconds: dict[str, float] = field(default_factory=dict)
    run_dir: str = ""

    @property
    def level(self) -> str:
        return metrics.canonical_level(self.info.get("level_of_theory"))

    @property
    def speedup(self) -> float | None:
        t, s = self.teacher_ms_per_step, self.student_ms_per_step
        return t / s if t and s else None


def band_shifts(peaks_cm: Mapping[str, float],
                experiment_cm: Mapping[str, float]) -> dict[str, float]:
    """Student minus experimental band position (cm^-1) for every band both have."""
    return {band: float(peaks_cm[band]) - float(experiment_cm[band])
            for band in experiment_cm if band in peaks_cm and peaks_cm[band] is not None}


def jsonable(value: Any) -> Any:
    """Plain JSON data: numpy -> Python, NaN/inf -> None, tuples -> lists, keys -> str."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def level_spread(results: Sequence[TeacherResult], experiment_cm: Mapping[str, float],
                 elements: Sequence[str]) -> dict[str, dict[str, float]]:
    """For each band position and each element's BEC trace: total spread across teachers vs the
    spread within a level of theory and between levels (see metrics.spread_within_and_between).
    Band positions of students whose MD was unstable are left out."""
    ok = [r for r in results if r.status == "ok"]
    groups = metrics.group_by_level({r.name: r.level for r in ok})
    out: dict[str, dict[str, float]] = {}
    stable = [r for r in ok if r.md_stable is not False]
    for band in experiment_cm:
        vals = {r.name: r.ir_peaks_cm[band] for r in stable if band in r.ir_peaks_cm}
        if len(vals) >= 2:
            out[f"{band} peak (cm^-1)"] = metrics.spread_within_and_between(vals, groups)
    for e in elements:
        vals = {r.name: r.bec_trace_e[e] for r in ok if e in r.bec_trace_e}
        if len(vals) >= 2:
            out[f"Tr Z*/3 {e} (e)"] = metrics.spread_within_and_between(vals, groups)
    return out


def build_summary(*, name: str, system: Mapping[str, Any], n_frames: Mapping[str, int],
                  results: Sequence[TeacherResult], elements: Sequence[str],
                  agreement: tuple[Sequence[str], Any] | None,
                  reference: Mapping[str, Any] | None,
                  experiment_cm: Mapping[str, float] | None = None,
                  seconds: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The JSON document of a comparison (every number of the report)."""
    exp = dict(experiment_cm or {})
    teachers = []
    for r in results:
        row = asdict(r)
        row["level_of_theory"] = r.level
        row["speedup"] = r.speedup
        row["band_shift_cm"] = band_shifts(r.ir_peaks_cm, exp) if r.status == "ok" else {}
        teachers.append(row)
    ok = [r for r in results if r.status == "ok"]
    doc: dict[str, Any] = {
        "name": name,
        "system": dict(system),
        "shared_frames": dict(n_frames),
        "elements": list(elements),
        "teachers": teachers,
        "skipped": [{"name": r.name, "spec": r.spec, "status": r.status, "reason": r.reason}
                    for r in results if r.status != "ok"],
        "levels_of_theory": metrics.group_by_level({r.name: r.level for r in ok}),
        "bec_agreement": None,
        "bec_reference": dict(reference) if reference else None,
        "experiment_peaks_cm": exp,
        "level_spread": level_spread(results, exp, elements),
        "seconds": dict(seconds or {}),
    }
    if agreement is not None:
        names, matrix = agreement
        doc["bec_agreement"] = {"definition": "r2[i][j] = R^2 of student i's per-atom BEC tensors "
                                "against student j's on the same frames",
                                "names": list(names), "r2": np.asarray(matrix).tolist()}
    return jsonable(doc)
