"""Slab geometry: the Yeh-Berkowitz correction against a direct 2D-periodic image sum, forces,
stress, and the slab polarization / Born effective charges (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lesdistill.les import born_effective_charges, dipole_current, energy, polarization
from lesdistill.les.response import response_terms
from lesdistill.les.slab import slab_correction_energy
from lesdistill.units import COULOMB_EV_A
from tests.les.test_response import anisotropic_charges

SIGMA = 1.0
A1 = np.array([6.0, 0.0, 0.0])
A2 = np.array([1.0, 6.5, 0.0])


def _slab_system(n: int = 6, seed: int = 0, neutral: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Charges (e) and positions (Å): laterally anywhere in the cell, heights in [0, 4] Å."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=n)
    if neutral:
        q -= q.mean()
    frac = rng.random((n, 2))
    pos = frac[:, :1] * A1 + frac[:, 1:] * A2
    pos[:, 2] = 4.0 * rng.random(n)
    return q, pos


def _cell(height: float, tilt: float = 0.0) -> torch.Tensor:
    return torch.tensor(np.array([A1, A2, [tilt, 0.5 * tilt, height]]), dtype=torch.float64)


def _direct_2d_energy(q: np.ndarray, pos: np.ndarray, r_in: float) -> float:
    """Energy (eV) of Gaussian charges periodic along A1, A2 only, by a direct sum over the
    laterally replicated neutral cells (self-interaction excluded).

    Convergent scheme: each image cell R enters with a smooth weight w(|R|) (C2 quintic step from
    1 at ``r_in`` to 0 at 3 ``r_in``, Å), plus the analytic disk average of the cells' dipole-dipole
    interaction k_e (p_z^2 - p_par^2 / 2) / R^3 times (1 - w) beyond (2D density 2 pi R / A);
    the remaining error falls as r_in^-3 (quadrupole terms) and is removed by Richardson
    extrapolation from r_in and 1.5 r_in.
    """
    from scipy.special import erf

    def weight(r, lo, hi):
        t = np.clip((r - lo) / (hi - lo), 0.0, 1.0)
        return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t)

    area = float(np.linalg.norm(np.cross(A1, A2)))
    p = (q[:, None] * pos).sum(0)
    dipolar = math.pi * COULOMB_EV_A / area * (p[2] ** 2 - 0.5 * (p[0] ** 2 + p[1] ** 2))
    x, wq = np.polynomial.legendre.leggauss(64)

    def tapered(lo: float) -> float:
        hi = 3.0 * lo
        n_max = int(hi / (0.9 * min(np.linalg.norm(A1), np.linalg.norm(A2)))) + 2
        m = np.arange(-n_max, n_max + 1)
        shifts = (m[:, None, None] * A1 + m[None, :, None] * A2).reshape(-1, 3)
        shifts = shifts[np.linalg.norm(shifts, axis=1) <= hi]
        d = pos[None, :, None, :] - pos[:, None, None, :] + shifts[None, None, :, :]  # [i, j, R, 3]
        r = np.linalg.norm(d, axis=-1)
        self_pair = r < 1e-12
        r_safe = np.where(self_pair, 1.0, r)
        pair = np.where(self_pair, 0.0, erf(r_safe / (math.sqrt(2.0) * SIGMA)) / r_safe)
        cells = 0.5 * COULOMB_EV_A * np.einsum("i,j,ijr->r", q, q, pair)
        radii = 0.5 * (hi - lo) * x + 0.5 * (hi + lo)
        beyond = 1.0 / hi + 0.5 * (hi - lo) * float(
            np.sum(wq * (1.0 - weight(radii, lo, hi)) / radii**2)
        )
        return float(cells @ weight(np.linalg.norm(shifts, axis=1), lo, hi)) + dipolar * beyond

    e1, e2 = tapered(r_in), tapered(1.5 * r_in)
    return e2 + (e2 - e1) / (1.5**3 - 1.0)


def _les(q, pos, cell, slab: str, dl: float = 1.0, **kw) -> torch.Tensor:
    return energy(
        torch.as_tensor(q),
        torch.as_tensor(pos),
        cell,
        sigma=SIGMA,
        dl=dl,
        method="ewald",
        slab_correction=slab,
        **kw,
    )


def test_corrected_3d_energy_converges_to_the_2d_periodic_sum():
    q, pos = _slab_system(seed=1)
    reference = _direct_2d_energy(q, pos, 100.0)
    # the reference itself is converged: a smaller taper gives the same number
    assert abs(_direct_2d_energy(q, pos, 70.0) - reference) < 1e-7
    dipole_z = float(q @ pos[:, 2])
    area = float(np.linalg.norm(np.cross(A1, A2)))
    for height in (24.0, 48.0):
        shifted = pos + np.array([0.0, 0.0, 0.5 * height - 2.0])  # slab in the middle of the cell
        cell = _cell(height)
        corrected = float(_les(q, shifted, cell, "yeh-berkowitz"))
        plain = float(_les(q, shifted, cell, "none"))
        assert corrected == pytest.approx(reference, abs=1e-7)
        # the uncorrected 3D sum is off by the dipole term 2 pi k_e M_z^2 / V (> 1 meV here)
        expected_error = 2.0 * math.pi * COULOMB_EV_A * dipole_z**2 / (area * height)
        assert expected_error > 1e-3
        assert plain - reference == pytest.approx(-expected_error, rel=1e-3)


def test_charged_slab_energy_is_independent_of_the_gap_and_of_the_height():
    q, pos = _slab_system(seed=2, neutral=False)
    assert abs(q.sum()) > 0.1
    values, plain = [], []
    for height, offset in ((24.0, 10.0), (40.0, 18.0), (40.0, 21.0)):
        cell = _cell(height, tilt=0.7)
        shifted = pos + np.array([0.0, 0.0, offset])
        values.append(float(_les(q, shifted, cell, "yeh-berkowitz")))
        plain.append(float(_les(q, shifted, cell, "none")))
    assert max(values) - min(values) < 1e-6  # gap and translation along z do not matter
    assert abs(plain[1] - plain[0]) > 0.1  # the uncorrected charged slab depends on the gap


def test_slab_forces_and_stress_by_finite_differences():
    q, pos = _slab_system(n=5, seed=3, neutral=False)
    q_t = torch.as_tensor(q)
    pos_t = torch.as_tensor(pos + np.array([0.0, 0.0, 8.0])).requires_grad_(True)
    cell = _cell(20.0, tilt=0.9).requires_grad_(True)
    eps = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)

    def strained(e):
        f = torch.eye(3, dtype=torch.float64) + 0.5 * (e + e.T)
        return _les(q_t, pos_t @ f, cell @ f, "yeh-berkowitz", dl=1.5)

    total = strained(eps)
    forces, d_eps = torch.autograd.grad(total, (pos_t, eps))
    h = 1e-5
    for i, b in [(0, 2), (3, 0), (4, 2)]:
        dp = torch.zeros_like(pos_t)
        dp[i, b] = h
        with torch.no_grad():
            e_p = _les(q_t, pos_t + dp, cell, "yeh-berkowitz", dl=1.5)
            e_m = _les(q_t, pos_t - dp, cell, "yeh-berkowitz", dl=1.5)
        assert float(forces[i, b]) == pytest.approx(float(e_p - e_m) / (2 * h), rel=1e-6, abs=1e-8)
    for a, b in [(0, 0), (2, 2), (0, 2)]:
        de = torch.zeros(3, 3, dtype=torch.float64)
        de[a, b] = h
        with torch.no_grad():
            fd = float(strained(de) - strained(-de)) / (2 * h)
        sym = 0.5 * float(d_eps[a, b] + d_eps[b, a])
        assert sym == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_slab_correction_alone_matches_the_formula_and_vanishes_when_off():
    q, pos = _slab_system(seed=4)
    cell = _cell(30.0)
    corr = float(
        slab_correction_energy(torch.as_tensor(q), torch.as_tensor(pos), cell, sigma=SIGMA)
    )
    area = float(np.linalg.norm(np.cross(A1, A2)))
    assert corr == pytest.approx(
        2 * math.pi * COULOMB_EV_A * float(q @ pos[:, 2]) ** 2 / (area * 30.0), rel=1e-12
    )
    with pytest.raises(ValueError, match="slab_correction must be one of"):
        _les(q, pos, cell, "yb")
    with pytest.raises(ValueError, match="needs a periodic cell"):
        _les(q, pos, None, "yeh-berkowitz")


def test_slab_polarization_is_phase_form_in_plane_and_dipole_along_z():
    q, pos = _slab_system(seed=5)
    q_t, pos_t = torch.as_tensor(q), torch.as_tensor(pos + np.array([0.0, 0.0, 6.0]))
    cell = torch.tensor(np.array([[6.0, 0, 0], [0, 6.5, 0], [0, 0, 20.0]]))
    p_slab = polarization(q_t, pos_t, cell, slab=True)
    p_bulk = polarization(q_t, pos_t, cell)
    assert torch.allclose(p_slab[:2], p_bulk[:2], atol=1e-12)
    qn = q_t - q_t.mean()
    assert float(p_slab[2]) == pytest.approx(float(qn @ pos_t[:, 2]), rel=1e-12)
    # a tilted third vector changes neither the in-plane phase form nor the dipole along the normal
    tilted = cell.clone()
    tilted[2, :2] = torch.tensor([2.0, -1.0], dtype=torch.float64)
    assert torch.allclose(polarization(q_t, pos_t, tilted, slab=True), p_slab, atol=1e-12)


def test_slab_bec_matches_finite_differences_of_the_normal_dipole():
    q0, pos = _slab_system(n=6, seed=6)
    q0_t = torch.as_tensor(q0)
    pos_t = torch.as_tensor(pos + np.array([0.0, 0.0, 6.0]))
    cell = torch.tensor(np.array([[6.0, 0, 0], [0, 6.5, 0], [0, 0, 20.0]]))
    fn = anisotropic_charges(q0_t, cell)
    z_slab = born_effective_charges(fn, pos_t, cell, slab=True)
    z_bulk = born_effective_charges(fn, pos_t, cell)
    assert torch.allclose(z_slab[:, :2], z_bulk[:, :2], atol=1e-12)  # in-plane rows: phase form
    h = 1e-6
    for i, b in [(0, 2), (2, 0), (5, 1), (4, 2)]:
        dp = torch.zeros_like(pos_t)
        dp[i, b] = h
        p_p = polarization(fn(pos_t + dp), pos_t + dp, cell, slab=True)[2]
        p_m = polarization(fn(pos_t - dp), pos_t - dp, cell, slab=True)[2]
        assert float(z_slab[i, 2, b]) == pytest.approx(
            float(p_p - p_m) / (2 * h), rel=1e-6, abs=1e-8
        )
    assert (z_slab[:, 2] - z_bulk[:, 2]).abs().max() > 1e-3  # the normal row is not the phase form
    assert torch.allclose(
        z_slab.sum(0)[2], torch.zeros(3, dtype=torch.float64), atol=1e-10
    )  # ASR along z
    # the dipole current and the cached response terms agree with Z* v
    v = torch.as_tensor(np.random.default_rng(7).normal(size=(6, 3)))
    expected = torch.einsum("iab,ib->a", z_slab, v)
    assert torch.allclose(dipole_current(fn, pos_t, v, cell, slab=True), expected, atol=1e-10)
    x = pos_t.clone().requires_grad_(True)
    terms = response_terms(fn(x), x, cell, slab=True)
    assert torch.allclose(terms.born_effective_charges(), z_slab, atol=1e-12)
    assert torch.allclose(terms.dipole_current(v), expected, atol=1e-10)
