"""The settings of student-driven sampling (:func:`lesdistill.sampling.refine.refine`): one
frozen dataclass, importable without numpy or ASE (the run config and the CLI build on it)."""

from __future__ import annotations

from dataclasses import dataclass

from lesdistill.settings import Settings, SettingsError, at_most, coerce, positive, setting

__all__ = ["RefineSettings"]


@dataclass(frozen=True)
class RefineSettings(Settings):
    """Label configurations of the student's own MD with the teacher, then fine-tune on them.

    A student trained on teacher MD frames runs its own MD, and that MD goes where the teacher's
    short sampling runs never went (for CHGNet water: a more tightly hydrogen-bonded liquid,
    reached over picoseconds). ``n_frames`` frames of that MD, split evenly over the
    temperatures, are labelled by the teacher (one call each) and the student is fine-tuned on
    the teacher frames plus these. ``n_frames = 0`` turns the stage off.
    """

    n_frames: int = setting(0, "teacher-labelled frames of the student's own MD (0: off)")
    temperatures_K: tuple[float, ...] = setting((), "student MD temperatures (K), frames split "
                                                "evenly; empty: the sampling temperatures")
    equilibration_ps: float = setting(1.0, "student MD before the first recorded frame (ps)")
    interval_fs: float = setting(25.0, "student MD between two recorded frames (fs)")
    timestep_fs: float = setting(0.5, "student MD time step (fs), <= 2")
    friction_per_fs: float = setting(0.01, "Langevin friction of the student MD (1/fs)")
    epochs: int = setting(20, "fine-tuning epochs on the teacher frames plus the new ones")
    lr_factor: float = setting(0.5, "fine-tuning learning rate = training lr x this")
    valid_fraction: float = setting(0.2, "fraction of the new frames held out (validation and "
                                    "the before/after force error)")

    def __post_init__(self) -> None:
        coerce(self)
        positive(self, "n_frames", strict=False)
        positive(self, "equilibration_ps", "interval_fs", "timestep_fs", "friction_per_fs",
                 "epochs", "lr_factor")
        at_most(self, "timestep_fs", 2.0, "fs", "lower the time step")
        if any(not t > 0 for t in self.temperatures_K):
            raise SettingsError("temperatures_K", f"temperatures_K must be > 0 K, got "
                                f"{list(self.temperatures_K)}")
        if self.interval_fs < self.timestep_fs:
            raise SettingsError("interval_fs", f"interval_fs ({self.interval_fs}) must be at least "
                                f"one time step ({self.timestep_fs} fs)")
        if not 0.0 < self.valid_fraction < 1.0:
            raise SettingsError("valid_fraction", f"valid_fraction must be in (0, 1), got "
                                f"{self.valid_fraction}")
        if 0 < self.n_frames < 2:
            raise SettingsError("n_frames", "n_frames must be 0 (off) or >= 2 (training and "
                                "held-out frames)")

    def steps_per_frame(self) -> int:
        """MD steps between two recorded frames."""
        return max(1, int(round(self.interval_fs / self.timestep_fs)))

    def equilibration_steps(self) -> int:
        """Unrecorded MD steps at the start of each temperature's run."""
        return int(round(self.equilibration_ps * 1000.0 / self.timestep_fs))

    def split(self, temperatures: tuple[float, ...]) -> list[tuple[float, int]]:
        """(temperature K, frames) per student MD run; frames sum to ``n_frames``."""
        temps = self.temperatures_K or temperatures
        base, extra = divmod(self.n_frames, len(temps))
        return [(float(t), base + (1 if k < extra else 0)) for k, t in enumerate(temps)]
