r"""Dielectric response from latent charges: polarization, Born effective charges, dipole current.

Conventions (all functions):

* Charges are made neutral before use, :math:`q'_j = q_j - \bar q` (the LES latent charges are
  only defined up to a constant for this purpose). The acoustic sum rule
  :math:`\sum_i Z^*_i = 0` then holds exactly for open systems (translation-invariant
  ``charge_fn``); in the periodic phase form it holds for fixed charges and up to
  :math:`O((2\pi\Delta s)^2)` corrections of the charge-transfer terms otherwise.
* Physical charges are :math:`\sqrt{\varepsilon_\infty}` times the latent ones: ``eps_inf``
  scales P, Z* and dM/dt by :math:`\sqrt{\varepsilon_\infty}` (default 1).
* ``cell`` rows are lattice vectors :math:`\mathbf a_a`; fractional coordinates
  :math:`s_{ja} = (\mathbf r_j C^{-1})_a`; phases :math:`A_{ja} = 2\pi s_{ja}`.

**Open** (``cell=None``): :math:`\mathbf P = \sum_j q'_j\mathbf r_j` (e Å) and
:math:`Z^*_{i,ab} = \partial P_a/\partial r_{ib}`.

**Periodic**: the phase form per lattice direction,
:math:`\tilde P_a = \sum_j q'_j e^{iA_{ja}}/(2\pi i)` (complex, e), and

.. math::

    Z^*_{i,cb} = \sum_a C_{ac}\,\mathrm{Re}\!\left[e^{-iA_{ia}}\,
        \frac{\partial\tilde P_a}{\partial r_{ib}}\right]
    = q'_i\delta_{cb} + \sum_a C_{ac}\sum_j \frac{\partial q'_j}{\partial r_{ib}}
      \frac{\sin(A_{ja}-A_{ia})}{2\pi},

i.e. fixed charges give :math:`Z^*_i = q'_i\,\mathbb 1` for any (triclinic) cell, and charge
transfer between atoms i and j enters with their periodic separation. The reported real
polarization is a continuous, translation-invariant read-out of the phase form:

.. math::

    P^\text{frac}_a = \frac{1}{2\pi}\,\mathrm{Im}\Big[e^{-i\theta_a}\sum_j q'_j e^{iA_{ja}}\Big],
    \qquad \theta_a = \arg\sum_j |q'_j| e^{iA_{ja}},\qquad \mathbf P = \sum_a P^\text{frac}_a\mathbf
    a_a,

the first Fourier component of the charge density, centred on the circular mean
:math:`\theta_a` of the charge positions. It equals :math:`\sum_j q'_j (s_{ja} - \theta_a/2\pi)`
to third order in the spread of the charges along :math:`\mathbf a_a`, is bounded
(:math:`|P^\text{frac}_a| \le \sum_j|q'_j|/2\pi`, so it is *not* the multivalued Berry-phase
polarization; no quantum ambiguity arises) and does not jump when atoms cross the cell boundary.
Absolute P of a periodic liquid is not meaningful; changes of P along a trajectory come from
:func:`dipole_current`, which uses the exact Z*.

**Slab** (``slab=True``, a cell periodic along :math:`\mathbf a_1, \mathbf a_2` with vacuum along
the normal :math:`\hat{\mathbf n}`, :mod:`lesdistill.les.slab`): the phase form along the two
periodic directions, with the 2D fractional coordinates of :func:`lesdistill.les.slab.slab_cell`
(independent of the height), and the plain dipole along the open direction,

.. math::

    \mathbf P = \sum_{a=1,2} P^\text{frac}_a\mathbf a_a + \hat{\mathbf n}\sum_j q'_j z_j,
    \qquad z_j = \mathbf r_j\cdot\hat{\mathbf n},

so :math:`Z^*_{i,cb} = q'_i\delta_{cb} + \sum_{a=1,2} C_{ac}\sum_j \frac{\partial q'_j}
{\partial r_{ib}}\frac{\sin(A_{ja}-A_{ia})}{2\pi} + \hat n_c\sum_j\frac{\partial q'_j}
{\partial r_{ib}}z_j` (the ionic part of the two phase directions is
:math:`q'_i(\delta_{cb}-\hat n_c\hat n_b)`, the dipole adds :math:`q'_i\hat n_c\hat n_b`).
The heights :math:`z_j` are used as given (the slab must not straddle the cell boundary along
:math:`\hat{\mathbf n}`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lesdistill.les.ewald import matmul3
from lesdistill.les.slab import slab_cell, slab_frame
from lesdistill.les.validation import (
    check_cell,
    check_charges,
    check_positions,
    check_positive,
    check_vectors_like,
)

ChargeFn = Callable[[torch.Tensor], torch.Tensor]


def _check_slab(slab: object, cell: torch.Tensor | None) -> bool:
    if not isinstance(slab, bool):
        raise TypeError(f"slab must be True or False, got {slab!r}")
    if slab and cell is None:
        raise ValueError(
            "slab=True needs a periodic cell (its first two vectors span the slab); got cell=None"
        )
    return slab


def _phase_geometry(
    cell: torch.Tensor, slab: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(lattice rows of the phase directions [d, 3], their reciprocal columns / 2 pi [3, d], normal
    or None): all three directions for a periodic cell, the two in-plane ones and the normal for a
    slab."""
    if not slab:
        return cell, torch.linalg.inv(cell), None
    normal = slab_frame(cell)[0]
    return cell[:2], torch.linalg.inv(slab_cell(cell))[:, :2], normal


def polarization(
    charges: torch.Tensor,
    positions: torch.Tensor,
    cell: torch.Tensor | None = None,
    *,
    eps_inf: float = 1.0,
    slab: bool = False,
) -> torch.Tensor:
    r"""Polarization (periodic, phase form), dipole moment (open) or slab polarization, e Å.

    :param charges: [N] latent charges (e). :param positions: [N, 3] (Å).
    :param cell: None (open) or [3, 3] lattice vectors as rows (Å).
    :param eps_inf: physical charges = sqrt(eps_inf) * latent charges.
    :param slab: ``cell`` is a slab (vacuum along the normal of its first two vectors): phase form
        in the plane, plain dipole along the normal (module docstring).
    :return: [3] tensor, e Å (module docstring for the periodic convention); differentiable.
    """
    positions = check_positions(positions)
    charges = check_charges(charges, positions)
    cell = check_cell(cell, positions)
    slab = _check_slab(slab, cell)
    scale = math.sqrt(check_positive(eps_inf, "eps_inf"))
    q = charges - charges.mean()
    if cell is None:
        return scale * (q.unsqueeze(1) * positions).sum(dim=0)
    rows, inv, normal = _phase_geometry(cell, slab)
    angles = 2.0 * math.pi * matmul3(positions, inv)  # [N, d]
    cos, sin = torch.cos(angles), torch.sin(angles)
    ref_re, ref_im = q.abs() @ cos, q.abs() @ sin
    theta = torch.atan2(ref_im, ref_re)
    frac = (q @ torch.sin(angles - theta)) / (
        2.0 * math.pi
    )  # Im[e^{-i theta} sum_j q_j e^{i A_j}] / 2 pi
    out = frac @ rows
    if normal is not None:
        out = out + (q @ (positions @ normal)) * normal
    return scale * out


def _neutral_charges(charge_fn: ChargeFn, x: torch.Tensor) -> torch.Tensor:
    q = _model_charges(charge_fn, x)
    return q - q.mean()


def _component_grads(outputs: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """Gradients of each entry of a 1-d ``outputs`` w.r.t. ``x``: [K, *x.shape], one backward per
    entry.

    (A vmapped ``is_grads_batched`` backward was slower on CPU for small graphs and needs every
    op of the charge model to support vmap, so plain passes sharing one forward graph are used.)
    """
    rows = []
    for k in range(outputs.shape[0]):
        (g,) = torch.autograd.grad(
            outputs[k], x, retain_graph=True, create_graph=create_graph, allow_unused=True
        )
        rows.append(torch.zeros_like(x) if g is None else g)
    return torch.stack(rows)


def _prepare(charge_fn: object, positions: torch.Tensor, cell: object, eps_inf: float):
    if not callable(charge_fn):
        raise TypeError(
            "charge_fn must be callable (positions [N, 3] -> "
            f"charges [N]), got {type(charge_fn).__name__}"
        )
    positions = check_positions(positions)
    cell = check_cell(cell, positions)
    scale = math.sqrt(check_positive(eps_inf, "eps_inf"))
    return positions, cell, scale


def _leaf(positions: torch.Tensor, create_graph: bool) -> torch.Tensor:
    if create_graph and positions.requires_grad:
        return positions
    return positions.detach().requires_grad_(True)


def born_effective_charges(
    charge_fn: ChargeFn,
    positions: torch.Tensor,
    cell: torch.Tensor | None = None,
    *,
    eps_inf: float = 1.0,
    create_graph: bool = False,
    slab: bool = False,
) -> torch.Tensor:
    r"""Born effective charges :math:`Z^*_{i,ab} = \partial P_a/\partial r_{ib}` (e), [N, 3, 3].

    One backward pass per polarization component (3 for open; Re and Im of the three phase
    sums, 6, for periodic), all sharing one forward pass of ``charge_fn``; never one per atom
    (module docstring for the math).

    :param charge_fn: ``charge_fn(positions [N, 3]) -> charges [N]`` (latent charges,
        differentiable; may itself use autograd through positions).
    :param positions: [N, 3] (Å). :param cell: None (open) or [3, 3] lattice rows (Å).
    :param eps_inf: physical charges = sqrt(eps_inf) * latent charges.
    :param create_graph: keep the graph so that Z* can be differentiated (e.g. trained on).
    :param slab: ``cell`` is a slab (:func:`polarization`).
    :return: [N, 3, 3] tensor, e; ``Z[i, a, b]`` = response of P_a to moving atom i along b.
    """
    positions, cell, scale = _prepare(charge_fn, positions, cell, eps_inf)
    slab = _check_slab(slab, cell)
    with torch.enable_grad():
        x = _leaf(positions, create_graph)
        if cell is None:
            q = _neutral_charges(charge_fn, x)
            check_charges(q.detach(), positions, "charge_fn(positions)")
            dipole = (q.unsqueeze(1) * x).sum(dim=0)
            return scale * _component_grads(dipole, x, create_graph).permute(1, 0, 2)  # [N, a, b]
        q_raw = _model_charges(charge_fn, x)
        check_charges(q_raw.detach(), positions, "charge_fn(positions)")
        q = q_raw - q_raw.mean()
        if not create_graph:
            q = q.detach()
        # the explicit dependence of the phase sums on r_i gives q'_i 1 analytically; the
        # charge-transfer part needs J'^T cos A_a and J'^T sin A_a (J' = dq'/dr)
        ionic = q.view(-1, 1, 1) * torch.eye(3, dtype=x.dtype, device=x.device)  # [N, c, b]
        if not q_raw.requires_grad:  # charges do not depend on positions
            return scale * ionic
        rows, phases, grads, normal = _phase_vjps(q_raw, x, x if create_graph else x.detach(), cell,
                                                  create_graph, slab)
    return scale * (ionic + _transfer_bec(rows, phases, grads, normal))


def _transfer_bec(rows: torch.Tensor, phases: torch.Tensor, grads: torch.Tensor,
                  normal: torch.Tensor | None) -> torch.Tensor:
    """Charge-transfer part of Z* [N, 3, 3] from the read-out phases [2d, N] and J'^T [2d (+1), N,
    3]."""
    d = rows.shape[0]
    cos, sin = phases[:d].T.unsqueeze(2), phases[d:].T.unsqueeze(2)  # [N, a, 1]
    g_cos, g_sin = grads[:d].permute(1, 0, 2), grads[d : 2 * d].permute(1, 0, 2)  # [N, a, b]
    # sum_j dq'_j/dr_ib sin(A_ja - A_ia) = cos A_ia (J'^T sin A_a)_ib - sin A_ia (J'^T cos A_a)_ib
    z_frac = (cos * g_sin - sin * g_cos) / (2.0 * math.pi)  # [N, a, b], fractional direction a
    out = torch.einsum("ac,nab->ncb", rows, z_frac)
    if normal is not None:  # n_c sum_j dq'_j/dr_ib z_j
        out = out + normal.view(1, 3, 1) * grads[2 * d].unsqueeze(1)
    return out


def _transfer_current(rows: torch.Tensor, phases: torch.Tensor, grads: torch.Tensor,
                      normal: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
    """Charge-transfer part of dM/dt [3]: sum_i (Z*_i - q'_i 1) v_i from the same terms."""
    d = rows.shape[0]
    along_v = (grads * v).sum(dim=2)  # [K, N]: (J'^T u)_i . v_i
    # sum_i (J'^T sin A_a)_i.v_i cos A_ia - (J'^T cos A_a)_i.v_i sin A_ia
    frac = (
        (along_v[d : 2 * d] * phases[:d]).sum(dim=1) - (along_v[:d] * phases[d:]).sum(dim=1)
    ) / (2.0 * math.pi)
    out = frac @ rows
    if normal is not None:
        out = out + along_v[2 * d].sum() * normal
    return out


def dipole_current(
    charge_fn: ChargeFn,
    positions: torch.Tensor,
    velocities: torch.Tensor,
    cell: torch.Tensor | None = None,
    *,
    eps_inf: float = 1.0,
    slab: bool = False,
) -> torch.Tensor:
    r"""Dipole current :math:`\dot{\mathbf M} = \sum_i Z^*_i\mathbf v_i` (e Å/fs) without forming
    Z*.

    Open: a single Jacobian-vector product of the charges along the velocities (double-backward
    trick), :math:`\dot{\mathbf M} = \sum_j q'_j\mathbf v_j + \sum_j \dot q'_j\mathbf r_j`.

    Periodic: the ionic part :math:`\sum_i q'_i\mathbf v_i` is analytic; the charge-transfer part

    .. math::

        \sum_a \mathbf a_a \sum_{ij} (\nabla_i q'_j\cdot\mathbf
        v_i)\,\frac{\sin(A_{ja}-A_{ia})}{2\pi} = \sum_a \frac{\mathbf a_a}{2\pi}\Big[\langle
        J^\top\!\sin A_a, \mathbf v\cos A_a\rangle
          - \langle J^\top\!\cos A_a, \mathbf v\sin A_a\rangle\Big],

    with :math:`J = \partial q'/\partial\mathbf r`, needs six vector-Jacobian products (cotangents
    :math:`\cos A_a`, :math:`\sin A_a`) sharing one forward pass. Because each atom's response is
    dephased with its own phase :math:`A_{ia}`, no single JVP gives :math:`\sum_i Z^*_i\mathbf v_i`
    exactly in the periodic phase form. The result equals
    ``einsum("iab,ib->a", born_effective_charges(...), velocities)`` to round-off.

    :param charge_fn: ``charge_fn(positions [N, 3]) -> charges [N]``.
    :param positions: [N, 3] (Å). :param velocities: [N, 3] (Å/fs).
    :param cell: None (open) or [3, 3] lattice rows (Å). :param eps_inf: see module docstring.
    :param slab: ``cell`` is a slab (:func:`polarization`; the normal part is one more product).
    :return: [3] tensor, e Å/fs (detached).
    """
    positions, cell, scale = _prepare(charge_fn, positions, cell, eps_inf)
    slab = _check_slab(slab, cell)
    velocities = check_vectors_like(velocities, positions, "velocities")
    v = velocities.detach()
    with torch.enable_grad():
        x = positions.detach().requires_grad_(True)
        q_raw = _model_charges(charge_fn, x)  # graph without the neutralising shift (see below)
        q = q_raw.detach()
        check_charges(q, positions, "charge_fn(positions)")
        q = q - q.mean()
        if cell is None:
            qdot = _jvp(q_raw, x, v)  # [N], d q_raw / dt
            return scale * (q @ v + (qdot - qdot.mean()) @ x.detach())
        if not q_raw.requires_grad:  # charges do not depend on positions: Z*_i = q'_i 1
            return scale * (q @ v)
        rows, phases, grads, normal = _phase_vjps(q_raw, x, x.detach(), cell.detach(), slab=slab)
    return scale * (q @ v + _transfer_current(rows, phases, grads, normal, v))


def _model_charges(charge_fn: ChargeFn, x: torch.Tensor) -> torch.Tensor:
    q = charge_fn(x)
    if not isinstance(q, torch.Tensor) or q.shape != (x.shape[0],):
        shape = tuple(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
        raise ValueError(
            f"charge_fn must return a tensor of shape [N] = [{x.shape[0]}], got {shape}"
        )
    return q if q.dtype == x.dtype else q.to(x.dtype)


def _phase_vjps(
    q_raw: torch.Tensor, x: torch.Tensor, phase_positions: torch.Tensor, cell: torch.Tensor,
    create_graph: bool = False, slab: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(lattice rows of the d phase directions [d, 3], phases [2d, N] (cos A_a, then sin A_a, from
    ``phase_positions``), J'^T of each [2d, N, 3] (slab: then J'^T z, [2d + 1, N, 3]), normal or
    None).

    Periodic: d = 3; slab: d = 2 in-plane directions plus the heights z = r . n along the normal.
    J' = dq'/dx for the neutral charges q' = q_raw - mean(q_raw): J'^T u = J^T (u - mean u), so
    the cotangents are centred instead of putting the shift into the graph for each. Six (slab:
    five) backward passes through ``charge_fn`` sharing its one forward graph.
    """
    rows, inv, normal = _phase_geometry(cell, slab)
    angles = (2.0 * math.pi * matmul3(phase_positions, inv)).T.contiguous()  # [d, N]
    phases = torch.cat([torch.cos(angles), torch.sin(angles)])
    readout = (
        phases if normal is None else torch.cat([phases, (phase_positions @ normal).unsqueeze(0)])
    )
    cotangents = readout - readout.mean(dim=1, keepdim=True)
    n = cotangents.shape[0]
    grads = torch.stack(
        [
            _vjp(
                q_raw,
                x,
                cotangents[k],
                retain_graph=create_graph or k < n - 1,
                create_graph=create_graph,
            )
            for k in range(n)
        ]
    )
    return rows, phases, grads, normal


def _vjp(
    q: torch.Tensor,
    x: torch.Tensor,
    cotangent: torch.Tensor,
    retain_graph: bool,
    create_graph: bool = False,
) -> torch.Tensor:
    """J^T u with J = dq/dx (zeros where q does not depend on x)."""
    (g,) = torch.autograd.grad(
        q,
        x,
        grad_outputs=cotangent,
        retain_graph=retain_graph,
        create_graph=create_graph,
        allow_unused=True,
    )
    return torch.zeros_like(x) if g is None else g


def _jvp(q: torch.Tensor, x: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
    """J w with J = dq/dx by the double-backward trick: s(u) = J^T u (linear in u), J w = d<s(u),
    w>/du."""
    u = torch.zeros_like(q, requires_grad=True)
    (s,) = torch.autograd.grad(q, x, grad_outputs=u, create_graph=True, allow_unused=True)
    if s is None or not s.requires_grad:  # charges do not depend on positions
        return torch.zeros_like(q).detach()
    (jw,) = torch.autograd.grad(s, u, grad_outputs=tangent, allow_unused=True)
    return torch.zeros_like(q).detach() if jw is None else jw.detach()


class ResponseTerms:
    r"""Everything the Born effective charges and the dipole current of one geometry need.

    Built by :func:`response_terms` from latent charges that carry an autograd graph to the
    positions (e.g. the graph of an energy+forces call, kept with ``retain_graph``): the
    neutral charges q', and the vector-Jacobian products of the charges, J'^T u, for the
    cotangents u of the read-out (periodic: :math:`\cos A_a`, :math:`\sin A_a`, six backward
    passes; open: the centred coordinates :math:`x_a - \bar x_a`, three). Any number of dipole
    currents (several velocity sets, atom groups) and the BECs then follow by contraction,
    equal to :func:`dipole_current` and :func:`born_effective_charges` to round-off. A slab
    (``normal`` given) has two phase directions and the heights along the normal (five products).
    """

    def __init__(
        self,
        charges: torch.Tensor,
        cell: torch.Tensor | None,
        phases: torch.Tensor | None,
        grads: torch.Tensor | None,
        scale: float,
        normal: torch.Tensor | None = None,
    ) -> None:
        self.charges = charges  # [N] neutral latent charges q', e
        self.cell = cell  # [d, 3] lattice rows of the phase directions, Å (d = 3; slab: 2), or None
        self.phases = phases  # [2d, N] cos A_a, sin A_a (periodic) or None
        self.grads = (
            grads  # [2d, N, 3] (periodic; slab: [5, N, 3]) or [3, N, 3] (open); None: fixed charges
        )
        self.scale = scale  # sqrt(eps_inf)
        self.normal = normal  # [3] slab normal or None

    def dipole_current(self, velocities: torch.Tensor) -> torch.Tensor:
        """dM/dt = sum_i Z*_i v_i (3,), e Å/fs, for ``velocities`` [N, 3] (Å/fs)."""
        v = velocities.to(self.charges.dtype)
        ionic = self.charges @ v
        if self.grads is None:
            return self.scale * ionic
        if self.cell is None:
            return self.scale * (ionic + (self.grads * v).sum(dim=2).sum(dim=1))
        return self.scale * (
            ionic + _transfer_current(self.cell, self.phases, self.grads, self.normal, v)
        )

    def born_effective_charges(self) -> torch.Tensor:
        """Z*[i, a, b] = dP_a/dr_ib, [N, 3, 3], e."""
        q = self.charges
        ionic = q.view(-1, 1, 1) * torch.eye(3, dtype=q.dtype, device=q.device)
        if self.grads is None:
            return self.scale * ionic
        if self.cell is None:
            return self.scale * (ionic + self.grads.permute(1, 0, 2))
        return self.scale * (ionic + _transfer_bec(self.cell, self.phases, self.grads, self.normal))


def response_terms(
    charges: torch.Tensor,
    positions: torch.Tensor,
    cell: torch.Tensor | None = None,
    *,
    eps_inf: float = 1.0,
    slab: bool = False,
) -> ResponseTerms:
    """:class:`ResponseTerms` from latent ``charges`` [N] (e) computed from the leaf tensor
    ``positions`` [N, 3] (Å) with their autograd graph; ``cell`` None (open) or [3, 3] (Å);
    ``slab``: the cell is a slab (:func:`polarization`).

    The graph is consumed (freed by the last backward pass). No graph is kept in the result.
    The values are not read (no device sync in an MD step): non-finite charges give non-finite
    results.
    """
    scale = math.sqrt(check_positive(eps_inf, "eps_inf"))
    check_charges(charges.detach(), positions, "charges", finite=False)
    slab = _check_slab(slab, cell)
    q = charges.detach()
    q = q - q.mean()
    x = positions.detach()
    if not charges.requires_grad:
        return ResponseTerms(q, None if cell is None else cell.detach(), None, None, scale)
    if cell is None:
        centred = (x - x.mean(dim=0)).T.contiguous()  # [3, N]
        grads = torch.stack(
            [_vjp(charges, positions, centred[k], retain_graph=k < 2) for k in range(3)]
        )
        return ResponseTerms(q, None, None, grads, scale)
    rows, phases, grads, normal = _phase_vjps(charges, positions, x, cell.detach(), slab=slab)
    return ResponseTerms(q, rows, phases, grads, scale, normal)
