"""The settings of teacher-MD sampling (:func:`lesdistill.sampling.sample`): one frozen dataclass.

Kept apart from :mod:`lesdistill.sampling.md` so that the run config and the CLI, which build
their sampling options from it, import it without numpy or ASE.
"""

from __future__ import annotations

from dataclasses import dataclass

from lesdistill.settings import Settings, SettingsError, at_most, coerce, one_of, positive, setting

__all__ = ["QUICK", "THERMOSTATS", "SampleSettings"]

THERMOSTATS = ("langevin", "bussi", "nose-hoover")
PRE_EQUILIBRATIONS = ("auto", "none", "tip3p")


@dataclass(frozen=True)
class SampleSettings(Settings):
    """The teacher-MD protocol of one sampling run (units in the names; validated on creation).

    One NVT segment per (temperature, strain) pair, ``n_frames`` frames in total split evenly
    over the segments. This is the one home of these settings: ``sample()`` takes it, the run
    config's ``sampling`` section (:class:`lesdistill.config.SamplingConfig`) extends it, and
    the CLI's ``sample`` options are derived from its fields. The run's ``seed`` is not a
    setting here (a run has one seed); ``sample()`` takes it next to the settings.
    """

    temperatures_K: tuple[float, ...] = setting((300.0,), "temperatures (K), one segment each",
                                                cli="--temperatures")
    strains: tuple[float, ...] = setting((0.0,), "isotropic linear strains s (cell x (1 + s)), "
                                         "one segment each", cli="--strains")
    n_frames: int = setting(200, "kept frames in total, split over the segments")
    stride: int = setting(10, "MD steps between kept frames")
    timestep_fs: float = setting(0.5, "MD time step (fs), <= 10")
    equilibration_steps: int = setting(100, "unrecorded MD steps at the start of every segment")
    thermostat: str = setting("langevin", "langevin | bussi | nose-hoover")
    friction_per_fs: float = setting(0.01, "Langevin friction (1/fs); Bussi / Nose-Hoover "
                                     "time constant = 1/friction")
    relax: bool = setting(False, "pre-relax the structure with the teacher (FIRE)",
                          cli="--relax/--no-relax")
    relax_fmax_eV_A: float = setting(0.1, "pre-relaxation force threshold (eV/Å)")
    relax_steps: int = setting(200, "at most this many pre-relaxation steps")
    max_temperature_factor: float = setting(3.0, "abort when T exceeds this x the target")
    min_distance_A: float = setting(0.5, "abort when two atoms come closer (Å)")
    pre_equilibration: str = setting(
        "auto",
        "auto | none | tip3p: with tip3p every segment starts from its own rigid-TIP3P "
        "liquid (water boxes only; no teacher calls); auto: tip3p for a periodic box of "
        "water molecules ordered O, H, H, none otherwise",
    )
    pre_equilibration_ps: float = setting(1.0, "TIP3P MD per segment start (ps)")
    snapshot_fraction: float = setting(
        0.0,
        "fraction of each segment's frames drawn as independent "
        "TIP3P liquid snapshots in the teacher's thermal molecular "
        "geometry, one teacher call each (needs pre_equilibration: tip3p)",
    )
    snapshot_interval_ps: float = setting(0.05, "TIP3P MD between two snapshots (ps)")
    n_clusters: int = setting(0, "extra frames: clusters of cluster_molecules whole molecules cut "
                              "from the recorded MD frames, labelled by the teacher in open "
                              "boundaries (teachers with open-boundary support; neutral systems)")
    cluster_molecules: int = setting(8, "molecules per cluster (the nearest to a random centre "
                                     "molecule)")
    settle_window: int = setting(
        20,
        "equilibration check over the last N MD steps: <T> near the "
        "target, no energy drift (0: no check)",
    )
    max_equilibration_steps: int = setting(400, "record nothing if the MD has not settled after "
                                           "this many steps")
    settle_temperature_tolerance: float = setting(0.1, "allowed |<T> - target| / target")
    settle_energy_tolerance: float = setting(0.3, "allowed potential-energy drift over the window "
                                             "(k_B T per atom)")

    def __post_init__(self) -> None:
        coerce(self)
        if not self.temperatures_K:
            raise SettingsError("temperatures_K", "temperatures_K is empty; give at least one "
                                "temperature in K")
        positive(self, "temperatures_K", "n_frames", "stride", "timestep_fs", "friction_per_fs",
                 "relax_fmax_eV_A", "relax_steps", "max_temperature_factor", "min_distance_A")
        positive(self, "equilibration_steps", strict=False)
        at_most(self, "timestep_fs", 10.0, "fs", "lower the time step")
        if not self.strains or min(self.strains) <= -0.5:
            raise SettingsError("strains", f"strains must be a list of numbers > -0.5, got "
                                f"{self.strains!r}")
        one_of(self, "thermostat", THERMOSTATS)
        one_of(self, "pre_equilibration", PRE_EQUILIBRATIONS)
        positive(
            self,
            "pre_equilibration_ps",
            "settle_temperature_tolerance",
            "settle_energy_tolerance",
            "snapshot_interval_ps",
        )
        if not 0.0 <= self.snapshot_fraction <= 1.0:
            raise SettingsError("snapshot_fraction", f"snapshot_fraction must be in [0, 1], got "
                                f"{self.snapshot_fraction}")
        if self.snapshot_fraction > 0 and self.pre_equilibration == "none":
            raise SettingsError(
                "snapshot_fraction",
                "snapshots need pre_equilibration: tip3p or auto (water "
                "boxes); set snapshot_fraction: 0 for other systems",
            )
        positive(self, "settle_window", "max_equilibration_steps", "n_clusters", strict=False)
        positive(self, "cluster_molecules")
        if 0 < self.settle_window < 4:
            raise SettingsError(
                "settle_window",
                f"settle_window must be 0 (no check) or >= 4 steps, got {self.settle_window}",
            )
        if self.max_equilibration_steps < self.equilibration_steps:
            raise SettingsError("max_equilibration_steps", f"max_equilibration_steps "
                                f"({self.max_equilibration_steps}) must be >= equilibration_steps "
                                f"({self.equilibration_steps})")

    def pre_equilibration_for(self, is_water_box: bool) -> str:
        """The pre-equilibration a segment gets ("none" or "tip3p"): ``auto`` resolves to
        "tip3p" for a periodic box of whole water molecules ordered O, H, H."""
        if self.pre_equilibration == "auto":
            return "tip3p" if is_water_box else "none"
        return self.pre_equilibration

    def segments(self) -> list[tuple[float, float, int]]:
        """(temperature K, strain, frames) per segment; frames sum to ``n_frames``."""
        pairs = [(t, s) for t in self.temperatures_K for s in self.strains]
        base, extra = divmod(self.n_frames, len(pairs))
        return [(t, s, base + (1 if k < extra else 0)) for k, (t, s) in enumerate(pairs)]

    def n_snapshots(self, n_segment: int) -> int:
        """How many of a segment's ``n_segment`` frames are snapshots (the first ones)."""
        return int(round(self.snapshot_fraction * n_segment))


#: ``lesdistill sample --quick``: a laptop-size run (minutes on a CPU)
QUICK = SampleSettings(n_frames=30, stride=5, equilibration_steps=40)
