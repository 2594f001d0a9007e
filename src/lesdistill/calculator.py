"""ASE calculator for LES students: energies, forces, stress, latent charges and response.

>>> from lesdistill import StudentCalculator
>>> atoms.calc = StudentCalculator("student.pt", device="cpu")
>>> atoms.get_potential_energy(), atoms.get_forces(), atoms.get_charges()
>>> atoms.calc.get_property("born_effective_charges", atoms)        # (N, 3, 3), e

Results (ASE names and units): ``energy``/``free_energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å^3
(Voigt, only for structures periodic in all three directions), ``charges`` e (physical: latent *
sqrt(eps_inf)), ``energy_short_range`` / ``energy_long_range`` eV, and on request
``born_effective_charges`` (N, 3, 3) e, Z[i, a, b] = dP_a/dr_ib. Born effective charges need one
backward pass per Cartesian component, so they are computed only when asked for.

Only what is asked is computed: stress only when ``stress`` is requested (ASE MD asks for forces
only), the polarization/dipole only on request. Between calls the calculator keeps the batch
tensors and a neighbour list with a Verlet skin (``skin``, Å; rebuilt only when an atom moved more
than skin/2, and always giving exactly the pairs within the cutoff). ``get_dipole_current`` and
the Born effective charges of one geometry share one set of backward passes
(:func:`lesdistill.les.response.response_terms`); with ``retain_response_graph = True`` (set by
spectra MD before a step that stores a frame) they also reuse the forward pass of the
energy+forces call, also with a compiled backbone (the first reuse is checked once against an
eager pass; on a mismatch the calculator says so and falls back to its own eager pass). Elements
the model was not trained on raise ``ValueError`` naming them.

Dipole vs polarization (ASE semantics): ``dipole`` (``atoms.get_dipole_moment()``, e Å,
sum_i q_i r_i) is defined only for an open structure (``atoms.pbc`` all False). In a cell
periodic in any direction sum_i q_i r_i depends on which periodic image of each atom is used,
so it is not a property of the structure: asking for it raises ASE's
``PropertyNotImplementedError`` naming ``polarization``, the LES phase form of the cell's dipole
(e Å, well defined modulo the polarization quantum e R for lattice vectors R), which is what
BECs and the dipole current differentiate. ``polarization`` of an open structure raises the
same error naming ``dipole``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.data.charge_state import charge_and_spin, check_charge_spin
from lesdistill.data.neighbors import VerletNeighborList, within_cutoff
from lesdistill.device import check_device
from lesdistill.errors import UserInputError
from lesdistill.les import polarization
from lesdistill.les.response import ResponseTerms, response_terms
from lesdistill.model.checkpoint import load_student
from lesdistill.model.student import StudentModel, right_handed

#: ``compile="auto"`` compiles the backbone for MD runs announced with at least this many steps
COMPILE_MIN_STEPS = 10_000

_BASE = (keys.ENERGY, keys.FORCES, keys.CHARGES, keys.ENERGY_SHORT_RANGE, keys.ENERGY_LONG_RANGE)



class StudentCalculator(Calculator):
    """ASE calculator wrapping a :class:`~lesdistill.model.StudentModel`.

    Args:
        model: path to a ``.pt`` checkpoint (see :func:`lesdistill.model.save_student`) or a
            ``StudentModel`` instance (used as is, moved to ``device``).
        device: torch device, e.g. "cpu" or "cuda".
        compile: ``True`` compiles the backbone with ``torch.compile`` now (inference only; a
            one-off compilation of 10 s to a few minutes); ``"auto"`` (default) compiles only
            when an MD driver announces a long run (:meth:`plan_md_steps`, at least
            :data:`COMPILE_MIN_STEPS` steps) and keeps it only if a warm-up check finds the
            compiled forces equal to the eager ones (float32 round-off) and the call faster,
            otherwise it says so once on stderr and stays eager; ``False`` never compiles. A
            ``StudentModel`` passed in is compiled in place.
        trust_backbone: let a checkpoint that names a custom backbone (``module:Factory``)
            import and run that code; only for files you trust (built-in backbones and installed
            ``lesdistill.backbones`` entry points always load).
        skin: Verlet skin of the neighbour list, Å (0 rebuilds it on every call).

    A device that is not there (``"cuda"`` on a CPU-only torch) raises ``ValueError`` at once.
    """

    implemented_properties = [
        keys.ENERGY,
        keys.FREE_ENERGY,
        keys.FORCES,
        keys.STRESS,
        keys.CHARGES,
        keys.BEC,
        keys.POLARIZATION,
        keys.DIPOLE,
        keys.ENERGY_SHORT_RANGE,
        keys.ENERGY_LONG_RANGE,
    ]

    def __init__(
        self,
        model: str | os.PathLike[str] | StudentModel = "student.pt",
        device: str = "cpu",
        *,
        compile: bool | str = "auto",
        trust_backbone: bool = False,
        skin: float = 1.0,
        **kwargs: Any,
    ) -> None:
        self._graph: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool] | None = None
        #: None until the first reuse of a compiled forward graph was checked against eager
        self._compiled_reuse: bool | None = None
        self._terms: ResponseTerms | None = None
        #: keep the graph of the next energy+forces call for the dipole current / BECs of the
        #: same geometry (spectra MD sets it before the steps that store a frame)
        self.retain_response_graph = False
        super().__init__(**kwargs)
        device = check_device(device)
        if isinstance(model, StudentModel):
            self.model = model.to(device)
        elif isinstance(model, (str, os.PathLike)):
            self.model = load_student(Path(model), device=device, trust_backbone=trust_backbone)
        else:
            raise TypeError(
                f"model must be a checkpoint path or a StudentModel, got {type(model).__name__}"
            )
        self.device = torch.device(device)
        self._neighbors = VerletNeighborList(self.model.cutoff, skin)
        self._static: tuple[tuple[Any, ...], dict[str, torch.Tensor]] | None = None
        self._candidates: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if compile not in (True, False, "auto"):
            raise ValueError(f"compile must be True, False or 'auto', got {compile!r}")
        self.compile_mode = compile
        self._compile_pending = False
        #: outcome of the warm-up check of compile="auto" (None until it ran), for reports
        self.compile_report: dict[str, Any] | None = None
        if compile is True:
            self.model.compile_backbone()

    def plan_md_steps(self, n_steps: int) -> None:
        """Hint from an MD driver that about ``n_steps`` energy+forces calls follow: with
        ``compile="auto"`` a run of at least :data:`COMPILE_MIN_STEPS` compiles the backbone
        at the next call, after the warm-up check (class docstring)."""
        if (
            self.compile_mode == "auto"
            and self.compile_report is None
            and n_steps >= COMPILE_MIN_STEPS
        ):
            self._compile_pending = True

    def _try_compile(self, atoms: Atoms) -> None:
        """Compile the backbone, keep it only if equal and faster (compile="auto")."""
        import statistics
        import sys
        import time

        self._compile_pending = False
        model = self.model
        batch = self._batch(atoms)

        def forces() -> torch.Tensor:
            leaf = batch.positions.detach().requires_grad_(True)
            return model(batch.replace(positions=leaf), compute_forces=True, create_graph=False)[
                keys.FORCES
            ]

        def timed(n: int = 5) -> float:
            samples = []
            for _ in range(n):
                start = time.process_time()
                forces()
                samples.append(time.process_time() - start)
            return statistics.median(samples) * 1e3

        eager_forces = forces().detach()
        eager_ms = timed()
        start = time.perf_counter()
        model.compile_backbone()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled_forces = forces().detach()
        compile_s = time.perf_counter() - start
        report: dict[str, Any] = {"eager_ms": eager_ms, "compile_s": compile_s, "compiled": False}
        if not model.backbone_compiled:
            reason = "failed"
        else:
            compiled_ms = timed()
            error = float((compiled_forces - eager_forces).abs().max())
            scale = float(eager_forces.abs().max())
            tolerance = 1e-6 + (1e-4 if model.dtype == torch.float32 else 1e-9) * scale
            report.update(compiled_ms=compiled_ms, max_force_difference=error)
            if not error <= tolerance:
                reason = f"changed the forces by {error:.2e} eV/Å"
            elif compiled_ms > 0.9 * eager_ms:
                reason = f"was not faster ({compiled_ms:.1f} vs {eager_ms:.1f} ms per call)"
            else:
                reason = ""
        if reason:
            model.uncompile_backbone()
            print(f"lesdistill: torch.compile of the student backbone {reason}; running eager",
                  file=sys.stderr)
        else:
            report["compiled"] = True
            print(
                f"lesdistill: student backbone compiled in {compile_s:.0f} s: "
                f"{eager_ms:.1f} -> {report['compiled_ms']:.1f} ms per energy+forces",
                file=sys.stderr,
            )
        self.compile_report = report

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """ASE's changes, plus ``initial_charges`` when the total charge or spin in
        ``atoms.info`` changed (ASE does not compare ``info``)."""
        changes = super().check_state(atoms, tol)
        if self.atoms is not None and not changes:
            old, new = (charge_and_spin(a.info) for a in (self.atoms, atoms))
            if old != new:
                changes = [*changes, "initial_charges"]
        return changes

    def reset(self) -> None:
        super().reset()
        self._graph = None
        self._terms = None

    # ------------------------------------------------------------------ helpers
    @property
    def eps_inf(self) -> float:
        return self.model.config.eps_inf

    def _check_atoms(self, atoms: Atoms) -> None:
        if not isinstance(atoms, Atoms):
            raise TypeError(f"expected ase.Atoms, got {type(atoms).__name__}")
        unseen = sorted(set(atoms.get_chemical_symbols()) - set(self.model.elements))
        if unseen:
            raise UserInputError(
                f"elements {unseen} were not in the training set of this student "
                f"(it knows {list(self.model.elements)}); fine-tune it with --allow-new-elements"
            )

    def _static_tensors(self, atoms: Atoms) -> dict[str, torch.Tensor]:
        """Batch tensors that change only with the numbers, cell, pbc or total charge."""
        numbers = np.asarray(atoms.numbers, dtype=np.int64)
        cell = np.asarray(atoms.cell.array, dtype=np.float64)
        pbc = np.asarray(atoms.pbc, dtype=bool)
        charge, spin = charge_and_spin(atoms.info)
        key = (numbers.tobytes(), cell.tobytes(), pbc.tobytes(), charge, spin)
        if self._static is not None and self._static[0] == key:
            return self._static[1]
        if self._static is None or self._static[0][0] != key[0]:
            self._check_atoms(atoms)
        check_charge_spin(numbers, charge, spin, "atoms")
        dev, dt = self.model.device, self.model.dtype
        n = len(numbers)
        tensors = {
            "numbers": torch.tensor(numbers, device=dev),
            "cell": torch.tensor(cell, dtype=dt, device=dev).unsqueeze(0),
            "cell64": torch.tensor(cell, dtype=torch.float64, device=dev),
            "pbc": torch.tensor(pbc, device=dev).unsqueeze(0),
            "batch": torch.zeros(n, dtype=torch.long, device=dev),
            "n_atoms": torch.tensor([n], dtype=torch.long, device=dev),
            "total_charge": torch.tensor([charge], dtype=dt, device=dev),
            "spin_multiplicity": torch.tensor(
                [1.0 if spin is None else spin], dtype=dt, device=dev
            ),
        }
        self._static = (key, tensors)
        return tensors

    def _batch(self, atoms: Atoms, requires_grad: bool = False) -> AtomicBatch:
        """The batch of ``atoms``: cached tensors, new positions, pairs within the cutoff."""
        if not isinstance(atoms, Atoms):
            raise TypeError(f"expected ase.Atoms, got {type(atoms).__name__}")
        static = self._static_tensors(atoms)
        dev, dt = self.model.device, self.model.dtype
        positions = np.asarray(atoms.positions, dtype=np.float64)
        (i, j, shifts), rebuilt = self._neighbors.candidates(positions, atoms.cell.array, atoms.pbc)
        if rebuilt or self._candidates is None:
            shifts64 = torch.tensor(shifts, dtype=torch.float64, device=dev)
            self._candidates = (
                torch.tensor(np.stack([i, j]), device=dev),
                shifts64,
                shifts64.to(dt),
            )
        pair_index, shifts64, shifts_dt = self._candidates
        pos64 = torch.tensor(positions, dtype=torch.float64, device=dev)
        keep = within_cutoff(pair_index, shifts64, pos64, static["cell64"], self.model.cutoff)
        pos = pos64.to(dt)
        if requires_grad:
            pos.requires_grad_(True)
        return AtomicBatch(
            positions=pos, cell=static["cell"], pbc=static["pbc"], numbers=static["numbers"],
            edge_index=pair_index[:, keep], shifts=shifts_dt[keep], batch=static["batch"],
            n_atoms=static["n_atoms"], total_charge=static["total_charge"],
            spin_multiplicity=static["spin_multiplicity"],
        )

    def _tensors(self, atoms: Atoms) -> tuple[torch.Tensor, torch.Tensor | None]:
        kw = {"dtype": self.model.dtype, "device": self.model.device}
        positions = torch.tensor(atoms.get_positions(), **kw)
        cell = right_handed(torch.tensor(atoms.get_cell().array, **kw)) if atoms.pbc.any() else None
        return positions, cell

    # ------------------------------------------------------------------ ASE interface
    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = (keys.ENERGY,),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        want_stress = keys.STRESS in properties
        if want_stress and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                "stress needs a structure periodic in all three directions (atoms.pbc = True)"
            )
        if keys.DIPOLE in properties and atoms.pbc.any():
            raise PropertyNotImplementedError(
                "a dipole moment is not defined for a periodic cell (it depends on the periodic "
                "images chosen); use calc.get_property('polarization', atoms): the cell's dipole "
                "in the LES phase form, e Å, defined modulo e times a lattice vector"
            )
        if keys.POLARIZATION in properties and not atoms.pbc.any():
            raise PropertyNotImplementedError(
                "polarization is defined for periodic cells; this structure is open (pbc all "
                "False): use atoms.get_dipole_moment() (e Å)"
            )
        if any(k not in self.results for k in _BASE) or (
            want_stress and keys.STRESS not in self.results
        ):
            self._calculate_base(atoms, want_stress)
        moment_key = keys.POLARIZATION if atoms.pbc.any() else keys.DIPOLE
        if moment_key in properties and moment_key not in self.results:
            positions, cell = self._tensors(atoms)
            charges = torch.tensor(
                self.results[keys.CHARGES], dtype=positions.dtype, device=positions.device
            )
            with torch.no_grad():
                moment = polarization(
                    charges, positions, cell, slab=cell is not None and self.model.config.slab
                )
            self.results[moment_key] = moment.cpu().numpy().astype(np.float64)
        if keys.BEC in properties and keys.BEC not in self.results:
            self.results[keys.BEC] = self.born_effective_charges(atoms)

    def _calculate_base(self, atoms: Atoms, stress: bool) -> None:
        if self._compile_pending:
            self._try_compile(atoms)
        compiled = self.model.backbone_compiled
        keep = bool(self.retain_response_graph) and not (compiled and self._compiled_reuse is False)
        self._graph = self._terms = None
        batch = self._batch(atoms, requires_grad=True)
        out = self.model(
            batch, compute_forces=True, compute_stress=stress, create_graph=False, retain_graph=keep
        )
        n = len(atoms)
        # one device-to-host copy of everything ASE gets (the step's only wait for the device)
        parts = [
            out[keys.ENERGY][:1],
            out[keys.ENERGY_SHORT_RANGE][:1],
            out[keys.ENERGY_LONG_RANGE][:1],
            out[keys.FORCES].reshape(-1),
            out[keys.CHARGES],
        ] + ([out[keys.STRESS][0].reshape(-1)] if stress else [])
        host = torch.cat(parts).detach().cpu().numpy().astype(np.float64)
        energy = float(host[0])
        results: dict[str, Any] = {
            keys.ENERGY: energy,
            keys.FREE_ENERGY: energy,
            keys.FORCES: host[3 : 3 + 3 * n].reshape(n, 3),
            keys.CHARGES: host[3 + 3 * n : 3 + 4 * n],
            keys.ENERGY_SHORT_RANGE: float(host[1]),
            keys.ENERGY_LONG_RANGE: float(host[2]),
        }
        if stress:
            results[keys.STRESS] = full_3x3_to_voigt_6_stress(host[3 + 4 * n :].reshape(3, 3))
        if keep:
            cell = right_handed(batch.cell[0]) if atoms.pbc.any() else None
            self._graph = (batch.positions, out[keys.LATENT_CHARGES], cell, compiled)
        self.results.update(results)

    # ------------------------------------------------------------------ response
    def charge_function(self, atoms: Atoms) -> Callable[[torch.Tensor], torch.Tensor]:
        """Latent charges as a differentiable function of positions (neighbour list of ``atoms``).

        Returns ``fn(positions [N, 3] Å) -> latent charges [N] e`` (multiply by sqrt(eps_inf)
        for physical charges), the ``charge_fn`` of :mod:`lesdistill.les` response functions.
        The neighbour list is built once from ``atoms``: valid for small displacements.
        """
        batch = self._batch(atoms)
        model = self.model

        def charge_fn(positions: torch.Tensor) -> torch.Tensor:
            positions = torch.as_tensor(positions).to(device=model.device, dtype=model.dtype)
            if positions.shape != batch.positions.shape:
                expected = tuple(batch.positions.shape)
                raise ValueError(
                    f"positions must have shape {expected}, got {tuple(positions.shape)}"
                )
            return model.latent_charges(batch.replace(positions=positions))

        return charge_fn

    def _response_terms(self, atoms: Atoms) -> ResponseTerms:
        """:class:`~lesdistill.les.response.ResponseTerms` of ``atoms`` (cached per geometry;
        from the kept graph of the last energy+forces call when there is one)."""
        if self.atoms is None or self.check_state(atoms):
            self.reset()
            self.atoms = atoms.copy()
        if self._terms is None:
            with torch.enable_grad():
                graph, self._graph = self._graph, None
                if graph is not None:
                    positions, charges, cell, compiled = graph
                    terms = response_terms(charges, positions, cell, eps_inf=self.eps_inf,
                                           slab=cell is not None and self.model.config.slab)
                else:  # a forward pass of its own, compiled when the compiled graphs are usable
                    compiled = self.model.backbone_compiled and self._compiled_reuse is not False
                    terms = self._fresh_response_terms(atoms, eager=not compiled)
                if compiled and self._compiled_reuse is None:
                    terms = self._check_compiled_reuse(atoms, terms)
                self._terms = terms
        return self._terms

    def _fresh_response_terms(self, atoms: Atoms, eager: bool = True) -> ResponseTerms:
        batch = self._batch(atoms, requires_grad=True)
        if eager:
            charges = self.model.latent_charges(batch)  # eager backbone
        else:  # the compiled backbone (first-order backward passes only)
            out = self.model(
                batch, compute_forces=False, create_graph=False, include_long_range=False
            )
            charges = out[keys.LATENT_CHARGES]
        cell = right_handed(batch.cell[0]) if atoms.pbc.any() else None
        return response_terms(charges, batch.positions, cell, eps_inf=self.eps_inf,
                              slab=cell is not None and self.model.config.slab)

    def _check_compiled_reuse(self, atoms: Atoms, terms: ResponseTerms) -> ResponseTerms:
        """Once per calculator: the response terms from a compiled forward graph (several
        backward passes through it) against an eager forward pass; on a mismatch (beyond float
        round-off) the compiled graph is not reused again, and this says so once on stderr."""
        import sys

        eager = self._fresh_response_terms(atoms)
        error = 0.0 if eager.grads is None else float((terms.grads - eager.grads).abs().max())
        scale = 0.0 if eager.grads is None else float(eager.grads.abs().max())
        tolerance = 1e-6 + (1e-4 if self.model.dtype == torch.float32 else 1e-9) * scale
        self._compiled_reuse = error <= tolerance
        if self.compile_report is not None:
            self.compile_report["response_reuse_difference"] = error
        if not self._compiled_reuse:
            print(f"lesdistill: the compiled student graph gave charge gradients {error:.2e} away "
                  "from eager ones; the dipole current and BECs use their own eager pass",
                  file=sys.stderr)
            return eager
        return terms

    def born_effective_charges(self, atoms: Atoms) -> np.ndarray:
        """Born effective charges (N, 3, 3) in e, Z[i, a, b] = dP_a / dr_ib (incl.
        sqrt(eps_inf))."""
        bec = self._response_terms(atoms).born_effective_charges()
        return bec.detach().cpu().numpy().astype(np.float64)

    def get_dipole_current(self, atoms: Atoms) -> np.ndarray:
        """Dipole current dM/dt = sum_i Z*_i v_i (3,), e Å/fs, from ``atoms.get_velocities()``.

        ``atoms`` must carry momenta (``atoms.set_velocities``, ``MaxwellBoltzmannDistribution``
        or an MD integrator); without them ASE reports zero velocities and the current would be
        a meaningless zero, so a ``ValueError`` is raised instead.
        """
        if not atoms.has("momenta"):
            raise ValueError(
                "the dipole current needs velocities, and these atoms have no momenta; "
                "set them first (atoms.set_velocities(v) or "
                "ase.md.velocitydistribution.MaxwellBoltzmannDistribution)"
            )
        velocities = np.asarray(atoms.get_velocities(), dtype=np.float64) * units.fs  # Å/fs
        terms = self._response_terms(atoms)
        v = torch.tensor(velocities, dtype=self.model.dtype, device=self.model.device)
        return terms.dipole_current(v).detach().cpu().numpy().astype(np.float64)
