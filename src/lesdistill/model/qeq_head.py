r"""The charge-equilibration charge model of the student (``StudentConfig.charge_model = "qeq"``).

The charge head gives two numbers per atom from its backbone features: an electronegativity
:math:`\chi_i` (eV/e) and a hardness :math:`J_i = J_\text{min} + \mathrm{softplus}(h_i)` (eV/e²,
:math:`J_\text{min}` = ``qeq_hardness_min`` > 0). The latent charges minimise
:math:`\sum_i(\chi_iq_i + J_iq_i^2/2) + E_\text{LES}^\text{full}(\mathbf q)` under
:math:`\sum_i q_i = Q/\sqrt{\varepsilon_\infty}` per structure (:mod:`lesdistill.les.qeq`), and
that minimum is the student's long-range energy (``energy_long_range``: site terms plus the
Coulomb energy of the Gaussian charges including their self-energy). Like the plain head it is
trained from energies and forces only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional

from lesdistill.les.qeq import DENSE_MAX_ATOMS, qeq_charges, qeq_energy

if TYPE_CHECKING:
    from lesdistill.data.batch import AtomicBatch
    from lesdistill.model.config import StudentConfig

__all__ = ["QeqTerms", "equilibrate", "qeq_long_range"]

QeqTerms = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (q [N] e, chi [N] eV/e, J [N] eV/e^2)


def _solver(config: StudentConfig, create_graph: bool, n_atoms: int) -> str:
    """"dense" or "cg" for one structure (force training always solves densely)."""
    if create_graph:
        return "dense"
    if config.qeq_solver == "auto":
        return "dense" if n_atoms <= DENSE_MAX_ATOMS else "cg"
    return config.qeq_solver


def equilibrate(head: torch.Tensor, batch: AtomicBatch, positions: torch.Tensor,
                cells: list[torch.Tensor | None], config: StudentConfig,
                create_graph: bool, guesses: dict[Any, torch.Tensor] | None = None) -> QeqTerms:
    """Charges, electronegativities and hardnesses of every atom of ``batch`` from the head
    output ``head`` [N, 2]; ``cells[b]`` is structure b's right-handed cell or None (open).
    ``guesses``: CG starting charges by (atom count, dtype, device), updated in place (the
    student keeps one per model, so MD steps start from the previous step's charges)."""
    chi = head[:, 0]
    hardness = config.qeq_hardness_min + functional.softplus(head[:, 1])
    totals = (batch.total_charge.to(head.dtype) / config.eps_inf**0.5).unbind()
    sizes = batch.split_sizes()
    parts = [
        qeq_charges(
            chi_b,
            j_b,
            r_b,
            cells[b],
            totals[b],
            sigma=config.les_sigma,
            dl=config.les_dl,
            method=config.les_method,
            solver=_solver(config, create_graph, sizes[b]),
            initial=guesses.get((sizes[b], chi.dtype, chi.device)) if guesses is not None else None,
        )
        for b, (chi_b, j_b, r_b) in enumerate(
            zip(chi.split(sizes), hardness.split(sizes), positions.split(sizes))
        )
    ]
    if guesses is not None:  # the next call (the next MD step) starts CG from these charges
        for size, part in zip(sizes, parts):
            if _solver(config, create_graph, size) == "cg":
                guesses[(size, chi.dtype, chi.device)] = part.detach()
    return torch.cat(parts), chi, hardness


def qeq_long_range(terms: QeqTerms, batch: AtomicBatch, positions: torch.Tensor,
                   cells: list[torch.Tensor | None], config: StudentConfig,
                   create_graph: bool) -> torch.Tensor:
    """E_Qeq per structure [B] (eV) at the equilibrated charges.

    With the CG solver the charges enter detached: q* is stationary, so the forces are the
    explicit derivative (exact at convergence) and no backward solve is run for them."""
    q, chi, hardness = terms
    sizes = batch.split_sizes()
    out = [
        qeq_energy(
            q_b.detach() if _solver(config, create_graph, sizes[b]) == "cg" else q_b,
            chi_b,
            j_b,
            r_b,
            cells[b],
            sigma=config.les_sigma,
            dl=config.les_dl,
            method=config.les_method,
        )
        for b, (q_b, chi_b, j_b, r_b) in enumerate(
            zip(q.split(sizes), chi.split(sizes), hardness.split(sizes), positions.split(sizes))
        )
    ]
    return torch.stack(out)
