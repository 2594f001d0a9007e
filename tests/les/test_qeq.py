"""Charge equilibration: closed forms (two sites, open and periodic), the kernel equals the LES
energy, CG equals the dense solve, totals, and derivatives through the solve."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lesdistill.les import energy
from lesdistill.les.qeq import coulomb_matrix, qeq_charges, qeq_energy
from lesdistill.units import COULOMB_EV_A, HALF_INV_EPSILON0_EV_A

SIGMA = 1.0


def _sites(n: int, cell: torch.Tensor | None, seed: int):
    gen = torch.Generator().manual_seed(seed)
    box = cell if cell is not None else 5.0 * torch.eye(3, dtype=torch.float64)
    pos = torch.rand(n, 3, generator=gen, dtype=torch.float64) @ box
    chi = torch.randn(n, generator=gen, dtype=torch.float64)
    hardness = 4.0 + torch.rand(n, generator=gen, dtype=torch.float64) * 4.0
    return chi, hardness, pos


@pytest.mark.parametrize("periodic", [False, True])
def test_kernel_is_the_les_energy_with_self_term(periodic, triclinic_cell):
    cell = triclinic_cell if periodic else None
    _, _, pos = _sites(9, cell, seed=1)
    q = torch.randn(9, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a = coulomb_matrix(pos, cell, sigma=SIGMA, dl=1.5)
    expected = energy(q, pos, cell, sigma=SIGMA, dl=1.5, method="ewald", subtract_self=False)
    assert float(0.5 * q @ a @ q) == pytest.approx(float(expected), rel=1e-12)
    assert float(torch.linalg.eigvalsh(a).min()) > -1e-10  # a charge density's energy is >= 0


def test_two_sites_open_closed_form():
    d = 2.3
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, d]], dtype=torch.float64)
    chi = torch.tensor([1.7, -0.4], dtype=torch.float64)
    hardness = torch.tensor([6.0, 9.0], dtype=torch.float64)
    self_term = COULOMB_EV_A * math.sqrt(2.0 / math.pi) / SIGMA  # erf(r/sqrt2 s)/r at r -> 0
    pair = COULOMB_EV_A * math.erf(d / (math.sqrt(2.0) * SIGMA)) / d
    expected = -(1.7 + 0.4) / (6.0 + 9.0 + 2.0 * self_term - 2.0 * pair)
    for solver in ("dense", "cg"):
        q = qeq_charges(chi, hardness, pos, sigma=SIGMA, solver=solver)
        np.testing.assert_allclose(q.numpy(), [expected, -expected], rtol=1e-10, atol=1e-14)
    # a total charge Q: q1 + q2 = Q, q1 - q2 from the same stiffness
    q = qeq_charges(chi, hardness, pos, total_charge=1.0, sigma=SIGMA, solver="dense")
    # minimise chi.q + q.Hq/2 on q = (Q/2 + x, Q/2 - x)
    h = np.array([[6.0 + self_term, pair], [pair, 9.0 + self_term]])
    grad_x = np.array([1.0, -1.0])
    x = -(grad_x @ (chi.numpy() + h @ np.array([0.5, 0.5]))) / (grad_x @ h @ grad_x)
    np.testing.assert_allclose(q.numpy(), [0.5 + x, 0.5 - x], rtol=1e-10)


def _independent_periodic_pair(l_box: float, d: np.ndarray, dl: float) -> tuple[float, float]:
    """A_11 and A_12 of two sites in a cubic cell from a full-space k-sum written out here."""
    k_cut, width = 2.0 * math.pi / dl, 0.1
    n_max = int(k_cut * (1 + width) * l_box / (2 * math.pi)) + 1
    a11 = a12 = 0.0
    for n in itertools.product(range(-n_max, n_max + 1), repeat=3):
        if n == (0, 0, 0):
            continue
        k = 2.0 * math.pi * np.array(n) / l_box
        kn = float(np.linalg.norm(k))
        t = min(max((kn - k_cut * (1 - width)) / (2 * width * k_cut), 0.0), 1.0)
        switch = 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t)
        f = switch * math.exp(-0.5 * SIGMA**2 * kn**2) / kn**2
        a11 += f
        a12 += f * math.cos(float(k @ d))
    scale = 2.0 * HALF_INV_EPSILON0_EV_A / l_box**3  # 1 / (V eps0)
    return scale * a11, scale * a12


def test_two_sites_periodic_closed_form():
    l_box, dl = 6.0, 1.5
    d = np.array([1.1, 2.0, -0.7])
    cell = l_box * torch.eye(3, dtype=torch.float64)
    pos = torch.tensor(
        [[0.3, 0.2, 0.1], (np.array([0.3, 0.2, 0.1]) + d).tolist()], dtype=torch.float64
    )
    chi = torch.tensor([0.9, -1.3], dtype=torch.float64)
    hardness = torch.tensor([5.0, 7.0], dtype=torch.float64)
    a11, a12 = _independent_periodic_pair(l_box, d, dl)
    expected = -(0.9 + 1.3) / (5.0 + 7.0 + 2.0 * (a11 - a12))
    for solver in ("dense", "cg"):
        q = qeq_charges(chi, hardness, pos, cell, sigma=SIGMA, dl=dl, method="ewald", solver=solver)
        np.testing.assert_allclose(q.numpy(), [expected, -expected], rtol=1e-9)


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("total", [0.0, -1.0])
def test_cg_equals_dense_and_totals(periodic, total, triclinic_cell):
    cell = triclinic_cell if periodic else None
    chi, hardness, pos = _sites(24, cell, seed=3)
    kw = dict(sigma=SIGMA, dl=2.0, method="ewald")
    dense = qeq_charges(chi, hardness, pos, cell, total, solver="dense", **kw)
    cg = qeq_charges(chi, hardness, pos, cell, total, solver="cg", tol=1e-12, **kw)
    assert float(dense.sum()) == pytest.approx(total, abs=1e-12)
    np.testing.assert_allclose(cg.numpy(), dense.numpy(), atol=1e-9)
    # q* minimises E_Qeq on the constraint: random zero-sum perturbations raise it
    e0 = qeq_energy(dense, chi, hardness, pos, cell, **kw)
    gen = torch.Generator().manual_seed(4)
    for _ in range(5):
        dq = torch.randn(24, generator=gen, dtype=torch.float64) * 1e-2
        dq -= dq.mean()
        assert float(qeq_energy(dense + dq, chi, hardness, pos, cell, **kw)) > float(e0)


@pytest.mark.parametrize("periodic", [False, True])
def test_forces_through_the_solve_match_finite_differences(periodic, triclinic_cell):
    """E(r) = E_Qeq(q*(r), r) with chi, J depending on r too: autograd vs central differences,
    dense and CG (implicit differentiation)."""
    cell = triclinic_cell if periodic else None
    chi0, hardness0, pos0 = _sites(10, cell, seed=5)
    kw = dict(sigma=SIGMA, dl=2.0, method="ewald")

    def total_energy(pos, solver):
        chi = chi0 + 0.3 * torch.sin(pos[:, 0])  # environment-dependent electronegativity
        hardness = hardness0 + 0.5 * torch.cos(pos[:, 1]) ** 2
        q = qeq_charges(chi, hardness, pos, cell, 0.5, solver=solver, tol=1e-13, **kw)
        dipole = (q.unsqueeze(1) * pos).sum(dim=0)
        return qeq_energy(q, chi, hardness, pos, cell, **kw), dipole

    for solver in ("dense", "cg"):
        pos = pos0.clone().requires_grad_(True)
        e, dipole = total_energy(pos, solver)
        (grad,) = torch.autograd.grad(e, pos, retain_graph=True)
        (bec_row,) = torch.autograd.grad(dipole[2], pos)  # dP_z/dr: needs dq*/dr
        h = 1e-5
        for i, a in ((0, 0), (3, 2), (7, 1)):
            plus, minus = pos0.clone(), pos0.clone()
            plus[i, a] += h
            minus[i, a] -= h
            (ep, pp), (em, pm) = total_energy(plus, solver), total_energy(minus, solver)
            assert float(grad[i, a]) == pytest.approx(float(ep - em) / (2 * h), abs=2e-7)
            assert float(bec_row[i, a]) == pytest.approx(float(pp[2] - pm[2]) / (2 * h), abs=2e-7)


def test_dense_solve_supports_double_backward(triclinic_cell):
    chi, hardness, pos0 = _sites(6, triclinic_cell, seed=6)
    chi = chi.clone().requires_grad_(True)

    def forces(c):
        pos = pos0.clone().requires_grad_(True)
        q = qeq_charges(c, hardness, pos, triclinic_cell, solver="dense", sigma=SIGMA, dl=2.0)
        e = qeq_energy(q, c, hardness, pos, triclinic_cell, sigma=SIGMA, dl=2.0, method="ewald")
        return -torch.autograd.grad(e, pos, create_graph=True)[0]

    assert torch.autograd.gradcheck(lambda c: forces(c).sum(dim=0), (chi,), eps=1e-6, atol=1e-6)


def test_non_positive_hardness_is_rejected():
    chi, hardness, pos = _sites(3, None, seed=7)
    with pytest.raises(ValueError, match="hardness must be > 0"):
        qeq_charges(chi, hardness - 10.0, pos)


def test_cg_warm_start_gives_the_same_charges(triclinic_cell):
    chi, hardness, pos = _sites(24, triclinic_cell, seed=8)
    kw = dict(sigma=SIGMA, dl=2.0, method="ewald", tol=1e-12)
    dense = qeq_charges(chi, hardness, pos, triclinic_cell, 1.0, solver="dense", **kw)
    guess = torch.randn(24, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    warm = qeq_charges(chi, hardness, pos, triclinic_cell, 1.0, solver="cg", initial=guess, **kw)
    np.testing.assert_allclose(warm.numpy(), dense.numpy(), atol=1e-9)
    # started at the answer, CG stops at once (the solve then costs one product)
    exact = qeq_charges(chi, hardness, pos, triclinic_cell, 1.0, solver="cg", initial=dense,
                        max_iter=1, **kw)
    np.testing.assert_allclose(exact.numpy(), dense.numpy(), atol=1e-9)
