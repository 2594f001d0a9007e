"""The refine stage: the teacher labels frames of the trained student's own MD, and the student
is fine-tuned on the teacher frames plus these (:mod:`lesdistill.sampling.refine`).

Reads ``train/best.pt``, ``sample/{frames,train,valid,test}.extxyz``; writes ``refine/``
(``refine/train/best.pt`` is then the student of every later stage).
"""

from __future__ import annotations

from typing import Any

from lesdistill import keys
from lesdistill.config import RunConfig
from lesdistill.pipeline.layout import FRAMES, STUDENT, TEST, TRAIN, VALID
from lesdistill.pipeline.runner import StageContext
from lesdistill.pipeline.stages_data import read_frames, train_config
from lesdistill.sampling.refine import refine
from lesdistill.sampling.snapshots import frame_origin
from lesdistill.teachers import get_teacher


def md_starts(frames: list[Any], temperatures: tuple[float, ...]) -> dict[float, Any]:
    """A start structure per temperature: the last teacher-MD frame recorded at the temperature
    nearest to it (teacher MD frames before snapshots; any frame if there is no MD frame)."""
    md = [f for f in frames if frame_origin(f) == "md"] or list(frames)
    starts: dict[float, Any] = {}
    for t in temperatures:
        nearest = min(md, key=lambda f: abs(float(f.info.get(keys.TEMPERATURE_K, t)) - t))
        target = float(nearest.info.get(keys.TEMPERATURE_K, t))
        starts[float(t)] = [f for f in md if float(f.info.get(keys.TEMPERATURE_K, t)) == target][-1]
    return starts


def run_refine(ctx: StageContext) -> None:
    cfg: RunConfig = ctx.config
    r = cfg.refine
    temps = r.temperatures_K or tuple(cfg.sampling.temperatures_K)
    starts = md_starts(read_frames(ctx.input(FRAMES)), temps)
    ctx.log(f"  student MD at {', '.join(f'{t:g}' for t in temps)} K, {r.n_frames} frames "
            f"{r.interval_fs:g} fs apart after {r.equilibration_ps:g} ps; teacher "
            f"'{cfg.teacher.spec}' labels them ...")
    teacher = get_teacher(cfg.teacher.spec, device=cfg.device)
    valid = ctx.input(VALID)
    result = refine(ctx.input(STUDENT), starts, teacher, ctx.stage_dir, r,
                    train_config(cfg, {"test_fraction": 0.0}), [ctx.input(TRAIN)],
                    [valid] if valid.is_file() and read_frames(valid) else [],
                    test_files=[ctx.input(TEST)], seed=cfg.seed, device=cfg.device,
                    progress=ctx.progress)
    m = result.metrics
    for note in m["notes"]:
        ctx.log(f"  warning: {note}")
    ctx.log(f"  force MAE on held-out frames of the student's own MD: "
            f"{m['before']['new']['forces_mae_meV_per_A']:.1f} -> "
            f"{m['after']['new']['forces_mae_meV_per_A']:.1f} meV/Å; on the teacher's test "
            f"frames {m['before']['test']['forces_mae_meV_per_A']:.1f} -> "
            f"{m['after']['test']['forces_mae_meV_per_A']:.1f} meV/Å")
