"""A sign convention for latent charges.

Energies and forces are invariant under q -> -q for all atoms of a neutral structure (the LES
energy is quadratic in q), so a student trained on them alone learns charges of an arbitrary
global sign. Chemists expect the more electronegative atoms to carry the negative charge; this
module fixes that convention after training, by flipping the last layer of the charge head
(an exact symmetry of the model: every energy and force is unchanged, every charge, BEC and
dipole current changes sign).

Convention: with Pauling electronegativities chi (table below), the covariance
s = sum_i q_i (chi_i - <chi>) over a set of structures must be negative. Not applied (the sign is
then physical or undecidable) when a structure carries a net charge, when BEC labels fixed the
sign during training, or when an element has no tabulated electronegativity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from lesdistill.data.batch import AtomicBatch
    from lesdistill.model.student import StudentModel

#: Pauling electronegativities (dimensionless) of the common elements.
PAULING_ELECTRONEGATIVITY: dict[int, float] = {
    1: 2.20, 3: 0.98, 4: 1.57, 5: 2.04, 6: 2.55, 7: 3.04, 8: 3.44, 9: 3.98,
    11: 0.93, 12: 1.31, 13: 1.61, 14: 1.90, 15: 2.19, 16: 2.58, 17: 3.16,
    19: 0.82, 20: 1.00, 21: 1.36, 22: 1.54, 23: 1.63, 24: 1.66, 25: 1.55, 26: 1.83, 27: 1.88,
    28: 1.91, 29: 1.90, 30: 1.65, 31: 1.81, 32: 2.01, 33: 2.18, 34: 2.55, 35: 2.96,
    37: 0.82, 38: 0.95, 39: 1.22, 40: 1.33, 41: 1.60, 42: 2.16, 44: 2.20, 45: 2.28, 46: 2.20,
    47: 1.93, 48: 1.69, 49: 1.78, 50: 1.96, 51: 2.05, 52: 2.10, 53: 2.66,
    55: 0.79, 56: 0.89, 57: 1.10, 72: 1.30, 73: 1.50, 74: 2.36, 78: 2.28, 79: 2.54, 80: 2.00,
    82: 2.33, 83: 2.02,
}


def charge_electronegativity_covariance(
    numbers: torch.Tensor, charges: torch.Tensor
) -> float | None:
    """s = sum_i q_i (chi_i - <chi>) (e); None when an element has no tabulated chi.

    :param numbers: atomic numbers [N]. :param charges: latent charges [N] (e).
    """
    z = numbers.detach().cpu().tolist()
    if any(int(n) not in PAULING_ELECTRONEGATIVITY for n in z):
        return None
    chi = torch.tensor([PAULING_ELECTRONEGATIVITY[int(n)] for n in z], dtype=torch.float64)
    q = charges.detach().cpu().to(torch.float64)
    return float((q * (chi - chi.mean())).sum())


def follows_convention(model: StudentModel, batches: Sequence[AtomicBatch]) -> bool | None:
    """True/False whether ``model``'s latent charges on ``batches`` (AtomicBatch) follow the
    convention (electronegative atoms negative); None when it cannot be decided."""
    total = 0.0
    with torch.no_grad():
        for batch in batches:
            s = charge_electronegativity_covariance(batch.numbers, model.latent_charges(batch))
            if s is None:
                return None
            total += s
    if total == 0.0:
        return None
    return total < 0.0


def flip_charge_sign(model: StudentModel) -> None:
    """Negate every latent charge of ``model`` in place (last linear layer of its charge head).

    Exact for neutral structures; energies and forces are unchanged.
    """
    last = model.charge_head[-1]
    if not isinstance(last, torch.nn.Linear):
        raise TypeError(
            f"the charge head must end in a Linear layer to flip its sign; got {last!r}"
        )
    with torch.no_grad():
        last.weight.neg_()
        if last.bias is not None:
            last.bias.neg_()
