r"""Charge equilibration (Qeq) with the LES Coulomb kernel.

Given an electronegativity :math:`\chi_i` (eV/e) and a hardness :math:`J_i > 0` (eV/e²) per atom,
the charges minimise

.. math::

    E_\text{Qeq}(\mathbf q) = \sum_i \big(\chi_i q_i + \tfrac12 J_i q_i^2\big)
        + E_\text{LES}^\text{full}(\mathbf q) = \boldsymbol\chi^T\mathbf q + \tfrac12\mathbf q^T
        H\mathbf q,
    \qquad H = \mathrm{diag}(J) + A,\qquad \textstyle\sum_i q_i = Q,

where :math:`E_\text{LES}^\text{full} = \frac12\mathbf q^TA\mathbf q` is the LES energy of the
Gaussian charges *including* their self-energy (:func:`lesdistill.les.energy` with
``subtract_self=False``: the Coulomb energy of a charge density, so :math:`A` is positive
semi-definite and :math:`H` positive definite for any :math:`J > 0`). Stationarity with a Lagrange
multiplier :math:`\mu` (the chemical potential, eV/e) gives the closed form

.. math::

    \mathbf q^* = H^{-1}(\mu\mathbf 1 - \boldsymbol\chi),\qquad
    \mu = \frac{Q + \mathbf 1^TH^{-1}\boldsymbol\chi}{\mathbf 1^TH^{-1}\mathbf 1},

so charge flows over any distance the kernel reaches (all periodic images). Two solvers:

* ``"dense"``: :math:`A` built explicitly (open:
  :math:`k_e\,\mathrm{erf}(r_{ij}/\sqrt2\sigma)/r_{ij}` with its limit
  :math:`k_e\sqrt{2/\pi}/\sigma` on the diagonal; periodic: the same filtered reciprocal sum as
  :func:`lesdistill.les.ewald.ewald_energy`,
  :math:`A_{ij} = \frac{1}{V\varepsilon_0}\sum_{\mathbf k\in\text{half}} W_k\cos\mathbf
  k\cdot(\mathbf r_i-\mathbf r_j)`), then one linear solve. O(N²) memory, O(N³) time; differentiable
  to any order (force training).
* ``"cg"``: conjugate gradients on the constraint surface (Jacobi preconditioner projected onto
  :math:`\sum_i q_i = Q`, so one product per iteration), each product :math:`A\mathbf v`
  being the charge gradient of :func:`lesdistill.les.energy` at :math:`\mathbf v` (the same
  Ewald/PME kernel, O(N log N) with PME), for large N. Its derivatives (forces, Born effective
  charges) come from implicit differentiation: one more constrained solve with the incoming
  gradient, and the position dependence of :math:`A` from the polarisation identity
  :math:`\mathbf w^TA\mathbf q = E(\mathbf q+\mathbf w) - E(\mathbf q-\mathbf w)` over 2
  (first derivatives only: no force training through it).

Units: eV, Å, e. ``chi`` [N], ``hardness`` [N], ``positions`` [N, 3], ``cell`` [3, 3] or None.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lesdistill.les import energy
from lesdistill.les.ewald import (
    DEFAULT_SWITCH_WIDTH,
    _cell_geometry,
    _erf_over_r,
    _weights,
    kspace_terms,
)
from lesdistill.units import COULOMB_EV_A, HALF_INV_EPSILON0_EV_A

__all__ = ["SOLVERS", "coulomb_matrix", "qeq_charges", "qeq_energy"]

SOLVERS = ("auto", "dense", "cg")
#: ``solver="auto"`` uses the dense solve up to this many atoms (and always under create_graph)
DENSE_MAX_ATOMS = 2000


def coulomb_matrix(positions: torch.Tensor, cell: torch.Tensor | None, *, sigma: float, dl: float,
                   switch_width: float = DEFAULT_SWITCH_WIDTH) -> torch.Tensor:
    r""":math:`A` [N, N] (eV/e²) with :math:`\frac12\mathbf q^TA\mathbf q` = the LES energy with the
    self-energy (``subtract_self=False``); differentiable w.r.t. positions and cell."""
    if cell is None:
        diff = positions.unsqueeze(1) - positions.unsqueeze(0)
        r_sq = (diff * diff).sum(dim=2)
        r = torch.sqrt(torch.where(r_sq > 0, r_sq, torch.ones_like(r_sq))) * (r_sq > 0)
        return COULOMB_EV_A * _erf_over_r(r, math.sqrt(2.0) * sigma)
    k_cut = 2.0 * math.pi / dl
    n = kspace_terms(cell, float(sigma), k_cut, float(switch_width))[0]
    recip, volume = _cell_geometry(cell)
    kvecs = n @ recip
    w = _weights((kvecs * kvecs).sum(dim=1), float(sigma), k_cut, float(switch_width))
    phase = positions @ kvecs.transpose(0, 1)
    cos, sin = torch.cos(phase), torch.sin(phase)
    scale = 2.0 * HALF_INV_EPSILON0_EV_A / volume
    return scale * ((cos * w) @ cos.transpose(0, 1) + (sin * w) @ sin.transpose(0, 1))


def _constrained_solve(
    matvec: Any,
    diag: torch.Tensor,
    chi: torch.Tensor,
    total: torch.Tensor,
    tol: float,
    max_iter: int,
    initial: torch.Tensor | None = None,
) -> torch.Tensor:
    """argmin chi.q + q.Hq/2 subject to sum q = total: projected preconditioned CG.

    Starts from the uniform feasible q = total/N; every search direction has zero sum (the Jacobi
    preconditioned residual projected onto the constraint in the metric of diag), so each
    iterate stays feasible; a warm start ``initial`` is first moved onto the constraint and judged
    against the residual of the uniform start. The gradient is kept without its component along 1
    (which tends to the chemical potential mu 1), so the inner products do not lose digits. One
    product H v per iteration; stops at a projected residual below ``tol`` times the initial one."""
    n = chi.shape[0]
    tol = max(tol, 50.0 * torch.finfo(chi.dtype).eps)  # float32: ~6e-6, round-off bound
    inv = 1.0 / diag
    x = (total / n) * torch.ones_like(chi)
    if initial is not None:  # warm start, moved onto the constraint
        x = initial.detach() + (total - initial.detach().sum()) / n
    r = matvec(x.unsqueeze(1)).squeeze(1) + chi  # gradient of the objective

    def project(v: torch.Tensor) -> torch.Tensor:
        mv = inv * v
        return mv - inv * (mv.sum() / inv.sum())

    g = project(r)
    r = diag * g  # = r - c 1: drops the part along 1 (it tends to mu 1, not 0; no cancellation)
    p = -g
    rg = (r * g).sum()
    # reference: the projected residual at the uniform start (a warm start is judged by the same
    # yardstick as a cold one): project(H 1 total/n + chi)
    uniform = (total / n) * torch.ones_like(chi)
    start = (
        float(project(matvec(uniform.unsqueeze(1)).squeeze(1) + chi).norm())
        if initial is not None
        else float(g.norm())
    )
    if start == 0.0 or float(g.norm()) == 0.0:
        return x
    for _ in range(max_iter + 1):
        if float(g.norm()) <= tol * start:
            break
        if _ == max_iter:
            raise RuntimeError(f"Qeq conjugate gradients did not converge to {tol:g} in {max_iter} "
                               "iterations; raise max_iter or use the dense solver")
        hp = matvec(p.unsqueeze(1)).squeeze(1)
        alpha = rg / (p * hp).sum()
        x = x + alpha * p
        r = r + alpha * hp
        g = project(r)
        r = diag * g
        rg_new = (r * g).sum()
        p = -g + (rg_new / rg) * p
        rg = rg_new
    return x


def _les_matvec(positions: torch.Tensor, cell: torch.Tensor | None, hardness: torch.Tensor,
                les: dict[str, Any]) -> Any:
    """v [N, K] -> H v with A v = dE_LES/dq at q = v (one LES gradient per column)."""
    r = positions.detach()
    c = None if cell is None else cell.detach()

    def matvec(v: torch.Tensor) -> torch.Tensor:
        cols = []
        for k in range(v.shape[1]):
            with torch.enable_grad():
                q = v[:, k].detach().requires_grad_(True)
                e = energy(q, r, c, subtract_self=False, **les)
                (g,) = torch.autograd.grad(e, q)
            cols.append(g)
        return torch.stack(cols, dim=1) + hardness.detach().unsqueeze(1) * v

    return matvec


def _diagonal(positions: torch.Tensor, cell: torch.Tensor | None, sigma: float, dl: float,
              width: float) -> float:
    """A_ii (eV/e²): the same for every atom."""
    if cell is None:
        return COULOMB_EV_A * math.sqrt(2.0 / math.pi) / sigma
    k_cut = 2.0 * math.pi / dl
    consts = kspace_terms(cell.detach(), float(sigma), k_cut, float(width))
    volume, w = consts[3], consts[4]
    return float(2.0 * HALF_INV_EPSILON0_EV_A / volume * w.sum())


class _QeqCG(torch.autograd.Function):
    """q* by CG; backward by implicit differentiation (module docstring)."""

    @staticmethod
    def forward(ctx, chi, hardness, positions, cell, total, les, tol, max_iter, initial):  # type: ignore[override]
        c = cell if cell.numel() else None
        diag = hardness.detach() + _diagonal(
            positions, c, les["sigma"], les["dl"], les["switch_width"]
        )
        matvec = _les_matvec(positions, c, hardness, les)
        q = _constrained_solve(matvec, diag, chi.detach(), total.detach(), tol, max_iter, initial)
        ctx.save_for_backward(chi, hardness, positions, cell, q)
        ctx.les, ctx.tol, ctx.max_iter = les, tol, max_iter
        return q

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        chi, hardness, positions, cell, q = ctx.saved_tensors
        c = cell if cell.numel() else None
        diag = hardness.detach() + _diagonal(positions, c, ctx.les["sigma"], ctx.les["dl"],
                                             ctx.les["switch_width"])
        matvec = _les_matvec(positions, c, hardness, ctx.les)
        w = _constrained_solve(matvec, diag, -g.detach(), g.new_zeros(()), ctx.tol, ctx.max_iter)
        grad_pos = grad_cell = None
        need_r, need_c = ctx.needs_input_grad[2], ctx.needs_input_grad[3] and c is not None
        if need_r or need_c:
            with torch.enable_grad():
                r = positions.detach().requires_grad_(need_r)
                cc = None if c is None else c.detach().requires_grad_(need_c)
                bilinear = 0.5 * (energy(q + w, r, cc, subtract_self=False, **ctx.les)
                                  - energy(q - w, r, cc, subtract_self=False, **ctx.les))
                inputs = [x for x, need in ((r, need_r), (cc, need_c)) if need]
                grads = torch.autograd.grad(-bilinear, inputs)
            grad_pos = grads[0] if need_r else None
            grad_cell = grads[-1] if need_c else None
        return -w, -w * q, grad_pos, grad_cell, None, None, None, None, None


def qeq_charges(chi: torch.Tensor, hardness: torch.Tensor, positions: torch.Tensor,
                cell: torch.Tensor | None = None, total_charge: float | torch.Tensor = 0.0, *,
                sigma: float = 1.0, dl: float = 2.0, method: str = "auto",
                switch_width: float = DEFAULT_SWITCH_WIDTH, solver: str = "auto",
                tol: float = 1e-8, max_iter: int = 1000,
                initial: torch.Tensor | None = None) -> torch.Tensor:
    """Equilibrated charges q* [N] (e) of one structure (module docstring for the math).

    ``hardness`` must be > 0 (eV/e²); ``total_charge`` is the constraint sum q (e). ``method``
    is the LES backend of the ``"cg"`` products (``"auto"`` | ``"ewald"`` | ``"pme"``);
    ``solver``: ``"dense"``, ``"cg"`` (relative residual ``tol``, at most ``max_iter``
    iterations; ``tol`` is raised to 50 machine epsilons of the dtype, about 6e-6 in float32) or
    ``"auto"`` (dense up to :data:`DENSE_MAX_ATOMS` atoms, CG above; the student asks for the
    dense solve whenever it builds a graph for force training). ``initial``: a starting guess
    for CG (e.g. the charges of the previous MD step; moved onto the constraint), ignored by the
    dense solve. Differentiable w.r.t. chi, hardness, positions and cell.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if hardness.numel() and not bool((hardness.detach() > 0).all()):
        raise ValueError(f"Qeq hardness must be > 0 eV/e^2, got min {float(hardness.min()):.3g}")
    total = torch.as_tensor(total_charge, dtype=chi.dtype, device=chi.device)
    n = chi.shape[0]
    if solver == "auto":
        solver = "dense" if n <= DENSE_MAX_ATOMS else "cg"
    if solver == "dense":
        h = coulomb_matrix(positions, cell, sigma=sigma, dl=dl, switch_width=switch_width)
        h = h + torch.diag_embed(hardness)
        x = torch.linalg.solve(h, torch.stack([-chi, torch.ones_like(chi)], dim=1))
        s, t = x[:, 0], x[:, 1]
        mu = (total - s.sum()) / t.sum()
        return s + mu * t
    les = {
        "sigma": float(sigma),
        "dl": float(dl),
        "method": method,
        "switch_width": float(switch_width),
    }
    empty = positions.new_zeros(0)
    return _QeqCG.apply(chi, hardness, positions, empty if cell is None else cell, total, les,
                        float(tol), int(max_iter), initial)


def qeq_energy(charges: torch.Tensor, chi: torch.Tensor, hardness: torch.Tensor,
               positions: torch.Tensor, cell: torch.Tensor | None = None, *, sigma: float = 1.0,
               dl: float = 2.0, method: str = "auto",
               switch_width: float = DEFAULT_SWITCH_WIDTH) -> torch.Tensor:
    r""":math:`E_\text{Qeq}` (eV) at ``charges``: sum(chi q + J q²/2) + LES energy with
    self-energy."""
    site = (chi * charges + 0.5 * hardness * charges * charges).sum()
    return site + energy(charges, positions, cell, sigma=sigma, dl=dl, method=method,
                         subtract_self=False, switch_width=switch_width)
