"""Student-driven sampling: label the configurations of the student's own MD with the teacher
and fine-tune the student on them.

A student is trained on the teacher's MD frames, but it is used in its own MD, which settles
into its own liquid over picoseconds. Where that liquid differs from the frames the teacher
produced, the student extrapolates: for the demo's CHGNet water, a student whose force error is
58 meV/Å on the teacher's held-out frames had 75 meV/Å on frames of its own MD (a more tightly
hydrogen-bonded liquid), and its vibrational bands were measured there. One round of this
protocol (``benchmarks/README.md``: 40 teacher-labelled frames of the student's MD) brought the
error on held-out frames of that kind from 71 to 52 meV/Å. It is the distillation analogue of
dataset aggregation ("DAgger"): the learner's own state distribution is labelled by the expert.

    refine(student, starts, teacher, out_dir, settings, train_config, train_files,
           valid_files, *, test_files=(), seed=0, device="cpu", progress=True) -> RefineResult

Files in ``out_dir`` (every step resumes after a kill)::

    student_md.extxyz     the recorded frames of the student's MD (no labels)
    labelled.extxyz       the same frames with the teacher's labels (resumable labelling)
    new_train.extxyz, new_valid.extxyz   the split of the new frames
    train/                the fine-tuning run (train/best.pt: the refined student)
    metrics.json          force/energy errors before and after, on the held-out new frames
                          and on the teacher's test frames
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from lesdistill import keys
from lesdistill.data.frames import read_frames, write_frames
from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic
from lesdistill.progress import progress_bar
from lesdistill.sampling.guards import SamplingAborted, check_md_state
from lesdistill.sampling.refine_settings import RefineSettings
from lesdistill.sampling.relabel import label

__all__ = ["ORIGIN_STUDENT_MD", "RefineResult", "RefineSettings", "refine", "student_md_frames"]

#: ``info["origin"]`` of a frame recorded from the student's MD
ORIGIN_STUDENT_MD = "student-md"
#: frame ids of student-MD frames start here (teacher frames count from 0)
FRAME_ID_OFFSET = 1_000_000

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RefineResult:
    """The refined student (``best_path``) and the before/after errors (``metrics``)."""

    best_path: Path
    metrics: dict[str, Any]


def student_md_frames(student: Any, start: Atoms, *, temperature_K: float, n_frames: int,
                      settings: RefineSettings, seed: int, first_id: int = 0,
                      progress: bool = False) -> tuple[list[Atoms], str | None]:
    """``n_frames`` configurations of Langevin MD with the student calculator ``student``.

    The MD starts from ``start`` with seeded Maxwell-Boltzmann velocities, runs
    ``settings.equilibration_steps()`` unrecorded steps, then records a frame every
    ``settings.steps_per_frame()`` steps. If the MD becomes unphysical (NaN, runaway
    temperature, overlapping atoms), recording stops there: the frames so far are returned with
    the reason (these are the configurations the teacher most needs to correct).
    """
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    work = Atoms(start.numbers, positions=start.positions, cell=start.cell, pbc=start.pbc)
    for key in (keys.TOTAL_CHARGE, keys.SPIN_MULTIPLICITY):
        if key in start.info:
            work.info[key] = start.info[key]
    work.calc = student
    rng = np.random.default_rng([seed, int(round(temperature_K * 1000))])
    MaxwellBoltzmannDistribution(work, temperature_K=temperature_K, rng=rng)
    Stationary(work)
    dyn = Langevin(work, timestep=settings.timestep_fs * units.fs, temperature_K=temperature_K,
                   friction=settings.friction_per_fs / units.fs, rng=rng, fixcm=False)
    frames: list[Atoms] = []
    step = 0
    n_equil, stride = settings.equilibration_steps(), settings.steps_per_frame()
    bar = progress_bar(total=n_equil + n_frames * stride, unit="step", enabled=progress,
                       desc=f"student MD {temperature_K:g} K")
    try:
        for _ in range(n_equil):
            dyn.run(1)
            step += 1
            bar.update(1)
            check_md_state(work, temperature_K, step)
        while len(frames) < n_frames:
            for _ in range(stride):
                dyn.run(1)
                step += 1
                bar.update(1)
                check_md_state(work, temperature_K, step)
            check_md_state(work, temperature_K, step, check_overlap=True)
            frame = Atoms(work.numbers, positions=work.positions, cell=work.cell, pbc=work.pbc)
            frame.wrap()
            frame.info.update(work.info)  # the charge/spin state only
            frame.info.update({keys.FRAME_ID: first_id + len(frames),
                               keys.TEMPERATURE_K: float(temperature_K),
                               keys.MD_TEMPERATURE_K: float(work.get_temperature()),
                               "md_step": step, keys.ORIGIN: ORIGIN_STUDENT_MD})
            frames.append(frame)
    except SamplingAborted as exc:
        return frames, str(exc)
    finally:
        bar.close()
    return frames, None


def _split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    n_valid = min(max(1, int(round(fraction * n))), n - 1)
    perm = np.random.default_rng([seed, 7]).permutation(n)
    return sorted(perm[n_valid:].tolist()), sorted(perm[:n_valid].tolist())


def refine(student: PathLike, starts: Mapping[float, Atoms], teacher: Any, out_dir: PathLike,
           settings: RefineSettings, train_config: Any, train_files: Iterable[PathLike],
           valid_files: Iterable[PathLike], *, test_files: Iterable[PathLike] = (), seed: int = 0,
           device: str = "cpu", progress: bool = True) -> RefineResult:
    """One round of student-driven sampling (see the module docstring); resumable.

    ``starts`` maps each student-MD temperature (K) to its start structure (an equilibrated
    teacher frame at that temperature); ``settings.split`` decides the frames per temperature.
    ``train_config`` is the :class:`~lesdistill.training.config.TrainConfig` of the original
    training; the fine-tuning uses it with ``settings.epochs`` and ``lr x settings.lr_factor``.
    """
    from lesdistill.calculator import StudentCalculator
    from lesdistill.training import train
    from lesdistill.training.evaluate import evaluate

    if settings.n_frames < 2:
        raise UserInputError("refine.n_frames must be >= 2 to refine a student")
    student = Path(student)
    plan = settings.split(tuple(starts))
    missing = [t for t, _ in plan if t not in starts]
    if missing:
        raise UserInputError(f"refine: no start structure for {missing} K; give a start per "
                             "temperature")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md_path = out / "student_md.extxyz"
    notes: list[str] = []
    if not md_path.is_file():
        calc = StudentCalculator(str(student), device=device)
        frames: list[Atoms] = []
        for temperature, n in plan:
            got, why = student_md_frames(calc, starts[temperature], temperature_K=temperature,
                                         n_frames=n, settings=settings, seed=seed,
                                         first_id=FRAME_ID_OFFSET + len(frames), progress=progress)
            frames.extend(got)
            if why is not None:
                notes.append(f"{temperature:g} K: student MD stopped after {len(got)} of {n} "
                             f"frames: {why}")
        if len(frames) < 2:
            raise SamplingAborted("the student's MD became unphysical before two frames were "
                                  f"recorded ({'; '.join(notes)}); train the student longer or "
                                  "on more teacher frames")
        write_frames(md_path, frames)
        write_text_atomic(out / "notes.json", json.dumps(notes) + "\n")
    elif (out / "notes.json").is_file():
        notes = json.loads((out / "notes.json").read_text())
    labelled = label(md_path, out / "labelled.extxyz", teacher, device=device, progress=progress)
    frames = read_frames(labelled, format="extxyz", allow_empty=True)
    tr, va = _split(len(frames), settings.valid_fraction, seed)
    new_train, new_valid = out / "new_train.extxyz", out / "new_valid.extxyz"
    write_frames(new_train, [frames[i] for i in tr])
    write_frames(new_valid, [frames[i] for i in va])
    tests = [Path(p) for p in test_files]
    before = {"new": evaluate(student, new_valid, device=device),
              **({"test": evaluate(student, tests, device=device)} if tests else {})}
    config = train_config.replace(epochs=settings.epochs, lr=train_config.lr * settings.lr_factor,
                                  test_fraction=0.0)
    result = train(config, [*map(Path, train_files), new_train],
                   valid_files=[*map(Path, valid_files), new_valid], out_dir=out / "train",
                   init=student, device=device, progress=progress)
    after = {"new": evaluate(result.best_path, new_valid, device=device),
             **({"test": evaluate(result.best_path, tests, device=device)} if tests else {})}
    temps = [float(f.info.get(keys.MD_TEMPERATURE_K, np.nan)) for f in frames]
    metrics = {"n_frames": len(frames), "n_train": len(tr), "n_valid": len(va),
               "plan": [{"temperature_K": t, "n_frames": n} for t, n in plan],
               "student_md_mean_temperature_K": float(np.nanmean(temps)),
               "interval_fs": settings.interval_fs, "equilibration_ps": settings.equilibration_ps,
               "notes": notes, "before": before, "after": after,
               "epochs_completed": result.epochs_completed}
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return RefineResult(best_path=Path(result.best_path), metrics=metrics)
