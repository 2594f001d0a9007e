r"""The short-range backbone interface, and the smooth radial pieces the built-in one uses.

Any short-range MLIP can be augmented with LES if it fits this interface::

    class MyBackbone(Backbone):
        def __init__(self, config: StudentConfig, **options): ...
        def forward(self, species, edge_index, edge_vectors, batch):
            return features, atomic_energies     # [N, F] invariant, [N] eV

and is named in the config as ``backbone="my_package.my_module:MyBackbone"`` (the factory is called
as ``Factory(config, **config.backbone_options)``), or registered under a short name in the
entry-point group ``lesdistill.backbones`` of an installed package::

    [project.entry-points."lesdistill.backbones"]
    mynet = "my_package.my_module:MyBackbone"          # then backbone="mynet"

Loading a student or a training state from a file never runs code the user did not choose:
the built-in ``painn`` and backbones of installed ``lesdistill.backbones`` entry points load
from any file; a ``module:Factory`` named only inside the file is refused with
:class:`~lesdistill.errors.UntrustedCodeError` unless the caller opts in
(``load_student(path, trust_backbone=True)``, ``--trust-backbone``) or registered that spec with
:func:`trust_backbone` (as a run config does when it is loaded with ``trust_code``).
Rules for a backbone:

- ``species`` [N] int64 is the element index into ``config.elements`` (0..n_elements-1);
  ``edge_index`` [2, E] (i receives from j) and ``edge_vectors`` [E, 3] (r_j - r_i + shift, Å,
  already strained: forces and stress flow through them) describe all pairs with r < cutoff;
  ``batch`` is the :class:`~lesdistill.data.batch.AtomicBatch` (strained positions/cell) for
  anything else.
- ``features`` must be invariant under rotation/translation/permutation (the charge head reads
  them), ``atomic_energies`` in eV without the per-element reference E0 (the model adds it).
- everything must be smooth in the edge vectors and vanish smoothly at the cutoff.
- set ``self.feature_dim`` (F) in ``__init__``.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from lesdistill.errors import UntrustedCodeError, UserInputError

if TYPE_CHECKING:
    from lesdistill.data.batch import AtomicBatch

#: backbones that ship with lesdistill
BUILTIN_BACKBONES = ("painn",)
#: entry-point group of backbones installed by other packages (trusted: the user installed them)
ENTRY_POINT_GROUP = "lesdistill.backbones"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
#: ``name`` (built-in or entry point) or ``package.module:Factory``
NAME_RE = re.compile(rf"{_IDENT}(?:-{_IDENT})*")
SPEC_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")
_TRUSTED: set[str] = set()
_TRUST_ALL = threading.local()


def _entry_points() -> dict[str, str]:
    """Installed ``lesdistill.backbones`` entry points: name -> "module:attr"."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def check_backbone_name(spec: Any, where: str = "backbone") -> str:
    """``spec`` if it is a well-formed backbone name or ``package.module:Factory`` spec."""
    if not isinstance(spec, str) or not (NAME_RE.fullmatch(spec) or SPEC_RE.fullmatch(spec)):
        raise UserInputError(f"{where} must be 'painn', the name of an installed "
                             f"'{ENTRY_POINT_GROUP}' entry point or 'package.module:Factory', "
                             f"got {spec!r}")
    return spec


def trust_backbone(spec: str) -> None:
    """Allow files that name the custom backbone ``spec`` to load in this process."""
    _TRUSTED.add(check_backbone_name(spec))


@contextlib.contextmanager
def trusting_backbones() -> Iterator[None]:
    """Within this block (this thread), any backbone named by a loaded file may run
    (what ``--trust-backbone`` does)."""
    before = getattr(_TRUST_ALL, "on", False)
    _TRUST_ALL.on = True
    try:
        yield
    finally:
        _TRUST_ALL.on = before


def is_trusted_backbone(spec: str) -> bool:
    """Built in, installed as an entry point, or explicitly trusted in this process."""
    if spec in BUILTIN_BACKBONES or spec in _TRUSTED or getattr(_TRUST_ALL, "on", False):
        return True
    installed = _entry_points()
    return spec in installed or spec in installed.values()


def check_backbone_trusted(spec: Any, *, trust: bool, source: str) -> None:
    """Refuse a file (``source``) whose config names code the user did not choose to run."""
    spec = check_backbone_name(spec, f"{source}: backbone")
    if trust or is_trusted_backbone(spec):
        return
    if NAME_RE.fullmatch(spec):
        raise UserInputError(f"{source} needs the backbone {spec!r}, which is neither built in "
                             f"({', '.join(BUILTIN_BACKBONES)}) nor an installed "
                             f"'{ENTRY_POINT_GROUP}' entry point; install the package that "
                             "provides it")
    raise UntrustedCodeError(
        f"{source} names the custom backbone {spec!r}: loading it would import and run that code; "
        "if you trust the file and the code, pass --trust-backbone (trust_backbone=True)")


class Backbone(nn.Module):
    """Base class of short-range backbones (see the module docstring for the contract)."""

    feature_dim: int

    def forward(  # pragma: no cover - interface
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
        batch: AtomicBatch,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class BesselBasis(nn.Module):
    r"""Bessel radial basis :math:`\sqrt{2/r_c}\,\sin(n\pi r/r_c)/r`, n = 1..n_rbf (r in Å)."""

    freqs: torch.Tensor  # buffer [n_rbf]: n pi / r_c, 1/Å

    def __init__(self, cutoff: float, n_rbf: int) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        freqs = torch.arange(1, n_rbf + 1, dtype=torch.float64) * math.pi / cutoff
        self.register_buffer("freqs", freqs, persistent=False)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """[E] distances (Å) -> [E, n_rbf]."""
        return self.prefactor * torch.sin(self.freqs * r.unsqueeze(-1)) / r.unsqueeze(-1)


class PolynomialEnvelope(nn.Module):
    r"""Smooth cutoff :math:`u(d)=1-\frac{(p+1)(p+2)}2d^p+p(p+2)d^{p+1}-\frac{p(p+1)}2d^{p+2}`,
    d = r/r_c; u(1) = u'(1) = u''(1) = 0 and u = 0 for r >= r_c, so forces vanish smoothly."""

    def __init__(self, cutoff: float, exponent: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(exponent)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.p
        d = r / self.cutoff
        u = (
            1.0
            - 0.5 * (p + 1) * (p + 2) * d**p
            + p * (p + 2) * d ** (p + 1)
            - 0.5 * p * (p + 1) * d ** (p + 2)
        )
        return torch.where(d < 1.0, u, torch.zeros_like(u))
