"""Small random systems shared by the LES tests (seeded)."""

from __future__ import annotations

import pytest
import torch


def random_system(
    n: int, cell: torch.Tensor | None, seed: int = 0, neutral: bool = True, dtype=torch.float64
):
    """Random charges (neutral by default) and positions spread over ``cell`` (or a 6 Å box)."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, generator=gen, dtype=torch.float64)
    if neutral:
        q = q - q.mean()
    frac = torch.rand(n, 3, generator=gen, dtype=torch.float64)
    box = cell if cell is not None else 6.0 * torch.eye(3, dtype=torch.float64)
    pos = frac @ box.to(torch.float64)
    return q.to(dtype), pos.to(dtype)


@pytest.fixture
def triclinic_cell() -> torch.Tensor:
    return torch.tensor([[7.0, 0.0, 0.0], [1.5, 6.5, 0.0], [-0.8, 1.1, 7.5]], dtype=torch.float64)


@pytest.fixture
def cubic_cell() -> torch.Tensor:
    return 8.0 * torch.eye(3, dtype=torch.float64)


@pytest.fixture
def make_system():
    """Factory fixture: ``make_system(n, cell, seed=0, neutral=True, dtype=float64) -> (q,
    pos)``."""
    return random_system
