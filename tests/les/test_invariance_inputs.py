"""Symmetry (translation, rotation, permutation, choice of lattice basis) and bad-input handling."""

from __future__ import annotations

import math

import pytest
import torch

from lesdistill.les import born_effective_charges, dipole_current, energy, polarization


def rotation(seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.linalg.det(q) > 0 else -q


def efs(q, pos, cell, method="ewald"):
    pos = pos.detach().requires_grad_(True)
    eps = torch.zeros(3, 3, dtype=pos.dtype, requires_grad=True)
    deform = torch.eye(3, dtype=pos.dtype) + eps
    e = energy(q, pos @ deform, None if cell is None else cell @ deform, method=method)
    inputs = (pos, eps) if cell is not None else (pos,)
    grads = torch.autograd.grad(e, inputs, allow_unused=True)
    stress = grads[1] / torch.linalg.det(cell) if cell is not None else None
    return e.detach(), -grads[0], stress


@pytest.mark.parametrize("method", ["open", "ewald", "pme"])
def test_translation_rotation_permutation(make_system, triclinic_cell, method):
    cell = None if method == "open" else triclinic_cell
    m = "ewald" if method == "open" else method
    q, pos = make_system(9, cell, seed=31)
    e0, f0, s0 = efs(q, pos, cell, m)
    pme = (
        method == "pme"
    )  # mesh discretisation breaks the symmetries at the PME accuracy level only
    e_tol = 5e-5 if pme else 1e-11
    f_tol = 1e-3 * f0.abs().max().item() if pme else 1e-9
    # translation
    e1, f1, _ = efs(q, pos + torch.tensor([0.37, -1.2, 2.9], dtype=torch.float64), cell, m)
    assert e1.item() == pytest.approx(e0.item(), rel=e_tol)
    assert torch.allclose(f1, f0, rtol=0, atol=f_tol)
    # rotation of positions and cell: forces rotate as vectors, stress on both indices
    rot = rotation(3)
    e2, f2, s2 = efs(q, pos @ rot.T, None if cell is None else cell @ rot.T, m)
    assert e2.item() == pytest.approx(e0.item(), rel=e_tol)
    assert torch.allclose(f2, f0 @ rot.T, rtol=0, atol=f_tol)
    if cell is not None:
        s_tol = (1e-3 if pme else 1e-9) * s0.abs().max().item()
        assert torch.allclose(s2, rot @ s0 @ rot.T, rtol=0, atol=s_tol)
        assert not torch.allclose(s2, s0, rtol=0, atol=s_tol)  # it did rotate
    # permutation
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(5))
    e3, f3, _ = efs(q[perm], pos[perm], cell, m)
    assert e3.item() == pytest.approx(e0.item(), rel=1e-12)
    assert torch.allclose(f3, f0[perm], rtol=1e-9, atol=1e-12)


def test_equivalent_lattice_basis_gives_same_energy(make_system, triclinic_cell):
    q, pos = make_system(7, triclinic_cell, seed=32)
    # unimodular change of basis (same lattice): a3 -> a3 + a1 - a2, a2 -> a2 + a1
    u = torch.tensor([[1, 0, 0], [1, 1, 0], [1, -1, 1]], dtype=torch.float64)
    other = u @ triclinic_cell
    assert torch.linalg.det(other) > 0
    e_a = energy(q, pos, triclinic_cell, method="ewald")
    e_b = energy(q, pos, other, method="ewald")
    assert e_b.item() == pytest.approx(e_a.item(), rel=1e-10)
    assert energy(q, pos, other, method="pme").item() == pytest.approx(e_a.item(), rel=1e-4)


def test_bec_and_current_rotate_covariantly(make_system):
    q0, pos = make_system(6, None, seed=33)

    def fn(p):  # rotation-invariant, position-dependent charges
        d2 = ((p[:, None] - p[None]) ** 2).sum(-1)
        return q0 + 0.2 * torch.exp(-d2 / 3.0).sum(1)

    rot = rotation(7)
    z = born_effective_charges(fn, pos)
    z_rot = born_effective_charges(fn, pos @ rot.T)
    assert torch.allclose(z_rot, rot @ z @ rot.T, atol=1e-10)
    v = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(
        dipole_current(fn, pos @ rot.T, v @ rot.T), dipole_current(fn, pos, v) @ rot.T, atol=1e-10
    )
    perm = torch.tensor([3, 1, 5, 0, 2, 4])
    z_perm = born_effective_charges(lambda p: fn(p[torch.argsort(perm)])[perm], pos[perm])
    assert torch.allclose(z_perm, z[perm], atol=1e-10)


@pytest.fixture
def good():
    q = torch.tensor([1.0, -1.0], dtype=torch.float64)
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    return q, pos, 5.0 * torch.eye(3, dtype=torch.float64)


@pytest.mark.parametrize(
    "change, exc, words",
    [
        (lambda q, p, c: (q, p[:, :2], c), ValueError, ["positions", "[N, 3]", "(2, 2)"]),
        (lambda q, p, c: (q[:1], p, c), ValueError, ["charges", "N = 2", "(1,)"]),
        (lambda q, p, c: (q, p.tolist(), c), TypeError, ["positions", "list"]),
        (lambda q, p, c: (q.float(), p, c), TypeError, ["charges", "float32"]),
        (lambda q, p, c: (q, p.long(), c), TypeError, ["positions", "int64"]),
        (
            lambda q, p, c: (q, torch.where(p > 0.5, math.nan, p), c),
            ValueError,
            ["positions", "non-finite", "nan"],
        ),
        (
            lambda q, p, c: (torch.tensor([1.0, math.inf], dtype=torch.float64), p, c),
            ValueError,
            ["charges", "inf"],
        ),
        (lambda q, p, c: (q, p, c[:2]), ValueError, ["cell", "[3, 3]", "(2, 3)"]),
        (
            lambda q, p, c: (
                q,
                p,
                torch.tensor([[5.0, 0, 0], [0, 5, 0], [5, 5, 0]], dtype=torch.float64),
            ),
            ValueError,
            ["cell", "singular"],
        ),
        (
            lambda q, p, c: (q, p, torch.diag(torch.tensor([5.0, 5.0, -5.0], dtype=torch.float64))),
            ValueError,
            ["cell", "left-handed", "-125"],
        ),
        (lambda q, p, c: (q, p, c * math.nan), ValueError, ["cell", "non-finite"]),
    ],
)
def test_bad_arrays_raise_with_clear_message(good, change, exc, words):
    q, pos, cell = change(*good)
    with pytest.raises(exc) as info:
        energy(q, pos, cell)
    msg = str(info.value)
    for w in words:
        assert w in msg, (w, msg)
    assert "\n" not in msg


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"sigma": 0.0}, ValueError, ["sigma", "0.0"]),
        ({"sigma": -1.0}, ValueError, ["sigma", "-1.0"]),
        ({"dl": 0.0}, ValueError, ["dl", "0.0"]),
        ({"dl": -2.0}, ValueError, ["dl", "-2.0"]),
        ({"dl": math.inf}, ValueError, ["dl", "inf"]),
        ({"sigma": "1"}, TypeError, ["sigma", "'1'"]),
        ({"method": "p3m"}, ValueError, ["method", "'p3m'"]),
        ({"switch_width": 1.5}, ValueError, ["switch_width", "1.5"]),
    ],
)
def test_bad_parameters_raise(good, kwargs, exc, words):
    q, pos, cell = good
    with pytest.raises(exc) as info:
        energy(q, pos, cell, **kwargs)
    for w in words:
        assert w in str(info.value)


def test_response_functions_validate_cell(good):
    q, pos, _ = good
    bad_cell = torch.diag(torch.tensor([5.0, -5.0, 5.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="left-handed"):
        polarization(q, pos, bad_cell)
    with pytest.raises(ValueError, match="left-handed"):
        born_effective_charges(lambda p: q + 0.0 * p.sum(), pos, bad_cell)
    with pytest.raises(ValueError, match="positions"):
        dipole_current(lambda p: q, pos[:, :2], pos[:, :2])
