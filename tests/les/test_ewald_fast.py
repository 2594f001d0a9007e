"""Fused direct k-sum (analytic backward, k-set cache) against the plain-autograd reference sum."""

from __future__ import annotations

import math

import pytest
import torch

import lesdistill.les.ewald as ewald
from lesdistill.les.ewald import (
    ewald_energy,
    half_space_kvectors,
    kspace_switch,
    self_energy_per_charge2,
)
from lesdistill.units import HALF_INV_EPSILON0_EV_A

SIGMA, DL, WIDTH = 1.0, 2.0, 0.1


def reference_energy(q, pos, cell, sigma=SIGMA, dl=DL, width=WIDTH):
    """The documented sum written with plain differentiable torch ops (no cache, no custom
    backward)."""
    k_cut = 2.0 * math.pi / dl
    k = half_space_kvectors(cell, k_cut * (1.0 + width))
    k_sq = (k * k).sum(dim=1)
    w = 2.0 * kspace_switch(k_sq.sqrt(), k_cut, width) * torch.exp(-0.5 * sigma**2 * k_sq) / k_sq
    phase = pos @ k.T
    s_re, s_im = q @ torch.cos(phase), q @ torch.sin(phase)
    e = HALF_INV_EPSILON0_EV_A / torch.linalg.det(cell) * (w * (s_re**2 + s_im**2)).sum()
    return e - self_energy_per_charge2(sigma, k_cut, width) * (q * q).sum()


def _leaves(make_system, cell, n=14, seed=3):
    q, pos = make_system(n, cell, seed=seed)
    return q.requires_grad_(True), pos.requires_grad_(True), cell.clone().requires_grad_(True)


@pytest.mark.parametrize("width", [WIDTH, 0.0])
@pytest.mark.parametrize("chunked", [False, True])
def test_energy_and_gradients_match_reference(
    make_system, triclinic_cell, monkeypatch, width, chunked
):
    if chunked:
        monkeypatch.setattr(
            ewald, "_CHUNK_ELEMENTS", 100
        )  # several chunks, phases recomputed in backward
    q, pos, cell = _leaves(make_system, triclinic_cell)
    e_ref = reference_energy(q, pos, cell, width=width)
    g_ref = torch.autograd.grad(e_ref, (q, pos, cell))
    e = ewald_energy(q, pos, cell, sigma=SIGMA, dl=DL, switch_width=width)
    g = torch.autograd.grad(e, (q, pos, cell))
    assert e.item() == pytest.approx(e_ref.item(), rel=1e-12, abs=1e-12)
    for a, b in zip(g, g_ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("chunked", [False, True])
def test_double_backward_matches_reference(make_system, triclinic_cell, monkeypatch, chunked):
    """create_graph=True (force/stress training): second derivatives w.r.t. q, r and cell."""
    if chunked:
        monkeypatch.setattr(ewald, "_CHUNK_ELEMENTS", 100)
    q, pos, cell = _leaves(make_system, triclinic_cell, n=10, seed=4)
    out = {}
    for name, fn in (
        ("fast", lambda *a: ewald_energy(*a, sigma=SIGMA, dl=DL)),
        ("ref", reference_energy),
    ):
        e = fn(q, pos, cell)
        f, gc = torch.autograd.grad(e, (pos, cell), create_graph=True)
        loss = (f**2).sum() + (gc**2).sum()
        out[name] = torch.autograd.grad(loss, (q, pos, cell))
    for a, b in zip(out["fast"], out["ref"]):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-10)


def test_gradcheck_and_gradgradcheck(make_system, cubic_cell):
    q, pos, cell = _leaves(make_system, cubic_cell, n=5, seed=5)

    def fn(q_, pos_, cell_):
        return ewald_energy(q_, pos_, cell_, sigma=SIGMA, dl=3.0)

    assert torch.autograd.gradcheck(fn, (q, pos, cell))
    assert torch.autograd.gradgradcheck(fn, (q, pos, cell))


def test_cache_identical_results_and_invalidated_by_cell_change(make_system, triclinic_cell):
    q, pos = make_system(12, triclinic_cell, seed=6)
    ewald._cached_kspace.cache_clear()
    e_cold = ewald_energy(q, pos, triclinic_cell, sigma=SIGMA, dl=DL)
    e_warm = ewald_energy(q, pos, triclinic_cell, sigma=SIGMA, dl=DL)
    assert ewald._cached_kspace.cache_info().hits >= 1
    assert e_warm.item() == e_cold.item()  # bitwise: cached k-set = freshly built one
    assert e_cold.item() == pytest.approx(
        reference_energy(q, pos, triclinic_cell).item(), rel=1e-12
    )
    # a strained cell (same atoms scaled with it) is a new key: the energy follows the new cell
    strain = torch.eye(3, dtype=torch.float64) + torch.tensor(
        [[0.03, 0.01, 0.0], [0.0, -0.02, 0.0], [0.0, 0.0, 0.05]]
    )
    cell2 = triclinic_cell @ strain
    pos2 = pos @ strain
    misses = ewald._cached_kspace.cache_info().misses
    e2 = ewald_energy(q, pos2, cell2, sigma=SIGMA, dl=DL)
    assert ewald._cached_kspace.cache_info().misses == misses + 1
    assert e2.item() == pytest.approx(reference_energy(q, pos2, cell2).item(), rel=1e-12)
    assert abs(e2.item() - e_cold.item()) > 1e-6
    ewald._cached_kspace.cache_clear()
    assert ewald_energy(q, pos2, cell2, sigma=SIGMA, dl=DL).item() == e2.item()


def test_cell_gradient_with_warm_cache_matches_finite_differences(make_system, triclinic_cell):
    """The cache holds the k-set only: a cell that requires grad still gets dE/dcell (stress)."""
    q, pos = make_system(12, triclinic_cell, seed=7)
    ewald_energy(q, pos, triclinic_cell, sigma=SIGMA, dl=DL)  # warm the cache for this cell
    cell = triclinic_cell.clone().requires_grad_(True)
    frac = pos @ torch.linalg.inv(triclinic_cell)
    # atoms move with the cell (fractional coordinates fixed): derivative of E(cell) along a strain
    # path
    (grad,) = torch.autograd.grad(ewald_energy(q, frac @ cell, cell, sigma=SIGMA, dl=DL), cell)
    direction = torch.tensor(
        [[0.3, -0.1, 0.2], [0.05, 0.4, -0.2], [0.1, 0.0, -0.3]], dtype=torch.float64
    )
    h = 1e-5

    def e_at(t):
        c = triclinic_cell + t * direction
        return ewald_energy(q, frac @ c, c, sigma=SIGMA, dl=DL).item()

    fd = (e_at(h) - e_at(-h)) / (2 * h)
    assert (grad * direction).sum().item() == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_float32_matches_float64(make_system, triclinic_cell):
    q, pos = make_system(30, triclinic_cell, seed=8)
    e64 = ewald_energy(q, pos, triclinic_cell, sigma=SIGMA, dl=DL)
    e32 = ewald_energy(q.float(), pos.float(), triclinic_cell.float(), sigma=SIGMA, dl=DL)
    assert e32.dtype == torch.float32
    assert e32.item() == pytest.approx(e64.item(), rel=1e-5)


def test_auto_method_threshold_depends_on_dtype():
    from lesdistill.les.pme import choose_method

    box = (
        torch.eye(3, dtype=torch.float64) * 12.42
    )  # 192 atoms of water: N K ~ 1.3e5, direct sum is faster
    assert choose_method(192, box, 2.0) == "ewald"
    box_480 = box * (480 / 192) ** (
        1 / 3
    )  # N K ~ 8e5: PME in float64, direct sum still faster in float32
    assert choose_method(480, box_480, 2.0) == "pme"
    assert choose_method(480, box_480.float(), 2.0) == "ewald"
    box_3000 = box * (3000 / 192) ** (1 / 3)
    assert choose_method(3000, box_3000.float(), 2.0) == "pme"


def test_cache_filled_under_inference_mode_still_serves_autograd(make_system, cubic_cell):
    q, pos = make_system(8, cubic_cell, seed=9)
    ewald._cached_kspace.cache_clear()
    with torch.inference_mode():
        e_inf = ewald_energy(q, pos, cubic_cell, sigma=SIGMA, dl=DL)
    q, pos, cell = (
        q.requires_grad_(True),
        pos.requires_grad_(True),
        cubic_cell.clone().requires_grad_(True),
    )
    e = ewald_energy(q, pos, cell, sigma=SIGMA, dl=DL)
    g = torch.autograd.grad(e, (q, pos, cell))
    g_ref = torch.autograd.grad(reference_energy(q, pos, cell), (q, pos, cell))
    assert e.item() == pytest.approx(e_inf.item(), rel=1e-12)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-11) for a, b in zip(g, g_ref))
