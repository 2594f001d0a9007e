"""The teacher's sampling protocol replayed with another calculator (e.g. the student).

A student run that is comparable with one segment of the teacher's sampling MD (for RDFs) must
start from that segment's start structure and follow the same protocol: temperature, strain,
thermostat (Nose-Hoover, which the spectra MD does not offer, becomes Langevin), time step,
friction, unrecorded equilibration and the same number of recorded frames. This module turns a
:class:`~lesdistill.sampling.settings.SampleSettings` and a recorded segment into the start
structure and the :class:`~lesdistill.md.settings.MDSettings` of that run.
"""

from __future__ import annotations

from ase import Atoms

from lesdistill.md.settings import THERMOSTATS, MDSettings
from lesdistill.sampling.md import segment_start
from lesdistill.sampling.settings import SampleSettings

__all__ = ["replay_settings", "replay_start", "segment_index"]


def segment_index(settings: SampleSettings, temperature_K: float, strain: float) -> int:
    """Index of the sampling segment closest to (``temperature_K``, ``strain``)."""
    pairs = [(t, s) for t, s, _ in settings.segments()]
    return min(range(len(pairs)),
               key=lambda k: abs(pairs[k][0] - temperature_K) + abs(pairs[k][1] - strain))


def replay_start(structure: Atoms, settings: SampleSettings, seed: int, temperature_K: float,
                 strain: float) -> Atoms:
    """The start structure of the segment at (``temperature_K``, ``strain``), as the sampling
    built it from ``structure`` with the run's ``seed``."""
    index = segment_index(settings, temperature_K, strain)
    return segment_start(structure, settings, seed, index, temperature_K, strain)


def replay_settings(settings: SampleSettings, temperature_K: float, n_frames: int,
                    equilibration_steps: int) -> MDSettings:
    """MD settings that repeat a sampling segment of ``n_frames`` recorded frames after
    ``equilibration_steps`` unrecorded steps (K, fs; the thermostat stays on in production)."""
    s = settings
    thermostat = s.thermostat if s.thermostat in THERMOSTATS else "langevin"
    return MDSettings(temperature_K=temperature_K, timestep_fs=s.timestep_fs,
                      n_equil=equilibration_steps, n_steps=n_frames * s.stride, stride=s.stride,
                      thermostat=thermostat, production=thermostat,
                      coupling_fs=1.0 / s.friction_per_fs,
                      production_coupling_fs=1.0 / s.friction_per_fs)
