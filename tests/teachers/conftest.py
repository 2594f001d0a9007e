"""Fixtures for the teacher tests: one torch thread; a small rock-salt crystal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ase import Atoms
from ase.build import bulk


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Small systems run fastest (and reproducibly) on one thread on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def nacl() -> Atoms:
    """Rock-salt NaCl, 8 atoms, at the analytic-ionic teacher's equilibrium spacing (~2.8 Å)."""
    return bulk("NaCl", "rocksalt", a=5.64, cubic=True)
