r"""Total-charge and spin embedding of the student (``StudentConfig.charge_spin_embedding``).

Each structure b has a state :math:`s_b = (Q_b, M_b - 1)`: total charge (e) and the number of
unpaired electrons (multiplicity :math:`M = 2S+1`). An MLP maps it to a feature vector
:math:`\mathbf u_b` that is added to the backbone features of every atom of b, so the latent
charges (or Qeq electronegativities) depend on the state; a second MLP on the shifted features
adds a per-atom energy :math:`e^\text{state}_i`. Its last layer starts at zero: an untrained
embedding changes no energy. A structure without a multiplicity counts as a singlet (M = 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from lesdistill.data.batch import AtomicBatch

__all__ = ["StateEmbedding"]


class StateEmbedding(nn.Module):
    """(Q, M - 1) per structure -> feature shift [N, F] and per-atom energy [N] (eV)."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        hidden = max(feature_dim // 2, 1)
        self.embed = nn.Sequential(
            nn.Linear(2, feature_dim), nn.SiLU(), nn.Linear(feature_dim, feature_dim)
        )
        self.energy = nn.Sequential(nn.Linear(feature_dim, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        last = self.energy[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(
        self, features: torch.Tensor, batch: AtomicBatch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        charge = batch.total_charge.to(features.dtype)
        spin = batch.spin_multiplicity
        unpaired = torch.zeros_like(charge) if spin is None else spin.to(features.dtype) - 1.0
        shift = self.embed(torch.stack([charge, unpaired], dim=1)).index_select(0, batch.batch)
        shifted = features + shift
        return shifted, self.energy(shifted).squeeze(-1)
