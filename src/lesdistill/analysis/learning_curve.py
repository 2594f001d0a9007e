"""Learning curve: student errors against the number of teacher frames it was trained on.

From one labelled pool (teacher frames), a fixed validation set is set aside (seeded), and
students are trained on nested subsets of the rest (the first n frames of one seeded order, so
every larger set contains the smaller ones). Each student is scored on the same held-out test
frames (energy and force error against the teacher, :mod:`lesdistill.training.evaluate`) and,
when given, on reference BECs (:mod:`lesdistill.analysis.bec_benchmark`, sign fixed, the
isotropic-constant yardstick). The verdict says from which size on more teacher calls stop
paying: the smallest n from which every further step gains less than ``stop_gain`` (relative
error reduction per doubling of the frames) in the force error and, when scored, the BEC error.

Outputs in ``out_dir``: ``n_XXXXX/`` (a complete, resumable training run each, plus
``result.json``), ``valid.extxyz``, ``learning_curve.json`` and ``learning_curve.png``. A killed
run continues where it stopped; finished sizes are not retrained.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.analysis import bec_benchmark
from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_path, write_text_atomic

PathLike = str | os.PathLike[str]

__all__ = ["LearningCurveSettings", "run_learning_curve", "saturation", "format_curve"]


@dataclass(frozen=True)
class LearningCurveSettings:
    """Sizes (numbers of teacher frames), the fixed validation share of the pool, the seed, the
    gain per doubling below which more frames stop paying, and TrainConfig fields."""

    sizes: tuple[int, ...] = (5, 10, 20, 50, 100, 200, 400)
    valid_fraction: float = 0.1
    seed: int = 0
    stop_gain: float = 0.1
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sizes = tuple(int(n) for n in self.sizes)
        if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
            raise UserInputError(f"sizes must be distinct positive frame counts, got {self.sizes}")
        object.__setattr__(self, "sizes", tuple(sorted(sizes)))
        if not 0.0 < self.valid_fraction < 0.5:
            raise UserInputError(f"valid_fraction must be in (0, 0.5), got {self.valid_fraction}")
        if not 0.0 < self.stop_gain < 1.0:
            raise UserInputError(f"stop_gain must be in (0, 1), got {self.stop_gain}")
        for key in ("seed", "valid_fraction"):
            if key in self.training:
                raise UserInputError(f"training.{key} is set by the learning curve itself")


def saturation(sizes: Sequence[int], errors: Sequence[float], stop_gain: float) -> int | None:
    """Smallest size from which every further step reduces ``errors`` by less than ``stop_gain``
    per doubling (relative); None if the last step still gains more (more frames would pay)."""
    n, e = list(sizes), list(errors)
    gains = []
    for k in range(1, len(n)):
        doublings = math.log2(n[k] / n[k - 1])
        gains.append((1.0 - (e[k] / e[k - 1]) ** (1.0 / doublings)) if e[k - 1] > 0 else 0.0)
    if not gains or gains[-1] >= stop_gain:
        return None
    k = len(gains)
    while k > 0 and gains[k - 1] < stop_gain:
        k -= 1
    return n[k]


def _reference_in_pool(pool: Sequence[Any], reference: Any) -> int | None:
    """Index of a pool frame that is one of the reference frames (same atoms and positions)."""
    for i, atoms in enumerate(pool):
        for ref in reference.frames:
            same_atoms = atoms.get_chemical_symbols() == ref.get_chemical_symbols()
            if same_atoms and np.allclose(atoms.positions, ref.positions, atol=1e-4):
                return i
    return None


def _validate(pool_path: PathLike, test_path: PathLike, s: LearningCurveSettings,
              bec_reference: PathLike | None, bec_array: str) -> tuple[list, Any]:
    from lesdistill.analysis.bec_files import read_reference
    from lesdistill.data.dataset import read_frames
    from lesdistill.data.frames import read_frames as read_images

    labelled = read_frames(pool_path)  # validates labels (energy, forces) frame by frame
    read_frames(test_path)
    pool = read_images(pool_path, what="data file")
    n_valid = max(1, round(s.valid_fraction * len(pool)))
    if s.sizes[-1] > len(pool) - n_valid:
        raise UserInputError(f"the largest size ({s.sizes[-1]} frames) exceeds the {len(pool)} "
                             f"frames of {pool_path} minus {n_valid} validation frames; use "
                             f"sizes <= {len(pool) - n_valid} or label more frames")
    reference = None
    if bec_reference is not None:
        reference = read_reference(bec_reference, bec_array)
        unseen = sorted(set(reference.elements) - {a.symbol for f in labelled for a in f.atoms})
        if unseen:
            raise UserInputError(f"the BEC reference holds elements {unseen} that no training "
                                 "frame has; the students cannot be scored on it")
        hit = _reference_in_pool(pool, reference)
        if hit is not None:
            raise UserInputError(f"frame {hit} of {pool_path} is a frame of the BEC reference "
                                 f"{bec_reference}: reference frames are for evaluation only, "
                                 "never train on them")
    return pool, reference


def _score_size(best: Path, test_path: PathLike, reference: Any, device: str) -> dict[str, Any]:
    from lesdistill.analysis.bec_files import student_becs
    from lesdistill.calculator import StudentCalculator
    from lesdistill.training.evaluate import evaluate

    out: dict[str, Any] = {"test": evaluate(best, test_path, device=device)}
    if reference is not None:
        calc = StudentCalculator(best, device=device)
        res = bec_benchmark.benchmark({"student": student_becs(calc, reference.frames)},
                                      reference.becs, reference.symbols)
        out["bec"] = {**res["students"]["student"], "constant_mae_e": res["constant"]["mae_e"]}
    return out


def run_learning_curve(data: PathLike, test: PathLike, out_dir: PathLike,
                       settings: LearningCurveSettings = LearningCurveSettings(), *,
                       bec_reference: PathLike | None = None, bec_array: str = "BEC",
                       device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Train one student per size on nested subsets of ``data`` and score each on ``test`` (and
    ``bec_reference``); returns the JSON-ready summary (also written to ``out_dir``)."""
    from lesdistill.data.frames import write_frames as write_images
    from lesdistill.training import TrainConfig, train

    s = settings
    cfg = TrainConfig(**{**s.training, "seed": s.seed})  # validates the training fields
    pool, reference = _validate(data, test, s, bec_reference, bec_array)
    out = Path(out_dir)
    order = np.random.default_rng(s.seed).permutation(len(pool))
    n_valid = max(1, round(s.valid_fraction * len(pool)))
    valid_path = out / "valid.extxyz"
    write_images(valid_path, [pool[i] for i in sorted(order[:n_valid])])
    rest = order[n_valid:]
    rows = []
    for n in s.sizes:
        folder = out / f"n_{n:05d}"
        done = folder / "result.json"
        if done.is_file():
            rows.append(json.loads(done.read_text(encoding="utf-8")))
            continue
        subset = folder / "train.extxyz"
        if not subset.is_file():
            write_images(subset, [pool[i] for i in rest[:n]])
        result = train(cfg, subset, valid_files=valid_path, out_dir=folder, device=device,
                       progress=progress)
        row = {"n_frames": n, "epochs_completed": result.epochs_completed,
               "best_epoch": result.best_epoch,
               **_score_size(result.best_path, test, reference, device)}
        write_text_atomic(done, json.dumps(row, indent=1, allow_nan=True) + "\n")
        rows.append(row)
    summary = _summary(rows, s, data, test, bec_reference, n_valid)
    write_text_atomic(out / "learning_curve.json", json.dumps(summary, indent=1, allow_nan=True)
                      + "\n")
    _plot(summary, out / "learning_curve.png")
    summary["files"] = [str(out / "learning_curve.json"), str(out / "learning_curve.png")]
    return summary


def _summary(rows: list[dict[str, Any]], s: LearningCurveSettings, data: PathLike,
             test: PathLike, bec_reference: PathLike | None, n_valid: int) -> dict[str, Any]:
    sizes = [r["n_frames"] for r in rows]
    force = [r["test"]["forces_mae_meV_per_A"] for r in rows]
    curve: dict[str, Any] = {
        "n_frames": sizes, "forces_mae_meV_per_A": force,
        "energy_mae_meV_per_atom": [r["test"]["energy_mae_meV_per_atom"] for r in rows]}
    verdict = {"forces": saturation(sizes, force, s.stop_gain)}
    if all("bec" in r for r in rows) and rows:
        curve["bec_mae_e"] = [r["bec"]["mae_e"] for r in rows]
        curve["bec_r2"] = [r["bec"]["r2"] for r in rows]
        curve["bec_constant_mae_e"] = rows[0]["bec"]["constant_mae_e"]
        verdict["bec"] = saturation(sizes, curve["bec_mae_e"], s.stop_gain)
    stops = list(verdict.values())
    if any(v is None for v in stops):
        text = (f"still improving at {sizes[-1]} frames (>= {s.stop_gain:.0%} per doubling): "
                "more teacher frames would pay")
    else:
        text = (f"more teacher frames stop paying beyond {max(stops)} frames (each further "
                f"doubling gains < {s.stop_gain:.0%})")
    return {"curve": curve, "rows": rows, "saturation_n_frames": verdict, "verdict": text,
            "settings": {"sizes": list(s.sizes), "valid_fraction": s.valid_fraction,
                         "seed": s.seed, "stop_gain": s.stop_gain, "training": s.training},
            "data": str(data), "test": str(test), "n_valid": n_valid,
            "bec_reference": str(bec_reference) if bec_reference is not None else None}


def _plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    c = summary["curve"]
    panels = 2 if "bec_mae_e" in c else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels, 3.6), dpi=120, squeeze=False)
    ax = axes[0][0]
    ax.plot(c["n_frames"], c["forces_mae_meV_per_A"], "o-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("teacher frames in training")
    ax.set_ylabel("force MAE vs teacher (meV/Å)")
    if panels == 2:
        ax = axes[0][1]
        ax.plot(c["n_frames"], c["bec_mae_e"], "o-", label="student")
        ax.axhline(c["bec_constant_mae_e"], color="gray", ls="--", label="isotropic constant")
        ax.axhline(0.5 * c["bec_constant_mae_e"], color="gray", ls=":", label="constant / 2")
        ax.set_xscale("log")
        ax.set_xlabel("teacher frames in training")
        ax.set_ylabel("BEC MAE vs reference (e)")
        ax.legend(fontsize=7)
    fig.suptitle(summary["verdict"], fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def format_curve(summary: dict[str, Any]) -> str:
    """Plain-text table of a learning curve and its verdict."""
    c = summary["curve"]
    bec = "bec_mae_e" in c
    lines = [f"{'frames':>7}{'E MAE meV/atom':>16}{'F MAE meV/Å':>14}"
             + (f"{'BEC MAE e':>11}{'BEC R^2':>9}" if bec else "")]
    for k, n in enumerate(c["n_frames"]):
        line = (f"{n:>7}{c['energy_mae_meV_per_atom'][k]:>16.3g}"
                f"{c['forces_mae_meV_per_A'][k]:>14.3g}")
        if bec:
            line += f"{c['bec_mae_e'][k]:>11.3f}{c['bec_r2'][k]:>9.3f}"
        lines.append(line)
    if bec:
        lines.append(f"isotropic constant BEC MAE {c['bec_constant_mae_e']:.3f} e "
                     f"(yardstick: half of it)")
    lines.append(summary["verdict"])
    return "\n".join(lines)
