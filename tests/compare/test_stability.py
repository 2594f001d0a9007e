"""Student-MD sanity checks: temperature and closest approach per element pair."""

from __future__ import annotations

import numpy as np

from lesdistill.compare.stability import closest_approach, md_check


def test_closest_approach_per_pair_with_minimum_image():
    cell = np.eye(3) * 10.0
    pos = np.array([[[0.1, 0, 0], [9.9, 0, 0], [5.0, 5.0, 5.0]]])  # O-O 0.2 Å across the face
    out = closest_approach(pos, cell[None], np.array([8, 8, 1]), [True] * 3)
    assert abs(out["O-O"] - 0.2) < 1e-9
    assert abs(out["H-O"] - np.linalg.norm([5.0 - 0.1, 5.0, 5.0])) < 1e-9


def test_md_check_flags_hot_or_collapsed_students():
    shared = {"O-O": 2.5, "H-O": 0.9}
    ok = md_check(376.0, 300.0, {"O-O": 2.4, "H-O": 0.88}, shared)  # a short NVE run warms up
    assert ok["stable"] and not ok["issues"]
    hot = md_check(1094.0, 300.0, {"O-O": 2.4, "H-O": 0.88}, shared)
    assert not hot["stable"] and "1094 K" in hot["issues"][0]
    fused = md_check(320.0, 300.0, {"O-O": 1.15, "H-O": 0.88}, shared)
    assert not fused["stable"] and fused["issues"] == [
        "O-O closest approach 1.15 Å (shared frames: 2.50 Å)"]
    assert not md_check(float("nan"), 300.0, {}, shared)["stable"]
