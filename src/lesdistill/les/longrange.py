r"""Public entry point for the LES long-range energy, with the choice of backend.

See :mod:`lesdistill.les.ewald` for the math (Gaussian-smeared Coulomb energy, smooth k-filter,
self term, neutralising background) and :mod:`lesdistill.les.pme` for the mesh backend.
"""

from __future__ import annotations

import torch

from lesdistill.les.ewald import DEFAULT_SWITCH_WIDTH, ewald_energy, open_energy
from lesdistill.les.slab import check_slab_correction, slab_correction_energy
from lesdistill.les.validation import (
    check_cell,
    check_charges,
    check_positions,
    check_positive,
)

METHODS = ("auto", "ewald", "pme")


def energy(
    charges: torch.Tensor,
    positions: torch.Tensor,
    cell: torch.Tensor | None = None,
    *,
    sigma: float = 1.0,
    dl: float = 2.0,
    method: str = "auto",
    subtract_self: bool = True,
    switch_width: float = DEFAULT_SWITCH_WIDTH,
    slab_correction: str = "none",
    validate: bool = True,
) -> torch.Tensor:
    r"""Long-range LES energy of Gaussian-smeared latent charges (eV).

    Periodic (``cell`` given):

    .. math::

        E = \frac{1}{2V\varepsilon_0}\sum_{\mathbf k\neq0} w(|\mathbf k|)
            \frac{e^{-\sigma^2k^2/2}}{k^2}\Big|\sum_i q_i e^{i\mathbf k\cdot\mathbf r_i}\Big|^2
            - E_\text{self}

    with :math:`1/(2\varepsilon_0)` = 90.4756 eV Å/e², a C² switch :math:`w` centred on
    :math:`k_c = 2\pi/d_l` (relative half-width ``switch_width``), :math:`\mathbf k = 0` dropped
    (uniform neutralising background for non-neutral charges) and, by default, the filtered
    Gaussian self-energy removed (:math:`\to k_e\sum_i q_i^2/(\sigma\sqrt{2\pi})` as
    :math:`d_l\to0`). Open (``cell=None``):
    :math:`E = k_e\sum_{i<j} q_iq_j\,\mathrm{erf}(r_{ij}/\sqrt2\sigma)/r_{ij}`.

    :param charges: [N] latent charges (e), float32 or float64.
    :param positions: [N, 3] Cartesian positions (Å), same dtype/device.
    :param cell: None (open boundary) or [3, 3] lattice vectors as rows (Å), right-handed.
    :param sigma: Gaussian smearing width (Å), > 0.
    :param dl: k-space cut-off wavelength (Å), > 0; smaller is more accurate and more expensive.
    :param method: ``"ewald"`` (direct k-sum, O(N·K)), ``"pme"`` (torch-pme particle mesh,
        O(N log N), same filtered energy to ~1e-5 relative), or ``"auto"`` (PME when the direct
        sum's work N x K exceeds :data:`lesdistill.les.pme.AUTO_PME_MIN_WORK` (float64) or
        ``AUTO_PME_MIN_WORK_FLOAT32``, i.e. above ~400 (float64) or ~500 (float32) atoms of water
        at the defaults). Open systems always use the exact pair sum.
    :param subtract_self: remove the Gaussian self-energy (default True).
    :param switch_width: relative half-width of the k-space switch (0 = hard cut, not NPT-safe).
    :param slab_correction: ``"none"`` (bulk, default) or ``"yeh-berkowitz"``: the cell is a slab
        periodic along its first two vectors with vacuum along the normal; the correction of
        :mod:`lesdistill.les.slab` (Yeh-Berkowitz, with the Ballenegger-Arnold-Cerdà terms of a
        non-neutral slab) is added so the energy is that of one 2D-periodic slab. Needs ``cell``.
    :param validate: check the tensors' values (finite, cell not singular or left-handed), which
        reads them on the host; ``False`` for callers that validated their inputs at their own
        boundary (the student model inside an MD step: no device sync). Shapes and the other
        arguments are checked either way.
    :return: 0-d tensor (eV), differentiable w.r.t. charges, positions and cell
        (forces = -dE/dr; stress = (1/V) dE/dε from the cell gradient).
    :raises TypeError, ValueError: bad shapes, dtypes, non-finite values, singular or left-handed
        cell, non-positive ``sigma``/``dl``, unknown ``method``.
    """
    positions = check_positions(positions, finite=validate)
    charges = check_charges(charges, positions, finite=validate)
    cell = check_cell(cell, positions)
    sigma = check_positive(sigma, "sigma")
    dl = check_positive(dl, "dl")
    if (
        isinstance(switch_width, bool)
        or not isinstance(switch_width, (int, float))
        or not 0.0 <= switch_width < 1.0
    ):
        raise ValueError(f"switch_width must be a number in [0, 1), got {switch_width!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    slab = check_slab_correction(slab_correction) != "none"
    if slab and cell is None:
        raise ValueError(
            "slab_correction needs a periodic cell (its first two vectors span the slab); "
            "got cell=None: use slab_correction='none' for an open structure"
        )
    if cell is None:
        return open_energy(charges, positions, sigma=sigma, subtract_self=subtract_self)
    if method == "auto":
        from lesdistill.les.pme import choose_method

        method = choose_method(positions.shape[0], cell, dl, switch_width)
    if method == "pme":
        from lesdistill.les.pme import pme_energy

        out = pme_energy(
            charges,
            positions,
            cell,
            sigma=sigma,
            dl=dl,
            switch_width=switch_width,
            subtract_self=subtract_self,
        )
    else:
        out = ewald_energy(
            charges,
            positions,
            cell,
            sigma=sigma,
            dl=dl,
            switch_width=switch_width,
            subtract_self=subtract_self,
        )
    if slab:
        out = out + slab_correction_energy(charges, positions, cell, sigma=sigma)
    return out
