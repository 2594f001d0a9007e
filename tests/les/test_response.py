"""Polarization, Born effective charges and dipole current from latent charges."""

from __future__ import annotations

import math

import pytest
import torch

from lesdistill.les import born_effective_charges, dipole_current, polarization


def fixed_charges(q):
    return lambda pos: q.to(pos.dtype) + 0.0 * pos.sum()


def anisotropic_charges(q0, cell=None):
    """Charges that depend anisotropically on neighbours (gives an asymmetric Z*)."""
    w = torch.tensor([0.7, -0.2, 0.4], dtype=q0.dtype)
    m = torch.tensor([[0.3, 0.5, 0.0], [-0.1, 0.2, 0.4], [0.2, 0.0, -0.3]], dtype=q0.dtype)

    def fn(pos):
        d = pos.unsqueeze(0) - pos.unsqueeze(1)  # [N, N, 3], r_j - r_i
        if cell is not None:  # minimum image (smooth enough away from half-cell distances)
            frac = d @ torch.linalg.inv(cell)
            d = (frac - torch.round(frac.detach())) @ cell
        r2 = (d * d).sum(-1)
        env = torch.exp(-r2 / 4.0)
        directional = torch.tanh(d @ w) * env
        quad = torch.einsum("ija,ab,ijb->ij", d, m, d) * env
        return q0 + 0.3 * directional.sum(1) + 0.05 * quad.sum(1)

    return fn


def test_open_polarization_is_neutralised_dipole():
    q = torch.tensor([1.0, -0.5, 0.2], dtype=torch.float64)
    pos = torch.tensor([[0, 0, 0], [1.0, 2.0, 0], [0, 0, 3.0]], dtype=torch.float64)
    qn = q - q.mean()
    expected = (qn[:, None] * pos).sum(0)
    assert torch.allclose(polarization(q, pos), expected)
    # translation invariant thanks to the neutralisation; eps_inf scales by sqrt
    assert torch.allclose(
        polarization(q, pos + torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)), expected
    )
    assert torch.allclose(polarization(q, pos, eps_inf=4.0), 2.0 * expected)


@pytest.mark.parametrize("cell_name", [None, "cubic", "triclinic"])
def test_fixed_charges_give_q_identity(make_system, cubic_cell, triclinic_cell, cell_name):
    cell = {"cubic": cubic_cell, "triclinic": triclinic_cell, None: None}[cell_name]
    q, pos = make_system(7, cell, seed=11)
    z = born_effective_charges(fixed_charges(q), pos, cell)
    expected = q[:, None, None] * torch.eye(3, dtype=torch.float64)
    assert torch.allclose(z, expected, atol=1e-12)
    z2 = born_effective_charges(fixed_charges(q), pos, cell, eps_inf=2.25)
    assert torch.allclose(z2, 1.5 * expected, atol=1e-12)


def test_open_bec_matches_finite_difference_and_is_asymmetric(make_system):
    q0, pos = make_system(6, None, seed=12)
    fn = anisotropic_charges(q0)
    z = born_effective_charges(fn, pos)
    h = 1e-6
    for i, b in [(0, 0), (3, 1), (5, 2)]:
        dp = torch.zeros_like(pos)
        dp[i, b] = h
        fd = (polarization(fn(pos + dp), pos + dp) - polarization(fn(pos - dp), pos - dp)) / (2 * h)
        assert torch.allclose(z[i, :, b], fd, rtol=1e-6, atol=1e-8)
    assert (z - z.transpose(1, 2)).abs().max() > 1e-2  # asymmetric: catches index-order mistakes
    assert torch.allclose(
        z.sum(0), torch.zeros(3, 3, dtype=torch.float64), atol=1e-10
    )  # acoustic sum rule


def _dephased_phase_form_fd(fn, pos, cell, i, b, h=1e-6):
    """Reference Z*_i[:, b] from finite differences of the complex phase form (independent code)."""
    inv = torch.linalg.inv(cell)

    def ptilde(p):
        q = fn(p)
        q = q - q.mean()
        s = p @ inv
        return (q.to(torch.complex128)[:, None] * torch.exp(2j * math.pi * s)).sum(0) / (
            2j * math.pi
        )

    dp = torch.zeros_like(pos)
    dp[i, b] = h
    deriv = (ptilde(pos + dp) - ptilde(pos - dp)) / (2 * h)  # [3] over lattice directions a
    phase = torch.exp(-2j * math.pi * (pos[i] @ inv))
    frac = (phase * deriv).real
    return frac @ cell  # through the cell: sum_a frac_a * a_a


def test_periodic_bec_matches_dephased_phase_form(make_system, triclinic_cell):
    q0, pos = make_system(6, triclinic_cell, seed=13)
    fn = anisotropic_charges(q0, triclinic_cell)
    z = born_effective_charges(fn, pos, triclinic_cell)
    for i, b in [(0, 0), (2, 1), (4, 2)]:
        ref = _dephased_phase_form_fd(fn, pos, triclinic_cell, i, b)
        assert torch.allclose(z[i, :, b], ref, rtol=1e-6, atol=1e-8)
    assert (z - z.transpose(1, 2)).abs().max() > 1e-2
    # the dephased phase form obeys the acoustic sum rule only approximately (charge transfer
    # enters with sin(2 pi ds)/2 pi instead of ds): small but nonzero
    assert z.sum(0).abs().max() < 0.1 * z.abs().max()


def test_periodic_bec_with_graph_is_differentiable(make_system, triclinic_cell):
    """create_graph=True: same Z*, and d(sum W*Z)/dr matches finite differences of Z* itself
    (the phases' own position dependence must be in the graph, not only the charges')."""
    q0, pos = make_system(5, triclinic_cell, seed=21)
    fn = anisotropic_charges(q0, triclinic_cell)
    weights = torch.randn(5, 3, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    p = pos.clone().requires_grad_(True)
    z = born_effective_charges(fn, p, triclinic_cell, create_graph=True)
    assert torch.allclose(
        z.detach(), born_effective_charges(fn, pos, triclinic_cell), rtol=1e-12, atol=1e-14
    )
    (grad,) = torch.autograd.grad((weights * z).sum(), p)
    h = 1e-5
    for i, b in [(0, 0), (3, 2)]:
        dp = torch.zeros_like(pos)
        dp[i, b] = h
        plus = (weights * born_effective_charges(fn, pos + dp, triclinic_cell)).sum()
        minus = (weights * born_effective_charges(fn, pos - dp, triclinic_cell)).sum()
        assert grad[i, b].item() == pytest.approx(
            ((plus - minus) / (2 * h)).item(), rel=1e-5, abs=1e-8
        )


@pytest.mark.parametrize("cell_name", [None, "triclinic"])
def test_dipole_current_equals_z_dot_v(make_system, triclinic_cell, cell_name):
    cell = triclinic_cell if cell_name else None
    q0, pos = make_system(8, cell, seed=14)
    fn = anisotropic_charges(q0, cell)
    v = torch.randn(8, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.01
    z = born_effective_charges(fn, pos, cell, eps_inf=1.7)
    expected = torch.einsum("iab,ib->a", z, v)
    got = dipole_current(fn, pos, v, cell, eps_inf=1.7)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
    wrong = torch.einsum("iba,ib->a", z, v)  # transposed Z: must differ
    assert (wrong - expected).abs().max() > 1e-4


def test_open_dipole_current_is_time_derivative_of_dipole(make_system):
    q0, pos = make_system(5, None, seed=15)
    fn = anisotropic_charges(q0)
    v = torch.randn(5, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    dt = 1e-6
    fd = (
        polarization(fn(pos + dt * v), pos + dt * v) - polarization(fn(pos - dt * v), pos - dt * v)
    ) / (2 * dt)
    assert torch.allclose(dipole_current(fn, pos, v), fd, rtol=1e-6, atol=1e-9)


def test_dipole_crossing_periodic_boundary_is_continuous(cubic_cell):
    q = torch.tensor([0.8, -0.8], dtype=torch.float64)
    sep = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    values = []
    for z in torch.linspace(6.0, 10.0, 401, dtype=torch.float64):  # crosses the face at z = 8 Å
        centre = torch.tensor([2.0, 3.0, float(z)], dtype=torch.float64)
        pos = torch.stack([centre + sep / 2, centre - sep / 2])
        pos = (
            pos - torch.floor(pos @ torch.linalg.inv(cubic_cell)) @ cubic_cell
        )  # wrap into the cell
        values.append(polarization(q, pos, cubic_cell))
    p = torch.stack(values)
    steps = (p[1:] - p[:-1]).abs().max()
    assert steps < 1e-10  # a rigid translation does not change P at all, wrapping included
    # first Fourier component of the charge density, centred on the dipole: 2 q sin(pi d / L) L / (2
    # pi)
    expected = 2 * 0.8 * math.sin(math.pi * 1.0 / 8.0) * 8.0 / (2 * math.pi)
    assert p[0, 2].item() == pytest.approx(expected, rel=1e-10)
    assert p[0, 2].item() == pytest.approx(0.8 * 1.0, rel=0.03)  # ~ q d for a small dipole


def test_periodic_polarization_small_displacement_matches_ionic(cubic_cell):
    """In a compact molecule straddling the boundary, moving one charge by dz changes P by ~ q
    dz."""
    q = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=torch.float64)
    pos = torch.tensor(
        [[1.0, 1.0, 7.99], [1.0, 1.0, 7.4], [1.5, 1.0, 0.3], [1.5, 1.0, 0.8]], dtype=torch.float64
    )
    dz = 1e-5
    moved = pos.clone()
    moved[0, 2] = (moved[0, 2] + dz) % 8.0
    wrapped = moved.clone()
    wrapped[0, 2] += 0.02 - dz
    wrapped[0, 2] %= 8.0  # now across the boundary at z ~ 0.01
    dp = (polarization(q, moved, cubic_cell) - polarization(q, pos, cubic_cell)) / dz
    assert dp[2].item() == pytest.approx(1.0, rel=0.1)
    # crossing the boundary: P changes by ~ q * 0.02 Å, no jump of q * L
    jump = polarization(q, wrapped, cubic_cell) - polarization(q, pos, cubic_cell)
    assert jump[2].item() == pytest.approx(0.02, rel=0.1)


def test_charge_fn_with_internal_autograd(make_system):
    """charge_fn may itself differentiate through positions (e.g. a model using forces)."""
    q0, pos = make_system(5, None, seed=16)

    def fn(p):
        energy = (p**2).sum(1).sin().sum()
        (g,) = torch.autograd.grad(energy, p, create_graph=True)
        return q0 + 0.1 * g[:, 0]

    z = born_effective_charges(fn, pos)
    v = torch.ones(5, 3, dtype=torch.float64)
    assert torch.allclose(dipole_current(fn, pos, v), torch.einsum("iab,ib->a", z, v), rtol=1e-10)
    # create_graph: Z itself is differentiable w.r.t. positions
    p = pos.clone().requires_grad_(True)
    zg = born_effective_charges(fn, p, create_graph=True)
    (gz,) = torch.autograd.grad(zg.sum(), p)
    assert torch.isfinite(gz).all() and gz.abs().max() > 0


def test_response_bad_inputs(make_system):
    q, pos = make_system(3, None)
    with pytest.raises(TypeError, match="charge_fn"):
        born_effective_charges("not callable", pos)
    with pytest.raises(ValueError, match="charge_fn must return"):
        born_effective_charges(lambda p: p.sum(1, keepdim=True), pos)
    with pytest.raises(ValueError, match="velocities"):
        dipole_current(fixed_charges(q), pos, torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="eps_inf"):
        polarization(q, pos, eps_inf=-1.0)


@pytest.mark.parametrize("cell_name", [None, "triclinic"])
def test_response_in_float32(make_system, triclinic_cell, cell_name):
    cell = triclinic_cell if cell_name else None
    q0, pos = make_system(6, cell, seed=17)
    fn64 = anisotropic_charges(q0, cell)
    fn32 = anisotropic_charges(q0.float(), None if cell is None else cell.float())
    z64 = born_effective_charges(fn64, pos, cell)
    z32 = born_effective_charges(fn32, pos.float(), None if cell is None else cell.float())
    assert z32.dtype == torch.float32
    assert torch.allclose(z32.double(), z64, atol=1e-4)
    v = torch.full((6, 3), 0.01, dtype=torch.float64)
    m32 = dipole_current(fn32, pos.float(), v.float(), None if cell is None else cell.float())
    assert m32.dtype == torch.float32
    assert torch.allclose(m32.double(), dipole_current(fn64, pos, v, cell), atol=1e-6)
    p32 = polarization(fn32(pos.float()), pos.float(), None if cell is None else cell.float())
    assert torch.allclose(p32.double(), polarization(fn64(pos), pos, cell), atol=1e-4)
