"""Fixtures for the sampling tests: a stable small periodic ionic crystal."""

from __future__ import annotations

import pytest
from ase import Atoms
from ase.build import bulk


@pytest.fixture
def nacl() -> Atoms:
    """Rock-salt NaCl, 8 atoms, at the analytic-ionic teacher's equilibrium spacing (~2.8 Å)."""
    return bulk("NaCl", "rocksalt", a=5.64, cubic=True)
