"""Relabel frames with another teacher (resumable, multi-process, sharded) and merge shards.

``label`` reads every frame of an extxyz file, computes the teacher's energy (eV), forces (eV/Å)
and, for periodic frames, stress (eV/Å^3), and appends the relabelled frames (whole frames,
flush + fsync) to the output in input order. Killed and re-run, it skips frames whose
``frame_id`` is already in the output. ``shard=(i, n)`` labels only frames with
``index % n == i`` so that n machines can split the work; :func:`merge` joins the shard outputs,
de-duplicated by ``frame_id`` and sorted by it.

With ``bec_displacement_A``, every frame also gets the teacher's Born effective charges (e) as
the per-atom array ``bec`` (``keys.BEC_ARRAY``, 9 columns row-major Z_ab = dP_a/dr_b), from
central finite differences of the teacher's dipole
(:func:`lesdistill.compare.reference.finite_difference_bec`, 6 N extra teacher calls per frame),
the labels that ``TrainConfig.bec_weight`` trains on. Only teachers that give a dipole (xTB) can;
others are refused before anything is written. A ``bec`` array of the input frames is another
level's label: it is kept under ``keep_prefix`` or dropped, never passed on as the new teacher's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms

from lesdistill import keys
from lesdistill.compare.reference import calculator_gives_dipole, finite_difference_bec
from lesdistill.data.frames import parse_frames_text
from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_open
from lesdistill.progress import progress_bar
from lesdistill.sampling.store import append_frames, frame_text, read_frames, repair
from lesdistill.systems.io import load_frames
from lesdistill.teachers import get_teacher

if TYPE_CHECKING:
    from lesdistill.teachers.base import Teacher

#: per-process teacher cache of worker processes (filled by _init_worker in each child only)
_WORKER: dict[str, Any] = {}


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"2/8"`` or ``(2, 8)`` -> ``(2, 8)`` (0-based shard index i of n); validates 0 <= i < n."""
    if shard is None:
        return None
    if isinstance(shard, str):
        head, sep, tail = shard.partition("/")
        try:
            i, n = int(head), int(tail)
        except ValueError:
            raise UserInputError(f"shard must look like i/n (e.g. 0/4), got {shard!r}") from None
        if not sep:
            raise UserInputError(f"shard must look like i/n (e.g. 0/4), got {shard!r}")
    else:
        i, n = int(shard[0]), int(shard[1])
    if n < 1 or not 0 <= i < n:
        raise UserInputError(f"shard i/n needs n >= 1 and 0 <= i < n, got {i}/{n}")
    return i, n


def relabel_frame(frame: Atoms, teacher: Teacher, keep_prefix: str | None,
                  bec_displacement_A: float | None = None) -> Atoms:
    """A copy of ``frame`` labelled by ``teacher``; old labels kept under ``keep_prefix``. With
    ``bec_displacement_A`` (Å), also the teacher's finite-difference BEC as ``arrays["bec"]``."""
    from ase.calculators.singlepoint import SinglePointCalculator

    new = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
    new.info.update(frame.info)
    for name, arr in frame.arrays.items():
        if name not in ("numbers", "positions", keys.BEC_ARRAY):
            new.arrays[name] = arr.copy()
    if keep_prefix is not None and keys.BEC_ARRAY in frame.arrays:
        new.arrays[f"{keep_prefix}{keys.BEC_ARRAY}"] = frame.arrays[keys.BEC_ARRAY].copy()
    old = frame.calc.results if frame.calc is not None else {}
    if keep_prefix is not None:
        if "energy" in old:
            new.info[f"{keep_prefix}{keys.ENERGY}"] = float(old["energy"])
        if "stress" in old:
            new.info[f"{keep_prefix}{keys.STRESS}"] = np.asarray(old["stress"], dtype=float)
        if "forces" in old:
            new.arrays[f"{keep_prefix}{keys.FORCES}"] = np.asarray(old["forces"], dtype=float)
        if keys.TEACHER in frame.info:
            new.info[f"{keep_prefix}{keys.TEACHER}"] = frame.info[keys.TEACHER]
    results = teacher.label(new)
    if bec_displacement_A is not None:
        z = finite_difference_bec(new, teacher.calculator, displacement_A=bec_displacement_A)
        new.arrays[keys.BEC_ARRAY] = z.reshape(len(new), 9)
    new.info[keys.TEACHER] = teacher.name
    new.calc = SinglePointCalculator(new, **results)
    return new


def _init_worker(spec: str, device: str) -> None:
    import torch

    torch.set_num_threads(1)  # N workers on N cores: one thread each
    _WORKER["teacher"] = get_teacher(spec, device=device)


def _work(args: tuple[str, str | None, float | None]) -> str:
    text, keep_prefix, bec_displacement_A = args
    (frame,) = parse_frames_text(text)
    return frame_text(relabel_frame(frame, _WORKER["teacher"], keep_prefix, bec_displacement_A))


def check_bec_teacher(teacher: Teacher, bec_displacement_A: float | None) -> None:
    """UserInputError unless ``teacher`` can give finite-difference BEC labels with this step."""
    if bec_displacement_A is None:
        return
    if not (isinstance(bec_displacement_A, (int, float)) and bec_displacement_A > 0
            and np.isfinite(bec_displacement_A)):
        raise UserInputError(f"BEC displacement must be a number > 0 Å, got {bec_displacement_A!r}")
    if not calculator_gives_dipole(teacher.calculator):
        raise UserInputError(f"teacher {teacher.name!r} gives no dipole, so it has no "
                             "finite-difference BEC labels; use a dipole-giving teacher "
                             "(xtb-gfn1, xtb-gfn2) or drop --bec")


def label(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    teacher: Teacher | str,
    *,
    keep_prefix: str | None = None,
    workers: int = 1,
    shard: str | tuple[int, int] | None = None,
    device: str = "cpu",
    progress: bool = True,
    bec_displacement_A: float | None = None,
) -> Path:
    """Relabel the frames of ``in_path`` with ``teacher`` into ``out_path`` (resumable).

    Args:
        in_path: extxyz frames (any ASE-readable multi-frame file). Frames without
            ``info["frame_id"]`` get their index in the file.
        out_path: output extxyz; existing complete frames (same frame_ids) are kept and skipped.
        teacher: a Teacher or a spec string (needed as a string for ``workers > 1``).
        keep_prefix: keep the previous labels as ``info[prefix+"energy"]``,
            ``arrays[prefix+"forces"]``, ``info[prefix+"stress"]``, ``info[prefix+"teacher"]``
            (e.g. ``keys.PREVIOUS_PREFIX``); None drops them.
        workers: processes on this machine (each loads the teacher once, one torch thread each).
        shard: ``"i/n"`` or ``(i, n)``: label only frames with index % n == i.
        bec_displacement_A: also label BECs (``arrays["bec"]``, e) by central finite
            differences of the teacher's dipole with this step (Å, e.g. 0.01); the teacher
            must give a dipole. None: no BEC labels.
    """
    if workers < 1:
        raise UserInputError(f"workers must be >= 1, got {workers}")
    if Path(out_path).resolve() == Path(in_path).resolve():
        raise UserInputError(f"--out must differ from the input file {in_path}")
    spec = teacher if isinstance(teacher, str) else teacher.name
    teacher_obj = get_teacher(teacher, device=device) if isinstance(teacher, str) else teacher
    if workers > 1 and not isinstance(teacher, str):
        teacher_obj = get_teacher(spec, device=device)  # workers rebuild it from the spec
    check_bec_teacher(teacher_obj, bec_displacement_A)
    frames = load_frames(in_path)
    for idx, frame in enumerate(frames):
        frame.info.setdefault(keys.FRAME_ID, idx)
        teacher_obj.check(frame)
    shard_t = parse_shard(shard)
    if shard_t is not None:
        frames = [f for idx, f in enumerate(frames) if idx % shard_t[1] == shard_t[0]]
    out = Path(out_path)
    repair(out)
    done = {int(f.info[keys.FRAME_ID]) for f in read_frames(out)} if out.exists() else set()
    todo = [f for f in frames if int(f.info[keys.FRAME_ID]) not in done]
    bar = progress_bar(total=len(frames), initial=len(frames) - len(todo), unit="frame",
                       enabled=progress, desc=f"labelling {spec}")
    try:
        for text in _labelled_texts(todo, teacher_obj, spec, keep_prefix, workers, device,
                                    bec_displacement_A):
            append_frames(out, [text])
            bar.update(1)
    finally:
        bar.close()
    if not out.exists():
        out.touch()  # an empty shard is still a (valid, empty) output
    return out


def _labelled_texts(todo: list[Atoms], teacher: Teacher, spec: str, keep_prefix: str | None,
                    workers: int, device: str,
                    bec_displacement_A: float | None) -> Iterator[str]:
    """Relabelled frames as extxyz text, in input order."""
    if workers == 1 or len(todo) <= 1:
        for frame in todo:
            yield frame_text(relabel_frame(frame, teacher, keep_prefix, bec_displacement_A))
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # safe with torch / threads
    with ctx.Pool(workers, initializer=_init_worker, initargs=(spec, device)) as pool:
        jobs = ((frame_text(f), keep_prefix, bec_displacement_A) for f in todo)
        yield from pool.imap(_work, jobs, chunksize=1)


def merge(shard_paths: Sequence[str | os.PathLike[str]], out_path: str | os.PathLike[str]) -> Path:
    """Join labelled shard files into ``out_path``: unique ``frame_id``s, sorted by frame_id.

    Partial trailing frames of the shards are ignored. The output is written atomically.
    Raises UserInputError if a frame has no frame_id.
    """
    if not shard_paths:
        raise UserInputError("merge needs at least one shard file")
    by_id: dict[int, str] = {}
    for path in shard_paths:
        for k, frame in enumerate(read_frames(path)):
            if keys.FRAME_ID not in frame.info:
                raise UserInputError(f"{path} frame {k} has no frame_id; cannot merge/de-duplicate")
            by_id.setdefault(int(frame.info[keys.FRAME_ID]), frame_text(frame))
    with atomic_open(out_path, "w", encoding="utf-8") as handle:
        for frame_id in sorted(by_id):
            handle.write(by_id[frame_id])
    return Path(out_path)
