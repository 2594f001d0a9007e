"""Spectra MD of N independent replicas in one torch-sim batch, one trajectory per replica.

``run_replicas(atoms, model, "md", settings, n_replicas=8)`` runs the protocol of
:func:`lesdistill.md.run_md` (NVT equilibration, then NVE or weakly thermostatted production
storing the dipole current every ``stride`` steps) for ``n_replicas`` copies of the start
structure (or a list of different starts) that differ in their Maxwell-Boltzmann velocities
(replica k draws them with ``numpy.random.default_rng([seed, k])``) and in the thermostat noise.
All replicas advance together as one batched torch-sim state: velocity Verlet
(:func:`torch_sim.integrators.nve`) and BAOAB Langevin (:func:`torch_sim.integrators.nvt_langevin`,
friction 1/coupling_fs); torch-sim has no CSVR (Bussi) thermostat, so ``bussi`` is refused.

Layout: ``OUT/replica-000/`` ... are trajectory directories of the usual format
(:mod:`lesdistill.md.trajectory`, meta with ``engine = "torch-sim"``, ``replica``,
``n_replicas``), so ``lesdistill ir OUT`` (or the replica folders) averages them;
``OUT/replicas.npz`` is the resume checkpoint of the whole batch (written after the part files
of every replica, atomically): a killed run continues from the last stored chunk.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesdistill.engines.torchsim import require_torch_sim, state_from_atoms
from lesdistill.errors import UnstableDynamicsError, UserInputError
from lesdistill.md import trajectory as tj
from lesdistill.md.driver import RESUME_KEYS, summarize
from lesdistill.md.settings import MDSettings
from lesdistill.progress import progress_bar

__all__ = ["REPLICA_PREFIX", "STATE", "expand_replica_dirs", "replica_dir", "run_replicas"]

REPLICA_PREFIX = "replica-"
STATE = "replicas.npz"


def replica_dir(out: Path, k: int) -> Path:
    """Trajectory directory of replica ``k``."""
    return out / f"{REPLICA_PREFIX}{k:03d}"


def expand_replica_dirs(paths: Sequence[Path]) -> list[Path]:
    """Each path as is, except a folder written by :func:`run_replicas`: its replica folders."""
    out: list[Path] = []
    for path in paths:
        path = Path(path)
        subdirs = sorted(p for p in path.glob(f"{REPLICA_PREFIX}*") if (p / tj.META).is_file()) \
            if path.is_dir() and not (path / tj.META).is_file() else []
        out.extend(subdirs or [path])
    return out


def _starts(atoms: Any, n_replicas: int, temperature_K: float, seed: int) -> list[Any]:
    from ase.md import velocitydistribution as vdist

    starts = [a.copy() for a in atoms] if isinstance(atoms, list | tuple) else \
        [atoms.copy() for _ in range(n_replicas)]
    if len(starts) != n_replicas:
        raise UserInputError(f"{len(starts)} start structures for {n_replicas} replicas")
    for k, start in enumerate(starts):
        rng = np.random.default_rng([seed, k])
        if hasattr(vdist, "thermalize_momenta"):  # ASE >= 3.29
            vdist.thermalize_momenta(start, temperature_K, rng=rng)
        else:
            vdist.MaxwellBoltzmannDistribution(start, temperature_K=temperature_K, rng=rng)
        vdist.Stationary(start)
    return starts


def _meta(start: Any, model: Any, settings: MDSettings, k: int, n: int, seed: int,
          bec_every: int, groups: list[str], atom_currents: bool) -> dict[str, Any]:
    meta = {
        "format": tj.FORMAT, "numbers": start.numbers.tolist(),
        "masses": start.get_masses().tolist(), "pbc": start.pbc.tolist(),
        "calculator": "StudentTorchSimModel", "eps_inf": float(model.student.config.eps_inf),
        "units": {"time": "fs", "length": "Å", "velocity": "Å/fs", "dipole_current": "e Å/fs",
                  "energy": "eV", "mass": "amu", "bec": "e"},
        **dataclasses.asdict(settings), "groups": sorted(groups), "bec_every": int(bec_every),
        **({"atom_currents": True} if atom_currents else {}),
        "seed": int(seed), "engine": "torch-sim", "replica": k, "n_replicas": n}
    meta.pop("field_V_per_A", None)  # no field keys: runs without a field (as run_md)
    meta.pop("field_asr", None)
    return json.loads(json.dumps(meta))  # as read back from meta.json (tuples -> lists)


class _Batch:
    """The batched MD state plus what the trajectory files need (unwrapped positions)."""

    def __init__(self, model: Any, starts: list[Any]) -> None:
        self.model = model
        self.sim = state_from_atoms(starts, model)
        self.sizes = [len(a) for a in starts]
        self.index = self.sim.system_idx
        self.periodic = bool(np.all(starts[0].pbc))
        self.cells = self.sim.row_vector_cell.detach().clone()  # [S, 3, 3], fixed (NVT/NVE)
        self.inv = torch.linalg.inv(self.cells) if self.periodic else None
        self.unwrapped = self.sim.positions.detach().clone()
        self.last = self.unwrapped.clone()
        self.groups: dict[str, torch.Tensor] = {}  # name -> [N] 0/1 mask over all replicas
        self.atom_currents = False

    def track(self) -> None:
        """Follow torch-sim's wrapped positions with unwrapped ones (minimum-image steps)."""
        now = self.sim.positions.detach()
        step = now - self.last
        if self.periodic:
            frac = torch.einsum("nk,nkl->nl", step, self.inv[self.index])
            step = step - torch.einsum("nk,nkl->nl", torch.round(frac), self.cells[self.index])
        self.unwrapped = self.unwrapped + step
        self.last = now.clone()

    def split(self, tensor: torch.Tensor) -> list[np.ndarray]:
        return [t.detach().cpu().numpy().astype(np.float64) for t in tensor.split(self.sizes)]

    def kinetic(self, momenta: torch.Tensor) -> torch.Tensor:
        ke = 0.5 * (momenta**2).sum(dim=1) / self.sim.masses
        return ke.new_zeros(len(self.sizes)).index_add_(0, self.index, ke)

    def stationary(self) -> None:
        """Zero the total momentum of every replica (velocity Verlet / CSVR keep it there)."""
        p, m = self.sim.momenta, self.sim.masses
        total = p.new_zeros(len(self.sizes), 3).index_add_(0, self.index, p)
        mass = m.new_zeros(len(self.sizes)).index_add_(0, self.index, m)
        self.sim.momenta = p - (total / mass[:, None])[self.index] * m[:, None]


def _check(settings: MDSettings, n_replicas: int, bec_every: int, chunk_frames: int) -> None:
    if n_replicas < 1:
        raise UserInputError(f"--replicas must be >= 1, got {n_replicas}")
    if settings.thermostat != "langevin" or settings.production == "bussi":
        raise UserInputError("replica MD (torch-sim) has Langevin and NVE only: use "
                             "--thermostat langevin and --production nve or langevin")
    if getattr(settings, "has_field", False):
        raise UserInputError("replica MD (torch-sim) has no electric field; run --field with "
                             "the ASE engine (--replicas 1)")
    if bec_every < 0 or chunk_frames < 1:
        raise UserInputError(f"bec_every must be >= 0 and chunk_frames >= 1, got {bec_every}, "
                             f"{chunk_frames}")


def run_replicas(atoms: Any, model: Any, out_path: str | Path, settings: MDSettings | None = None,
                 *, n_replicas: int = 8, seed: int = 0, bec_every: int = 0,
                 groups: dict[str, Sequence[int]] | None = None, atom_currents: bool = False,
                 chunk_frames: int = 200, guard_min_distance_A: float | None = 0.5,
                 progress: bool = True, **overrides: Any) -> list[Path]:
    """Run ``n_replicas`` replicas of spectra MD in one batch; return their trajectory folders.

    atoms: one ase.Atoms (copied per replica) or a list of ``n_replicas`` starts (same
        periodicity). model: a :class:`~lesdistill.engines.torchsim.StudentTorchSimModel`.
    settings / overrides / bec_every / chunk_frames / guard_min_distance_A: as
    :func:`lesdistill.md.run_md` (module docstring for the thermostats). groups: name -> atom
    indices (of every replica's structure): the dipole current of these atoms is stored too
    (``group__<name>``). atom_currents: store j_i = Z*_i v_i (N, 3) of every frame (the dipole
    current is then their sum), for the per-frame groups of ``lesdistill ir --group``. Calling again
    with the same arguments resumes; a larger ``n_steps`` extends a finished run.
    """
    from ase import units

    require_torch_sim()
    from torch_sim.integrators import nve, nvt_langevin

    base = MDSettings() if settings is None else MDSettings.from_settings(settings)
    s = base.replace(**overrides) if overrides else base
    _check(s, n_replicas, bec_every, chunk_frames)
    out = Path(out_path)
    starts = _starts(atoms, n_replicas, s.temperature_K, seed)
    groups = {name: np.asarray(list(index), dtype=int) for name, index in (groups or {}).items()}
    for name, index in groups.items():
        n_min = min(len(a) for a in starts)
        if index.size == 0 or index.min() < 0 or index.max() >= n_min:
            raise UserInputError(f"group {name!r} has atom indices outside 0..{n_min - 1}")
    metas = [_meta(a, model, s, k, n_replicas, seed, bec_every, list(groups), atom_currents)
             for k, a in enumerate(starts)]
    batch = _Batch(model, starts)  # checks the structures before anything is written
    batch.groups = {name: _group_mask(batch.sizes, index, model.device, model.dtype)
                    for name, index in groups.items()}
    batch.atom_currents = bool(atom_currents)
    dtype, dev = model.dtype, model.device
    dt = torch.tensor(s.timestep_fs * units.fs, dtype=dtype, device=dev)
    kT = torch.tensor(units.kB * s.temperature_K, dtype=dtype, device=dev)

    def gamma(coupling_fs: float) -> torch.Tensor:
        return torch.tensor(1.0 / (coupling_fs * units.fs), dtype=dtype, device=dev)

    init, nve_step = nve(model, dt=dt, kT=kT)
    sim = init(batch.sim)
    sim.momenta = torch.tensor(np.concatenate([a.get_momenta() for a in starts]), dtype=dtype,
                               device=dev)
    state = _start_or_resume(out, metas)
    phase, step, n_parts = "equil", 0, 0
    rng_state = None
    if state is not None:
        if state["complete"] and s.n_steps <= state["step"]:
            return [replica_dir(out, k) for k in range(n_replicas)]
        phase, step, n_parts = state["phase"], state["step"], state["n_parts"]
        batch.unwrapped = torch.tensor(state["positions"], dtype=dtype, device=dev)
        batch.last = batch.unwrapped.clone()
        batch.sim.positions = batch.unwrapped.clone()
        sim = init(batch.sim)  # forces of the checkpointed positions
        sim.momenta = torch.tensor(state["momenta"], dtype=dtype, device=dev)
        rng_state = torch.from_numpy(state["torch_rng"])
        # the replicas' manifests may lag the batch checkpoint after a kill between the writes
        _replica_states(out, batch.sizes, phase, step, state["positions"], state["momenta"],
                        n_parts, state["complete"], batch.cells.cpu().numpy())
    batch.sim = sim
    with torch.random.fork_rng(devices=[]):
        if rng_state is None:
            torch.manual_seed(seed)
        else:
            torch.set_rng_state(rng_state)
        total = s.n_equil + s.n_steps
        done = step if phase == "equil" else s.n_equil + step
        bar = progress_bar(
            total=total,
            initial=done,
            enabled=progress,
            unit="step",
            desc=f"MD x{n_replicas} " + ("equilibration" if phase == "equil" else "production"),
        )
        if phase == "equil":
            _, equil_step = nvt_langevin(model, dt=dt, kT=kT, gamma=gamma(s.coupling_fs))
            while step < s.n_equil:
                batch.sim = equil_step(batch.sim, dt=dt, kT=kT, gamma=gamma(s.coupling_fs))
                batch.track()
                step += 1
                bar.update(1)
                if step % s.stride == 0:
                    _guard(batch, s.temperature_K, guard_min_distance_A, step, "equil")
                if step % (chunk_frames * s.stride) == 0 or step == s.n_equil:
                    _checkpoint(out, batch, "equil", step, 0, False, n_replicas)
            phase, step = "prod", 0
            bar.set_description(f"MD x{n_replicas} production")
            if s.production != "langevin":
                batch.stationary()
        if s.production == "langevin":
            _, prod = nvt_langevin(model, dt=dt, kT=kT, gamma=gamma(s.production_coupling_fs))
            kwargs = {"kT": kT, "gamma": gamma(s.production_coupling_fs)}
        else:
            prod, kwargs = nve_step, {}
        frames: list[list[dict[str, Any]]] = [[] for _ in range(n_replicas)]
        frame = step // s.stride + 1 if n_parts else 0
        if frame == 0:
            _record(batch, frames, 0, 0, bec_every > 0)
            frame = 1
        while step < s.n_steps:
            batch.sim = prod(batch.sim, dt=dt, **kwargs)
            batch.track()
            step += 1
            bar.update(1)
            if step % s.stride == 0:
                _guard(batch, s.temperature_K, guard_min_distance_A, step, "prod")
                _record(batch, frames, frame, step, bec_every > 0 and frame % bec_every == 0)
                frame += 1
            if len(frames[0]) == chunk_frames or (step == s.n_steps and frames[0]):
                for k in range(n_replicas):
                    tj.write_npz_atomic(tj.part_path(replica_dir(out, k), n_parts),
                                        **tj.concatenate_frames(frames[k]))
                n_parts += 1
                frames = [[] for _ in range(n_replicas)]
                _checkpoint(out, batch, "prod", step, n_parts, step == s.n_steps, n_replicas)
        bar.close()
        _checkpoint(out, batch, "prod", step, n_parts, True, n_replicas)

    paths = [replica_dir(out, k) for k in range(n_replicas)]
    for path in paths:
        summarize(path)
    return paths


def _record(batch: _Batch, frames: list[list[dict[str, Any]]], frame: int, step: int,
            want_bec: bool) -> None:
    from ase import units

    sim = batch.sim
    velocities = sim.momenta / sim.masses[:, None] * units.fs  # Å/fs
    response = batch.model.response(sim)
    currents = response.dipole_currents(velocities).detach().cpu().numpy().astype(np.float64)
    group_currents = {
        name: response.dipole_currents(velocities * mask[:, None]).detach().cpu().numpy()
        for name, mask in batch.groups.items()}
    becs = response.born_effective_charges() if want_bec or batch.atom_currents else None
    atom_j = None
    if batch.atom_currents:
        atom_j = [torch.einsum("nab,nb->na", z, v).detach().cpu().numpy().astype(np.float64)
                  for z, v in zip(becs, velocities.split(batch.sizes), strict=True)]
    energy = sim.energy.detach().cpu().numpy().astype(np.float64)
    kinetic = batch.kinetic(sim.momenta).detach().cpu().numpy().astype(np.float64)
    positions, vel = batch.split(batch.unwrapped), batch.split(velocities)
    cells = batch.cells.detach().cpu().numpy().astype(np.float64)
    for k in range(len(batch.sizes)):
        frames[k].append({
            "frame": frame, "step": step, "positions": positions[k], "velocities": vel[k],
            "cell": cells[k], "energy": float(energy[k]), "kinetic": float(kinetic[k]),
            "dipole_current": currents[k] if atom_j is None else atom_j[k].sum(axis=0),
            **{tj.GROUP_PREFIX + name: value[k] for name, value in group_currents.items()},
            **({} if atom_j is None else {tj.ATOM_CURRENT: atom_j[k]}),
            "bec": becs[k].detach().cpu().numpy().astype(np.float64)
            if becs is not None and want_bec else None})


def _group_mask(sizes: list[int], index: np.ndarray, dev: Any, dtype: torch.dtype) -> torch.Tensor:
    """1 for the group's atoms of every replica, 0 elsewhere, [N] (all replicas)."""
    mask = np.zeros(sum(sizes))
    for start in np.cumsum([0, *sizes[:-1]]):
        mask[start + index] = 1.0
    return torch.tensor(mask, device=dev, dtype=dtype)


def _guard(batch: _Batch, temperature_K: float, min_distance_A: float | None, step: int,
           phase: str) -> None:
    """Stop every replica when one turns unphysical (as :func:`lesdistill.md.run_md`)."""
    from ase import Atoms

    from lesdistill.sampling.guards import SamplingAborted, check_md_state

    sim = batch.sim
    cells = batch.cells.cpu().numpy()
    numbers = sim.atomic_numbers.cpu().numpy()
    for k, (r, p, m, z) in enumerate(zip(batch.split(sim.positions), batch.split(sim.momenta),
                                         batch.split(sim.masses[:, None]),
                                         np.split(numbers, np.cumsum(batch.sizes)[:-1]),
                                         strict=True)):
        atoms = Atoms(numbers=z, positions=r, cell=cells[k], pbc=batch.periodic,
                      masses=m[:, 0], momenta=p)
        try:
            check_md_state(atoms, temperature_K, step, check_overlap=min_distance_A is not None,
                           min_distance_A=min_distance_A or 0.0)
        except SamplingAborted as exc:
            name = "equilibration" if phase == "equil" else "production"
            raise UnstableDynamicsError(
                f"replica {k} became unphysical in {name}: {exc}; finished part files are "
                "kept. The potential has left the region it was trained on: train the student "
                "longer or on more frames, or lower timestep_fs") from None


def _checkpoint(out: Path, batch: _Batch, phase: str, step: int, n_parts: int, complete: bool,
                n_replicas: int) -> None:
    """The batch checkpoint first, then every replica's ``state.npz`` (its manifest)."""
    positions = batch.unwrapped.detach().cpu().numpy().astype(np.float64)
    momenta = batch.sim.momenta.detach().cpu().numpy().astype(np.float64)
    tj.write_npz_atomic(out / STATE, phase=np.array(phase), step=np.array(step),
                        positions=positions, momenta=momenta, n_parts=np.array(n_parts),
                        complete=np.array(complete), torch_rng=torch.get_rng_state().numpy(),
                        n_replicas=np.array(n_replicas))
    _replica_states(out, batch.sizes, phase, step, positions, momenta, n_parts, complete,
                    batch.cells.detach().cpu().numpy())


def _replica_states(out: Path, sizes: list[int], phase: str, step: int, positions: np.ndarray,
                    momenta: np.ndarray, n_parts: int, complete: bool, cells: np.ndarray) -> None:
    edges = np.cumsum(sizes)[:-1]
    for k, (r, p) in enumerate(zip(np.split(positions, edges), np.split(momenta, edges),
                                   strict=True)):
        tj.write_npz_atomic(replica_dir(out, k) / tj.STATE, phase=np.array(phase),
                            step=np.array(step), positions=r, momenta=p, cell=cells[k],
                            rng_state=np.array(json.dumps({"engine": "torch-sim"})),
                            n_parts=np.array(n_parts), complete=np.array(complete))


def _start_or_resume(out: Path, metas: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Write the replicas' meta for a new run, or check a resumed one and return its state."""
    first = replica_dir(out, 0) / tj.META
    if first.is_file() and (out / STATE).is_file():
        old = [tj.read_meta(replica_dir(out, k)) if (replica_dir(out, k) / tj.META).is_file()
               else {} for k in range(len(metas))]
        keys = (*RESUME_KEYS, "n_replicas", "engine")
        diff = sorted({key for o, m in zip(old, metas, strict=True) for key in keys
                       if o.get(key) != m.get(key)})
        if diff:
            raise UserInputError(f"{out} holds a replica run with different settings "
                                 f"({', '.join(diff)}); use a new output path or delete it")
        with np.load(out / STATE, allow_pickle=False) as data:
            state = {key: data[key] for key in data.files}
        state["phase"] = str(state["phase"])
        for key in ("step", "n_parts"):
            state[key] = int(state[key])
        state["complete"] = bool(state["complete"])
        for k, meta in enumerate(metas):
            folder = replica_dir(out, k)
            for path in folder.glob("part-*.npz"):  # parts of a chunk the checkpoint missed
                if path.stem[5:].isdigit() and int(path.stem[5:]) >= state["n_parts"]:
                    path.unlink()
            if old[k]["n_steps"] != meta["n_steps"]:
                tj.write_json_atomic(folder / tj.META, {**old[k], "n_steps": meta["n_steps"]})
        return state
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} exists and is not a replica MD run; choose another path")
    for k, meta in enumerate(metas):
        replica_dir(out, k).mkdir(parents=True, exist_ok=True)
        tj.write_json_atomic(replica_dir(out, k) / tj.META, meta)
    return None
