"""Fixtures of the compare tests: a tiny comparison config on a small NaCl box."""

from __future__ import annotations

import pytest


def tiny_config(tmp_path, teachers, **extra):
    """A compare config mapping sized for a test: 8-atom NaCl box, a few frames, short MD."""
    data = {
        "name": "tiny",
        "output": str(tmp_path / "out"),
        "seed": 0,
        "system": {"builder": "ionic", "params": {"n_pairs": 4}},
        "sampling": {"temperatures_K": [600.0], "n_frames": 10, "stride": 2,
                     "timestep_fs": 1.0, "valid_fraction": 0.2, "test_fraction": 0.2},
        "teachers": teachers,
        "student": {"preset": "tiny"},
        "training": {"epochs": 3, "batch_size": 2, "early_stopping_patience": 3},
        "md": {"temperature_K": 600.0, "timestep_fs": 1.0, "n_equil": 10, "n_steps": 80,
               "stride": 1},
        "ir": {"reference": None, "n_blocks": 1},
        "report": {"speed_repeats": 1, "rdf_rmax_A": 3.4, "rdf_bins": 20},
        "bec": {"n_frames": 2},
    }
    data.update(extra)
    return data


@pytest.fixture()
def make_config():
    return tiny_config
