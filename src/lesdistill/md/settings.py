"""The settings of student MD for spectra (:func:`lesdistill.md.run_md`): one frozen dataclass.

The run config's ``md`` section is this dataclass and the CLI's ``md`` options are derived from
its fields (see :mod:`lesdistill.settings`); it imports neither numpy nor ASE.
"""

from __future__ import annotations

from dataclasses import dataclass

from lesdistill.settings import Settings, SettingsError, at_most, coerce, one_of, positive, setting

__all__ = ["MAX_TIMESTEP_FS", "MDSettings", "PRODUCTIONS", "THERMOSTATS"]

THERMOSTATS = ("langevin", "bussi")
PRODUCTIONS = ("nve", "langevin", "bussi")
#: largest accepted MD time step (fs): the dipole current of O-H stretches needs ~0.5 fs
MAX_TIMESTEP_FS = 5.0


@dataclass(frozen=True)
class MDSettings(Settings):
    """NVT equilibration, then NVE (or weakly thermostatted) production storing every
    ``stride``-th step (units in the names; validated on creation).

    The run's ``seed`` and what is recorded besides the dipole current (atom groups, BECs) are
    arguments of :func:`lesdistill.md.run_md`, not settings here.
    """

    temperature_K: float = setting(300.0, "target temperature (K)", cli="--temperature")
    timestep_fs: float = setting(0.5, f"MD time step (fs), <= {MAX_TIMESTEP_FS:g}; 0.25-0.5 "
                                 "for water", cli="--timestep")
    n_equil: int = setting(2000, "NVT equilibration steps (not stored)")
    n_steps: int = setting(20000, "production steps (a larger value extends a finished run)")
    stride: int = setting(2, "store every stride-th production step")
    thermostat: str = setting("langevin", "equilibration thermostat: langevin | bussi")
    production: str = setting("nve", "production: nve | langevin | bussi (weak thermostat)")
    coupling_fs: float = setting(100.0, "equilibration 1/friction (Langevin) or tau_T (Bussi), fs")
    production_coupling_fs: float = setting(2000.0, "weak production thermostat time, fs")

    def __post_init__(self) -> None:
        coerce(self)
        positive(self, "temperature_K", "timestep_fs", "n_steps", "stride", "coupling_fs",
                 "production_coupling_fs")
        positive(self, "n_equil", strict=False)
        at_most(self, "timestep_fs", MAX_TIMESTEP_FS, "fs", "lower the time step")
        if self.stride > self.n_steps:
            raise SettingsError("stride", f"{{field}} ({self.stride}) is larger than n_steps "
                                f"({self.n_steps}); lower stride or raise n_steps")
        one_of(self, "thermostat", THERMOSTATS)
        one_of(self, "production", PRODUCTIONS)
