r"""Slab geometry: a cell periodic along :math:`\mathbf a_1, \mathbf a_2` with vacuum along the
normal.

A slab (surface, interface with a vacuum gap) is simulated in a 3D-periodic cell whose third
vector spans the slab plus a vacuum gap. The 3D Ewald sum then describes a stack of slabs that
interact through their dipoles; the correction below removes that interaction so the energy is
the one of a single 2D-periodic slab.

**Geometry.** :math:`\hat{\mathbf n} = (\mathbf a_1\times\mathbf a_2)/A` is the slab normal,
:math:`A = |\mathbf a_1\times\mathbf a_2|` the lateral area, :math:`V` the cell volume and
:math:`L = V/A` the period along :math:`\hat{\mathbf n}` (the height of the cell; :math:`\mathbf
a_3` need not be parallel to :math:`\hat{\mathbf n}`). :math:`z_i = \mathbf r_i\cdot\hat{\mathbf n}`
are taken as given (not wrapped): keep the slab away from the boundary along :math:`\hat{\mathbf n}`
(put the vacuum gap across it) and the gap wider than the lateral cell size.

**Correction** (``"yeh-berkowitz"``): with :math:`Q = \sum_i q_i`, :math:`M = \sum_i q_i z_i`,

.. math::

    E_\text{corr} = \frac{1}{2\varepsilon_0 V}\Big[M^2 - Q\sum_i q_i z_i^2
        - \frac{Q^2\sigma^2}{2} - \frac{Q^2L^2}{12}\Big]

(:math:`1/(2\varepsilon_0) = 2\pi k_e`). For a neutral cell this is the Yeh-Berkowitz term
:math:`2\pi k_e M^2/V` (Yeh & Berkowitz, J. Chem. Phys. 111, 3155 (1999)); the terms in
:math:`Q` are those of Ballenegger, Arnold & Cerdà, J. Chem. Phys. 131, 094107 (2009) for a
non-neutral slab with the uniform neutralising background of the 3D sum, plus
:math:`-Q^2\sigma^2/2` for the LES Gaussian charges (a pair interacts through
:math:`\mathrm{erf}(r/\sqrt2\sigma)/r`, k-space factor :math:`e^{-\sigma^2k^2/2}`: their separation
along :math:`\hat{\mathbf n}` is smeared with variance :math:`\sigma^2`). Derivation: the
:math:`\mathbf k_\parallel = 0` modes of the 3D sum are the 1D periodic energy of charged sheets,
:math:`\frac{\pi k_e}{A}\sum_{ij}q_iq_j\big(-|z_{ij}|_\sigma + (z_{ij}^2+\sigma^2)/L + L/6\big)`
for :math:`|z_{ij}| < L`; subtracting the isolated sheets' :math:`-\frac{\pi k_e}{A}\sum_{ij}
q_iq_j|z_{ij}|_\sigma` leaves exactly :math:`-E_\text{corr}`. The :math:`\mathbf k_\parallel\ne0`
modes differ from the 2D-periodic sum by the interaction with the images across the gap, which
decays as :math:`e^{-2\pi g/\ell}` (gap :math:`g`, lateral period :math:`\ell`). The corrected
energy is translation invariant along :math:`\hat{\mathbf n}` and tends to the 2D-periodic
energy as the gap grows (tested against a direct lateral image sum); without it the 3D energy is
off by :math:`2\pi k_e M^2/V`.

Forces and stress: :math:`E_\text{corr}` is a differentiable function of the positions and of
the cell (through :math:`\hat{\mathbf n}` and :math:`V`), so forces (:math:`-2\pi k_e\cdot2q_i(M -
Qz_i)\hat{\mathbf n}/V`) and the strain derivative come from autograd with the rest of the
energy. The stress of a slab cell is the strain derivative of the corrected energy over the
cell volume (vacuum included).

**Polarization** of a slab (:func:`slab_cell`): the phase form along :math:`\mathbf a_1,
\mathbf a_2` (periodic directions) and the plain dipole :math:`\sum_i q'_i z_i` along
:math:`\hat{\mathbf n}` (well defined in an open direction), see :mod:`lesdistill.les.response`.
"""

from __future__ import annotations

import torch

from lesdistill.units import HALF_INV_EPSILON0_EV_A

#: ``slab_correction`` values of :func:`lesdistill.les.energy` (and
# ``StudentConfig.les_slab_correction``).
SLAB_CORRECTIONS = ("none", "yeh-berkowitz")


def check_slab_correction(value: object) -> str:
    """The validated ``slab_correction`` name (ValueError naming the bad value otherwise)."""
    if value not in SLAB_CORRECTIONS:
        raise ValueError(f"slab_correction must be one of {SLAB_CORRECTIONS}, got {value!r}")
    return str(value)


def slab_frame(cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""(unit normal :math:`\hat{\mathbf n}` [3], lateral area A (Å²), volume V (Å³)) of a slab
    cell.

    ``cell`` rows are the lattice vectors (Å), right-handed; the slab plane is spanned by the
    first two. Differentiable w.r.t. ``cell``.
    """
    cross = torch.linalg.cross(cell[0], cell[1])
    area = torch.linalg.norm(cross)
    volume = (cross * cell[2]).sum()
    return cross / area, area, volume


def slab_cell(cell: torch.Tensor) -> torch.Tensor:
    r"""Cell with rows :math:`\mathbf a_1, \mathbf a_2, L\hat{\mathbf n}` (Å), [3, 3].

    Same lattice planes as ``cell`` along the periodic directions; its inverse gives the 2D
    fractional coordinates (first two columns) that do not depend on :math:`z`.
    """
    normal, area, volume = slab_frame(cell)
    return torch.stack((cell[0], cell[1], (volume / area) * normal))


def slab_correction_energy(
    charges: torch.Tensor, positions: torch.Tensor, cell: torch.Tensor, *, sigma: float
) -> torch.Tensor:
    r"""Slab correction (eV) added to the 3D LES energy (module docstring for the formula).

    :param charges: [N] latent charges (e). :param positions: [N, 3] (Å), not wrapped along the
        normal.
    :param cell: [3, 3] lattice rows (Å), right-handed; slab plane spanned by rows 0 and 1.
    :param sigma: Gaussian width of the charges (Å).
    :return: 0-d tensor (eV), differentiable w.r.t. charges, positions and cell.
    """
    normal, area, volume = slab_frame(cell)
    z = positions @ normal
    total = charges.sum()
    dipole = charges @ z
    second = charges @ (z * z)
    height_sq = (volume / area) ** 2
    bracket = (
        dipole * dipole - total * second - total * total * (0.5 * sigma * sigma + height_sq / 12.0)
    )
    return HALF_INV_EPSILON0_EV_A / volume * bracket
