"""LES core scaling benchmark: direct Ewald vs PME, and the cost of the response functions.

Prints, side by side in one run (the machine may be shared and noisy: compare the ratios):

* time per energy+forces call (charges from a small neural charge model, LES energy, backward
  to positions) for ``method="ewald"`` and ``method="pme"`` at N = 192, 1536, 12288 atoms in a
  water-like periodic box (0.1 atoms/Å^3, sigma = 1 Å, dl = 2 Å), with the PME/Ewald energy
  and force agreement;
* the fitted scaling exponents (time ~ N^alpha);
* the cost of ``born_effective_charges`` and ``dipole_current`` relative to one energy+forces
  call with the faster backend: all four calls run in turn within each round (as in an MD run
  that stores the dipole current every step), and the ratio is the median over rounds of the
  ratio within a round. The column ``isolated`` is the dipole-current ratio from back-to-back
  calls of each function alone (warm caches; E+F was 10-40% faster that way at 192 atoms).

Usage::

    python benchmarks/les_scaling.py            # N = 192, 1536, 12288
    python benchmarks/les_scaling.py --quick    # N = 192, 1536
    python benchmarks/les_scaling.py --sizes 192 768 3072
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from lesdistill.les import born_effective_charges, dipole_current, energy

DENSITY = 0.1  # atoms / Å^3 (liquid water)
CUTOFF = 4.0  # Å, charge-model neighbour cutoff


def water_like_box(n_atoms: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random positions at water density in a cubic box, random velocities (Å/fs)."""
    gen = torch.Generator().manual_seed(seed)
    length = (n_atoms / DENSITY) ** (1.0 / 3.0)
    cell = torch.eye(3, dtype=torch.float64) * length
    pos = torch.rand(n_atoms, 3, generator=gen, dtype=torch.float64) * length
    vel = 0.01 * torch.randn(n_atoms, 3, generator=gen, dtype=torch.float64)
    return pos, vel, cell


class PairDensityCharges(torch.nn.Module):
    """Tiny charge model: radial-basis neighbour densities -> MLP -> charge, alternating sign prior.

    Exercises autograd through the charges exactly like a student model does (neighbour pairs
    fixed from a vesin list; distances recomputed differentiably from the positions).
    """

    def __init__(
        self, pos: torch.Tensor, cell: torch.Tensor, n_basis: int = 8, hidden: int = 16
    ) -> None:
        super().__init__()
        from vesin import NeighborList

        i, j, shifts = NeighborList(cutoff=CUTOFF, full_list=False).compute(
            pos.numpy(), cell.numpy(), periodic=True, quantities="ijS"
        )
        self.i = torch.as_tensor(i.astype(np.int64))
        self.j = torch.as_tensor(j.astype(np.int64))
        self.shift = torch.as_tensor(shifts.astype(np.float64)) @ cell
        self.centres = torch.linspace(0.8, CUTOFF, n_basis, dtype=torch.float64)
        gen = torch.Generator().manual_seed(0)
        self.w1 = torch.nn.Parameter(
            torch.randn(n_basis, hidden, generator=gen, dtype=torch.float64) / 3
        )
        self.w2 = torch.nn.Parameter(torch.randn(hidden, 1, generator=gen, dtype=torch.float64) / 4)
        self.prior = torch.where(torch.arange(pos.shape[0]) % 3 == 0, -0.8, 0.4).to(torch.float64)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        d = pos[self.j] - pos[self.i] + self.shift
        r = torch.sqrt((d * d).sum(1))
        fcut = 0.5 * (torch.cos(math.pi * r / CUTOFF) + 1.0) * (r < CUTOFF)
        basis = torch.exp(-4.0 * (r.unsqueeze(1) - self.centres) ** 2) * fcut.unsqueeze(1)
        dens = torch.zeros(pos.shape[0], basis.shape[1], dtype=pos.dtype)
        dens = dens.index_add(0, self.i, basis).index_add(0, self.j, basis)
        return self.prior + 0.1 * (torch.tanh(dens @ self.w1) @ self.w2).squeeze(1)


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Time several calls side by side: each round runs every function once, in turn.

    Returns the median seconds per function and the per-round times, so that ratios can be
    taken round by round (load changes on a shared machine then hit numerator and denominator
    alike).
    """
    for fn in fns.values():
        fn()  # warm-up (k-set cache, allocator)
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            rounds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in rounds.items()}, rounds


def blocked(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` back-to-back calls (warm caches: the call in isolation)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_ratio(rounds: dict[str, list[float]], num: str, den: str) -> float:
    """Median over rounds of time(num) / time(den) measured in the same round."""
    return statistics.median(a / b for a, b in zip(rounds[num], rounds[den]))


def energy_forces(model, pos, cell, method):
    x = pos.detach().requires_grad_(True)
    e = energy(model(x), x, cell, method=method)
    (g,) = torch.autograd.grad(e, x)
    return e.detach(), -g


def fit_exponent(sizes: list[int], times: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[192, 1536, 12288])
    parser.add_argument("--quick", action="store_true", help="skip sizes above 2000 atoms")
    parser.add_argument(
        "--repeats", type=int, default=15, help="interleaved rounds per size up to 2000 atoms"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [n for n in args.sizes if not (args.quick and n > 2000)]
    print(
        f"torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, float64, sigma 1 Å, dl "
        "2 Å, "
        f"density {DENSITY} atoms/Å^3"
    )
    header = (
        f"{'N':>7} {'ewald E+F':>11} {'pme E+F':>10} {'ewald/pme':>9} {'dE rel':>9} {'dF rel':>9} "
        f"{'BEC/EF':>7} {'dM/dt/EF':>8} {'isolated':>8}"
    )
    print(header)
    t_ew, t_pm = [], []
    for n in sizes:
        pos, vel, cell = water_like_box(n, seed=n)
        model = PairDensityCharges(pos, cell)
        reps = args.repeats if n <= 2000 else 1
        e_ew, f_ew = energy_forces(model, pos, cell, "ewald")
        e_pm, f_pm = energy_forces(model, pos, cell, "pme")
        calls = {
            "ewald": partial(energy_forces, model, pos, cell, "ewald"),
            "pme": partial(energy_forces, model, pos, cell, "pme"),
            "bec": partial(born_effective_charges, model, pos, cell),
            "current": partial(dipole_current, model, pos, vel, cell),
        }
        medians, rounds = interleaved(calls, reps)
        alone = {name: blocked(calls[name], reps) for name in ("ewald", "pme", "current")}
        te, tp = medians["ewald"], medians["pme"]
        t_ew.append(te)
        t_pm.append(tp)
        best = "ewald" if te < tp else "pme"
        de = abs((e_pm - e_ew) / e_ew).item()
        df = ((f_pm - f_ew).abs().max() / f_ew.abs().max()).item()
        print(
            f"{n:>7} {te * 1e3:>9.1f}ms {tp * 1e3:>8.1f}ms {te / tp:>9.2f} {de:>9.1e} {df:>9.1e} "
            f"{paired_ratio(rounds, 'bec', best):>7.2f} "
            f"{paired_ratio(rounds, 'current', best):>8.2f} "
            f"{alone['current'] / alone[best]:>8.2f}   (E+F reference: {best}; {reps} rounds)",
            flush=True,
        )
    if len(sizes) >= 2:
        print(f"scaling exponent (time ~ N^alpha, fit over N = {sizes}): "
              f"ewald {fit_exponent(sizes, t_ew):.2f}, pme {fit_exponent(sizes, t_pm):.2f}")
        crossover = next((n for n, a, b in zip(sizes, t_ew, t_pm) if b < a), None)
        print(f"PME faster from N = {crossover} (of the sizes measured)")


if __name__ == "__main__":
    main()
