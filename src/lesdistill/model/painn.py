r"""Built-in backbone: PaiNN-style equivariant message passing in plain torch.

After Schütt, Unke, Gastegger, ICML 2021 ("Equivariant message passing for the prediction of
tensorial properties and molecular spectra"). Every atom carries invariant features
:math:`s_i\in\mathbb R^F` and equivariant vector features :math:`\vec v_i\in\mathbb R^{3\times F}`.
For each layer, with :math:`\hat r_{ij}` the unit edge vector and
:math:`W(r)=\mathrm{Lin}\big(\mathrm{RBF}(r)\,u(r)\big)` a filter from Bessel functions times a
smooth polynomial envelope :math:`u` (zero with two zero derivatives at the cutoff):

.. math::

    (x^s, x^{vv}, x^{vs})_{ij} = \phi(s_j)\circ W(r_{ij}),\quad
    \Delta s_i=\tfrac1{\sqrt{\bar n}}\sum_j x^s_{ij},\quad
    \Delta\vec v_i=\tfrac1{\sqrt{\bar n}}\sum_j x^{vv}_{ij}\vec v_j+x^{vs}_{ij}\hat r_{ij}

then the update :math:`(a^{vv},a^{sv},a^{ss})=\mathrm{MLP}(s_i,\lVert V\vec v_i\rVert)`,
:math:`\vec v_i\mathrel{+}=a^{vv}U\vec v_i`, :math:`s_i\mathrel{+}=a^{sv}\langle U\vec v_i,V\vec
v_i\rangle+a^{ss}`. The atomic energy (eV) is an MLP of the final :math:`s_i`; the features returned
to the charge head are :math:`s_i` (invariant). Cost is O(E F) per layer, E = number of edges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from lesdistill.model.backbone import Backbone, BesselBasis, PolynomialEnvelope

if TYPE_CHECKING:
    from lesdistill.data.batch import AtomicBatch
    from lesdistill.model.config import StudentConfig

_NORM_EPS = 1e-8  # keeps d|v|/dv finite at v = 0 (Å-free, features are dimensionless)


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SiLU(), nn.Linear(n_hidden, n_out))


class _Update(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.U = nn.Linear(channels, channels, bias=False)
        self.V = nn.Linear(channels, channels, bias=False)
        self.mlp = _mlp(2 * channels, channels, 3 * channels)

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        uv = self.U(v)  # [N, 3, F]
        vv = self.V(v)
        vnorm = torch.sqrt(vv.square().sum(dim=1) + _NORM_EPS)
        a_vv, a_sv, a_ss = self.mlp(torch.cat([s, vnorm], dim=-1)).split(self.channels, dim=-1)
        v = v + a_vv.unsqueeze(1) * uv
        s = s + a_sv * (uv * vv).sum(dim=1) + a_ss
        return s, v


class PaiNN(Backbone):
    """PaiNN backbone: ``config.channels`` features, ``config.layers`` layers, ``config.cutoff`` Å.

    Forward contract: see :class:`~lesdistill.model.backbone.Backbone`.
    """

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        n_elements = max(len(config.elements), 1)
        channels = config.channels
        self.feature_dim = channels
        self.channels = channels
        self.n_layers = config.layers
        self.inv_sqrt_neighbors = float(config.neighbor_normalization) ** -0.5
        self.embedding = nn.Embedding(n_elements, channels)
        self.rbf = BesselBasis(config.cutoff, config.n_rbf)
        self.envelope = PolynomialEnvelope(config.cutoff, config.envelope_exponent)
        # no bias: W(r) = Lin(rbf(r) u(r)) vanishes smoothly at the cutoff with the envelope u.
        # One small Linear per layer and message part: no [E, 3F] split/cat in the backward pass.
        # Layer 0 has no vector-vector part (all v are zero before the first message).
        self.parts = [("s", "vs") if layer == 0 else ("s", "vv", "vs") for layer in range(config.layers)]
        self.filters = nn.ModuleDict(
            {f"{layer}_{part}": nn.Linear(config.n_rbf, channels, bias=False)
             for layer, parts in enumerate(self.parts) for part in parts}
        )
        self.phis = nn.ModuleList(
            _mlp(channels, channels, len(parts) * channels) for parts in self.parts
        )
        self.updates = nn.ModuleList(_Update(channels) for _ in range(config.layers))
        self.readout = _mlp(channels, channels // 2, 1)

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
        batch: AtomicBatch,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_atoms = species.shape[0]
        F = self.channels
        i, j = edge_index[0], edge_index[1]
        r = torch.linalg.norm(edge_vectors, dim=-1)
        unit = edge_vectors / r.unsqueeze(-1)
        radial = self.rbf(r) * self.envelope(r).unsqueeze(-1)  # [E, n_rbf]
        unit_e = unit.unsqueeze(-1)  # [E, 3, 1]
        norm = self.inv_sqrt_neighbors

        s = self.embedding(species)
        v: torch.Tensor | None = None  # zero before the first message
        for layer in range(self.n_layers):
            phi = dict(zip(self.parts[layer], self.phis[layer](s).split(F, dim=-1)))  # node level
            w = {part: self.filters[f"{layer}_{part}"](radial) for part in self.parts[layer]}  # [E, F]
            x_s = phi["s"].index_select(0, j) * w["s"]  # [E, F]
            dv_edge = (phi["vs"].index_select(0, j) * w["vs"]).unsqueeze(1) * unit_e  # [E, 3, F]
            if v is not None:
                v_j = v.reshape(n_atoms, 3 * F).index_select(0, j).view(-1, 3, F)
                dv_edge = torch.addcmul(dv_edge, (phi["vv"].index_select(0, j) * w["vv"]).unsqueeze(1), v_j)
            ds = s.new_zeros(n_atoms, F).index_add_(0, i, x_s)
            dv = s.new_zeros(n_atoms, 3 * F).index_add_(0, i, dv_edge.reshape(-1, 3 * F)).view(n_atoms, 3, F)
            s = s + ds * norm
            v = dv * norm if v is None else v + dv * norm
            s, v = self.updates[layer](s, v)
        energies = self.readout(s).squeeze(-1)
        return s, energies
