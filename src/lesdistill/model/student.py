r"""The LES student: short-range backbone + latent-charge head + LES long-range energy.

.. math::

    E_b = \sum_{i\in b}\big(e_i + E^0_{Z_i} + e^\text{ZBL}_i\big) + E_\text{LES}(\{q_i\}_{i\in
    b}),\qquad \mathbf F_i=-\partial E/\partial\mathbf r_i,\qquad \sigma_b=\frac1{V_b}\,\partial
    E_b/\partial\varepsilon

:math:`e_i` per-atom short-range energies from the backbone, :math:`E^0_Z` per-element reference
energies (buffers, fitted by least squares, :func:`fit_reference_energies`), :math:`e^\text{ZBL}_i`
the share of atom i of a switched nuclear repulsion that is zero at every training geometry
(it ends at each element pair's closest contact in the training data; ``config.repulsion``,
:mod:`lesdistill.model.repulsion`), :math:`q_i` latent
charges from a small MLP on the backbone features, :math:`E_\text{LES}` from
:func:`lesdistill.les.energy` (periodic form if any direction of the structure is periodic,
open form otherwise; a left-handed cell is replaced by the same lattice ``-cell``). The symmetric
strain :math:`\varepsilon` is applied to positions *and* cell,
so the cell dependence of the Ewald sum enters the stress.

Forward contract (what the trainer and the calculator call)::

    out = model(batch, compute_forces=True, compute_stress=False, create_graph=None,
                include_long_range=True)

``batch`` is a :class:`~lesdistill.data.batch.AtomicBatch` built with cutoff ``model.cutoff``
(it is cast to the model's device and dtype if needed). ``create_graph`` defaults to
``model.training`` (True: forces/stress stay differentiable for force/stress losses).
``out`` is a dict with keys from :mod:`lesdistill.keys`:

==========================  ===========  ===================================================
key                         shape        meaning
==========================  ===========  ===================================================
``energy``                  [B]          total energy, eV
``forces``                  [N, 3]       eV/Å (only with compute_forces)
``stress``                  [B, 3, 3]    eV/Å^3, ASE sign (only with compute_stress; zero
                                         unless the structure is periodic along a, b and c)
``energy_short_range``      [B]          sum_i (e_i + E0[Z_i] + e_i^ZBL), eV
``energy_long_range``       [B]          LES energy, eV (zeros if long range is off)
``energies``                [N]          per-atom short-range energies e_i + E0[Z_i] + e_i^ZBL, eV
``latent_charges``          [N]          latent q_i after the neutrality correction, e
``charges``                 [N]          physical charges q_i * sqrt(eps_inf), e
==========================  ===========  ===================================================

``include_long_range=False`` drops the LES term for this call (short-range-only forces, used by
the physics checks and the benchmark). :meth:`StudentModel.latent_charges` evaluates only the
charge path (for Born effective charges: a differentiable function of positions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lesdistill import keys
from lesdistill.device import host_values, memory_key
from lesdistill.les import energy as les_energy
from lesdistill.model.build import build_backbone
from lesdistill.model.compiled import CompiledForward
from lesdistill.model.config import StudentConfig
from lesdistill.model.repulsion import ZBLRepulsion

if TYPE_CHECKING:
    from ase import Atoms

    from lesdistill.data.batch import AtomicBatch


def right_handed(cell: torch.Tensor) -> torch.Tensor:
    """The same lattice with right-handed vectors: -cell if det(cell) < 0 (a_i -> -a_i spans
    the same lattice, so Ewald sums and phase-form polarizations are unchanged)."""
    (a, b, c) = host_values(cell)  # no device sync for a cell tensor the caller keeps
    det = (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
           + a[2] * (b[0] * c[1] - b[1] * c[0]))
    return -cell if det < 0 else cell


def _segment_sum(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    return values.new_zeros((n,) + values.shape[1:]).index_add_(0, index, values)


class StudentModel(nn.Module):
    """LES-augmented short-range potential (see the module docstring for the forward contract)."""

    z_to_index: torch.Tensor  # buffer [max Z + 1]: element index of each atomic number
    reference_energies: torch.Tensor  # buffer [n_elements]: E0 per element, eV

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        if not isinstance(config, StudentConfig):
            raise TypeError(f"config must be a StudentConfig, got {type(config).__name__}")
        if not config.elements:
            raise ValueError(
                "StudentConfig.elements is empty; give the elements of the training set"
            )
        self.config = config
        #: plain-type training metadata (teacher, data hashes, ...), saved in the checkpoint
        self.metadata: dict[str, object] = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.backbone = build_backbone(config)
            hidden = max(self.backbone.feature_dim // 2, 1)
            self.charge_head = nn.Sequential(
                nn.Linear(self.backbone.feature_dim, hidden), nn.SiLU(),
                nn.Linear(hidden, 2 if config.charge_model == "qeq" else config.les_channels),
            )
            self.state: nn.Module | None = None
            if config.charge_spin_embedding:
                from lesdistill.model.state import StateEmbedding

                self.state = StateEmbedding(self.backbone.feature_dim)
        z_to_index = torch.full((119,), -1, dtype=torch.long)
        for index, z in enumerate(config.atomic_numbers):
            z_to_index[z] = index
        self.register_buffer("z_to_index", z_to_index, persistent=False)
        self.register_buffer(
            "reference_energies", torch.zeros(len(config.elements), dtype=torch.float64)
        )
        self.repulsion: ZBLRepulsion | None = None
        self._build_repulsion()
        self.to(config.torch_dtype)

    def _build_repulsion(self) -> None:
        config = self.config
        if config.repulsion != "zbl":
            self.repulsion = None
            return
        repulsion = ZBLRepulsion(config.atomic_numbers, config.repulsion_range)
        if repulsion.max_range >= config.cutoff:
            raise ValueError(
                f"the ZBL repulsion reaches {repulsion.max_range:.2f} Å for elements "
                f"{list(config.elements)}, beyond the cutoff {config.cutoff} Å; raise the cutoff"
            )
        self.repulsion = repulsion.to(self.reference_energies.device)

    def set_repulsion_range(self, closest: Mapping[tuple[int, int], float]) -> None:
        """Let the ZBL prior end at ``closest[(Z_a, Z_b)]`` (Å, e.g. the shortest distance of that
        pair in the training data) for the given pairs of known elements; others are unchanged."""
        from lesdistill.model.repulsion import pair_key

        known = set(self.config.atomic_numbers)
        ranges = dict(self.config.repulsion_range)
        for (z_a, z_b), d_min in closest.items():
            if z_a in known and z_b in known:
                ranges[pair_key(z_a, z_b)] = float(d_min)
        self.config.repulsion_range = self.config._checked_ranges(ranges)
        self._build_repulsion()

    def repulsion_ranges(self) -> dict[tuple[int, int], float]:
        """r_out (Å) of the ZBL prior for every pair of known elements (empty without the prior)."""
        from lesdistill.model.repulsion import pair_ranges

        if self.repulsion is None:
            return {}
        return pair_ranges(self.config.atomic_numbers, self.config.repulsion_range)

    # ------------------------------------------------------------------ properties
    @property
    def cutoff(self) -> float:
        """Short-range cutoff, Å (build batches with this)."""
        return self.config.cutoff

    @property
    def elements(self) -> tuple[str, ...]:
        return self.config.elements

    @property
    def dtype(self) -> torch.dtype:
        return self.reference_energies.dtype

    @property
    def device(self) -> torch.device:
        return self.reference_energies.device

    # ------------------------------------------------------------------ reference energies
    def set_reference_energies(self, values: Mapping[str, float]) -> None:
        """Set E0 (eV per atom) for every element of the model, e.g. from
        :func:`fit_reference_energies`; elements missing from ``values`` raise ValueError."""
        missing = [e for e in self.elements if e not in values]
        if missing:
            raise ValueError(f"reference energies missing for elements {missing}")
        e0 = torch.tensor([float(values[e]) for e in self.elements], dtype=torch.float64)
        if not torch.isfinite(e0).all():
            raise ValueError(f"reference energies must be finite, got {dict(values)}")
        self.reference_energies.copy_(e0.to(self.reference_energies))

    def reference_energies_dict(self) -> dict[str, float]:
        """E0 per element, eV."""
        return {e: float(v) for e, v in zip(self.elements, self.reference_energies.tolist())}

    # ------------------------------------------------------------------ helpers
    def species(self, numbers: torch.Tensor) -> torch.Tensor:
        """Atomic numbers [N] -> element indices [N]; unknown elements raise ValueError.

        Checked once per numbers tensor (:func:`~lesdistill.device.memory_key`): the check reads
        the values on the host, so a caller that keeps its batch between MD steps (the ASE
        calculator, torch-sim) pays that device sync only for the first step."""
        key = memory_key(numbers)
        memo = getattr(self, "_species_memo", None)
        if (
            key is not None
            and memo is not None
            and memo[0] == key
            and memo[2].device == self.device
        ):
            return memo[2]
        species = self._checked_species(numbers)
        if key is not None:
            self._species_memo = (key, numbers.detach(), species)
        return species

    def _checked_species(self, numbers: torch.Tensor) -> torch.Tensor:
        if numbers.numel() and (numbers.min() < 1 or numbers.max() > 118):
            raise ValueError(
                f"atomic numbers must be in 1..118, got {sorted(set(numbers.tolist()))}"
            )
        species = self.z_to_index[numbers]
        if species.numel() and bool((species < 0).any()):
            from ase.data import chemical_symbols

            unseen = sorted({int(z) for z in numbers[species < 0].tolist()})
            names = [chemical_symbols[z] for z in unseen]
            raise ValueError(
                f"elements {names} were not in the training set of this model "
                f"(it knows {list(self.elements)}); retrain or fine-tune with them"
            )
        return species

    def _prepare(self, batch: AtomicBatch) -> AtomicBatch:
        if batch.device != self.device or batch.dtype != self.dtype:
            batch = batch.to(self.device, self.dtype)
        return batch

    def _edge_vectors(
        self, batch: AtomicBatch, positions: torch.Tensor, cell: torch.Tensor
    ) -> torch.Tensor:
        i, j = batch.edge_index[0], batch.edge_index[1]
        edge_cell = cell.index_select(0, batch.batch.index_select(0, i))
        shift = torch.einsum("ek,ekl->el", batch.shifts, edge_cell)
        return positions.index_select(0, j) - positions.index_select(0, i) + shift

    def _cells(self, cell: torch.Tensor, batch: AtomicBatch) -> list[torch.Tensor | None]:
        return [
            right_handed(cell[b]) if p else None
            for b, p in enumerate(batch.pbc.any(dim=1).tolist())
        ]

    def _qeq(self, features: torch.Tensor, batch: AtomicBatch, positions: torch.Tensor,
             cell: torch.Tensor, create_graph: bool) -> Any:
        """(q, chi, J) of the charge-equilibration head (:mod:`lesdistill.model.qeq_head`)."""
        from lesdistill.model.qeq_head import equilibrate

        head = self.charge_head(features)
        if not hasattr(self, "_qeq_guesses"):
            self._qeq_guesses: dict[Any, torch.Tensor] = {}  # CG warm starts (inference only)
        return equilibrate(
            head,
            batch,
            positions,
            self._cells(cell, batch),
            self.config,
            create_graph,
            self._qeq_guesses,
        )

    def _qeq_long_range(
        self,
        features: torch.Tensor,
        batch: AtomicBatch,
        positions: torch.Tensor,
        cell: torch.Tensor,
        create_graph: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Qeq charges [N], E_Qeq per structure [B]) at these (possibly strained) coordinates."""
        from lesdistill.model.qeq_head import qeq_long_range

        terms = self._qeq(features, batch, positions, cell, create_graph)
        energy = qeq_long_range(
            terms, batch, positions, self._cells(cell, batch), self.config, create_graph
        )
        return terms[0], energy

    def _charges(self, features: torch.Tensor, batch: AtomicBatch) -> torch.Tensor:
        if self.config.charge_model == "qeq":
            raise NotImplementedError("internal: Qeq charges need positions; use StudentModel._qeq")
        q = self.charge_head(features)
        q = q.squeeze(-1) if q.shape[-1] == 1 else q  # [N], or [N, n_q] for several channels
        if self.config.neutrality == "mean":
            n_struct = batch.num_structures
            target = batch.total_charge.to(q.dtype) / self.config.eps_inf**0.5
            n_atoms = batch.n_atoms.to(q.dtype)
            if q.dim() == 2:  # each channel carries Q / n_q
                target, n_atoms = target[:, None] / q.shape[1], n_atoms[:, None]
            excess = _segment_sum(q, batch.batch, n_struct) - target
            q = q - (excess / n_atoms)[batch.batch]
        return q

    def _long_range(
        self, q: torch.Tensor, positions: torch.Tensor, cell: torch.Tensor, batch: AtomicBatch
    ) -> torch.Tensor:
        # structure sizes and pbc from host copies kept per tensor: no device sync per step;
        # the values were validated where the batch was built
        sizes = (
            [positions.shape[0]] if batch.num_structures == 1 else list(host_values(batch.n_atoms))
        )
        periodic = [any(row) for row in host_values(batch.pbc)]
        out: list[Any] = []  # one energy per structure (a sum over charge channels)
        channels = q.unsqueeze(-1) if q.dim() == 1 else q  # [N, n_q]: one LES energy each
        for b, (q_b, r_b) in enumerate(zip(channels.split(sizes), positions.split(sizes))):
            out.append(sum(
                les_energy(
                    q_b[:, c],
                    r_b,
                    right_handed(cell[b]) if periodic[b] else None,
                    sigma=self.config.les_sigma,
                    dl=self.config.les_dl,
                    method=self.config.les_method,
                    slab_correction=self.config.les_slab_correction if periodic[b] else "none",
                    validate=False,
                )
                for c in range(q_b.shape[1])
            ))
        return torch.stack(out)

    def compile_backbone(self) -> None:
        """Compile the backbone with ``torch.compile`` (dynamic shapes) for fast inference.

        ~2.5x faster energy+forces on CPU after a one-off compilation (about a minute; needs a C++
        compiler). For MD and evaluation only: compiled graphs do not support the double backward
        of force training (``create_graph=True``). If compilation fails the backbone falls back to
        eager mode with a warning.
        """
        if not isinstance(self.backbone.forward, CompiledForward):
            self.backbone.forward = CompiledForward(  # type: ignore[method-assign]
                self.backbone.forward, self.backbone
            )

    def uncompile_backbone(self) -> None:
        """Undo :meth:`compile_backbone` (the eager backbone is used again)."""
        if isinstance(self.backbone.forward, CompiledForward):
            del self.backbone.forward

    @property
    def backbone_compiled(self) -> bool:
        """True while the backbone runs compiled (compiled and compilation has not failed)."""
        forward = self.backbone.forward
        return isinstance(forward, CompiledForward) and not forward.failed

    def _backbone(self, eager: bool) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
        forward = self.backbone.forward
        if eager and isinstance(forward, CompiledForward):
            return forward.eager  # double backward (training, BEC, dipole current) needs eager
        return self.backbone

    # ------------------------------------------------------------------ forward
    def latent_charges(self, batch: AtomicBatch) -> torch.Tensor:
        """Latent charges [N] (e), differentiable w.r.t. ``batch.positions`` (no LES, no forces)."""
        batch = self._prepare(batch)
        species = self.species(batch.numbers)
        vectors = self._edge_vectors(batch, batch.positions, batch.cell)
        features, _ = self._backbone(eager=True)(species, batch.edge_index, vectors, batch)
        if self.state is not None:
            features = self.state(features, batch)[0]
        if self.config.charge_model == "qeq":
            return self._qeq(features, batch, batch.positions, batch.cell, False)[0]
        q = self._charges(features, batch)
        return q if q.dim() == 1 else q.sum(dim=1)

    def forward(
        self,
        batch: AtomicBatch,
        *,
        compute_forces: bool = True,
        compute_stress: bool = False,
        create_graph: bool | None = None,
        include_long_range: bool = True,
        retain_graph: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Energies, forces, stress and charges of a batch (contract: module docstring).

        ``retain_graph=True`` keeps the autograd graph after the force/stress backward pass, so
        that the returned charges can still be differentiated w.r.t. ``batch.positions`` (pass
        positions that require grad: they are then the leaf), e.g. for the dipole current.
        """
        batch = self._prepare(batch)
        if create_graph is None:
            create_graph = self.training
        species = self.species(batch.numbers)
        n_struct = batch.num_structures
        pos_leaf = batch.positions
        if compute_forces and not pos_leaf.requires_grad:
            pos_leaf = pos_leaf.detach().requires_grad_(True)
        positions, cell, strain = pos_leaf, batch.cell, None
        if compute_stress:
            strain = torch.zeros(
                n_struct, 3, 3, dtype=self.dtype, device=self.device, requires_grad=True
            )
            sym = 0.5 * (strain + strain.transpose(1, 2))
            positions = positions + torch.einsum("nk,nkl->nl", positions, sym[batch.batch])
            cell = cell + torch.bmm(cell, sym)
        strained = batch.replace(positions=positions, cell=cell)
        vectors = self._edge_vectors(batch, positions, cell)
        features, atomic = self._backbone(eager=create_graph)(
            species, batch.edge_index, vectors, strained
        )
        atomic = atomic + self.reference_energies[species]
        if self.state is not None:  # total charge / spin embedding
            features, state_energy = self.state(features, batch)
            atomic = atomic + state_energy
        if self.repulsion is not None:
            atomic = atomic + self.repulsion(species, batch.edge_index, vectors)
        e_short = _segment_sum(atomic, batch.batch, n_struct)
        if self.config.charge_model == "qeq":
            q, e_long = self._qeq_long_range(features, batch, positions, cell, create_graph)
            e_long = e_long if include_long_range else torch.zeros_like(e_short)
        else:
            q = self._charges(features, batch)
            if include_long_range and self.config.long_range:
                e_long = self._long_range(q, positions, cell, batch)
            else:
                e_long = torch.zeros_like(e_short)
            if q.dim() == 2:  # several channels: P, BECs and currents use their sum
                q = q.sum(dim=1)
        energy = e_short + e_long
        out = {
            keys.ENERGY: energy,
            keys.ENERGY_SHORT_RANGE: e_short,
            keys.ENERGY_LONG_RANGE: e_long,
            keys.ENERGIES: atomic,
            keys.LATENT_CHARGES: q,
            keys.CHARGES: q * self.config.eps_inf**0.5,
        }
        inputs = ([pos_leaf] if compute_forces else []) + ([strain] if strain is not None else [])
        if inputs:
            grads = torch.autograd.grad(
                energy.sum(),
                inputs,
                create_graph=create_graph,
                retain_graph=create_graph or retain_graph,
                allow_unused=True,
            )
            grads = tuple(torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads))
            if compute_forces:
                out[keys.FORCES] = -grads[0]
            if strain is not None:
                volume = torch.linalg.det(batch.cell).abs()
                periodic = batch.pbc.all(dim=1)
                safe_volume = torch.where(periodic, volume, torch.ones_like(volume))
                stress = grads[-1] / safe_volume[:, None, None]
                out[keys.STRESS] = torch.where(
                    periodic[:, None, None], stress, torch.zeros_like(stress)
                )
        return out


def fit_reference_energies(
    structures: Sequence[Atoms] | Sequence[Sequence[int]],
    energies: Sequence[float],
    elements: Sequence[str] | None = None,
) -> dict[str, float]:
    r"""Per-element reference energies E0 (eV/atom) by least squares: :math:`E_s\approx\sum_Z
    n_{sZ}E^0_Z`.

    Args:
        structures: ASE Atoms or arrays of atomic numbers, one per structure.
        energies: total energy of each structure, eV.
        elements: elements to fit (default: all elements present). An element that never occurs
            gets E0 = 0; linearly dependent compositions (e.g. only H2O) get the minimum-norm
            solution, which reproduces every training energy equally well.

    Returns:
        ``{symbol: E0}`` in eV, ready for :meth:`StudentModel.set_reference_energies`.
    """
    from ase.data import atomic_numbers, chemical_symbols

    numbers_list = [
        np.asarray(getattr(s, "numbers", s), dtype=np.int64).reshape(-1) for s in structures
    ]
    energies_arr = np.asarray(energies, dtype=np.float64).reshape(-1)
    if len(numbers_list) != len(energies_arr):
        raise ValueError(f"got {len(numbers_list)} structures but {len(energies_arr)} energies")
    if len(numbers_list) == 0:
        raise ValueError("cannot fit reference energies on an empty set of structures")
    if not np.all(np.isfinite(energies_arr)):
        raise ValueError("energies contain NaN or inf; fix the labels")
    if elements is None:
        present = sorted({int(z) for numbers in numbers_list for z in numbers})
        elements = [chemical_symbols[z] for z in present]
    unknown = [e for e in elements if e not in atomic_numbers]
    if unknown:
        raise ValueError(f"unknown chemical symbols {unknown}")
    column = {atomic_numbers[e]: k for k, e in enumerate(elements)}
    counts = np.zeros((len(numbers_list), len(elements)))
    for row, numbers in enumerate(numbers_list):
        for z in numbers:
            if int(z) not in column:
                symbol = chemical_symbols[int(z)]
                raise ValueError(
                    f"structure {row} contains {symbol}, not in elements {list(elements)}"
                )
            counts[row, column[int(z)]] += 1
    solution, *_ = np.linalg.lstsq(counts, energies_arr, rcond=None)
    return {e: float(v) for e, v in zip(elements, solution)}
