"""The built-in PaiNN backbone + LES passes every reusable physics check of lesdistill.testing."""

from __future__ import annotations

from lesdistill.testing import StudentModelChecks


class TestPaiNNStudent(StudentModelChecks):
    """Fixtures come from tests/model/conftest.py (float64, tiny preset, eps_inf = 1.5)."""
