"""Born effective charges of a batch from one forward pass equal the per-structure ones."""

from __future__ import annotations

import pytest
import torch

from lesdistill.les import born_effective_charges
from lesdistill.les.batch_response import born_effective_charges_batch

from .test_response import anisotropic_charges

SLAB = torch.tensor([[7.0, 0.0, 0.0], [1.2, 6.0, 0.0], [0.4, 0.2, 25.0]], dtype=torch.float64)


def _batch(cubic_cell, triclinic_cell, make_system, slab: bool):
    """Structures of 5, 7, 6 and 4 atoms (open, triclinic or slab, cubic or slab, open), their
    charge functions with one shared parameter ``w`` (so that the graph to a weight can be
    compared)."""
    cells = [None, SLAB, SLAB, None] if slab else [None, triclinic_cell, cubic_cell, None]
    sizes = [5, 7, 6, 4]
    w = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    fns, positions = [], []
    for s, (n, cell) in enumerate(zip(sizes, cells, strict=True)):
        q0, pos = make_system(n, None if cell is SLAB else cell, seed=3 + s)
        if cell is SLAB:
            pos = pos.clone()
            pos[:, 2] = 8.0 + 0.5 * pos[:, 2] / pos[:, 2].abs().max()
        base = anisotropic_charges(q0, cell)
        fns.append(lambda x, base=base: w * base(x))
        positions.append(pos)
    return sizes, cells, fns, torch.cat(positions), w


def _charges(fns, sizes, x):
    return torch.cat([fn(part) for fn, part in zip(fns, x.split(sizes), strict=True)])


@pytest.mark.parametrize("slab", [False, True])
def test_batch_bec_equals_each_structure_and_its_weight_gradient(
        cubic_cell, triclinic_cell, make_system, slab):
    sizes, cells, fns, pos, w = _batch(cubic_cell, triclinic_cell, make_system, slab)
    x = pos.clone().requires_grad_(True)
    z = born_effective_charges_batch(_charges(fns, sizes, x), x, sizes, cells, eps_inf=1.78,
                                     slab=slab, create_graph=True)
    ref = torch.cat([
        born_effective_charges(fn, part, cell, eps_inf=1.78, create_graph=True,
                               slab=slab and cell is not None)
        for fn, part, cell in zip(fns, pos.split(sizes), cells, strict=True)
    ])
    assert z.shape == (sum(sizes), 3, 3)
    assert torch.allclose(z, ref, atol=1e-12, rtol=0)
    # the charge-transfer part is there (not only q' 1), and the graph to the weight is the same
    assert (z - torch.diagonal(z, dim1=1, dim2=2).mean(-1)[:, None, None]
            * torch.eye(3, dtype=z.dtype)).abs().max() > 1e-2
    weights = torch.linspace(-1.0, 1.0, 9, dtype=torch.float64).view(1, 3, 3)
    (g,) = torch.autograd.grad((z * weights).square().sum(), w)
    (g_ref,) = torch.autograd.grad((ref * weights).square().sum(), w)
    assert torch.allclose(g, g_ref, atol=1e-12, rtol=1e-10)


def test_structures_left_out_are_zero_and_the_others_unchanged(
        cubic_cell, triclinic_cell, make_system):
    sizes, cells, fns, pos, _ = _batch(cubic_cell, triclinic_cell, make_system, False)
    x = pos.clone().requires_grad_(True)
    full = born_effective_charges_batch(_charges(fns, sizes, x), x, sizes, cells)
    x = pos.clone().requires_grad_(True)
    part = born_effective_charges_batch(_charges(fns, sizes, x), x, sizes, cells,
                                        structures=[False, True, False, True])
    bounds = [0, 5, 12, 18, 22]
    for s, keep in enumerate([False, True, False, True]):
        lo, hi = bounds[s], bounds[s + 1]
        expected = full[lo:hi] if keep else torch.zeros_like(full[lo:hi])
        assert torch.equal(part[lo:hi], expected) or torch.allclose(part[lo:hi], expected,
                                                                    atol=1e-13, rtol=0)
    x = pos.clone().requires_grad_(True)
    none = born_effective_charges_batch(_charges(fns, sizes, x), x, sizes, cells,
                                        structures=[False] * 4)
    assert torch.count_nonzero(none) == 0


def test_bad_batch_description_is_refused(cubic_cell, make_system):
    q, pos = make_system(4, cubic_cell, seed=0)
    with pytest.raises(ValueError, match="sizes"):
        born_effective_charges_batch(q, pos, [3], [cubic_cell])
    with pytest.raises(ValueError, match="structures has 2 entries"):
        born_effective_charges_batch(q, pos, [4], [cubic_cell], structures=[True, False])
