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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.progress import progress_bar
from lesdistill.sampling.equilibration import (
    equilibrate,
    is_water,
    require_water,
    tip3p_start,
)
from lesdistill.sampling.guards import SamplingAborted, check_md_state
from lesdistill.sampling.settings import QUICK, THERMOSTATS, SampleSettings
from lesdistill.sampling.snapshots import monomer_modes, water_snapshots
from lesdistill.sampling.store import (
    append_frames,
    frame_text,
    read_frames,
    read_state,
    repair,
    state_path,
    write_state,
)
from lesdistill.systems.io import validate_structure
from lesdistill.teachers import get_teacher

__all__ = ["QUICK", "THERMOSTATS", "SampleSettings", "sample", "structure_hash"]

if TYPE_CHECKING:
    from lesdistill.sampling.snapshots import MonomerModes
    from lesdistill.teachers.base import Teacher


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
    settings: SampleSettings | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Run teacher MD from ``atoms`` and write labelled frames to ``out_path`` (extxyz).

    ``settings`` (default :class:`SampleSettings`) is the MD protocol; keyword ``overrides``
    change single fields of it (``sample(atoms, "chgnet", "f.xyz", n_frames=50)``). ``seed``
    seeds the velocities and the thermostat noise.

    Frames carry the teacher's energy (eV), forces (eV/Å) and, for periodic cells, stress
    (eV/Å^3, Voigt) as ASE SinglePointCalculator results, plus ``info``: ``teacher``,
    ``frame_id`` (0..n_frames-1), ``temperature_K``, ``strain``, ``md_step``. Frames are split
    evenly over the (temperature, strain) segments; each segment starts from the (optionally
    relaxed, strained) input -- or, with ``pre_equilibration="tip3p"`` (and "auto", the default,
    for a water box), its own TIP3P liquid snapshot -- with Maxwell-Boltzmann velocities and at
    least ``equilibration_steps`` of unrecorded MD, continued until the settle check passes
    (``settle_window``; a segment that does not settle within ``max_equilibration_steps`` raises
    :class:`SamplingAborted` and records nothing). Frames also carry ``md_temperature_K``
    (kinetic), ``equilibration_steps`` and ``equilibrated``. Re-running with the same arguments
    resumes (see the module docstring).

    Raises :class:`SamplingAborted` if the MD explodes (NaN, runaway temperature, overlapping
    atoms); frames written before are kept.
    """
    base = SampleSettings() if settings is None else SampleSettings.from_settings(settings)
    settings = base.replace(**overrides) if overrides else base
    if isinstance(teacher, str):
        teacher = get_teacher(teacher, device=device)
    validate_structure(atoms, source="input structure")
    teacher.check(atoms)
    if settings.n_clusters:
        from lesdistill.sampling.clusters import check_cluster_sampling

        check_cluster_sampling(atoms, teacher, settings.cluster_molecules)
    if settings.snapshot_fraction > 0:
        require_water(atoms, "sampling with snapshots (snapshot_fraction > 0)",
                      "set snapshot_fraction: 0 for other systems")
    if settings.pre_equilibration == "tip3p":
        require_water(atoms, "the TIP3P pre-equilibration",
                      "set pre_equilibration: auto or none for other systems")
    run = _Run(settings=settings, seed=int(seed), teacher=teacher.name,
               structure_hash=structure_hash(atoms))
    out = Path(out_path)
    sidecar = state_path(out)
    state = _reconcile(out, sidecar, run)
    start = _start_structure(atoms, teacher, settings, state)
    done = 0 if state is None else int(state["n_done"])
    _run_segments(start, teacher, out, sidecar, run, state, done, progress)
    return out


@dataclass(frozen=True)
class _Run:
    """What a resume must match: the settings, the seed, the teacher and the start structure."""

    settings: SampleSettings
    seed: int
    teacher: str
    structure_hash: str

    def jsonable(self) -> dict[str, Any]:
        record = {**asdict(self.settings), "seed": self.seed, "teacher": self.teacher,
                  "structure_hash": self.structure_hash}
        return json.loads(json.dumps(record))


def _same_run(saved: dict[str, Any], current: dict[str, Any]) -> bool:
    """True if a saved run record describes ``current``; a setting added to
    :class:`SampleSettings` after the record was written counts as its default."""
    defaults = json.loads(json.dumps(asdict(SampleSettings())))
    return set(saved) <= set(current) and all(
        saved.get(key, defaults.get(key)) == value for key, value in current.items())


def _reconcile(out: Path, sidecar: Path, run: _Run) -> dict[str, Any] | None:
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
    if not _same_run(state.get("settings") or {}, run.jsonable()):
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


def _with_state(atoms: Atoms, source: Atoms) -> Atoms:
    """``atoms`` with the total charge and spin multiplicity of ``source`` (``info``), so the
    teacher MD and the labelled frames keep the charge state of the input structure."""
    for key in (keys.TOTAL_CHARGE, keys.SPIN_MULTIPLICITY):
        if key in source.info:
            atoms.info[key] = source.info[key]
    return atoms


def _strained(start: Atoms, strain: float) -> Atoms:
    """A copy of ``start`` (with its charge state) with cell and positions scaled by 1 + strain."""
    work = _with_state(
        Atoms(start.numbers, positions=start.positions, cell=start.cell, pbc=start.pbc), start
    )
    if strain:
        work.set_cell(start.cell.array * (1.0 + strain), scale_atoms=True)
    return work


def _start_structure(atoms: Atoms, teacher: Teacher, settings: SampleSettings,
                     state: dict[str, Any] | None) -> Atoms:
    """Input structure, relaxed by the teacher if asked (the relaxed one is kept in the state)."""
    start = _with_state(Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                              pbc=atoms.pbc), atoms)
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


def segment_start(start: Atoms, settings: SampleSettings, seed: int, segment: int,
                  temperature: float, strain: float) -> Atoms:
    """Start structure of one sampling segment: ``start`` strained by ``strain`` (cell and
    positions scaled by 1 + strain), then, with ``pre_equilibration="tip3p"`` (or "auto" and a
    water box), its own TIP3P liquid snapshot at ``temperature`` (seeded by ``seed`` and the
    segment index)."""
    work = _strained(start, strain)
    if settings.pre_equilibration_for(is_water(work)) == "tip3p":
        work = tip3p_start(work, ps=settings.pre_equilibration_ps, temperature_K=temperature,
                           seed=seed * 1000 + segment)
    return _with_state(work, start)


def segment_snapshots(
    start: Atoms,
    settings: SampleSettings,
    seed: int,
    segment: int,
    temperature: float,
    strain: float,
    monomer: MonomerModes,
    n: int,
) -> list[Atoms]:
    """The ``n`` snapshot frames of a segment (:func:`lesdistill.sampling.snapshots.water_snapshots`
    from the strained ``start``; deterministic for the seed and segment)."""
    snaps = water_snapshots(
        _strained(start, strain),
        monomer,
        n,
        temperature_K=temperature,
        interval_ps=settings.snapshot_interval_ps,
        first_ps=settings.pre_equilibration_ps,
        seed=seed * 1000 + segment + 500,
    )
    return [_with_state(snap, start) for snap in snaps]


def _labelled_frame(
    atoms: Atoms,
    teacher: Teacher,
    frame_id: int,
    temperature: float,
    strain: float,
    step: int,
    equil: tuple[int, bool],
    snapshot: bool = False,
    md_temperature: float | None = None,
    origin: str | None = None,
) -> Atoms:
    from ase.calculators.singlepoint import SinglePointCalculator

    results: dict[str, Any] = {"energy": float(atoms.get_potential_energy()),
                               "forces": np.array(atoms.get_forces(), dtype=float)}
    if atoms.pbc.all():
        results["stress"] = np.array(atoms.get_stress(voigt=True), dtype=float)
    frame = _with_state(Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                              pbc=atoms.pbc), atoms)
    frame.wrap()
    frame.info.update(
        {
            keys.TEACHER: teacher.name,
            keys.FRAME_ID: int(frame_id),
            keys.TEMPERATURE_K: float(temperature),
            keys.MD_TEMPERATURE_K: float(md_temperature if md_temperature is not None
                                         else temperature if snapshot else atoms.get_temperature()),
            "strain": float(strain),
            "md_step": int(step),
            "equilibration_steps": int(equil[0]),
            keys.EQUILIBRATED: bool(equil[1]),
            keys.ORIGIN: origin or ("snapshot" if snapshot else "md"),
        }
    )
    frame.calc = SinglePointCalculator(frame, **results)
    return frame


def _run_segments(start: Atoms, teacher: Teacher, out: Path, sidecar: Path, run: _Run,
                  state: dict[str, Any] | None, done: int, progress: bool) -> None:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    settings = run.settings
    segments = settings.segments()
    bar = progress_bar(total=settings.n_frames + settings.n_clusters, initial=done, unit="frame",
                       enabled=progress, desc=f"sampling {teacher.name}")
    t0 = time.perf_counter()
    n_new = 0

    def keep(frame: Atoms, record: dict[str, Any], **postfix: str) -> None:
        """Save the resume state (``record`` + the frame), then append the frame."""
        nonlocal done, n_new
        text = frame_text(frame)
        write_state(sidecar, {"settings": run.jsonable(), "n_done": done + 1,
                              "start_positions": start.positions.tolist(), "last_frame": text,
                              **record})
        append_frames(out, [text])
        done += 1
        n_new += 1
        bar.update(1)
        bar.set_postfix(**postfix, s_per_frame=f"{(time.perf_counter() - t0) / n_new:.2f}")

    try:
        first_id = 0
        monomer: MonomerModes | None = None
        for seg, (temperature, strain, n_seg) in enumerate(segments):
            seg_end = first_id + n_seg
            if done >= seg_end or n_seg == 0:
                first_id = seg_end
                continue
            snap_end = first_id + settings.n_snapshots(n_seg)
            if done < snap_end:  # the teacher's monomer: once per run, only when snapshots remain
                if monomer is None:
                    monomer = monomer_modes(teacher.calculator, periodic=teacher.info.periodic)
                snaps = segment_snapshots(
                    start,
                    settings,
                    run.seed,
                    seg,
                    temperature,
                    strain,
                    monomer,
                    snap_end - first_id,
                )
                for frame_id in range(done, snap_end):
                    work = snaps[frame_id - first_id]
                    work.calc = teacher.calculator
                    _guard(work, temperature, 0, settings, check_overlap=True)
                    keep(_labelled_frame(work, teacher, frame_id, temperature, strain, 0, (0, True),
                                         snapshot=True), {"segment": seg, "snapshot": True},
                         snapshot=f"{frame_id - first_id + 1}/{snap_end - first_id}",
                         seg=f"{seg + 1}/{len(segments)}")
            if done >= seg_end:
                first_id = seg_end
                continue
            resume = (state is not None and int(state["segment"]) == seg and done > snap_end
                      and not state.get("snapshot", False))
            if resume:  # positions and momenta come from the state
                work = _strained(start, strain)
            else:
                work = segment_start(start, settings, run.seed, seg, temperature, strain)
            work.calc = teacher.calculator
            rng = np.random.default_rng([run.seed, seg])
            if resume:
                assert state is not None
                work.positions = np.array(state["positions"], dtype=float)
                work.set_momenta(np.array(state["momenta"], dtype=float))
                rng.bit_generator.state = state["rng"]
                step = int(state["step"])
                equil = (
                    int(state.get("equilibration_steps", 0)),
                    bool(state.get("equilibrated", False)),
                )
            else:
                MaxwellBoltzmannDistribution(work, temperature_K=temperature, rng=rng)
                Stationary(work)
                step = 0
            dyn = _make_dynamics(work, settings, temperature, rng)
            if resume:
                assert state is not None
                _restore_thermostat(dyn, settings, state["thermostat"])
            else:
                equil = _equilibrate(dyn, work, temperature, settings, seg, strain)
                step += equil[0]
            for frame_id in range(max(done, snap_end), seg_end):
                for _ in range(settings.stride):
                    dyn.run(1)
                    step += 1
                    _guard(work, temperature, step, settings, check_overlap=False)
                _guard(work, temperature, step, settings, check_overlap=True)
                keep(_labelled_frame(work, teacher, frame_id, temperature, strain, step, equil),
                     {"segment": seg, "step": step, "positions": work.positions.tolist(),
                      "momenta": work.get_momenta().tolist(), "rng": rng.bit_generator.state,
                      "thermostat": _thermostat_state(dyn, settings),
                      "equilibration_steps": equil[0], "equilibrated": equil[1]},
                     T_K=f"{work.get_temperature():.0f}", seg=f"{seg + 1}/{len(segments)}")
            first_id = seg_end
        if settings.n_clusters and done < settings.n_frames + settings.n_clusters:
            from lesdistill.sampling.clusters import cluster_plan

            plan = cluster_plan(read_frames(out), settings.n_clusters, settings.cluster_molecules,
                                run.seed, settings.n_frames, done)
            for frame_id, cluster, source in plan:
                cluster.calc = teacher.calculator
                info = source.info
                keep(_labelled_frame(cluster, teacher, frame_id, float(info[keys.TEMPERATURE_K]),
                                     float(info.get("strain", 0.0)), int(info.get("md_step", 0)),
                                     (0, True), md_temperature=info.get(keys.MD_TEMPERATURE_K),
                                     origin="cluster"),
                     {"cluster": frame_id - settings.n_frames},
                     cluster=f"{frame_id - settings.n_frames + 1}/{settings.n_clusters}")
    except SamplingAborted as exc:
        raise SamplingAborted(
            f"{exc}; {done} labelled frames kept in {out}; lower --timestep-fs or the "
            "temperature, or check the structure/teacher"
        ) from None
    finally:
        bar.close()


def _equilibrate(dyn: Any, work: Atoms, temperature: float, settings: SampleSettings, seg: int,
                 strain: float) -> tuple[int, bool]:
    """Unrecorded teacher MD until the segment has settled; (steps, passed the check)."""
    def hook(step: int) -> None:
        # an unrelaxed start heats up first: only catch a real explosion here
        _guard(work, temperature, step, settings, check_overlap=False, looser=4.0)

    steps, verdict = equilibrate(dyn, work, temperature, min_steps=settings.equilibration_steps,
                                 window=settings.settle_window,
                                 max_steps=settings.max_equilibration_steps,
                                 temperature_tolerance=settings.settle_temperature_tolerance,
                                 energy_tolerance=settings.settle_energy_tolerance, step_hook=hook)
    if verdict is not None and not verdict.ok:
        raise SamplingAborted(
            f"teacher MD segment {seg + 1} ({temperature:.0f} "
            f"K, strain {strain:+.3f}) did not settle "
            f"within {steps} steps ({verdict.reason}); its frames were not recorded. Raise "
            "max_equilibration_steps, relax the start (relax / pre_equilibration: tip3p for water) "
            "or check the teacher"
        )
    return steps, verdict is not None


def _guard(atoms: Atoms, temperature: float, step: int, settings: SampleSettings,
           check_overlap: bool, looser: float = 1.0) -> None:
    check_md_state(atoms, temperature, step, max_factor=settings.max_temperature_factor * looser,
                   min_distance_A=settings.min_distance_A, check_overlap=check_overlap)
