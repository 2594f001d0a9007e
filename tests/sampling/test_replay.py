"""Replaying a teacher sampling segment with another calculator: segment choice and MD settings."""

from __future__ import annotations

import pytest

from lesdistill.sampling.replay import replay_settings, segment_index
from lesdistill.sampling.settings import SampleSettings


def test_segment_index_is_the_closest_temperature_and_strain() -> None:
    s = SampleSettings(temperatures_K=(300.0, 350.0), strains=(-0.01, 0.0, 0.01))
    assert segment_index(s, 300.0, 0.0) == 1
    assert segment_index(s, 349.0, 0.012) == 5
    assert segment_index(s, 10.0, -1.0) == 0


@pytest.mark.parametrize("thermostat, expected", [("bussi", "bussi"),
                                                  ("nose-hoover", "langevin")])
def test_replay_settings_repeat_the_segment_protocol(thermostat: str, expected: str) -> None:
    s = SampleSettings(stride=6, timestep_fs=0.5, friction_per_fs=0.02, thermostat=thermostat)
    md = replay_settings(s, 330.0, n_frames=30, equilibration_steps=40)
    assert (md.temperature_K, md.timestep_fs, md.n_equil, md.n_steps, md.stride) == (
        330.0, 0.5, 40, 180, 6)
    assert md.thermostat == md.production == expected
    assert md.coupling_fs == md.production_coupling_fs == pytest.approx(50.0)
