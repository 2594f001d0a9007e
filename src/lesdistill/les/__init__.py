"""LES physics core: latent-charge long-range electrostatics and dielectric response.

Pure PyTorch (no ASE, no I/O); all functions take and return plain tensors.
Units: energy eV, length Å, charge e, time fs.

- :func:`energy` -- long-range energy of Gaussian-smeared latent charges (periodic, open, or a
  slab with vacuum along z: ``slab_correction="yeh-berkowitz"``, :mod:`lesdistill.les.slab`).
- :func:`polarization` -- polarization (periodic, phase form), dipole (open) or both (slab), e Å.
- :func:`born_effective_charges` -- Z*_iab = dP_a/dr_ib by autograd, e.
- :func:`dipole_current` -- dM/dt = sum_i Z*_i v_i without forming Z* (open: one Jacobian-vector
  product; periodic: six vector-Jacobian products sharing one forward pass), e Å/fs.
"""

from __future__ import annotations

from lesdistill.les.longrange import energy
from lesdistill.les.response import born_effective_charges, dipole_current, polarization

__all__ = ["born_effective_charges", "dipole_current", "energy", "polarization"]
