"""MD for spectra: NVT equilibration, then NVE (or weakly thermostatted) production that stores
positions, velocities and the dipole current dM/dt at every ``stride``-th step.

The calculator attached to ``atoms`` gives energy and forces (ASE) and a method
``calc.get_dipole_current(atoms) -> ndarray[3]`` (e Å/fs, from the atoms' velocities; the LES
student implements it with :func:`lesdistill.les.dipole_current` without forming Z*).
Integrators are ASE's: :class:`ase.md.langevin.Langevin`, :class:`ase.md.bussi.Bussi` (CSVR) and
:class:`ase.md.verlet.VelocityVerlet`. The run is resumable: after a kill, calling
:func:`run_md` again with the same arguments continues from the last stored chunk and produces
the same trajectory as an uninterrupted run (the random-generator state is checkpointed).
File format: :mod:`lesdistill.md.trajectory`.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.errors import UnstableDynamicsError, UserInputError
from lesdistill.md import trajectory as tj
from lesdistill.md.load import load_trajectory
from lesdistill.md.settings import PRODUCTIONS, THERMOSTATS, MDSettings
from lesdistill.units import SPEED_OF_LIGHT_CM_PER_FS

__all__ = ["MDSettings", "PRODUCTIONS", "THERMOSTATS", "format_summary", "run_md", "summarize"]

#: settings that must match when a run is resumed (n_steps may grow: the run is extended)
RESUME_KEYS = ("timestep_fs", "stride", "temperature_K", "thermostat", "production", "seed",
               "n_equil", "coupling_fs", "production_coupling_fs", "groups", "bec_every",
               "numbers", "atom_currents", "field_V_per_A", "field_asr")

GroupSpec = Sequence[int] | Callable[[Any], np.ndarray]


def _validate(atoms: Any, settings: MDSettings, chunk_frames: int) -> None:
    """Checks of the system and calculator (the settings validated themselves)."""
    if atoms.calc is None:
        raise UserInputError("atoms have no calculator; attach one (e.g. StudentCalculator)")
    if not callable(getattr(atoms.calc, "get_dipole_current", None)):
        raise UserInputError(f"calculator {type(atoms.calc).__name__} has no get_dipole_current"
                             "(atoms) method; spectra MD needs the dipole current (e Å/fs)")
    if not np.all(np.isfinite(atoms.positions)):
        raise UserInputError("atoms have NaN/inf positions")
    if atoms.pbc.any() and abs(np.linalg.det(atoms.cell.array)) < 1e-6:
        raise UserInputError("periodic atoms but the cell is singular (zero volume); give three "
                             "independent lattice vectors or set pbc=False")
    if chunk_frames < 1:
        raise UserInputError(f"chunk_frames must be >= 1, got {chunk_frames}")
    frame_fs = settings.timestep_fs * settings.stride
    nyquist_cm = 1.0 / (2.0 * SPEED_OF_LIGHT_CM_PER_FS * frame_fs)
    if nyquist_cm < 4500.0:
        warnings.warn(f"frames every {frame_fs:g} fs resolve IR bands only up to "
                      f"{nyquist_cm:.0f} cm^-1 (O-H stretch ~3400-3700); lower stride",
                      UserWarning, stacklevel=3)


def _make_dynamics(atoms: Any, kind: str, timestep_fs: float, temperature_K: float,
                   coupling_fs: float, rng: np.random.Generator) -> Any:
    """ASE integrator; ``coupling_fs`` is 1/friction (Langevin) or tau_T (Bussi)."""
    from ase import units as ase_units

    dt = timestep_fs * ase_units.fs
    if kind == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=dt)
    if kind == "langevin":
        from ase.md.langevin import Langevin

        return Langevin(atoms, timestep=dt, temperature_K=temperature_K,
                        friction=1.0 / (coupling_fs * ase_units.fs), fixcm=False, rng=rng)
    from ase.md.bussi import Bussi

    dyn = Bussi(atoms, timestep=dt, temperature_K=temperature_K, taut=coupling_fs * ase_units.fs,
                rng=rng)
    # velocity Verlet + global rescaling conserve the (zero) total momentum: 3N - 3 dof
    dyn.ndof = max(3 * len(atoms) - 3, 1)
    dyn.target_kinetic_energy = 0.5 * dyn.temp * dyn.ndof
    return dyn


def _group_masks(atoms: Any, groups: Mapping[str, GroupSpec]) -> dict[str, np.ndarray]:
    masks = {}
    for name, spec in groups.items():
        if callable(spec):
            mask = np.asarray(spec(atoms))
        else:
            mask = np.zeros(len(atoms), dtype=bool)
            index = np.asarray(list(spec), dtype=int)
            if index.size and (index.min() < -len(atoms) or index.max() >= len(atoms)):
                raise UserInputError(f"group {name!r} has atom indices outside 0..{len(atoms) - 1}")
            mask[index] = True
        if mask.dtype != bool:
            full = np.zeros(len(atoms), dtype=bool)
            full[mask.astype(int)] = True
            mask = full
        masks[name] = mask
    return masks


def _guard(atoms: Any, temperature_K: float, min_distance_A: float | None, phase: str, step: int,
           out: Path, n_parts: int) -> None:
    """Stop with :class:`UnstableDynamicsError` if the MD state is unphysical (NaN, runaway
    temperature, atoms closer than ``min_distance_A``): a student driven outside its training
    data."""
    from lesdistill.sampling.guards import SamplingAborted, check_md_state

    try:
        check_md_state(atoms, temperature_K, step, check_overlap=min_distance_A is not None,
                       min_distance_A=min_distance_A or 0.0)
    except SamplingAborted as exc:
        name = "equilibration" if phase == "equil" else "production"
        kept = (
            f"{n_parts} finished part file(s) kept in {out}"
            if n_parts
            else f"nothing stored in {out}"
        )
        raise UnstableDynamicsError(
            f"spectra MD became unphysical in {name}: {exc}; {kept}. The potential has left the "
            "region it was trained on: train the student longer or on more frames (sample the "
            "teacher at this temperature or higher), or lower timestep_fs"
        ) from None


def _record(atoms: Any, groups: Mapping[str, GroupSpec], frame: int, step: int,
            want_bec: bool, atom_currents: bool = False) -> dict[str, Any]:
    """Everything stored for one frame (velocities in Å/fs, currents in e Å/fs).

    atom_currents: store j_i = Z*_i v_i (N, 3) from this step's BEC; the dipole current is then
    their sum (one BEC evaluation instead of a separate dipole-current call)."""
    from ase import units as ase_units

    calc = atoms.calc
    velocities = atoms.get_velocities() * ase_units.fs
    record: dict[str, Any] = {
        "frame": frame, "step": step, "positions": atoms.get_positions(),
        "velocities": velocities, "cell": np.array(atoms.cell),
        "energy": float(atoms.get_potential_energy()),
        "kinetic": float(atoms.get_kinetic_energy()),
    }
    bec = None
    if atom_currents:
        bec = np.asarray(calc.get_property("born_effective_charges", atoms), dtype=float)
        record[tj.ATOM_CURRENT] = np.einsum("nab,nb->na", bec, velocities)
        record["dipole_current"] = record[tj.ATOM_CURRENT].sum(axis=0)
    else:
        record["dipole_current"] = np.asarray(calc.get_dipole_current(atoms),
                                              dtype=float).reshape(3)
    if groups:
        momenta = atoms.get_momenta()
        try:
            for name, mask in _group_masks(atoms, groups).items():
                atoms.set_momenta(np.where(mask[:, None], momenta, 0.0), apply_constraint=False)
                current = np.asarray(calc.get_dipole_current(atoms), dtype=float).reshape(3)
                record[tj.GROUP_PREFIX + name] = current
        finally:
            atoms.set_momenta(momenta, apply_constraint=False)
    if want_bec and bec is None:
        bec = np.asarray(calc.get_property("born_effective_charges", atoms), dtype=float)
    record["bec"] = bec if want_bec else None
    return record


def _checkpoint(out: Path, atoms: Any, phase: str, step: int, rng: np.random.Generator,
                n_parts: int, complete: bool = False) -> None:
    extra = getattr(atoms.calc, "md_state", None)  # e.g. the itinerant dipole under a field
    tj.write_npz_atomic(out / tj.STATE, **(extra() if callable(extra) else {}),
                        phase=np.array(phase), step=np.array(step),
                        positions=atoms.get_positions(), momenta=atoms.get_momenta(),
                        cell=np.array(atoms.cell),
                        rng_state=np.array(json.dumps(rng.bit_generator.state)),
                        n_parts=np.array(n_parts), complete=np.array(complete))


def _settings(atoms: Any, **kwargs: Any) -> dict[str, Any]:
    calc = atoms.calc
    eps_inf = getattr(calc, "eps_inf", None)
    return {
        "format": tj.FORMAT, "numbers": atoms.numbers.tolist(),
        "masses": atoms.get_masses().tolist(), "pbc": atoms.pbc.tolist(),
        "calculator": type(calc).__name__,
        "eps_inf": float(eps_inf) if isinstance(eps_inf, int | float) else None,
        "units": {"time": "fs", "length": "Å", "velocity": "Å/fs", "dipole_current": "e Å/fs",
                  "energy": "eV", "mass": "amu", "bec": "e"}, **kwargs}


def _remove_leftovers(out: Path, n_parts: int) -> None:
    """Delete temp files of writes interrupted by a kill and parts beyond the manifest."""
    for path in out.iterdir():
        stale_tmp = path.name.startswith((".part-", ".state.", ".meta.", ".summary."))
        stale_part = (path.name.startswith("part-") and path.suffix == ".npz"
                      and path.stem[5:].isdigit() and int(path.stem[5:]) >= n_parts)
        if path.is_file() and (stale_tmp or stale_part):
            path.unlink()


def _start_or_resume(atoms: Any, out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """Write meta for a new run or check a resumed one; return the checkpoint (or None)."""
    if (out / tj.META).is_file():
        old = tj.read_meta(out)
        diff = [key for key in RESUME_KEYS if old.get(key) != settings.get(key)]
        if diff:
            raise UserInputError(f"{out} holds a run with different settings ({', '.join(diff)}); "
                                 "use a new output path or delete the old run")
        state = tj.read_state(out)
        _remove_leftovers(out, 0 if state is None else state["n_parts"])
        if state is not None and old["n_steps"] != settings["n_steps"]:
            tj.write_json_atomic(out / tj.META, {**old, "n_steps": settings["n_steps"]})
        return state
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} exists and is not an MD trajectory; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    tj.write_json_atomic(out / tj.META, settings)
    return None


def run_md(atoms: Any, out_path: str | Path, settings: MDSettings | None = None, *,
           groups: Mapping[str, GroupSpec] | None = None, bec_every: int = 0, seed: int = 0,
           chunk_frames: int = 200, guard_min_distance_A: float | None = 0.5,
           progress: bool = True, atom_currents: bool = False, **overrides: Any) -> Path:
    """Equilibrate ``atoms`` in NVT, then run production and store frames to ``out_path``.

    atoms: ase.Atoms with a calculator that has ``get_dipole_current(atoms)`` (e Å/fs). Its
        positions and velocities are advanced in place. Velocities are drawn from
        Maxwell-Boltzmann at ``temperature_K`` (zero total momentum) unless all are set already.
    settings: the MD protocol (:class:`MDSettings`; default: its defaults); keyword
        ``overrides`` change single fields (``run_md(atoms, "md", temperature_K=350)``):
        ``n_equil`` NVT steps with ``thermostat`` ("langevin": friction 1/coupling_fs;
        "bussi": CSVR with tau_T = coupling_fs, fs), not stored; then ``n_steps`` production
        steps with ``production`` ("nve": velocity Verlet, or a weak "langevin"/"bussi" with
        coupling time ``production_coupling_fs``), frames at steps 0, stride, 2*stride, ...
    groups: name -> atom indices (or a callable atoms -> bool mask, evaluated per frame): the
        dipole current restricted to these atoms is stored too (for group decomposition).
    bec_every: also store Born effective charges (N, 3, 3), e, every ``bec_every``-th frame
        (``calc.get_property("born_effective_charges")``; 0 = never).
    atom_currents: store the per-atom currents j_i = Z*_i v_i (N, 3) of every frame (from that
        step's BEC; needs the calculator's ``born_effective_charges``), for groups that change
        per frame (:mod:`lesdistill.analysis.groups`); the dipole current is their sum.
    seed: seeds velocities and thermostat noise. chunk_frames: frames per part file (a kill
        loses at most one chunk). Returns ``out_path`` (a directory). Calling again with the same
        arguments resumes; a larger ``n_steps`` extends a finished run.

    Raises :class:`~lesdistill.errors.UnstableDynamicsError` (finished part files are kept) if
    the run turns unphysical: NaN, a temperature above max(3 T, T + 1000 K), or two atoms closer
    than ``guard_min_distance_A`` (Å; None = no overlap check, for non-interacting toy models),
    checked every ``stride`` steps.

    A nonzero ``field_V_per_A`` runs the whole MD under a homogeneous electric field
    (:class:`lesdistill.md.field.FieldCalculator` around ``atoms.calc``; stored energies
    include the field energy -E.P).
    """
    base = MDSettings() if settings is None else MDSettings.from_settings(settings)
    s = base.replace(**overrides) if overrides else base
    _validate(atoms, s, chunk_frames)
    out = Path(out_path)
    groups = dict(groups or {})
    fields = dataclasses.asdict(s)
    if s.has_field:  # absent keys = no field: runs stored before the field option still resume
        fields["field_V_per_A"] = list(s.field_V_per_A)
    else:
        del fields["field_V_per_A"], fields["field_asr"]
    meta = _settings(atoms, **fields, groups=sorted(groups),
                     bec_every=int(bec_every), seed=int(seed),
                     **({"atom_currents": True} if atom_currents else {}))
    if atom_currents and "born_effective_charges" not in getattr(
            atoms.calc, "implemented_properties", ()):
        raise UserInputError(f"per-atom currents need Born effective charges; calculator "
                             f"{type(atoms.calc).__name__} does not provide them")
    calc = atoms.calc
    if s.has_field:
        from lesdistill.md.field import FieldCalculator

        atoms.calc = FieldCalculator(calc, s.field_V_per_A, asr=s.field_asr)
    try:
        return _run(atoms, out, s, meta, groups, bec_every, seed, chunk_frames,
                    guard_min_distance_A, progress, atom_currents)
    finally:
        atoms.calc = calc
        if s.has_field and hasattr(calc, "retain_response_graph"):
            calc.retain_response_graph = False


def _run(atoms: Any, out: Path, s: MDSettings, meta: dict[str, Any],
         groups: Mapping[str, GroupSpec], bec_every: int, seed: int, chunk_frames: int,
         guard_min_distance_A: float | None, progress: bool, atom_currents: bool) -> Path:
    from ase.md import velocitydistribution as vdist
    from ase.md.velocitydistribution import Stationary

    from lesdistill.progress import progress_bar

    # Fail before anything is written when the calculator cannot handle this system (a student
    # trained on other elements, a periodic-only model on an open structure, ...).
    atoms.get_potential_energy()
    state = _start_or_resume(atoms, out, meta)
    temperature_K, timestep_fs, stride = s.temperature_K, s.timestep_fs, s.stride
    n_equil, n_steps = s.n_equil, s.n_steps
    rng = np.random.default_rng(seed)
    if state is None:
        phase, step, n_parts = "equil", 0, 0
        if not np.any(atoms.get_momenta()):
            if hasattr(vdist, "thermalize_momenta"):  # ASE >= 3.29
                vdist.thermalize_momenta(atoms, temperature_K, rng=rng)
            else:
                vdist.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
            Stationary(atoms)
    else:
        if state["complete"] and n_steps <= state["step"]:
            return out
        phase, step, n_parts = state["phase"], state["step"], state["n_parts"]
        atoms.set_cell(state["cell"])
        atoms.set_positions(state["positions"], apply_constraint=False)
        atoms.set_momenta(state["momenta"], apply_constraint=False)
        rng.bit_generator.state = state["rng_state"]
        restore = getattr(atoms.calc, "restore_md_state", None)
        if callable(restore):
            restore(state)
    done = step if phase == "equil" else n_equil + step
    bar = progress_bar(total=n_equil + n_steps, initial=done, enabled=progress, unit="step",
                       desc="MD equilibration" if phase == "equil" else "MD production")
    forces = None
    plan = getattr(atoms.calc, "plan_md_steps", None)
    if callable(plan):  # lets the calculator prepare for a long run (e.g. compile its model)
        plan(n_equil + n_steps - done)
    if phase == "equil":
        dyn = _make_dynamics(atoms, s.thermostat, timestep_fs, temperature_K, s.coupling_fs, rng)
        while step < n_equil:
            forces = dyn.step(forces)
            step += 1
            bar.update(1)
            if step % stride == 0:
                _guard(atoms, temperature_K, guard_min_distance_A, "equil", step, out, 0)
            if step % (chunk_frames * stride) == 0 or step == n_equil:
                _checkpoint(out, atoms, "equil", step, rng, 0)
        phase, step, forces = "prod", 0, None
        bar.set_description("MD production")
        if s.production != "langevin":  # NVE/CSVR conserve momentum: start it at zero
            Stationary(atoms, preserve_temperature=False)
    dyn = _make_dynamics(atoms, s.production, timestep_fs, temperature_K,
                         s.production_coupling_fs, rng)
    frames: list[dict[str, Any]] = []
    frame = step // stride + 1 if n_parts else 0  # frames so far: steps 0, stride, ...
    if frame == 0:  # frame 0 is the first production frame
        frames.append(_record(atoms, groups, 0, 0, bec_every > 0, atom_currents))
        frame = 1
    # a calculator that can keep the forward graph of the forces for the dipole current of the
    # same geometry (StudentCalculator) is told so before the steps that store a frame
    calc = atoms.calc
    announce = hasattr(calc, "retain_response_graph")
    while step < n_steps:
        if announce:
            calc.retain_response_graph = (step + 1) % stride == 0
        forces = dyn.step(forces)
        step += 1
        bar.update(1)
        if step % stride == 0:
            _guard(atoms, temperature_K, guard_min_distance_A, "prod", step, out, n_parts)
            frames.append(_record(atoms, groups, frame, step,
                                  bec_every > 0 and frame % bec_every == 0, atom_currents))
            frame += 1
        if len(frames) == chunk_frames or (step == n_steps and frames):
            tj.write_npz_atomic(tj.part_path(out, n_parts), **tj.concatenate_frames(frames))
            n_parts += 1
            frames = []
            _checkpoint(out, atoms, "prod", step, rng, n_parts, complete=step == n_steps)
    bar.close()
    if announce:
        calc.retain_response_graph = False
    _checkpoint(out, atoms, "prod", step, rng, n_parts, complete=True)
    summarize(out)  # writes summary.json; callers print format_summary() once
    return out


def summarize(path: str | Path) -> dict[str, Any]:
    """Write and return ``summary.json``: frames, time, mean temperature, NVE drift."""
    out = Path(path)
    traj = load_trajectory(out, positions=False)
    summary: dict[str, Any] = {
        "n_frames": traj.n_frames, "production_ps": float(traj.time_fs[-1] * 1e-3),
        "frame_dt_fs": traj.frame_dt_fs,
        "mean_temperature_K": float(traj.temperature_series_K().mean()),
        "production": traj.meta["production"], "nve_drift_meV_per_atom_ps": None}
    if traj.meta["production"] == "nve" and traj.n_frames >= 3:
        summary["nve_drift_meV_per_atom_ps"] = traj.energy_drift_mev_per_atom_ps()
    tj.write_json_atomic(out / tj.SUMMARY, summary)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """One line for the terminal."""
    text = (f"MD: {summary['n_frames']} frames, {summary['production_ps']:.3f} ps production, "
            f"<T> = {summary['mean_temperature_K']:.1f} K")
    drift = summary.get("nve_drift_meV_per_atom_ps")
    if drift is not None:
        text += f", NVE drift {drift:+.4f} meV/atom/ps"
    return text
