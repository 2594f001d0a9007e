r"""Born effective charges of a batch of structures from one forward pass of the charges.

:func:`lesdistill.les.born_effective_charges` takes one structure and a charge function. In
training, a batch holds B structures whose charges come from one forward pass; structure s's
charges depend only on its own positions, so :math:`J = \partial q/\partial\mathbf r` is
block-diagonal and one vector-Jacobian product with the read-out cotangents of every structure
side by side gives each structure's :math:`J'^\top u` at once:

.. math::

    \big(J^\top [u_1, \dots, u_B]\big)_{i \in s} = (J_s^\top u_s)_i .

So K backward passes (K = 6 periodic, 5 slab, 3 open; the largest over the batch, shorter
read-outs padded with zeros) serve the whole batch instead of K per structure, each through a
forward pass of its own. The values equal :func:`lesdistill.les.born_effective_charges` per
structure to round-off (same conventions: neutral charges per structure, phase form, slab).
Structures left out (``structures``) get zero tensors and cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lesdistill.les.ewald import matmul3
from lesdistill.les.response import _phase_geometry, _transfer_bec, _vjp
from lesdistill.les.validation import check_cell, check_charges, check_positive

__all__ = ["born_effective_charges_batch"]


def _readout(x: torch.Tensor, cell: torch.Tensor | None, slab: bool):
    """(centred cotangents [k, n], lattice rows or None, phases [2d, n] or None, normal or None)
    of one structure's read-out at positions ``x`` [n, 3]."""
    if cell is None:
        return (x - x.mean(dim=0)).T, None, None, None
    rows, inv, normal = _phase_geometry(cell, slab)
    angles = (2.0 * math.pi * matmul3(x, inv)).T  # [d, n]
    phases = torch.cat([torch.cos(angles), torch.sin(angles)])
    readout = phases if normal is None else torch.cat([phases, (x @ normal).unsqueeze(0)])
    return readout - readout.mean(dim=1, keepdim=True), rows, phases, normal


def born_effective_charges_batch(
    charges: torch.Tensor,
    positions: torch.Tensor,
    sizes: Sequence[int],
    cells: Sequence[torch.Tensor | None],
    *,
    eps_inf: float = 1.0,
    slab: bool = False,
    create_graph: bool = False,
    structures: Sequence[bool] | None = None,
) -> torch.Tensor:
    r"""Z*[i, a, b] = dP_a/dr_ib (e) of every atom of a batch, [N, 3, 3].

    :param charges: [N] latent charges (e) computed from the leaf ``positions`` with their
        autograd graph; the charges of a structure must depend on its own positions only.
    :param positions: [N, 3] (Å), the structures one after the other (``sizes`` atoms each).
    :param cells: per structure None (open) or [3, 3] lattice rows (Å).
    :param eps_inf: physical charges = sqrt(eps_inf) x latent charges.
    :param slab: periodic cells are slabs (:func:`lesdistill.les.polarization`).
    :param create_graph: keep the graph so that Z* can be differentiated (trained on).
    :param structures: per structure, whether to compute its Z* (default all); the others are
        zero.
    :return: [N, 3, 3] tensor, e.
    """
    scale = math.sqrt(check_positive(eps_inf, "eps_inf"))
    sizes = [int(n) for n in sizes]
    if sum(sizes) != positions.shape[0] or len(cells) != len(sizes):
        raise ValueError(f"sizes {sizes} and {len(cells)} cells do not describe the "
                         f"{positions.shape[0]} atoms of the batch")
    wanted = [True] * len(sizes) if structures is None else [bool(s) for s in structures]
    if len(wanted) != len(sizes):
        raise ValueError(f"structures has {len(wanted)} entries for {len(sizes)} structures")
    check_charges(charges.detach(), positions, "charges", finite=False)
    x_read = positions if create_graph else positions.detach()
    q_all = charges if create_graph else charges.detach()
    bounds = [0]
    for n in sizes:
        bounds.append(bounds[-1] + n)
    reads: list[tuple | None] = []
    for s, cell in enumerate(cells):
        if not wanted[s]:
            reads.append(None)
            continue
        lo, hi = bounds[s], bounds[s + 1]
        cell_s = None if cell is None else check_cell(cell, positions[lo:hi])
        reads.append(_readout(x_read[lo:hi], cell_s, slab and cell_s is not None))
    k_max = max((r[0].shape[0] for r in reads if r is not None), default=0)
    grads = None
    if charges.requires_grad and k_max:
        blocks = []
        for s, r in enumerate(reads):
            n = sizes[s]
            if r is None:
                blocks.append(x_read.new_zeros(k_max, n))
            else:
                pad = k_max - r[0].shape[0]
                blocks.append(r[0] if not pad else torch.cat([r[0], r[0].new_zeros(pad, n)]))
        cotangents = torch.cat(blocks, dim=1)  # [K, N]
        grads = torch.stack([
            _vjp(charges, positions, cotangents[k], retain_graph=create_graph or k < k_max - 1,
                 create_graph=create_graph)
            for k in range(k_max)
        ])  # [K, N, 3]
    eye = torch.eye(3, dtype=positions.dtype, device=positions.device)
    out = []
    for s, r in enumerate(reads):
        lo, hi = bounds[s], bounds[s + 1]
        if r is None:
            out.append(positions.new_zeros(hi - lo, 3, 3))
            continue
        q = q_all[lo:hi] - q_all[lo:hi].mean()
        z = q.view(-1, 1, 1) * eye
        if grads is not None:
            cot, rows, phases, normal = r
            g = grads[: cot.shape[0], lo:hi]
            if rows is None:
                z = z + g.permute(1, 0, 2)
            else:
                z = z + _transfer_bec(rows, phases, g, normal)
        out.append(z)
    if not out:
        return positions.new_zeros(0, 3, 3)
    return scale * torch.cat(out)
