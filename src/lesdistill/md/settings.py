"""The settings of student MD for spectra (:func:`lesdistill.md.run_md`): one frozen dataclass.

The run config's ``md`` section is this dataclass and the CLI's ``md`` options are derived from
its fields (see :mod:`lesdistill.settings`); it imports neither numpy nor ASE.
"""

from __future__ import annotations

import math
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
    field_V_per_A: tuple[float, ...] = setting(
        (0.0, 0.0, 0.0), "external electric field Ex,Ey,Ez (V/Å) in equilibration and production: "
        "F_i += Z*_i^T E, energy -E.P (needs a student with BECs; lesdistill.md.field)",
        cli="--field")
    field_asr: bool = setting(False, "acoustic sum rule for the field forces: subtract the mean "
                              "BEC (zero net force)", cli="--field-asr/--no-field-asr")

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
        field = self.field_V_per_A
        if len(field) != 3 or not all(math.isfinite(x) for x in field):
            raise SettingsError("field_V_per_A", f"{{field}} must be three finite numbers "
                                f"Ex,Ey,Ez (V/Å), got {field!r}")

    @property
    def has_field(self) -> bool:
        """True if an external electric field is applied."""
        return any(x != 0.0 for x in self.field_V_per_A)
