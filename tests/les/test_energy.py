"""LES long-range energy: analytic cases, brute-force k-sum, Madelung constants, derivatives."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lesdistill.les import energy
from lesdistill.units import COULOMB_EV_A

KE = COULOMB_EV_A


def test_open_two_charges_analytic():
    r = 2.3
    pos = torch.tensor([[0.1, -0.2, 0.3], [0.1, -0.2 + r, 0.3]], dtype=torch.float64)
    q = torch.tensor([0.7, -1.2], dtype=torch.float64)
    for sigma in (0.5, 1.0, 1.7):
        expected = KE * 0.7 * -1.2 * math.erf(r / (math.sqrt(2.0) * sigma)) / r
        assert energy(q, pos, sigma=sigma).item() == pytest.approx(expected, rel=1e-12)
        # self term: sum q^2 k_e / (sigma sqrt(2 pi)) added back when not subtracted
        full = energy(q, pos, sigma=sigma, subtract_self=False).item()
        assert full - expected == pytest.approx(
            KE * (0.49 + 1.44) / (sigma * math.sqrt(2 * math.pi)), rel=1e-12
        )


def _smoothstep_switch(k, kc, width):
    if width == 0:
        return float(k <= kc)
    lo, hi = kc * (1 - width), kc * (1 + width)
    t = np.clip((k - lo) / (hi - lo), 0.0, 1.0)
    return 1.0 - (10 * t**3 - 15 * t**4 + 6 * t**5)


def _brute_force_ksum(q, pos, cell, sigma, dl, width):
    """Independent O(N K) reference: loops over the full integer cube, both k and -k."""
    q, pos, cell = (np.asarray(x, dtype=np.float64) for x in (q, pos, cell))
    recip = 2 * np.pi * np.linalg.inv(cell).T
    kc = 2 * np.pi / dl
    nmax = 12
    total = 0.0
    for n in itertools.product(range(-nmax, nmax + 1), repeat=3):
        if n == (0, 0, 0):
            continue
        k = np.array(n, dtype=np.float64) @ recip
        kk = float(np.linalg.norm(k))
        if kk >= kc * (1 + width):
            continue
        s = np.sum(q * np.exp(1j * pos @ k))
        total += (
            _smoothstep_switch(kk, kc, width)
            * np.exp(-0.5 * sigma**2 * kk**2)
            / kk**2
            * abs(s) ** 2
        )
    volume = np.linalg.det(cell)
    return 2 * np.pi * KE / volume * total  # 1/(2 eps0) = 2 pi k_e


@pytest.mark.parametrize("width", [0.0, 0.1, 0.3])
def test_periodic_matches_brute_force_ksum(make_system, triclinic_cell, width):
    q, pos = make_system(6, triclinic_cell, seed=1)
    sigma, dl = 1.0, 2.0
    ref = _brute_force_ksum(q, pos, triclinic_cell, sigma, dl, width)
    got = energy(
        q,
        pos,
        triclinic_cell,
        sigma=sigma,
        dl=dl,
        method="ewald",
        switch_width=width,
        subtract_self=False,
    )
    assert got.item() == pytest.approx(ref, rel=1e-10, abs=1e-12)


def _real_space_point_minus_gauss(q, pos, cell, sigma, rcut):
    """1/2 sum_{i,j,n}' q_i q_j k_e erfc(r/(sqrt2 sigma))/r over images: point charges minus
    Gaussians."""
    q, pos, cell = (np.asarray(x, dtype=np.float64) for x in (q, pos, cell))
    nrep = [int(math.ceil(rcut / h)) + 1 for h in np.abs(np.linalg.det(cell)) / np.linalg.norm(
        np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)]
    total = 0.0
    for n in itertools.product(*(range(-m, m + 1) for m in nrep)):
        shift = np.array(n, dtype=np.float64) @ cell
        d = pos[None, :, :] - pos[:, None, :] + shift
        r = np.linalg.norm(d, axis=-1)
        mask = (r > 1e-12) & (r < rcut)
        total += np.sum(
            (
                q[:, None]
                * q[None, :]
                * np.vectorize(math.erfc)(r / (math.sqrt(2) * sigma))
                / np.where(mask, r, 1.0)
            )[mask]
        )
    return 0.5 * KE * total


@pytest.mark.parametrize(
    "name, frac, charges, cell_factor, nn_factor, madelung",
    [
        # NaCl rock salt, conventional cubic cell; nearest neighbour a/2; M = 1.747565
        (
            "NaCl",
            [
                [0, 0, 0],
                [0, 0.5, 0.5],
                [0.5, 0, 0.5],
                [0.5, 0.5, 0],
                [0.5, 0, 0],
                [0, 0.5, 0],
                [0, 0, 0.5],
                [0.5, 0.5, 0.5],
            ],
            [1, 1, 1, 1, -1, -1, -1, -1],
            1.0,
            0.5,
            1.747565,
        ),
        # CsCl, simple cubic cell; nearest neighbour sqrt(3) a/2; M = 1.762675
        ("CsCl", [[0, 0, 0], [0.5, 0.5, 0.5]], [1, -1], 1.0, math.sqrt(3) / 2, 1.762675),
    ],
)
def test_madelung_constants(name, frac, charges, cell_factor, nn_factor, madelung):
    a = 4.0
    cell = torch.eye(3, dtype=torch.float64) * a * cell_factor
    pos = torch.tensor(frac, dtype=torch.float64) @ cell
    q = torch.tensor(charges, dtype=torch.float64)
    sigma = 0.8
    # Gaussian part, converged k-sum (dl small), self-energy subtracted; then point-charge
    # correction
    e_gauss = energy(q, pos, cell, sigma=sigma, dl=0.4, method="ewald").item()
    e_point = e_gauss + _real_space_point_minus_gauss(q, pos, cell, sigma, rcut=9.0)
    n_pairs = len(charges) // 2
    m = -e_point / n_pairs * (a * nn_factor) / KE
    assert m == pytest.approx(madelung, abs=2e-6)


def test_big_box_approaches_open_boundary(make_system):
    # a neutral, dipole-free cluster in a large box: images interact only through multipoles >=
    # quadrupole
    pos = torch.tensor(
        [[0, 0, 0], [1.1, 0, 0], [-1.1, 0, 0], [0, 1.1, 0], [0, -1.1, 0]], dtype=torch.float64
    )
    q = torch.tensor([-2.0, 0.5, 0.5, 0.5, 0.5], dtype=torch.float64)
    cell = 30.0 * torch.eye(3, dtype=torch.float64)
    e_open = energy(q, pos).item()
    e_per = energy(q, pos + 15.0, cell, dl=0.5, method="ewald").item()
    assert e_per == pytest.approx(e_open, rel=2e-4)


def test_default_dl_accuracy_is_bounded(make_system, triclinic_cell):
    """The k-filter at dl = 2 Å changes the energy by a small amount vs the converged sum."""
    q, pos = make_system(12, triclinic_cell, seed=3)
    e2 = energy(q, pos, triclinic_cell, method="ewald").item()
    e_conv = energy(q, pos, triclinic_cell, dl=0.4, method="ewald").item()
    e_conv2 = energy(q, pos, triclinic_cell, dl=0.3, method="ewald").item()
    assert e_conv == pytest.approx(e_conv2, rel=1e-10)  # converged
    per_charge2 = abs(e2 - e_conv) / float((q * q).sum())
    assert 1e-6 < per_charge2 < 5e-3  # eV / e^2; not exact, but small


def test_non_neutral_background_convention(cubic_cell):
    """Non-neutral: k = 0 dropped (neutralising background). One charge alone has a finite energy
    that scales as 1/L (like the Madelung energy of a jellium-compensated lattice)."""
    q = torch.tensor([1.0], dtype=torch.float64)
    pos = torch.zeros(1, 3, dtype=torch.float64)
    e = [
        energy(q, pos, cubic_cell * s, sigma=0.5, dl=0.5, method="ewald").item() for s in (1.0, 2.0)
    ]
    assert np.isfinite(e).all()
    # point charge in a neutralising background: E = -k_e M_sc / (2 L), M_sc = 2.837297 (simple
    # cubic);
    # the Gaussian smearing adds the k -> 0 limit of (exp(-sigma^2 k^2/2) - 1)/k^2: + pi k_e sigma^2
    # q^2 / V
    for s, e_s in zip((1.0, 2.0), e):
        length = 8.0 * s
        expected = -KE * 2.837297 / (2 * length) + math.pi * KE * 0.5**2 / length**3
        assert e_s == pytest.approx(expected, rel=1e-6)
    # a uniform shift of all charges is not an invariance: energy changes with net charge
    q2 = torch.tensor([1.0, -1.0], dtype=torch.float64)
    pos2 = torch.tensor([[0, 0, 0], [4.0, 4.0, 4.0]], dtype=torch.float64)
    e_neutral = energy(q2, pos2, cubic_cell, method="ewald").item()
    e_shifted = energy(q2 + 0.3, pos2, cubic_cell, method="ewald").item()
    assert abs(e_shifted - e_neutral) > 1e-3


def test_forces_and_charge_gradient_finite_difference(make_system, triclinic_cell):
    q, pos = make_system(5, triclinic_cell, seed=4)
    pos.requires_grad_(True)
    q.requires_grad_(True)
    e = energy(q, pos, triclinic_cell, method="ewald")
    g_pos, g_q = torch.autograd.grad(e, (pos, q))
    h = 1e-5
    with torch.no_grad():
        for i, a in [(0, 0), (2, 1), (4, 2)]:
            dp = torch.zeros_like(pos)
            dp[i, a] = h
            fd = (
                energy(q, pos + dp, triclinic_cell, method="ewald")
                - energy(q, pos - dp, triclinic_cell, method="ewald")
            ) / (2 * h)
            assert g_pos[i, a].item() == pytest.approx(fd.item(), rel=1e-6, abs=1e-8)
        dq = torch.zeros_like(q)
        dq[1] = h
        fd = (
            energy(q + dq, pos, triclinic_cell, method="ewald")
            - energy(q - dq, pos, triclinic_cell, method="ewald")
        ) / (2 * h)
        assert g_q[1].item() == pytest.approx(fd.item(), rel=1e-6)


def test_open_forces_finite_difference(make_system):
    q, pos = make_system(6, None, seed=5)
    pos.requires_grad_(True)
    (g,) = torch.autograd.grad(energy(q, pos, sigma=0.9), pos)
    h = 1e-5
    with torch.no_grad():
        dp = torch.zeros_like(pos)
        dp[3, 1] = h
        fd = (energy(q, pos + dp, sigma=0.9) - energy(q, pos - dp, sigma=0.9)) / (2 * h)
    assert g[3, 1].item() == pytest.approx(fd.item(), rel=1e-7)
