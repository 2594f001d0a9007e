"""Fixtures of the compare tests: a tiny comparison config on a small NaCl box."""

from __future__ import annotations

import pytest


def rocksalt(tmp_path):
    """An 8-atom rock-salt NaCl cell near the analytic teachers' equilibrium, as a file."""
    from ase.build import bulk
    from ase.io import write

    path = tmp_path / "nacl.extxyz"
    write(path, bulk("NaCl", "rocksalt", a=5.6, cubic=True))
    return path


def tiny_config(tmp_path, teachers, **extra):
    """A compare config mapping sized for a test: 8-atom NaCl cell, a few frames, short MD."""
    data = {
        "name": "tiny",
        "output": str(tmp_path / "out"),
        "seed": 0,
        "system": {"file": str(rocksalt(tmp_path))},
        "sampling": {"temperatures_K": [300.0], "n_frames": 6, "stride": 1,
                     "timestep_fs": 2.0, "valid_fraction": 0.2, "test_fraction": 0.34},
        "teachers": teachers,
        "student": {"preset": "tiny", "options": {"channels": 16}},
        "training": {"epochs": 3, "batch_size": 2, "early_stopping_patience": 3},
        "md": {"temperature_K": 300.0, "timestep_fs": 1.0, "n_equil": 4, "n_steps": 30,
               "stride": 1},
        "ir": {"reference": None, "n_blocks": 1, "window_ps": 0.012},
        "report": {"speed_repeats": 1, "rdf_rmax_A": 6.0, "rdf_bins": 30},
        "bec": {"n_frames": 2},
    }
    data.update(extra)
    return data


@pytest.fixture()
def make_config():
    return tiny_config
