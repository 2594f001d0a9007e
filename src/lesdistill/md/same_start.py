"""Teacher and student MD from the same start, for comparing their dynamics (VDOS).

Both runs start from the same positions and the same seeded Maxwell-Boltzmann velocities (zero
total momentum) and integrate NVE with velocity Verlet (ASE) at the same time step, storing the
velocities every ``stride`` steps. Differences in their VDOS are then differences between the
potentials, not between thermostats or starts. The teacher run costs ``n_steps`` teacher calls;
keep it short on a CPU (0.5-1 s per call for a foundation model on 100 atoms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lesdistill.errors import UserInputError

__all__ = ["SameStartSettings", "start_state", "nve_velocities"]


@dataclass(frozen=True)
class SameStartSettings:
    """``n_steps`` NVE steps of ``timestep_fs`` for each model, velocities stored every
    ``stride`` steps; start velocities at ``temperature_K`` (None: the MD stage's) from ``seed``;
    ``n_steps = 0`` turns the comparison off."""

    n_steps: int = 0
    timestep_fs: float = 0.5
    stride: int = 2
    temperature_K: float | None = None
    window_ps: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_steps, int) or self.n_steps < 0:
            raise UserInputError(f"vdos.n_steps must be an integer >= 0, got {self.n_steps!r}")
        if not 0 < self.timestep_fs <= 2.0:
            raise UserInputError(f"vdos.timestep_fs must be in (0, 2] fs, got {self.timestep_fs}")
        if not isinstance(self.stride, int) or self.stride < 1:
            raise UserInputError(f"vdos.stride must be an integer >= 1, got {self.stride!r}")
        if self.timestep_fs * self.stride > 4.0:
            raise UserInputError(f"vdos: frames {self.timestep_fs * self.stride} fs apart miss "
                                 "the O-H stretch (Nyquist < 4170 cm^-1); keep timestep_fs x "
                                 "stride <= 4 fs")
        if self.n_steps and self.n_steps < 16 * self.stride:
            raise UserInputError(f"vdos.n_steps ({self.n_steps}) must give at least 16 stored "
                                 f"frames (>= {16 * self.stride} with stride {self.stride})")
        if self.temperature_K is not None and not self.temperature_K > 0:
            raise UserInputError(f"vdos.temperature_K must be > 0 K, got {self.temperature_K}")
        if self.window_ps is not None and not self.window_ps > 0:
            raise UserInputError(f"vdos.window_ps must be > 0 ps, got {self.window_ps}")


def start_state(atoms: Any, temperature_K: float, seed: int) -> Any:
    """A copy of ``atoms`` with seeded Maxwell-Boltzmann velocities at ``temperature_K`` and zero
    total momentum (no calculator attached)."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    work = atoms.copy()
    work.calc = None
    MaxwellBoltzmannDistribution(work, temperature_K=temperature_K,
                                 rng=np.random.default_rng(seed))
    Stationary(work)
    return work


def nve_velocities(start: Any, calculator: Any, *, n_steps: int, timestep_fs: float,
                   stride: int, progress: bool = False, label: str = "MD") -> np.ndarray:
    """Velocities (n_steps // stride + 1, N, 3) in Å/fs of NVE velocity-Verlet MD from ``start``
    (not modified) with ``calculator``; the first row is the start."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    work = start.copy()
    work.calc = calculator
    frames = [work.get_velocities() * units.fs]
    dyn = VelocityVerlet(work, timestep=timestep_fs * units.fs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, desc=label, unit="step", leave=False)

    for _ in range(n_steps // stride):
        dyn.run(stride)
        v = work.get_velocities() * units.fs
        if not np.all(np.isfinite(v)):
            raise UserInputError(f"{label}: velocities became NaN; use a smaller vdos.timestep_fs")
        frames.append(v)
        if bar is not None:
            bar.update(stride)
    if bar is not None:
        bar.close()
    return np.array(frames)
