r"""The short-range backbone interface, and the smooth radial pieces the built-in one uses.

Any short-range MLIP can be augmented with LES if it fits this interface::

    class MyBackbone(Backbone):
        def __init__(self, config: StudentConfig, **options): ...
        def forward(self, species, edge_index, edge_vectors, batch):
            return features, atomic_energies     # [N, F] invariant, [N] eV

and is named in the config as ``backbone="my_package.my_module:MyBackbone"`` (the factory is called
as ``Factory(config, **config.backbone_options)``). Rules for a backbone:

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

import importlib
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from lesdistill.data.batch import AtomicBatch
    from lesdistill.model.config import StudentConfig


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
        u = 1.0 - 0.5 * (p + 1) * (p + 2) * d**p + p * (p + 2) * d ** (p + 1) - 0.5 * p * (p + 1) * d ** (p + 2)
        return torch.where(d < 1.0, u, torch.zeros_like(u))


def build_backbone(config: StudentConfig) -> Backbone:
    """Instantiate the backbone named by ``config.backbone`` ("painn" or "module:Factory")."""
    options: dict[str, Any] = dict(config.backbone_options)
    if config.backbone == "painn":
        from lesdistill.model.painn import PaiNN

        return PaiNN(config, **options)
    module_name, _, attr = config.backbone.partition(":")
    if not module_name or not attr:
        raise ValueError(
            f"backbone must be 'painn' or 'package.module:Factory', got {config.backbone!r}"
        )
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import backbone {config.backbone!r}: {err}") from None
    backbone = factory(config, **options)
    if not isinstance(backbone, Backbone):
        raise TypeError(f"backbone factory {config.backbone!r} returned {type(backbone).__name__}, not a Backbone")
    if not isinstance(getattr(backbone, "feature_dim", None), int):
        raise TypeError(f"backbone {config.backbone!r} must set an integer attribute feature_dim")
    return backbone
