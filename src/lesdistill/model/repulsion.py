r"""Screened nuclear repulsion (ZBL) at very short range: a safety wall for student MD.

A student has no training data where two atoms nearly touch, so nothing stops an under-trained
network from predicting an attractive energy there and letting atoms fuse in MD. This prior adds
the universal Ziegler-Biersack-Littmark pair repulsion

.. math::

    E_{ij}(r) = \frac{e^2}{4\pi\varepsilon_0}\,\frac{Z_iZ_j}{r}\,
        \phi\!\left(\frac{r}{a_{ij}}\right) s(r),\qquad
    a_{ij} = \frac{0.8854\,a_0}{Z_i^{0.23}+Z_j^{0.23}},

    \phi(x) = 0.18175\,e^{-3.19980x} + 0.50986\,e^{-0.94229x} + 0.28022\,e^{-0.40290x}
        + 0.02817\,e^{-0.20162x},

switched off by the quintic smoothstep :math:`s` (value, first and second derivative
continuous) between :math:`r_\text{out}/2` and
:math:`r_\text{out} = f\,(R^\text{cov}_i + R^\text{cov}_j)` with ASE's covalent radii and
:math:`f = 0.6` by default (as the type-wise ZBL cut-off of NEP). So the term is *exactly zero*
at every distance found in ordinary training data (O-H 0.58 Å, H-H 0.37 Å, O-O 0.79 Å, Ti-O
1.36 Å) and the network is trained and evaluated there as without it; below :math:`r_\text{out}`
the wall rises to tens of eV (O-H at 0.3 Å: 103 eV).

Reference: J. F. Ziegler, J. P. Biersack, U. Littmark, *The Stopping and Range of Ions in
Solids* (Pergamon, 1985).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lesdistill.units import BOHR_RADIUS_A, COULOMB_EV_A

SCREENING_LENGTH_A = 0.8854 * BOHR_RADIUS_A  # 0.46853 Å
PHI_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
PHI_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)
DEFAULT_RADIUS_FRACTION = 0.6


def zbl_energy(r: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
    """Unswitched ZBL pair energy (eV) at distances ``r`` (Å) for atomic numbers ``z_i``, ``z_j``."""
    a = SCREENING_LENGTH_A / (z_i.pow(0.23) + z_j.pow(0.23))
    x = r / a
    phi = sum(c * torch.exp(-b * x) for c, b in zip(PHI_COEFFICIENTS, PHI_EXPONENTS))
    return COULOMB_EV_A * z_i * z_j / r * phi


def smoothstep_off(r: torch.Tensor, r_out: torch.Tensor) -> torch.Tensor:
    """1 below r_out/2, 0 above r_out, quintic (C2) in between."""
    t = ((r - 0.5 * r_out) / (0.5 * r_out)).clamp(0.0, 1.0)
    return 1.0 - t * t * t * (10.0 - 15.0 * t + 6.0 * t * t)


class ZBLRepulsion(nn.Module):
    """Per-atom share of the switched ZBL repulsion over a *full* neighbour list (eV).

    Args:
        atomic_numbers: Z of each element index of the model, in order.
        radius_fraction: f in r_out = f (R_cov_i + R_cov_j); must keep r_out inside the model cutoff.
    """

    def __init__(self, atomic_numbers: Sequence[int], radius_fraction: float = DEFAULT_RADIUS_FRACTION) -> None:
        super().__init__()
        from ase.data import covalent_radii

        if not 0.0 < radius_fraction <= 1.0:
            raise ValueError(f"radius_fraction must be in (0, 1], got {radius_fraction!r}")
        numbers = [int(z) for z in atomic_numbers]
        self.radius_fraction = float(radius_fraction)
        self.register_buffer("z", torch.tensor(numbers, dtype=torch.float64), persistent=False)
        self.register_buffer(
            "radius", torch.tensor([covalent_radii[z] for z in numbers], dtype=torch.float64), persistent=False
        )

    @property
    def max_range(self) -> float:
        """Largest r_out over element pairs, Å."""
        return float(2.0 * self.radius_fraction * self.radius.max())

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """species [N] element indices, edge_index [2, E] (full list), vectors [E, 3] r_j - r_i (Å)
        -> per-atom energies [N] (half of every pair on each atom), eV."""
        out = vectors.new_zeros(species.shape[0])
        if edge_index.shape[1] == 0:
            return out
        i, j = edge_index[0], edge_index[1]
        s_i, s_j = species[i], species[j]
        r_out = self.radius_fraction * (self.radius[s_i] + self.radius[s_j]).to(vectors.dtype)
        r2 = (vectors * vectors).sum(dim=1)
        close = r2 < r_out * r_out
        if not bool(close.any()):
            return out
        r = r2[close].clamp_min(1e-12).sqrt()
        z = self.z.to(vectors.dtype)
        pair = zbl_energy(r, z[s_i[close]], z[s_j[close]]) * smoothstep_off(r, r_out[close])
        return out.index_add(0, i[close], 0.5 * pair)
