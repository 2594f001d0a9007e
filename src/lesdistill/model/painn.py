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


def _message_reference(
    phi_s: torch.Tensor, phi_vs: torch.Tensor, phi_vv: torch.Tensor | None, w_s: torch.Tensor,
    w_vs: torch.Tensor, w_vv: torch.Tensor | None, unit: torch.Tensor, v: torch.Tensor | None,
    i: torch.Tensor, j: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One PaiNN message in plain differentiable torch ops (the reference of
    :class:`_FusedMessage`).

    ``phi_*`` [N, F] node parts of :math:`\phi(s_j)`, ``w_*`` [E, F] filters :math:`W(r_{ij})`,
    ``unit`` [E, 3] :math:`\hat r_{ij}`, ``v`` [N, 3, F] or None (layer 0, no vector-vector part).
    Returns the unnormalised sums (ds [N, F], dv [N, 3, F]).
    """
    n_atoms, F = phi_s.shape
    x_s = phi_s.index_select(0, j) * w_s  # [E, F]
    dv_edge = (phi_vs.index_select(0, j) * w_vs).unsqueeze(1) * unit.unsqueeze(-1)  # [E, 3, F]
    if v is not None:
        v_j = v.reshape(n_atoms, 3 * F).index_select(0, j).view(-1, 3, F)
        dv_edge = torch.addcmul(dv_edge, (phi_vv.index_select(0, j) * w_vv).unsqueeze(1), v_j)
    ds = phi_s.new_zeros(n_atoms, F).index_add_(0, i, x_s)
    dv = (
        phi_s.new_zeros(n_atoms, 3 * F)
        .index_add_(0, i, dv_edge.reshape(-1, 3 * F))
        .view(n_atoms, 3, F)
    )
    return ds, dv


def _message_grads(
    phi_s, phi_vs, phi_vv, w_s, w_vs, w_vv, unit, v, i, j, g_s, g_v, needs
) -> list[torch.Tensor | None]:
    """Gradients of :func:`_message_reference` w.r.t. its first eight inputs (None where not
    needed), in differentiable ops: the backward of :class:`_FusedMessage` under create_graph."""
    n_atoms, F = phi_s.shape
    n_edges = j.shape[0]
    out: list[torch.Tensor | None] = [None] * 8

    def to_nodes(values: torch.Tensor) -> torch.Tensor:
        return values.new_zeros((n_atoms,) + values.shape[1:]).index_add(0, j, values)

    gi_s = g_s.index_select(0, i)
    if needs[0]:
        out[0] = to_nodes(gi_s * w_s)
    if needs[3]:
        out[3] = gi_s * phi_s.index_select(0, j)
    gi_v = g_v.reshape(n_atoms, 3 * F).index_select(0, i).view(n_edges, 3, F)
    pj_vs = phi_vs.index_select(0, j)
    if needs[6]:
        out[6] = (gi_v * (pj_vs * w_vs).unsqueeze(1)).sum(dim=2)
    if needs[1] or needs[4]:
        gx = (gi_v * unit.unsqueeze(2)).sum(dim=1)
        out[1] = to_nodes(gx * w_vs) if needs[1] else None
        out[4] = gx * pj_vs if needs[4] else None
    if v is not None:
        pj_vv = phi_vv.index_select(0, j)
        if needs[2] or needs[5]:
            v_j = v.reshape(n_atoms, 3 * F).index_select(0, j).view(n_edges, 3, F)
            gx = (gi_v * v_j).sum(dim=1)
            out[2] = to_nodes(gx * w_vv) if needs[2] else None
            out[5] = gx * pj_vv if needs[5] else None
        if needs[7]:
            out[7] = to_nodes((gi_v * (pj_vv * w_vv).unsqueeze(1)).reshape(n_edges, 3 * F)).view(
                n_atoms, 3, F
            )
    return out


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[index]`` for a 2-d ``x`` by ``torch.gather`` (faster than index_select on CPU here)."""
    return torch.gather(x, 0, index.unsqueeze(1).expand(-1, x.shape[1]))


class _FusedMessage(torch.autograd.Function):
    r"""PaiNN message (:func:`_message_reference`) that neither saves nor keeps the [E, 3, F] edge
    tensors: the forward builds the vector messages in one reused buffer, the backward gathers
    :math:`G_{v,i}` and :math:`\vec v_j` once and contracts them in place:

    .. math::

        \partial x^{vs}_{e} = \textstyle\sum_c G_{i_e c}\,\hat r_{ec},\quad
        \partial\hat r_{ec} = \sum_f G_{i_e cf}\,x^{vs}_{ef},\quad
        \partial x^{vv}_{e} = \sum_c G_{i_e c}\,v_{j_e c},\quad
        \partial\vec v_m = \sum_{e: j_e = m} G_{i_e}\,x^{vv}_e,

    with :math:`x^{p}_e = \phi^{p}_{j_e} W^{p}_e`, then :math:`\partial\phi^p = \sum_{e\to j}
    \partial x^p W^p` and :math:`\partial W^p = \partial x^p\,\phi^p_j`. Saved: only node tensors,
    the [E, F] filters and the [E, 3] unit vectors. Under ``create_graph`` (force training, double
    backward) the backward evaluates the same formulas in out-of-place differentiable ops
    (:func:`_message_grads`), so the gradient is itself differentiable.
    """

    @staticmethod
    def forward(ctx, phi_s, phi_vs, phi_vv, w_s, w_vs, w_vv, unit, v, i, j):  # type: ignore[override]
        n_atoms, F = phi_s.shape
        n_edges = j.shape[0]
        x_vs = _rows(phi_vs, j).mul_(w_vs)
        if v is not None:
            edge = _rows(v.reshape(n_atoms, 3 * F), j).view(n_edges, 3, F)
            edge.mul_(_rows(phi_vv, j).mul_(w_vv).unsqueeze(1))
            edge.addcmul_(unit.unsqueeze(-1), x_vs.unsqueeze(1))
        else:
            edge = torch.mul(unit.unsqueeze(-1), x_vs.unsqueeze(1))
        dv = (
            phi_s.new_zeros(n_atoms, 3 * F)
            .index_add_(0, i, edge.view(n_edges, 3 * F))
            .view(n_atoms, 3, F)
        )
        del edge
        x_s = _rows(phi_s, j).mul_(w_s)
        ds = phi_s.new_zeros(n_atoms, F).index_add_(0, i, x_s)
        ctx.save_for_backward(phi_s, phi_vs, phi_vv, w_s, w_vs, w_vv, unit, v, i, j)
        return ds, dv

    @staticmethod
    def backward(ctx, g_s, g_v):  # type: ignore[override]
        phi_s, phi_vs, phi_vv, w_s, w_vs, w_vv, unit, v, i, j = ctx.saved_tensors
        needs = ctx.needs_input_grad[:8]
        if torch.is_grad_enabled():  # create_graph: the same formulas in differentiable ops
            return (
                *_message_grads(
                    phi_s, phi_vs, phi_vv, w_s, w_vs, w_vv, unit, v, i, j, g_s, g_v, needs
                ),
                None,
                None,
            )
        n_atoms, F = phi_s.shape
        n_edges = j.shape[0]
        out: list[torch.Tensor | None] = [None] * 8
        # scalar part
        gi_s = _rows(g_s, i)  # [E, F]
        if needs[0]:
            out[0] = phi_s.new_zeros(n_atoms, F).index_add_(0, j, gi_s * w_s)
        if needs[3]:
            out[3] = gi_s.mul_(_rows(phi_s, j))
        del gi_s
        # vector part
        gi_v = _rows(g_v.reshape(n_atoms, 3 * F), i).view(n_edges, 3, F)
        pj_vs = _rows(phi_vs, j)
        if needs[6]:  # d unit[e, c] = sum_f G[i_e, c, f] x_vs[e, f]
            out[6] = torch.bmm(gi_v, (pj_vs * w_vs).unsqueeze(2)).squeeze(2)
        if needs[1] or needs[4]:  # d x_vs = sum_c G[i_e, c] unit[e, c]
            gx = gi_v[:, 0] * unit[:, 0:1]
            gx.addcmul_(gi_v[:, 1], unit[:, 1:2]).addcmul_(gi_v[:, 2], unit[:, 2:3])
            if needs[1]:
                out[1] = phi_s.new_zeros(n_atoms, F).index_add_(0, j, gx * w_vs)
            if needs[4]:
                out[4] = gx.mul_(pj_vs)
        del pj_vs
        if v is not None:
            pj_vv = _rows(phi_vv, j)
            if needs[2] or needs[5]:  # d x_vv = sum_c G[i_e, c] v[j_e, c]
                v_j = _rows(v.reshape(n_atoms, 3 * F), j).view(n_edges, 3, F)
                gx = gi_v[:, 0] * v_j[:, 0]
                gx.addcmul_(gi_v[:, 1], v_j[:, 1]).addcmul_(gi_v[:, 2], v_j[:, 2])
                del v_j
                if needs[2]:
                    out[2] = phi_s.new_zeros(n_atoms, F).index_add_(0, j, gx * w_vv)
                if needs[5]:
                    out[5] = gx.mul_(pj_vv)
            if needs[7]:  # d v_m = sum_{e: j_e = m} G[i_e] x_vv[e]
                gi_v.mul_(pj_vv.mul_(w_vv).unsqueeze(1))
                out[7] = (
                    phi_s.new_zeros(n_atoms, 3 * F)
                    .index_add_(0, j, gi_v.view(n_edges, 3 * F))
                    .view(n_atoms, 3, F)
                )
        return (*out, None, None)


def painn_message(
    phi_s: torch.Tensor, phi_vs: torch.Tensor, phi_vv: torch.Tensor | None, w_s: torch.Tensor,
    w_vs: torch.Tensor, w_vv: torch.Tensor | None, unit: torch.Tensor, v: torch.Tensor | None,
    i: torch.Tensor, j: torch.Tensor, fused: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PaiNN message sums (ds [N, F], dv [N, 3, F]); ``fused`` uses :class:`_FusedMessage`
    (same values; the plain version is used while ``torch.compile`` traces, which fuses it
    itself)."""
    if fused and not torch.compiler.is_compiling():
        return _FusedMessage.apply(phi_s, phi_vs, phi_vv, w_s, w_vs, w_vv, unit, v, i, j)
    return _message_reference(phi_s, phi_vs, phi_vv, w_s, w_vs, w_vv, unit, v, i, j)


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
        self.parts = [
            ("s", "vs") if layer == 0 else ("s", "vv", "vs") for layer in range(config.layers)
        ]
        self.filters = nn.ModuleDict(
            {f"{layer}_{part}": nn.Linear(config.n_rbf, channels, bias=False)
             for layer, parts in enumerate(self.parts) for part in parts}
        )
        self.phis = nn.ModuleList(
            _mlp(channels, channels, len(parts) * channels) for parts in self.parts
        )
        self.updates = nn.ModuleList(_Update(channels) for _ in range(config.layers))
        self.readout = _mlp(channels, channels // 2, 1)
        #: use the fused message (:class:`_FusedMessage`); False: plain autograd ops, same values
        self.fused = True

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
        batch: AtomicBatch,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        F = self.channels
        i, j = edge_index[0], edge_index[1]
        r = torch.linalg.norm(edge_vectors, dim=-1)
        unit = edge_vectors / r.unsqueeze(-1)
        radial = self.rbf(r) * self.envelope(r).unsqueeze(-1)  # [E, n_rbf]
        norm = self.inv_sqrt_neighbors

        s = self.embedding(species)
        v: torch.Tensor | None = None  # zero before the first message
        for layer in range(self.n_layers):
            phi = dict(zip(self.parts[layer], self.phis[layer](s).split(F, dim=-1)))  # node level
            w = {
                part: self.filters[f"{layer}_{part}"](radial) for part in self.parts[layer]
            }  # [E, F]
            ds, dv = painn_message(phi["s"], phi["vs"], phi.get("vv"), w["s"], w["vs"], w.get("vv"),
                                   unit, v, i, j, fused=self.fused)
            s = s + ds * norm
            v = dv * norm if v is None else v + dv * norm
            s, v = self.updates[layer](s, v)
        energies = self.readout(s).squeeze(-1)
        return s, energies
