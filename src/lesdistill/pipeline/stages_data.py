"""Data-side stages: build the structure, sample + label with the teacher, train, fine-tune.

Files (relative to the output folder)::

    build/structure.extxyz        the system (builder output or the user's file, validated)
    sample/frames.extxyz          teacher MD frames with teacher labels (resumable)
    sample/{train,valid,test}.extxyz  the split; test = the last frames of each temperature
    sample/teacher.json           teacher metadata
    train/best.pt, train/learning_curve.csv, ...   (lesdistill.training.train)
    finetune/{data,train,valid,test}.extxyz, finetune/best.pt, finetune/metrics.json
    finetune/fractions/           the fraction sweep (finetune.fractions), fractions.json/.png
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill import keys
from lesdistill.analysis.finetune_fractions import (
    SweepInputs,
    fraction_student,
    run_finetune_fractions,
)
from lesdistill.analysis.fraction_settings import FractionSettings
from lesdistill.config import RunConfig
from lesdistill.data.frames import read_frames as read_any
from lesdistill.data.frames import write_frames as write_any
from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.pipeline.layout import (
    FRAMES,
    FT_FRACTIONS,
    FT_STUDENT,
    REFINE_STUDENT,
    STRUCTURE,
    STUDENT,
    TRAIN,
    VALID,
)
from lesdistill.pipeline.runner import StageContext
from lesdistill.sampling import label
from lesdistill.sampling.snapshots import frame_origin
from lesdistill.systems import build, load_structure
from lesdistill.teachers import get_teacher
from lesdistill.training.config import TrainConfig


def final_student(cfg: RunConfig) -> str:
    """The student used downstream (MD, BEC, IR): fine-tuned if a finetune block is given."""
    return FT_STUDENT if cfg.finetune is not None else distilled_student(cfg)


def distilled_student(cfg: RunConfig) -> str:
    """The student distilled from the teacher: refined on its own MD's frames (``refine``
    stage) when ``refine.n_frames > 0``, else the train stage's."""
    return REFINE_STUDENT if cfg.refine.n_frames > 0 else STUDENT


def write_frames(path: Path, frames: list[Any]) -> None:
    """Write frames (with their calculator results) to extxyz, atomically."""
    write_any(path, frames)


def read_frames(path: Path) -> list[Any]:
    """The frames of a run-folder extxyz file (it may hold none, e.g. an empty split)."""
    return read_any(path, format="extxyz", allow_empty=True)


# --- build --------------------------------------------------------------------------------------

def run_build(ctx: StageContext) -> None:
    cfg: RunConfig = ctx.config
    if cfg.system.file is not None:
        atoms = load_structure(cfg.system.file)
        what = cfg.system.file
    else:
        atoms = build(cfg.system.builder, seed=cfg.seed, **cfg.system.params)
        what = f"builder '{cfg.system.builder}' {cfg.system.params or ''}"
    if not np.all(np.isfinite(atoms.positions)):
        raise UserInputError(f"the structure from {what} has NaN/inf positions")
    write_frames(ctx.stage_dir / "structure.extxyz", [atoms])
    ctx.log(f"  {len(atoms)} atoms ({atoms.get_chemical_formula()}), cell "
            f"{np.round(atoms.cell.lengths(), 2).tolist()} Å, from {what}")


# --- sample + label + split ------------------------------------------------------------------

def teacher_metadata(teacher: Any) -> dict[str, Any]:
    info = dataclasses.asdict(teacher.info) if dataclasses.is_dataclass(teacher.info) else {}
    info = {k: (sorted(v) if isinstance(v, frozenset | set) else v) for k, v in info.items()}
    return {"name": teacher.name, **info}


def split_indices(segments: list, valid_fraction: float, test_fraction: float,
                  seed: int) -> tuple[list[int], list[int], list[int]]:
    """Train/valid/test frame indices from each frame's MD segment label (e.g. its temperature).
    Test = the last ``test_fraction`` of each segment's frames (time-separated from training);
    valid = a seeded random pick of the rest."""
    labels = [str(x) for x in segments]
    train, valid, test = [], [], []
    rng = np.random.default_rng(seed)
    for segment in dict.fromkeys(labels):
        idx = np.array([i for i, x in enumerate(labels) if x == segment])
        n_test = int(round(test_fraction * len(idx)))
        n_test = min(max(n_test, 1 if test_fraction > 0 else 0), len(idx) - 1)
        test.extend(idx[len(idx) - n_test:].tolist())
        rest = idx[:len(idx) - n_test]
        n_valid = int(round(valid_fraction * len(rest)))
        n_valid = min(max(n_valid, 1 if valid_fraction > 0 else 0), len(rest) - 1)
        pick = set(rng.choice(rest, size=n_valid, replace=False).tolist()) if n_valid else set()
        valid.extend(i for i in rest.tolist() if i in pick)
        train.extend(i for i in rest.tolist() if i not in pick)
    if not train:
        raise UserInputError("no frames left for training; raise sampling.n_frames")
    return sorted(train), sorted(valid), sorted(test)


def run_sample(ctx: StageContext) -> None:
    from lesdistill.sampling import sample

    cfg: RunConfig = ctx.config
    s = cfg.sampling
    atoms = read_frames(ctx.input(STRUCTURE))[0]
    ctx.log(f"  loading teacher '{cfg.teacher.spec}' ...")
    teacher = get_teacher(cfg.teacher.spec, device=cfg.device)
    teacher.check(atoms)
    write_text_atomic(ctx.stage_dir / "teacher.json",
                      json.dumps(teacher_metadata(teacher), indent=1, default=str) + "\n")
    frames_path = ctx.stage_dir / "frames.extxyz"
    sample(atoms, teacher, frames_path, s.settings(), seed=cfg.seed, device=cfg.device,
           progress=ctx.progress)
    frames = read_frames(frames_path)
    # clusters (sampling.n_clusters) split on their own: the test set gets clusters too
    segment = [(float(f.info.get(keys.TEMPERATURE_K, 0.0)), float(f.info.get("strain", 0.0)),
                frame_origin(f) == "cluster") for f in frames]
    tr, va, te = split_indices(segment, s.valid_fraction, s.test_fraction, cfg.seed)
    for name, idx in (("train", tr), ("valid", va), ("test", te)):
        write_frames(ctx.stage_dir / f"{name}.extxyz", [frames[i] for i in idx])
    ctx.log(f"  {len(frames)} labelled frames: {len(tr)} train, {len(va)} valid, {len(te)} test")


# --- train --------------------------------------------------------------------------------------

def train_config(cfg: RunConfig, overrides: dict[str, Any] | None = None) -> Any:
    """The TrainConfig of a run: student preset/options, the run seed, the training section."""
    values = {**cfg.training, **(overrides or {})}
    return TrainConfig(model_preset=cfg.student.preset, model=dict(cfg.student.options),
                       seed=cfg.seed, **values)


def run_train(ctx: StageContext) -> None:
    from lesdistill.training import train

    cfg: RunConfig = ctx.config
    valid = ctx.input(VALID)
    has_valid = valid.is_file() and len(read_frames(valid)) > 0
    # the sample stage already held out the test frames (sampling.test_fraction)
    result = train(train_config(cfg, {"test_fraction": 0.0}), [ctx.input(TRAIN)],
                   valid_files=[valid] if has_valid else None,
                   out_dir=ctx.stage_dir, device=cfg.device, progress=ctx.progress)
    final = result.final
    ctx.log(f"  {result.epochs_completed} epochs, best epoch {result.best_epoch}; valid MAE "
            f"E {final.get('valid_energy_mae_meV_per_atom', float('nan')):.3g} meV/atom, "
            f"F {final.get('valid_forces_mae_meV_per_A', float('nan')):.3g} meV/Å")


# --- fine-tune ----------------------------------------------------------------------------------

def _finetune_frames(ctx: StageContext) -> list[Any]:
    cfg: RunConfig = ctx.config
    ft = cfg.finetune
    assert ft is not None  # the stage is enabled only with a finetune block
    if ft.data is not None:
        path = Path(ft.data)
        if not path.is_file():
            raise FileNotFoundError(f"finetune.data file not found: {path}")
        return read_frames(path)

    frames = read_frames(ctx.input(FRAMES))
    take = np.unique(np.linspace(0, len(frames) - 1, min(ft.n_frames, len(frames))).round()
                     .astype(int))
    picked = ctx.stage_dir / "picked.extxyz"
    if not picked.is_file():
        write_frames(picked, [frames[i] for i in take])
    ctx.log(f"  relabelling {len(take)} frames with '{ft.teacher}' ...")
    teacher = get_teacher(ft.teacher, device=cfg.device)
    out = label(picked, ctx.stage_dir / "data.extxyz", teacher, keep_prefix=keys.PREVIOUS_PREFIX,
                device=cfg.device, progress=ctx.progress)
    return read_frames(out)


def finetune_split_sizes(n: int, test_fraction: float) -> tuple[int, int, int]:
    """(test, valid, train) frame counts of the fine-tune stage's split of ``n`` frames (the
    validation set is as large as the test set)."""
    n_test = min(max(1, round(test_fraction * n)), (n - 1) // 2)
    return n_test, n_test, n - 2 * n_test


def run_finetune(ctx: StageContext) -> None:
    from lesdistill.training import train
    from lesdistill.training.evaluate import evaluate

    cfg: RunConfig = ctx.config
    ft = cfg.finetune
    assert ft is not None
    frames = _finetune_frames(ctx)
    n = len(frames)
    if n < 3:
        raise UserInputError(f"the fine-tuning set has {n} frames; need at least 3 "
                             "(train, valid, test)")
    n_test, _, _ = finetune_split_sizes(n, ft.test_fraction)
    perm = np.random.default_rng(cfg.seed + 1).permutation(n)
    test, valid, trn = perm[:n_test], perm[n_test:2 * n_test], perm[2 * n_test:]
    for name, idx in (("train", trn), ("valid", valid), ("test", test)):
        write_frames(ctx.stage_dir / f"{name}.extxyz", [frames[i] for i in sorted(idx)])
    base = ctx.input(distilled_student(cfg))
    before = evaluate(base, ctx.stage_dir / "test.extxyz", device=cfg.device)
    config = train_config(cfg, ft.training)
    sweep = _fraction_sweep(ctx, config) if ft.fractions else None
    if sweep is not None and ft.fractions[-1] == 1.0:
        # the sweep's fraction 1 is this stage's fine-tuning run (the same training frames in
        # the same order, validation frames and TrainConfig): its student is the stage's
        full = fraction_student(ctx.out_dir / FT_FRACTIONS, 1.0)
        with atomic_path(ctx.stage_dir / "best.pt") as tmp:
            tmp.write_bytes(full.read_bytes())
        after = evaluate(ctx.stage_dir / "best.pt", ctx.stage_dir / "test.extxyz",
                         device=cfg.device)
    else:
        result = train(config, [ctx.stage_dir / "train.extxyz"],
                       valid_files=[ctx.stage_dir / "valid.extxyz"], out_dir=ctx.stage_dir,
                       init=base, device=cfg.device, progress=ctx.progress)
        after = evaluate(result.best_path, ctx.stage_dir / "test.extxyz", device=cfg.device)
    source = ft.data if ft.data is not None else ft.teacher
    metrics: dict[str, Any] = {"source": source, "n_frames": n, "n_train": len(trn),
                               "n_valid": len(valid), "n_test": len(test), "before": before,
                               "after": after}
    if sweep is not None:
        metrics["fractions"] = {"curve": sweep["curve"], "n_pool": sweep["n_pool"],
                                "n_test": sweep["n_test"], "folder": FT_FRACTIONS}
    write_text_atomic(ctx.stage_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    ctx.log(f"  fine-tuning set ({source}), {len(test)} held-out frames: force MAE "
            f"{before['forces_mae_meV_per_A']:.1f} -> {after['forces_mae_meV_per_A']:.1f} meV/Å, "
            f"energy MAE {before['energy_mae_meV_per_atom']:.2f} -> "
            f"{after['energy_mae_meV_per_atom']:.2f} meV/atom")


def _fraction_sweep(ctx: StageContext, config: Any) -> dict[str, Any]:
    """Fine-tune on nested fractions of the stage's training frames, scored on its test frames."""
    cfg: RunConfig = ctx.config
    assert cfg.finetune is not None
    d = ctx.stage_dir
    ctx.log(f"  fraction sweep {', '.join(f'{f:g}' for f in cfg.finetune.fractions)} ...")
    return run_finetune_fractions(
        ctx.input(distilled_student(cfg)),
        SweepInputs(d / "train.extxyz", d / "valid.extxyz", d / "test.extxyz"),
        ctx.out_dir / FT_FRACTIONS, FractionSettings.from_settings(cfg.finetune), config,
        device=cfg.device, progress=ctx.progress, log=ctx.log)
