"""PME vs direct Ewald, stress (cell derivative) and continuity of the energy under cell changes."""

from __future__ import annotations

import pytest
import torch

from lesdistill.les import energy
from lesdistill.les.pme import choose_method, fft_size


def energy_forces_stress(q, pos, cell, **kw):
    """E (eV), forces (eV/Å) and stress (eV/Å^3, sigma_ab = (1/V) dE/d eps_ab) by autograd."""
    eps = torch.zeros(3, 3, dtype=pos.dtype, requires_grad=True)
    pos = pos.detach().requires_grad_(True)
    deform = torch.eye(3, dtype=pos.dtype) + eps
    e = energy(q, pos @ deform, cell @ deform, **kw)
    g_pos, g_eps = torch.autograd.grad(e, (pos, eps))
    return e.detach(), -g_pos, g_eps / torch.linalg.det(cell)


def water_like(n, seed, triclinic=False, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    length = (n / 0.1) ** (1 / 3)
    cell = torch.eye(3, dtype=torch.float64) * length
    if triclinic:
        cell = (
            torch.tensor([[1.0, 0, 0], [0.25, 0.95, 0], [-0.15, 0.2, 1.05]], dtype=torch.float64)
            * length
        )
    pos = torch.rand(n, 3, generator=gen, dtype=torch.float64) @ cell
    q = torch.randn(n, generator=gen, dtype=torch.float64)
    return (q - q.mean()).to(dtype), pos.to(dtype), cell.to(dtype)


@pytest.mark.parametrize("triclinic", [False, True])
def test_pme_matches_ewald_energy_forces_stress(triclinic):
    q, pos, cell = water_like(96, seed=21, triclinic=triclinic)
    e_ew, f_ew, s_ew = energy_forces_stress(q, pos, cell, method="ewald")
    e_pm, f_pm, s_pm = energy_forces_stress(q, pos, cell, method="pme")
    assert abs((e_pm - e_ew) / e_ew) < 1e-4
    assert (f_pm - f_ew).abs().max() / f_ew.abs().max() < 1e-3
    assert (s_pm - s_ew).abs().max() / s_ew.abs().max() < 1e-3
    # the PME error is controlled by the mesh: a coarse mesh is visibly worse (the test can fail)
    from lesdistill.les.pme import pme_energy

    coarse = pme_energy(q, pos, cell, sigma=1.0, dl=2.0, oversampling=1.0, order=3)
    assert abs((coarse - e_ew) / e_ew) > 1e-4


def test_pme_non_neutral_and_no_self_match_ewald(make_system, triclinic_cell):
    q, pos = make_system(10, triclinic_cell, seed=22, neutral=False)
    for kw in ({}, {"subtract_self": False}, {"sigma": 0.7, "dl": 1.5}):
        e_ew = energy(q, pos, triclinic_cell, method="ewald", **kw)
        e_pm = energy(q, pos, triclinic_cell, method="pme", **kw)
        assert abs((e_pm - e_ew) / e_ew).item() < 1e-4


@pytest.mark.parametrize("method", ["ewald", "pme"])
def test_stress_matches_finite_difference_strain(make_system, triclinic_cell, method):
    q, pos = make_system(6, triclinic_cell, seed=23)
    _, _, stress = energy_forces_stress(q, pos, triclinic_cell, method=method)
    volume = torch.linalg.det(triclinic_cell)
    h = 1e-6
    for a, b in [(0, 0), (1, 2), (2, 0), (2, 2)]:
        eps = torch.zeros(3, 3, dtype=torch.float64)
        eps[a, b] = h
        plus = energy(
            q,
            pos @ (torch.eye(3, dtype=torch.float64) + eps),
            triclinic_cell @ (torch.eye(3, dtype=torch.float64) + eps),
            method=method,
        )
        minus = energy(
            q,
            pos @ (torch.eye(3, dtype=torch.float64) - eps),
            triclinic_cell @ (torch.eye(3, dtype=torch.float64) - eps),
            method=method,
        )
        fd = (plus - minus) / (2 * h) / volume
        assert stress[a, b].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-9)
    assert torch.allclose(stress, stress.T, atol=1e-10)  # rotation invariance -> symmetric stress


def _cell_scan(q, frac, cell, factors, **kw):
    return torch.stack(
        [energy(q, frac @ (cell * f), cell * f, method="ewald", **kw) for f in factors]
    )


def test_energy_continuous_under_slow_cell_scan(make_system, cubic_cell):
    q, pos = make_system(8, cubic_cell, seed=24)
    frac = pos @ torch.linalg.inv(cubic_cell)
    factors = torch.linspace(1.0, 1.04, 401, dtype=torch.float64).tolist()
    smooth = _cell_scan(q, frac, cubic_cell, factors)
    hard = _cell_scan(q, frac, cubic_cell, factors, switch_width=0.0)
    step_smooth = (smooth[1:] - smooth[:-1]).abs()
    step_hard = (hard[1:] - hard[:-1]).abs()
    # smooth switch: steps vary smoothly (second differences tiny compared to steps)
    curv_smooth = (smooth[2:] - 2 * smooth[1:-1] + smooth[:-2]).abs().max()
    assert curv_smooth < 0.05 * step_smooth.max()
    # hard sphere |k| <= 2 pi / dl: k-vectors entering/leaving make the energy jump
    curv_hard = (hard[2:] - 2 * hard[1:-1] + hard[:-2]).abs().max()
    assert curv_hard > 0.5 * step_hard.median()
    assert curv_hard > 20 * curv_smooth


def test_auto_method_and_fft_size():
    assert fft_size(7) == 8 and fft_size(49) == 50 and fft_size(97) == 100 and fft_size(121) == 125
    q, pos, cell = water_like(24, seed=25)
    assert choose_method(24, cell, 2.0) == "ewald"
    assert energy(q, pos, cell).item() == pytest.approx(
        energy(q, pos, cell, method="ewald").item(), rel=1e-12
    )
    big = torch.eye(3, dtype=torch.float64) * (3000 / 0.1) ** (1 / 3)
    assert choose_method(3000, big, 2.0) == "pme"
    assert choose_method(3000, big, 20.0) == "ewald"  # few k-vectors: direct sum is cheap


def test_float32_matches_float64():
    q, pos, cell = water_like(48, seed=26)
    for method in ("ewald", "pme"):
        e64, f64, s64 = energy_forces_stress(q, pos, cell, method=method)
        e32, f32, s32 = energy_forces_stress(q.float(), pos.float(), cell.float(), method=method)
        assert e32.dtype == torch.float32 and f32.dtype == torch.float32
        assert abs((e32.double() - e64) / e64) < 1e-4
        assert (f32.double() - f64).abs().max() / f64.abs().max() < 1e-3
    e_open64 = energy(q, pos)
    assert energy(q.float(), pos.float()).item() == pytest.approx(e_open64.item(), rel=1e-5)


def test_double_backward_for_force_training(monkeypatch):
    """Training on forces needs d(forces)/d(charges): works for ewald (chunked or not) and pme."""
    import lesdistill.les.ewald as ewald_module

    q0, pos, cell = water_like(20, seed=27)
    grads = {}
    for name in ("ewald", "pme", "ewald-chunked"):
        if name == "ewald-chunked":
            monkeypatch.setattr(ewald_module, "_CHUNK_ELEMENTS", 200)  # many checkpointed chunks
        q = q0.clone().requires_grad_(True)
        x = pos.clone().requires_grad_(True)
        e = energy(q, x, cell, method=name.split("-")[0])
        (f,) = torch.autograd.grad(e, x, create_graph=True)
        (grads[name],) = torch.autograd.grad((f**2).sum(), q)
    assert torch.allclose(grads["ewald-chunked"], grads["ewald"], rtol=1e-10, atol=1e-12)
    assert (grads["pme"] - grads["ewald"]).abs().max() < 2e-3 * grads["ewald"].abs().max()
