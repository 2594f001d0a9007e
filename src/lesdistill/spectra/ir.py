r"""Infrared absorption n(omega) alpha(omega) in cm^-1 from the dipole-current autocorrelation.

Classical MD, SI units (V volume, beta = 1/kT, Mdot = dM/dt = sum_i Z*_i v_i):

    n alpha(omega) = beta / (6 c V eps0) * integral_{-inf}^{inf} <Mdot(0).Mdot(t)> e^{-i omega t} dt

With Mdot in e Å/fs, t in fs, V in Å^3, T in K and c in cm/fs this is
``n_alpha[cm^-1] = IR_PREFACTOR * F / (V T)``, ``IR_PREFACTOR = 1 / (6 c eps0 k_B)`` computed
from :mod:`lesdistill.units` (:func:`ir_prefactor`, 1.16739e10 cm^-1 K Å^3 fs / (e^2 Å^2)).

Quantum corrections. The quantum absorption is n alpha = omega (1 - e^{-x}) / (6 hbar c V eps0) *
C_M(omega), x = hbar omega / kT, with C_M the FT of the quantum (standard) dipole autocorrelation.
A correction Q approximates C_M ~ Q(omega) C_M^cl. Since the classical current spectrum obeys
C_Mdot^cl = omega^2 C_M^cl, each choice multiplies the classical formula above by a factor f(x):

    "harmonic"   Q = x / (1 - e^{-x})   f = 1               (exact for harmonic systems; default;
                                                             the formula above as written)
    "standard"   Q = 2 / (1 + e^{-x})   f = tanh(x/2) / (x/2)
    "none"       Q = 1                  f = (1 - e^{-x}) / x (classical lineshape, no correction)
    "schofield"  Q = e^{x/2}            f = sinh(x/2) / (x/2)

(Ramirez, Lopez-Ciudad, Kumar & Marx, J. Chem. Phys. 121, 3973 (2004); Berens et al., J. Chem.
Phys. 74, 4872 (1981)). All f -> 1 for x -> 0.

Sum rule (classical MD, exact for "harmonic"): velocities are Maxwell-Boltzmann and independent
of positions, so <|Mdot|^2> = k_B T sum_i <|Z*_i|_F^2> / m_i and

    integral_0^inf n alpha d(nu~) = sum_i <|Z*_i|_F^2 / m_i> / (12 eps0 c^2 V)   [cm^-2]

with nu~ = omega / (2 pi c) the wavenumber in cm^-1; 1 / (12 eps0 c^2) = 1.6188e8 cm^-2 Å^3 amu/e^2
(:func:`sum_rule_prefactor`). Water: sum_i |Z_i|^2/m_i ~ 1.75 e^2/amu per molecule in 29.9 Å^3
gives ~9.5e6 cm^-2 (experiment: 9.8e6 over 10-4500 cm^-1). It is checked with every spectrum whose
source provides Born effective charges (or a fixed-charge reference) over 0..Nyquist.

eps_inf: latent LES charges are scaled to physical ones by sqrt(eps_inf), so the spectrum (and the
sum-rule side) scale by eps_inf. Leave 1.0 when the calculator already applied it. The result is
quadratic in Mdot, so independent of the arbitrary sign of latent charges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill import units
from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_open
from lesdistill.md.load import load_trajectory
from lesdistill.md.trajectory import Trajectory
from lesdistill.spectra import correlation as corr
from lesdistill.spectra.settings import CORRECTIONS, IRSettings

DEFAULT_WINDOW_PS = 1.0
MIN_WINDOW_PS = 0.1


def ir_prefactor() -> float:
    """1 / (6 c eps0 k_B) in cm^-1 K Å^3 per (e^2 Å^2 / fs^2 * fs)."""
    return 1.0 / (6.0 * units.SPEED_OF_LIGHT_CM_PER_FS * units.EPSILON0_E2_PER_EV_A
                  * units.KB_EV_PER_K)


def sum_rule_prefactor() -> float:
    """1 / (12 eps0 c^2) in cm^-2 Å^3 per (e^2 / amu): multiply by sum_i |Z_i|^2/m_i over V."""
    per_a2 = 1.0 / (12.0 * units.EPSILON0_E2_PER_EV_A * units.SPEED_OF_LIGHT_A_PER_FS ** 2
                    * units.AMU_A2_PER_FS2_TO_EV)  # eV fs^2 / (amu Å^4) -> Å^-2
    return per_a2 * 1e16  # Å^-2 -> cm^-2


def correction_factor(kind: str, wavenumber_cm: np.ndarray, temperature_K: float) -> np.ndarray:
    """Factor f(x), x = hbar omega / kT, multiplying the classical dipole-current formula."""
    if kind not in CORRECTIONS:
        raise UserInputError(f"unknown quantum correction {kind!r}; choose one of {CORRECTIONS}")
    omega = np.asarray(wavenumber_cm, dtype=float) * 2.0 * math.pi * units.SPEED_OF_LIGHT_CM_PER_FS
    x = units.HBAR_EV_FS * omega / (units.KB_EV_PER_K * temperature_K)
    safe = np.where(x > 1e-12, x, 1.0)
    if kind == "harmonic":
        factor = np.ones_like(x)
    elif kind == "none":
        factor = -np.expm1(-safe) / safe
    elif kind == "standard":
        factor = np.tanh(0.5 * safe) / (0.5 * safe)
    else:
        factor = np.sinh(0.5 * safe) / (0.5 * safe)
    return np.where(x > 1e-12, factor, 1.0)


@dataclass(frozen=True)
class SumRule:
    """Integral of the classical ("harmonic") n*alpha over wavenumber vs its exact value, cm^-2."""

    integral_cm2: float
    expected_cm2: float | None

    @property
    def relative_mismatch(self) -> float | None:
        if self.expected_cm2 is None or self.expected_cm2 == 0:
            return None
        return self.integral_cm2 / self.expected_cm2 - 1.0

    def text(self) -> str:
        head = f"sum rule: integral n*alpha d(nu) = {self.integral_cm2:.4e} cm^-2"
        if self.expected_cm2 is None:
            return head + " (not checked: no Born effective charges stored; use bec_every)"
        return (head + f", expected sum_i <|Z_i|^2>/m_i / (12 eps0 c^2 V) = "
                f"{self.expected_cm2:.4e} cm^-2, relative mismatch {self.relative_mismatch:+.2%}")


@dataclass(frozen=True)
class IRSpectrum:
    """n*alpha (cm^-1) on a wavenumber grid (cm^-1), with the standard error over blocks."""

    wavenumber_cm: np.ndarray
    n_alpha_per_cm: np.ndarray
    error_per_cm: np.ndarray  # NaN with a single block
    temperature_K: float
    volume_A3: float
    correction: str
    window: str
    window_ps: float
    n_blocks: int
    frame_dt_fs: float
    eps_inf: float = 1.0
    groups: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    group_mode: str = "cross"
    sum_rule: SumRule | None = None
    #: "self" mode: total - sum of group self spectra = the cross terms between groups (value,
    #: error), if the groups partition the atoms (``partition_residual`` ~ 0)
    cross_terms: tuple[np.ndarray, np.ndarray] | None = None
    #: max_t |Mdot - sum_G Mdot_G| / rms(Mdot): 0 when the groups partition the atoms
    partition_residual: float | None = None

    def cross_fraction(self) -> float | None:
        """Integral of the cross terms over the integral of the total (self mode), or None."""
        if self.cross_terms is None:
            return None
        total = _integral(self.wavenumber_cm, self.n_alpha_per_cm)
        return _integral(self.wavenumber_cm, self.cross_terms[0]) / total if total else None

    def group_sum_check(self) -> dict[str, float | None] | None:
        """How the groups add up to the total (None without groups), dimensionless:
        ``current_residual`` = max_t |Mdot - sum_G Mdot_G| / rms(Mdot) (0 when the groups
        partition the atoms in every frame), ``spectrum_residual`` = max |total - sum_G S_G
        (- cross terms in "self" mode)| / max |total| on the output grid, ``cross_fraction``
        (self mode: integral of the cross terms over that of the total)."""
        if not self.groups:
            return None
        parts = sum(value for value, _ in self.groups.values())
        if self.cross_terms is not None:
            parts = parts + self.cross_terms[0]
        top = float(np.max(np.abs(self.n_alpha_per_cm))) or 1.0
        return {"current_residual": self.partition_residual,
                "spectrum_residual": float(np.max(np.abs(self.n_alpha_per_cm - parts))) / top,
                "cross_fraction": self.cross_fraction()}

    def write_csv(self, path: str | Path) -> Path:
        """CSV (atomic): '#' comment lines with the settings, then wavenumber_cm-1,
        n_alpha_cm-1, error_cm-1 and n_alpha_<group>_cm-1, error_<group>_cm-1 per group."""
        columns = [self.wavenumber_cm, self.n_alpha_per_cm, self.error_per_cm]
        names = ["wavenumber_cm-1", "n_alpha_cm-1", "error_cm-1"]
        for name, (value, error) in self.groups.items():
            columns += [value, error]
            names += [f"n_alpha_{name}_cm-1", f"error_{name}_cm-1"]
        if self.cross_terms is not None:
            columns += list(self.cross_terms)
            names += ["n_alpha_cross_terms_cm-1", "error_cross_terms_cm-1"]
        lines = [f"# lesdistill IR: T = {self.temperature_K:g} K, V = {self.volume_A3:.6g} A^3, "
                 f"correction = {self.correction}, window = {self.window} {self.window_ps:g} ps, "
                 f"blocks = {self.n_blocks}, eps_inf = {self.eps_inf:g}, "
                 f"groups = {self.group_mode}"]
        if self.sum_rule is not None:
            lines.append("# " + self.sum_rule.text())
        lines.append(",".join(names))
        table = np.column_stack(columns)
        lines += [",".join(f"{v:.8g}" for v in row) for row in table]
        target = Path(path)
        with atomic_open(target, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return target


def _integral(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid rule (numpy < 2 has no np.trapezoid)."""
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def _as_trajectories(source: Any) -> list[Any]:
    items = [source] if isinstance(source, str | Path | Trajectory) else list(source)
    if not items:
        raise UserInputError("no trajectories given")
    return [item if isinstance(item, Trajectory) else load_trajectory(item, positions=False)
            for item in items]


def _blocks(n_frames: int, n_blocks: int) -> list[slice]:
    edges = np.linspace(0, n_frames, n_blocks + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def sum_z2_over_mass(bec: np.ndarray, masses: np.ndarray) -> float:
    """mean over frames of sum_i |Z_i|_F^2 / m_i, e^2/amu; bec (B, N, 3, 3) or (N, 3, 3)."""
    bec = np.asarray(bec, dtype=float)
    bec = bec[None] if bec.ndim == 3 else bec
    return float((np.einsum("bnij,bnij->bn", bec, bec) / masses).sum(axis=1).mean())


def ir_spectrum(source: Any, settings: IRSettings | None = None, *,
                temperature_K: float | None = None, volume_A3: float | None = None,
                eps_inf: float = 1.0, groups: bool | Sequence[str] = True,
                sum_z2_over_m: float | None = None, **overrides: Any) -> IRSpectrum:
    """IR absorption n*alpha (cm^-1) of one or several trajectories (paths or Trajectory).

    settings: the method (:class:`IRSettings`; default: its defaults); keyword ``overrides``
    change single fields (``ir_spectrum(traj, n_blocks=4)``). temperature_K: K (default: the mean
    kinetic temperature of the stored frames, which is the temperature of the velocities in NVE
    production; the run's target if no kinetic energies are stored). volume_A3: Å^3 (default: mean
    cell volume; required for non-periodic data). window: "hann" | "gaussian" | "none"; window_ps:
    its width (default min(1 ps, half a block)); every block must be at least twice the longest lag
    used. correction: see module docstring. n_blocks: each trajectory is split into this many
    blocks; the spectrum is their mean, ``error`` the standard error (NaN for one block in total).
    groups: stored group currents to decompose into (True: all); group_mode "cross" (FT of the even
    part of <Mdot_G(0).Mdot(t)>, additive over a partition) or "self" (<Mdot_G.Mdot_G>; the
    remainder total - sum of self spectra, the cross terms, is returned as ``cross_terms``).
    max_wavenumber_cm: output cut (None: Nyquist). sum_z2_over_m: sum_i <|Z_i|^2/m_i> (e^2/amu) for
    the sum-rule check if the trajectories hold no Born effective charges.
    """
    base = IRSettings() if settings is None else IRSettings.from_settings(settings)
    s = base.replace(**overrides) if overrides else base
    window, window_ps, correction, n_blocks = s.window, s.window_ps, s.correction, s.n_blocks
    group_mode, max_wavenumber_cm, resolution_cm = (
        s.group_mode,
        s.max_wavenumber_cm,
        s.resolution_cm,
    )
    trajs = _as_trajectories(source)
    if not eps_inf > 0:
        raise UserInputError(f"eps_inf must be > 0, got {eps_inf}")
    dt = trajs[0].frame_dt_fs
    if any(not math.isclose(t.frame_dt_fs, dt, rel_tol=1e-9) for t in trajs):
        raise UserInputError("trajectories have different frame intervals "
                             f"{sorted({t.frame_dt_fs for t in trajs})} fs; use one stride")
    if temperature_K is None:
        temperature_K = _kinetic_temperature_K(trajs)
    if not temperature_K > 0:
        raise UserInputError(f"temperature_K must be > 0, got {temperature_K}")
    if volume_A3 is None:
        if not all(t.pbc.any() for t in trajs):
            raise UserInputError("non-periodic trajectory: pass the volume (volume_A3, Å^3)")
        volume_A3 = float(np.mean([t.volume_A3 for t in trajs]))
    if not volume_A3 > 0:
        raise UserInputError(f"volume_A3 must be > 0, got {volume_A3}")
    block_frames = min(t.n_frames // n_blocks for t in trajs)
    block_fs = block_frames * dt
    if window_ps is None:
        window_ps = min(DEFAULT_WINDOW_PS, 0.5e-3 * block_fs / (
            corr.GAUSSIAN_CUT_SIGMA if window == "gaussian" else 1.0))
        if window_ps < MIN_WINDOW_PS:
            raise UserInputError(
                f"trajectory too short: blocks of {block_fs / 1e3:.3g} ps allow a window of only "
                f"{window_ps:.3g} ps (< {MIN_WINDOW_PS} ps); run longer or use fewer blocks")
    lag_fs = corr.max_lag_fs(window, window_ps)
    if 2.0 * lag_fs > block_fs + 1e-9:
        raise UserInputError(
            f"trajectory too short for the requested resolution: window {window} {window_ps:g} ps "
            f"uses lags up to {lag_fs / 1e3:g} ps but blocks are {block_fs / 1e3:.3g} ps long "
            f"({n_blocks} per trajectory); need blocks >= {2 * lag_fs / 1e3:g} ps: run longer, use "
            "fewer blocks or a narrower window")
    w = corr.window(window, window_ps, dt)
    size = corr.fft_size(len(w) - 1, dt, resolution_cm)
    nu = corr.wavenumber_grid(size, dt)
    if max_wavenumber_cm is not None and max_wavenumber_cm > nu[-1] + 1e-9:
        raise UserInputError(f"max wavenumber {max_wavenumber_cm:g} cm^-1 above the Nyquist "
                             f"limit {nu[-1]:.4g} cm^-1 of frames {dt:g} fs apart; store frames "
                             "more often (smaller stride)")
    names = _group_names(trajs, groups)
    scale = ir_prefactor() * eps_inf / (volume_A3 * temperature_K)
    blocks: dict[str | None, list[np.ndarray]] = {name: [] for name in [None, *names]}
    cross: list[np.ndarray] = []
    residual = 0.0
    for traj in trajs:
        if names:
            total = traj.dipole_current
            summed = sum(traj.group_currents[name] for name in names)
            rms = float(np.sqrt(np.mean(total ** 2))) or 1.0
            residual = max(residual, float(np.max(np.abs(total - summed))) / rms)
        for piece in _blocks(traj.n_frames, n_blocks):
            total = traj.dipole_current[piece]
            c = corr.correlation(total, max_lag=len(w) - 1)
            blocks[None].append(scale * corr.spectrum(c, w, dt, size))
            for name in names:
                part = traj.group_currents[name][piece]
                c = corr.correlation(part, None if group_mode == "self" else total,
                                     max_lag=len(w) - 1)
                blocks[name].append(scale * corr.spectrum(c, w, dt, size))
            if names and group_mode == "self":
                cross.append(blocks[None][-1] - sum(blocks[name][-1] for name in names))
    classical = np.mean(blocks[None], axis=0)
    rule = _sum_rule(trajs, nu, classical, volume_A3, eps_inf, sum_z2_over_m)
    factor = correction_factor(correction, nu, temperature_K)
    keep = slice(None) if max_wavenumber_cm is None else nu <= max_wavenumber_cm + 1e-9
    stats = {name: _mean_error(np.asarray(values) * factor) for name, values in blocks.items()}
    cross_terms = None
    if cross:
        mean, error = _mean_error(np.asarray(cross) * factor)
        cross_terms = (mean[keep], error[keep])
    return IRSpectrum(
        wavenumber_cm=nu[keep], n_alpha_per_cm=stats[None][0][keep],
        error_per_cm=stats[None][1][keep], temperature_K=float(temperature_K),
        volume_A3=float(volume_A3), correction=correction, window=window,
        window_ps=float(window_ps), n_blocks=len(blocks[None]), frame_dt_fs=dt,
        eps_inf=float(eps_inf), groups={name: (stats[name][0][keep], stats[name][1][keep])
                                        for name in names},
        group_mode=group_mode, sum_rule=rule, cross_terms=cross_terms,
        partition_residual=residual if names else None)


def _kinetic_temperature_K(trajs: Sequence[Any]) -> float:
    """Mean kinetic temperature of all stored frames (K), else the runs' target temperature.

    The classical spectrum divides <Mdot(0).Mdot(t)> by k_B T, and <|Mdot|^2> carries the
    temperature of the velocities: in NVE production that is the mean kinetic temperature,
    which can differ from the equilibration target by several per cent.
    """
    if all(getattr(t, "kinetic", None) is not None for t in trajs):
        series = np.concatenate([t.temperature_series_K() for t in trajs])
        if series.size and np.all(np.isfinite(series)) and series.mean() > 0:
            return float(series.mean())
    target = trajs[0].temperature_K
    if target is None:
        raise UserInputError("temperature unknown: pass temperature_K (--temperature)")
    return float(target)


def _group_names(trajs: Sequence[Any], groups: bool | Sequence[str]) -> list[str]:
    available = set.intersection(*(set(t.group_currents) for t in trajs))
    if groups is True:
        return sorted(available)
    if groups is False:
        return []
    missing = [name for name in groups if name not in available]
    if missing:
        raise UserInputError(f"group(s) {missing} not stored in the trajectories (have "
                             f"{sorted(available)}); pass groups= to run_md")
    return list(groups)


def _mean_error(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0)
    if values.shape[0] < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, values.std(axis=0, ddof=1) / math.sqrt(values.shape[0])


def _sum_rule(trajs: Sequence[Any], nu: np.ndarray, classical: np.ndarray, volume_A3: float,
              eps_inf: float, sum_z2_over_m: float | None) -> SumRule:
    integral = float(np.sum(0.5 * (classical[1:] + classical[:-1]) * np.diff(nu)))
    if sum_z2_over_m is None and all(t.bec is not None and len(t.bec) for t in trajs):
        sum_z2_over_m = float(np.mean([sum_z2_over_mass(t.bec, t.masses) for t in trajs]))
    expected = None
    if sum_z2_over_m is not None:
        expected = eps_inf * sum_z2_over_m * sum_rule_prefactor() / volume_A3
    return SumRule(integral_cm2=integral, expected_cm2=expected)


def spectrum_from_current(current: np.ndarray, frame_dt_fs: float, *, temperature_K: float,
                          volume_A3: float, masses: np.ndarray | None = None,
                          group_currents: Mapping[str, np.ndarray] | None = None,
                          **kwargs: Any) -> IRSpectrum:
    """:func:`ir_spectrum` of a bare dipole-current series (F, 3) in e Å/fs, frames dt fs apart."""
    current = np.asarray(current, dtype=float)
    if current.ndim != 2 or current.shape[1] != 3 or not np.all(np.isfinite(current)):
        raise UserInputError(f"dipole current must be a finite (F, 3) array, got {current.shape}")
    n = current.shape[0]
    traj = Trajectory(timestep_fs=float(frame_dt_fs), stride=1, numbers=np.zeros(0, int),
                      masses=np.zeros(0) if masses is None else np.asarray(masses, float),
                      pbc=np.zeros(3, bool), cell=np.zeros((n, 3, 3)), step=np.arange(n),
                      dipole_current=current, group_currents=dict(group_currents or {}),
                      temperature_K=temperature_K)
    return ir_spectrum(traj, temperature_K=temperature_K, volume_A3=volume_A3, **kwargs)
