"""Spectra MD in LAMMPS: the protocol of :func:`lesdistill.md.run_md` with LAMMPS integrating
and the student's forces from :class:`~lesdistill.engines.lammps.StudentFix` (or, divided over
the MPI ranks, :class:`~lesdistill.engines.lammps_domain.DomainStudentFix`); the same
trajectory files, written by rank 0, resumable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.engines.lammps import (
    StudentFix,
    _create_system,
    _f,
    _rank,
    _type_masses,
    new_lammps,
)
from lesdistill.errors import UserInputError
from lesdistill.md import driver
from lesdistill.md import trajectory as tj
from lesdistill.md.settings import MDSettings
from lesdistill.progress import progress_bar

__all__ = ["run_lammps_md"]


def run_lammps_md(atoms: Any, calc: Any, out_path: str | os.PathLike[str], settings: Any = None, *,
                  bec_every: int = 0, seed: int = 0, chunk_frames: int = 200,
                  progress: bool = True, virial: bool = False, cmdargs: list[str] | None = None,
                  domain: bool = False, **overrides: Any) -> Path | None:
    """Spectra MD of :func:`lesdistill.md.run_md` with LAMMPS integrating and the student's
    forces from :class:`StudentFix`; the same trajectory files (written by rank 0).

    Equilibration: ``fix langevin`` (thermostat langevin, damping coupling_fs) or ``fix
    temp/csvr`` (bussi, tau_T = coupling_fs) with ``fix nve``; production: ``fix nve`` (after
    zeroing the total momentum) or the weak thermostat with production_coupling_fs. Velocities
    are drawn as in run_md (Maxwell-Boltzmann at temperature_K with ``numpy`` seed ``seed``), so
    an NVE run starts from the same state as the ASE one. LAMMPS draws its own thermostat noise
    (seeded from ``seed`` and the step a run starts at). ``domain=True`` divides the student
    over the MPI ranks (:class:`~lesdistill.engines.lammps_domain.DomainStudentFix`) instead of
    evaluating it whole on every rank. Returns ``out_path`` on rank 0 (the rank that writes the
    files), None on the other ranks. Calling again with the same arguments
    resumes a killed run from its last stored chunk (NVE production continues exactly; a
    thermostat draws new noise) and a larger ``n_steps`` extends a finished one.
    """
    from ase.md import velocitydistribution as vdist

    base = MDSettings() if settings is None else MDSettings.from_settings(settings)
    s = base.replace(**overrides) if overrides else base
    out = Path(out_path)
    if getattr(s, "has_field", False):
        raise UserInputError("the LAMMPS engine has no electric field; run --field with "
                             "`lesdistill md` (ASE)")
    elements = list(calc.model.elements)
    unseen = sorted(set(atoms.get_chemical_symbols()) - set(elements))
    if unseen:
        raise UserInputError(
            f"elements {unseen} are not known to this student (it knows {elements})"
        )
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise UserInputError(f"LAMMPS runs need a structure periodic in all three directions or "
                             f"in none, got pbc={pbc.tolist()}")
    _type_masses(atoms, elements)
    lmp = new_lammps(cmdargs)
    rank = _rank(lmp)
    probe = atoms.copy()
    probe.calc = calc
    meta = driver._settings(probe, **_asdict(s), groups=[], bec_every=int(bec_every),
                            seed=int(seed), engine="lammps",
                            ranks=int(lmp.extract_setting("world_size")))
    # every rank reads the checkpoint before rank 0 writes anything: with no barrier between
    # them, a rank reading after rank 0 had started a new run's files could see half of them
    state = tj.read_state(out) if (out / tj.META).is_file() else None
    if rank == 0:  # checks the settings of a resumed run, writes meta.json of a new one
        driver._start_or_resume(probe, out, meta)
    start = atoms.copy()
    if state is not None:  # resume: the checkpoint is in LAMMPS's frame, with its cell
        if state["complete"] and s.n_steps <= state["step"]:
            lmp.close()
            return out if rank == 0 else None
        start.set_cell(state["cell"], scale_atoms=False)
        start.positions = state["positions"]
        start.set_momenta(state["momenta"], apply_constraint=False)
    elif not np.any(start.get_momenta()):
        rng = np.random.default_rng(seed)
        if hasattr(vdist, "thermalize_momenta"):
            vdist.thermalize_momenta(start, s.temperature_K, rng=rng)
        else:
            vdist.MaxwellBoltzmannDistribution(start, temperature_K=s.temperature_K, rng=rng)
        vdist.Stationary(start)
    _create_system(lmp, start, elements, s.timestep_fs)
    if domain:
        from lesdistill.engines.lammps_domain import DomainStudentFix

        fix: Any = DomainStudentFix(lmp, calc, elements)
    else:
        fix = StudentFix(lmp, calc, elements, virial=virial)
    frame_atoms = fix.atoms  # positions/velocities from LAMMPS, same calculator
    frame_atoms.set_masses(start.get_masses())
    phase, step, n_parts = ("equil", 0, 0) if state is None else (
        state["phase"], state["step"], state["n_parts"])
    # LAMMPS's thermostat noise: seeded from seed and the step a (resumed) run starts at
    lammps_seed = 1 + (int(seed) * 1_000_003 + step + (0 if phase == "equil" else s.n_equil)) \
        % 900_000_000
    T = s.temperature_K

    def thermostat(kind: str, coupling_fs: float) -> None:
        damp = coupling_fs * 1e-3
        if kind == "langevin":
            lmp.command(f"fix bath all langevin {_f(T)} {_f(T)} {_f(damp)} {lammps_seed}")
        elif kind == "bussi":
            lmp.command(f"fix bath all temp/csvr {_f(T)} {_f(T)} {_f(damp)} {lammps_seed}")

    lmp.command("fix integrate all nve")
    done = step if phase == "equil" else s.n_equil + step
    bar = progress_bar(
        total=s.n_equil + s.n_steps,
        initial=done,
        enabled=progress and rank == 0,
        unit="step",
        desc=f"LAMMPS {'equilibration' if phase == 'equil' else 'production'}",
    )
    first = True
    dummy_rng = np.random.default_rng(seed)  # the checkpoint format has a numpy generator state

    def advance(n: int) -> None:
        nonlocal first
        lmp.command(f"run {n}" + ("" if first else " pre no post no"))
        first = False
        bar.update(n)

    def sync() -> None:
        """frame_atoms <- LAMMPS's current positions (unwrapped) and velocities (collective)."""
        from ase import units

        frame_atoms.positions = fix.positions()
        frame_atoms.set_velocities(fix.velocities() / units.fs)

    def checkpoint(phase: str, step: int, n_parts: int, complete: bool) -> None:
        sync()
        if rank == 0:
            driver._checkpoint(out, frame_atoms, phase, step, dummy_rng, n_parts,
                               complete=complete)

    if phase == "equil":
        if step < s.n_equil:
            thermostat(s.thermostat, s.coupling_fs)
            while step < s.n_equil:
                n = min(s.stride * chunk_frames, s.n_equil - step)
                advance(n)
                step += n
                checkpoint("equil", step, 0, False)
            lmp.command("unfix bath")
            first = True
        phase, step = "prod", 0
        if s.production != "langevin":
            lmp.command("velocity all zero linear")
    if s.production != "nve":
        thermostat(s.production, s.production_coupling_fs)
    first = True
    bar.set_description("LAMMPS production")
    frames: list[dict[str, Any]] = []
    pending = 0  # frames not yet in a part file (counted on every rank)

    def record(step: int, frame: int) -> None:
        nonlocal pending
        sync()
        pending += 1
        if rank == 0:
            want = bec_every > 0 and frame % bec_every == 0
            frames.append(driver._record(frame_atoms, {}, frame, step, want))

    frame = step // s.stride + 1 if n_parts else 0
    if frame == 0:
        record(0, 0)
        frame = 1
    while step < s.n_steps:
        n = min(s.stride - step % s.stride, s.n_steps - step)
        advance(n)
        step += n
        if step % s.stride == 0:
            record(step, frame)
            frame += 1
        if pending == chunk_frames or (step == s.n_steps and pending):
            if rank == 0:
                tj.write_npz_atomic(tj.part_path(out, n_parts), **tj.concatenate_frames(frames))
            n_parts += 1
            frames, pending = [], 0
            checkpoint("prod", step, n_parts, step == s.n_steps)
    bar.close()
    checkpoint("prod", step, n_parts, True)
    lmp.close()
    if rank != 0:
        return None
    driver.summarize(out)
    return out


def _asdict(settings: Any) -> dict[str, Any]:
    """The settings as meta.json stores them (no field keys: this engine runs without one)."""
    import dataclasses

    fields = dataclasses.asdict(settings)
    fields.pop("field_V_per_A", None)
    fields.pop("field_asr", None)
    return fields
