"""Fine-tuning against the amount of higher-level data: test force error vs fraction used.

The paper fine-tunes a PBE-level student to SCAN forces and reports the held-out force RMSE
against the fraction of the SCAN frames used (83.2 meV/Å at 10 % of 3346 frames, 74.8 at 40 %,
flat beyond). This module runs that study for any pretrained student and labelled higher-level
set:

1. one fixed split of the higher-level frames into training pool, validation and test frames
   (seeded, :func:`split_once`; the same split ``lesdistill train --init`` makes with this
   TrainConfig's ``test_fraction``, ``valid_fraction`` and ``seed``);
2. nested training sets: fraction f takes the first ``round(f * n_pool)`` frames of one seeded
   order of the pool (each set contains every smaller one), written in pool order;
3. per fraction one student fine-tuned from the pretrained one (and, with ``scratch``, one of
   the same architecture trained from fresh weights with the same TrainConfig), all selected on
   the same validation frames and scored on the same test frames with the one evaluation schema
   (:func:`lesdistill.training.evaluate.evaluate`: force RMSE/MAE in meV/Å, energy per atom in
   meV/atom, BEC in e when the test frames carry BEC labels), next to the baseline (the
   pretrained student, not fine-tuned).

Outputs in ``out_dir``: ``split/{train,valid,test}.extxyz``, ``inputs.json`` (what the sweep
was started with), ``baseline.json``, ``f_<fraction>/`` (``train.extxyz``, resumable training
runs ``finetune/`` and ``scratch/``, their scores ``finetune.json`` / ``scratch.json``),
``fractions.json`` and ``fractions.png`` (test force RMSE vs fraction, log x). A killed sweep
continues where it stopped: finished students are kept, an interrupted training resumes; more
fractions can be added later (the nested order does not depend on them).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.analysis.fraction_settings import FractionSettings
from lesdistill.errors import UserInputError, not_found
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.progress import progress_bar

PathLike = str | os.PathLike[str]

__all__ = ["SweepInputs", "format_fractions", "fraction_student", "fractions_png", "plan_sizes",
           "run_finetune_fractions", "split_once", "sweep_from_data"]

#: the nested order of the pool is seeded with the TrainConfig seed plus this offset
_ORDER_SEED_OFFSET = 104729
#: evaluation metrics carried into the curve (when present in the schema)
_CURVE_METRICS = ("forces_rmse_meV_per_A", "forces_mae_meV_per_A", "energy_mae_meV_per_atom",
                  "energy_rmse_meV_per_atom", "bec_mae_e", "bec_rmse_e")
KINDS = ("finetune", "scratch")


@dataclass(frozen=True)
class SweepInputs:
    """The three frame files of a sweep: training pool, validation (model selection), test."""

    train: Path
    valid: Path
    test: Path


def _folder(fraction: float) -> str:
    return f"f_{fraction:g}"


def fraction_student(out_dir: PathLike, fraction: float, kind: str = "finetune") -> Path:
    """The best student of one fraction (``kind``: finetune | scratch) of a sweep in ``out_dir``."""
    return Path(out_dir) / _folder(fraction) / kind / "best.pt"


def plan_sizes(n_pool: int, fractions: Sequence[float]) -> list[int]:
    """Training frames per fraction (``round(f * n_pool)``); a one-line error when a fraction
    gets no frame or two fractions get the same number of frames."""
    sizes = [round(f * n_pool) for f in fractions]
    for f, n in zip(fractions, sizes, strict=True):
        if n < 1:
            raise UserInputError(f"fraction {f:g} of the {n_pool} training frames is no frame; "
                                 "raise the smallest fraction or label more frames")
    for k in range(1, len(sizes)):
        if sizes[k] == sizes[k - 1]:
            raise UserInputError(f"fractions {fractions[k - 1]:g} and {fractions[k]:g} both give "
                                 f"{sizes[k]} of the {n_pool} training frames; drop one or "
                                 "label more frames")
    return sizes


def _student_elements(student: PathLike, trust_backbone: bool) -> tuple[list[str], dict[str, Any]]:
    from lesdistill.model import load_student

    if not Path(student).is_file():
        raise not_found("pretrained student", student, "pass a .pt written by `lesdistill train`")
    model = load_student(student, trust_backbone=trust_backbone)
    return list(model.elements), model.config.to_dict()


def _check_elements(frames: Sequence[Any], known: Sequence[str], student: PathLike,
                    allow_new_elements: bool) -> list[str]:
    """The elements of ``frames`` the student does not know (an error unless allowed)."""
    from lesdistill.data.dataset import elements_of

    new = [e for e in elements_of(frames) if e not in known]
    if new and not allow_new_elements:
        raise UserInputError(f"the higher-level frames contain element(s) {', '.join(new)} that "
                             f"the student {student} was not trained on (it knows "
                             f"{', '.join(known)}); pass --allow-new-elements "
                             "(allow_new_elements=True) to add them")
    return new


def split_once(data: PathLike | Sequence[PathLike], out_dir: PathLike, config: Any, *,
               check: Callable[[list[Any], list[Any], list[Any]], None] | None = None
               ) -> SweepInputs:
    """The fixed seeded split of ``data`` into ``out_dir/split/{train,valid,test}.extxyz``
    (``config``: a TrainConfig; its test_fraction, valid_fraction and seed). Files already there
    are kept. ``check(train, valid, test)`` runs on the frames before anything is written."""
    from lesdistill.data.dataset import load_datasets, write_frames

    folder = Path(out_dir) / "split"
    paths = SweepInputs(folder / "train.extxyz", folder / "valid.extxyz", folder / "test.extxyz")
    if all(p.is_file() for p in (paths.train, paths.valid, paths.test)):
        return paths
    files = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    train, valid, test = load_datasets(files, None, valid_fraction=config.valid_fraction,
                                       test_fraction=config.test_fraction, seed=config.seed)
    if not test or not valid:
        raise UserInputError(f"the higher-level set ({sum(map(len, (train, valid, test)))} "
                             f"frames) leaves no {'test' if not test else 'validation'} frame "
                             f"(test_fraction {config.test_fraction}, valid_fraction "
                             f"{config.valid_fraction}); label more frames or raise the fraction")
    if check is not None:
        check(train, valid, test)
    for path, frames in ((paths.train, train), (paths.valid, valid), (paths.test, test)):
        write_frames(path, frames)
    return paths


def sweep_from_data(student: PathLike, data: PathLike | Sequence[PathLike], out_dir: PathLike,
                    settings: FractionSettings, config: Any, *, allow_new_elements: bool = False,
                    device: str = "cpu", progress: bool = True, trust_backbone: bool = False,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """Split ``data`` once (:func:`split_once`), then :func:`run_finetune_fractions`."""
    known, _ = _student_elements(student, trust_backbone)
    if not settings.fractions:
        raise UserInputError("no fractions given; pass e.g. --fractions 0.05,0.1,0.2,0.4,0.7,1.0")

    def check(train: list[Any], valid: list[Any], test: list[Any]) -> None:
        _check_elements(train + valid + test, known, student, allow_new_elements)
        plan_sizes(len(train), settings.fractions)

    inputs = split_once(data, out_dir, config, check=check)
    return run_finetune_fractions(student, inputs, out_dir, settings, config,
                                  allow_new_elements=allow_new_elements, device=device,
                                  progress=progress, trust_backbone=trust_backbone, log=log)


def _fingerprint(student: PathLike, inputs: SweepInputs, config: Any) -> dict[str, Any]:
    from lesdistill.data.dataset import file_digest

    # finished fractions are kept, so every setting that changes a student is part of it
    return {
        "student_sha256": file_digest([student]),
        "split_sha256": {k: file_digest([getattr(inputs, k)]) for k in ("train", "valid", "test")},
        "training": {k: v for k, v in config.to_dict().items() if k != "checkpoint_interval_s"},
    }


def _scratch_config(config: Any, student_config: dict[str, Any]) -> Any:
    """The TrainConfig of a fresh student with the pretrained student's architecture."""
    from lesdistill.model.config import PRESETS

    arch = {k: v for k, v in student_config.items()
            if k not in ("elements", "preset", "seed", "dtype", "repulsion_range")}
    preset = student_config.get("preset")
    return config.replace(model_preset=preset if preset in PRESETS else "small", model=arch)


def run_finetune_fractions(student: PathLike, inputs: SweepInputs, out_dir: PathLike,
                           settings: FractionSettings, config: Any, *,
                           allow_new_elements: bool = False, device: str = "cpu",
                           progress: bool = True, trust_backbone: bool = False,
                           log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fine-tune ``student`` on nested fractions of ``inputs.train`` (selected on
    ``inputs.valid``, scored on ``inputs.test``); returns the JSON-ready summary, also written
    to ``out_dir/fractions.json`` with the plot ``fractions.png``. ``config``: the TrainConfig
    of every fine-tuning run (and of the from-scratch runs, with the student's architecture)."""
    from lesdistill.data.dataset import read_frames, write_frames
    from lesdistill.training import train
    from lesdistill.training.evaluate import evaluate

    s = settings
    if not s.fractions:
        raise UserInputError("no fractions given; set e.g. fractions: [0.05, 0.1, 0.2, 0.4, 1.0]")
    known, student_config = _student_elements(student, trust_backbone)
    pool = read_frames(inputs.train)  # validates the labels (energy, forces) frame by frame
    n_valid = len(read_frames(inputs.valid))
    test_frames = read_frames(inputs.test)
    _check_elements(pool + read_frames(inputs.valid), known, student, allow_new_elements)
    unseen = _check_elements(test_frames, known, student, allow_new_elements)
    sizes = plan_sizes(len(pool), s.fractions)
    out = Path(out_dir)
    fingerprint = _fingerprint(student, inputs, config)
    stored = out / "inputs.json"
    if stored.is_file():
        if json.loads(stored.read_text(encoding="utf-8")) != fingerprint:
            raise UserInputError(f"{out} holds a fraction sweep of another student, split or "
                                 "training config; use a new output folder or delete it")
    else:
        write_text_atomic(stored, json.dumps(fingerprint, indent=1) + "\n")
    baseline_path = out / "baseline.json"
    if baseline_path.is_file():
        baseline = json.loads(baseline_path.read_text(encoding="utf-8"))
    elif unseen:  # the pretrained student cannot predict them: no baseline
        baseline = {"skipped": f"the student does not know {', '.join(unseen)}",
                    "n_frames": len(test_frames)}
        write_text_atomic(baseline_path, json.dumps(baseline, indent=1) + "\n")
    else:
        baseline = evaluate(student, inputs.test, device=device)
        write_text_atomic(baseline_path, json.dumps(baseline, indent=1, allow_nan=True) + "\n")
    order = np.random.default_rng(config.seed + _ORDER_SEED_OFFSET).permutation(len(pool))
    kinds = KINDS if s.scratch else KINDS[:1]
    configs = {"finetune": config, "scratch": _scratch_config(config, student_config)}
    log(f"  baseline (not fine-tuned) on {baseline['n_frames']} test frames: "
        + (f"force RMSE {baseline['forces_rmse_meV_per_A']:.1f} meV/Å"
           if "skipped" not in baseline else baseline["skipped"]))
    bar = progress_bar(total=len(sizes) * len(kinds), desc="fraction sweep", unit="student",
                       enabled=progress)
    rows = []
    for k, (fraction, n) in enumerate(zip(s.fractions, sizes, strict=True)):
        folder = out / _folder(fraction)
        subset = folder / "train.extxyz"
        if not subset.is_file():
            write_frames(subset, [pool[i] for i in sorted(order[:n])])
        row: dict[str, Any] = {"fraction": fraction, "n_train": n}
        for kind in kinds:
            done = folder / f"{kind}.json"
            if not done.is_file():
                log(f"  [{k + 1}/{len(sizes)}] fraction {fraction:g} ({n} frames): "
                    f"{'fine-tuning' if kind == 'finetune' else 'training from scratch'}")
                result = train(configs[kind], subset, valid_files=inputs.valid,
                               out_dir=folder / kind,
                               init=student if kind == "finetune" else None,
                               allow_new_elements=allow_new_elements, device=device,
                               progress=progress, trust_backbone=trust_backbone)
                score = {**evaluate(result.best_path, inputs.test, device=device),
                         "epochs_completed": result.epochs_completed,
                         "best_epoch": result.best_epoch}
                write_text_atomic(done, json.dumps(score, indent=1, allow_nan=True) + "\n")
            row[kind] = json.loads(done.read_text(encoding="utf-8"))
            bar.update(1)
        rows.append(row)
        log(f"  fraction {fraction:g} ({n} frames): test force RMSE "
            + ", ".join(f"{kind} {row[kind]['forces_rmse_meV_per_A']:.1f}" for kind in kinds)
            + " meV/Å")
    bar.close()
    summary = _summary(rows, baseline, kinds, s, config, student, inputs, len(pool), n_valid)
    write_text_atomic(out / "fractions.json",
                      json.dumps(summary, indent=1, allow_nan=True) + "\n")
    with atomic_path(out / "fractions.png") as tmp:
        tmp.write_bytes(fractions_png(summary))
    summary["files"] = [str(out / "fractions.json"), str(out / "fractions.png")]
    return summary


def _summary(rows: list[dict[str, Any]], baseline: dict[str, Any], kinds: Sequence[str],
             s: FractionSettings, config: Any, student: PathLike, inputs: SweepInputs,
             n_pool: int, n_valid: int) -> dict[str, Any]:
    curve: dict[str, Any] = {"fraction": [r["fraction"] for r in rows],
                             "n_train": [r["n_train"] for r in rows]}
    for kind in kinds:
        curve[kind] = {m: [r[kind][m] for r in rows] for m in _CURVE_METRICS if m in rows[0][kind]}
    curve["baseline"] = {m: baseline[m] for m in _CURVE_METRICS if m in baseline}
    rmse = curve["finetune"]["forces_rmse_meV_per_A"]
    curve["finetune"]["forces_rmse_vs_largest"] = [v / rmse[-1] if rmse[-1] > 0 else math.nan
                                                   for v in rmse]
    return {"curve": curve, "rows": rows, "baseline": baseline,
            "n_pool": n_pool, "n_valid": n_valid,
            "n_test": int(rows[0]["finetune"]["n_frames"]), "student": str(student),
            "split": {k: str(getattr(inputs, k)) for k in ("train", "valid", "test")},
            "settings": {"fractions": list(s.fractions), "scratch": s.scratch},
            "training": config.to_dict()}


def fractions_png(summary: dict[str, Any]) -> bytes:
    """Test force RMSE vs fraction of the higher-level training frames (log x): fine-tuned,
    from scratch (if run) and the baseline (not fine-tuned), as PNG bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    c = summary["curve"]
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=120)
    ax.plot(c["fraction"], c["finetune"]["forces_rmse_meV_per_A"], "o-", label="fine-tuned")
    if "scratch" in c:
        ax.plot(c["fraction"], c["scratch"]["forces_rmse_meV_per_A"], "s--",
                label="from scratch")
    if "forces_rmse_meV_per_A" in c["baseline"]:
        ax.axhline(c["baseline"]["forces_rmse_meV_per_A"], color="gray", ls=":",
                   label="not fine-tuned")
    ax.set_xscale("log")
    ax.set_xticks(c["fraction"])
    ax.set_xticklabels([f"{f:g}\n({n})" for f, n in zip(c["fraction"], c["n_train"],
                                                         strict=True)], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("fraction of higher-level training frames (frames)")
    ax.set_ylabel("test force RMSE (meV/Å)")
    ax.set_title(f"{summary['n_test']} held-out higher-level frames", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def format_fractions(summary: dict[str, Any]) -> str:
    """Plain-text table of a sweep: test force RMSE/MAE and energy MAE per fraction."""
    c = summary["curve"]
    kinds = [k for k in KINDS if k in c]
    head = f"{'fraction':>9}{'frames':>8}"
    for kind in kinds:
        head += f"{kind + ' F RMSE':>18}{'F MAE':>8}{'E MAE':>8}"
    lines = [f"test: {summary['n_test']} frames; forces meV/Å, energy meV/atom", head]
    b = c["baseline"]
    if b:
        lines.append(f"{'baseline':>9}{0:>8}" + (f"{b['forces_rmse_meV_per_A']:>18.1f}"
                                                  f"{b['forces_mae_meV_per_A']:>8.1f}"
                                                  f"{b['energy_mae_meV_per_atom']:>8.2f}"))
    else:
        lines.append(f"baseline: {summary['baseline'].get('skipped', 'not scored')}")
    for k, (f, n) in enumerate(zip(c["fraction"], c["n_train"], strict=True)):
        line = f"{f:>9g}{n:>8}"
        for kind in kinds:
            m = c[kind]
            line += (f"{m['forces_rmse_meV_per_A'][k]:>18.1f}{m['forces_mae_meV_per_A'][k]:>8.1f}"
                     f"{m['energy_mae_meV_per_atom'][k]:>8.2f}")
        lines.append(line)
    return "\n".join(lines)
