"""Teacher MD sampling: NVT runs at one or more temperatures (and strains), labelled frames out.

Resumable: after every kept frame the complete MD state (positions, momenta, cell, random
generator state, thermostat variables, step) is written atomically to a sidecar file
``.<out>.state.json`` *before* the frame is appended (whole frame, flush + fsync). Killed at any
point and re-run with the same arguments, :func:`sample` drops a partial trailing frame, restores
the frame the sidecar holds if the append was interrupted, and continues from the saved state, so
the result is identical to an uninterrupted run for deterministic teachers (SCF teachers such as
xTB may differ at the level of their SCF tolerance, because their initial guess is history
dependent).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.sampling.guards import SamplingAborted, check_md_state
from lesdistill.sampling.store import append_frames, frame_text, read_state, repair, state_path, write_state

if TYPE_CHECKING:
    from lesdistill.teachers.base import Teacher

THERMOSTATS = ("langevin", "bussi", "nose-hoover")


@dataclass(frozen=True)
class SampleSettings:
    """Settings of one sampling run (recorded in the state file; a resume must match them)."""

    temperatures_K: tuple[float, ...] = (300.0,)
    strains: tuple[float, ...] = (0.0,)  # isotropic linear strains (cell scaled by 1 + s)
    n_frames: int = 200  # total, split over (temperature, strain) segments
    stride: int = 10  # MD steps between kept frames
    timestep_fs: float = 0.5
    equilibration_steps: int = 100  # per segment, before the first kept frame
    thermostat: str = "langevin"
    friction_per_fs: float = 0.01  # Langevin friction (1/fs); Bussi/NH time constant = 1/friction
    seed: int = 0
    relax: bool = False
    relax_fmax_eV_A: float = 0.1
    relax_steps: int = 200
    max_temperature_factor: float = 3.0
    min_distance_A: float = 0.5
    teacher: str = ""
    structure_hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.temperatures_K or min(self.temperatures_K) <= 0:
            raise ValueError(f"temperatures_K must be positive, got {self.temperatures_K}")
        if not self.strains or min(self.strains) <= -0.5:
            raise ValueError(f"strains must be > -0.5, got {self.strains}")
        for name in ("n_frames", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.equilibration_steps < 0:
            raise ValueError(f"equilibration_steps must be >= 0, got {self.equilibration_steps}")
        if not 0 < self.timestep_fs <= 10:
            raise ValueError(f"timestep_fs must be in (0, 10] fs, got {self.timestep_fs}")
        if self.thermostat not in THERMOSTATS:
            raise ValueError(f"thermostat must be one of {', '.join(THERMOSTATS)}, "
                             f"got {self.thermostat!r}")
        if not self.friction_per_fs > 0:
            raise ValueError(f"friction_per_fs must be > 0, got {self.friction_per_fs}")

    def segments(self) -> list[tuple[float, float, int]]:
        """(temperature K, strain, frames) per segment; frames sum to ``n_frames``."""
        pairs = [(t, s) for t in self.temperatures_K for s in self.strains]
        base, extra = divmod(self.n_frames, len(pairs))
        return [(t, s, base + (1 if k < extra else 0)) for k, (t, s) in enumerate(pairs)]


def structure_hash(atoms: Atoms) -> str:
    """Short hash of numbers, positions, cell and pbc (identifies the starting structure)."""
    h = hashlib.sha256()
    for arr in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def sample(
    atoms: Atoms,
    teacher: Teacher | str,
    out_path: str | os.PathLike[str],
    *,
    temperatures_K: tuple[float, ...] | list[float] = (300.0,),
    n_frames: int = 200,
    stride: int = 10,
    timestep_fs: float = 0.5,
    seed: int = 0,
    relax: bool = False,
    friction_per_fs: float = 0.01,
    thermostat: str = "langevin",
    equilibration_steps: int = 100,
    strains: tuple[float, ...] | list[float] = (0.0,),
    max_temperature_factor: float = 3.0,
    min_distance_A: float = 0.5,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Run teacher MD from ``atoms`` and write ``n_frames`` labelled frames to ``out_path`` (extxyz).

    Frames carry the teacher's energy (eV), forces (eV/Å) and, for periodic cells, stress
    (eV/Å^3, Voigt) as ASE SinglePointCalculator results, plus ``info``: ``teacher``,
    ``frame_id`` (0..n_frames-1), ``temperature_K``, ``strain``, ``md_step``. Frames are split
    evenly over the (temperature, strain) segments; each segment starts from the (optionally
    relaxed, strained) input with Maxwell-Boltzmann velocities and ``equilibration_steps`` of
    unrecorded MD. Re-running with the same arguments resumes (see the module docstring).

    Raises :class:`SamplingAborted` if the MD explodes (NaN, runaway temperature, overlapping
    atoms); frames written before are kept.
    """
    from lesdistill.systems.io import validate_structure
    from lesdistill.teachers import get_teacher

    if isinstance(teacher, str):
        teacher = get_teacher(teacher, device=device)
    validate_structure(atoms, source="input structure")
    teacher.check(atoms)
    settings = SampleSettings(
        temperatures_K=tuple(float(t) for t in temperatures_K),
        strains=tuple(float(s) for s in strains), n_frames=int(n_frames), stride=int(stride),
        timestep_fs=float(timestep_fs), equilibration_steps=int(equilibration_steps),
        thermostat=thermostat, friction_per_fs=float(friction_per_fs), seed=int(seed),
        relax=bool(relax), max_temperature_factor=float(max_temperature_factor),
        min_distance_A=float(min_distance_A), teacher=teacher.name,
        structure_hash=structure_hash(atoms),
    )
    out = Path(out_path)
    sidecar = state_path(out)
    state = _reconcile(out, sidecar, settings)
    start = _start_structure(atoms, teacher, settings, state)
    done = 0 if state is None else int(state["n_done"])
    _run_segments(start, teacher, out, sidecar, settings, state, done, progress)
    return out


def _reconcile(out: Path, sidecar: Path, settings: SampleSettings) -> dict[str, Any] | None:
    """Make ``out`` and its state consistent after a possible kill; return the state (or None)."""
    state = read_state(sidecar)
    n_file = repair(out)
    if state is None:
        if n_file:
            raise UserInputError(
                f"{out} already holds {n_file} frames but has no resume state; "
                "choose another output file or delete it"
            )
        if out.exists():
            out.unlink()  # only a partial frame was there
        return None
    if state.get("settings") != _jsonable(settings):
        raise UserInputError(
            f"{out} was started with different settings (teacher, structure, temperatures, ...); "
            "re-run with the same arguments to resume, or choose another output file"
        )
    n_done = int(state["n_done"])
    if n_file == n_done - 1:  # killed between saving the state and appending its frame
        append_frames(out, [state["last_frame"]])
    elif n_file != n_done:
        raise UserInputError(
            f"{out} has {n_file} frames but its resume state says {n_done}; the file was edited. "
            "Choose another output file"
        )
    return state


def _jsonable(settings: SampleSettings) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(settings)))


def _start_structure(atoms: Atoms, teacher: Teacher, settings: SampleSettings,
                     state: dict[str, Any] | None) -> Atoms:
    """Input structure, relaxed by the teacher if asked (the relaxed one is kept in the state)."""
    start = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if state is not None:
        start.positions = np.array(state["start_positions"], dtype=float)
        return start
    if settings.relax:
        from ase.optimize import FIRE

        start.calc = teacher.calculator
        FIRE(start, logfile=None).run(fmax=settings.relax_fmax_eV_A, steps=settings.relax_steps)
        start.calc = None
    return start


def _make_dynamics(atoms: Atoms, settings: SampleSettings, temperature: float,
                   rng: np.random.Generator) -> Any:
    from ase import units

    dt = settings.timestep_fs * units.fs
    if settings.thermostat == "langevin":
        from ase.md.langevin import Langevin

        return Langevin(atoms, dt, temperature_K=temperature, fixcm=False, rng=rng,
                        friction=settings.friction_per_fs / units.fs)
    if settings.thermostat == "bussi":
        from ase.md.bussi import Bussi

        return Bussi(atoms, dt, temperature_K=temperature, rng=rng,
                     taut=units.fs / settings.friction_per_fs)
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    return NoseHooverChainNVT(atoms, dt, temperature_K=temperature,
                              tdamp=units.fs / settings.friction_per_fs)


def _thermostat_state(dyn: Any, settings: SampleSettings) -> dict[str, Any]:
    if settings.thermostat == "nose-hoover":
        return {"eta": dyn._thermostat._eta.tolist(), "p_eta": dyn._thermostat._p_eta.tolist()}
    if settings.thermostat == "bussi":
        return {"transferred_energy": dyn.transferred_energy}
    return {}


def _restore_thermostat(dyn: Any, settings: SampleSettings, saved: dict[str, Any]) -> None:
    if settings.thermostat == "nose-hoover":
        dyn._thermostat._eta = np.array(saved["eta"], dtype=float)
        dyn._thermostat._p_eta = np.array(saved["p_eta"], dtype=float)
    elif settings.thermostat == "bussi":
        dyn.transferred_energy = float(saved["transferred_energy"])


def _labelled_frame(atoms: Atoms, teacher: Teacher, frame_id: int, temperature: float,
                    strain: float, step: int) -> Atoms:
    from ase.calculators.singlepoint import SinglePointCalculator

    results: dict[str, Any] = {"energy": float(atoms.get_potential_energy()),
                               "forces": np.array(atoms.get_forces(), dtype=float)}
    if atoms.pbc.all():
        results["stress"] = np.array(atoms.get_stress(voigt=True), dtype=float)
    frame = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.wrap()
    frame.info.update({keys.TEACHER: teacher.name, keys.FRAME_ID: int(frame_id),
                       keys.TEMPERATURE_K: float(temperature), "strain": float(strain),
                       "md_step": int(step)})
    frame.calc = SinglePointCalculator(frame, **results)
    return frame


def _run_segments(start: Atoms, teacher: Teacher, out: Path, sidecar: Path,
                  settings: SampleSettings, state: dict[str, Any] | None, done: int,
                  progress: bool) -> None:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from tqdm.auto import tqdm

    segments = settings.segments()
    bar = tqdm(total=settings.n_frames, initial=done, unit="frame", disable=not progress,
               desc=f"sampling {teacher.name}", dynamic_ncols=True)
    t0 = time.perf_counter()
    n_new = 0
    try:
        first_id = 0
        for seg, (temperature, strain, n_seg) in enumerate(segments):
            seg_end = first_id + n_seg
            if done >= seg_end or n_seg == 0:
                first_id = seg_end
                continue
            work = start.copy()
            if strain:
                work.set_cell(start.cell.array * (1.0 + strain), scale_atoms=True)
            work.calc = teacher.calculator
            resume = state is not None and int(state["segment"]) == seg and done > first_id
            rng = np.random.default_rng([settings.seed, seg])
            if resume:
                assert state is not None
                work.positions = np.array(state["positions"], dtype=float)
                work.set_momenta(np.array(state["momenta"], dtype=float))
                rng.bit_generator.state = state["rng"]
                step = int(state["step"])
            else:
                MaxwellBoltzmannDistribution(work, temperature_K=temperature, rng=rng)
                Stationary(work)
                step = 0
            dyn = _make_dynamics(work, settings, temperature, rng)
            if resume:
                assert state is not None
                _restore_thermostat(dyn, settings, state["thermostat"])
            else:
                for _ in range(settings.equilibration_steps):
                    dyn.run(1)
                    step += 1
                    # an unrelaxed start heats up first: only catch a real explosion here
                    _guard(work, temperature, step, settings, check_overlap=False, looser=4.0)
            for frame_id in range(max(done, first_id), seg_end):
                for _ in range(settings.stride):
                    dyn.run(1)
                    step += 1
                    _guard(work, temperature, step, settings, check_overlap=False)
                _guard(work, temperature, step, settings, check_overlap=True)
                frame = _labelled_frame(work, teacher, frame_id, temperature, strain, step)
                text = frame_text(frame)
                new_state = {
                    "settings": _jsonable(settings), "n_done": frame_id + 1, "segment": seg,
                    "step": step, "positions": work.positions.tolist(),
                    "momenta": work.get_momenta().tolist(), "rng": rng.bit_generator.state,
                    "thermostat": _thermostat_state(dyn, settings),
                    "start_positions": start.positions.tolist(), "last_frame": text,
                }
                write_state(sidecar, new_state)
                append_frames(out, [text])
                done = frame_id + 1
                n_new += 1
                bar.update(1)
                bar.set_postfix(T_K=f"{work.get_temperature():.0f}", seg=f"{seg + 1}/{len(segments)}",
                                s_per_frame=f"{(time.perf_counter() - t0) / n_new:.2f}")
            first_id = seg_end
    except SamplingAborted as exc:
        raise SamplingAborted(
            f"{exc}; {done} labelled frames kept in {out}; lower --timestep-fs or the "
            "temperature, or check the structure/teacher"
        ) from None
    finally:
        bar.close()


def _guard(atoms: Atoms, temperature: float, step: int, settings: SampleSettings,
           check_overlap: bool, looser: float = 1.0) -> None:
    check_md_state(atoms, temperature, step, max_factor=settings.max_temperature_factor * looser,
                   min_distance_A=settings.min_distance_A, check_overlap=check_overlap)
