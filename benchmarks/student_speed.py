"""Speed of LES students vs CHGNet 0.3.0, measured side by side in one run.

For each size preset (tiny/small/medium, untrained float32 weights: timing does not depend on the
weights) and water boxes of 96 and 192 atoms (lesdistill.systems.water_box, 0.997 g/cm^3) it
prints the time in ms of one energy+forces call through the ASE calculator (neighbour list
included, as in MD), the time of the LES part (lesdistill.les.energy forward + backward with the
model's sigma/dl/method on the same box) and its share of the student step, and the speed-up over
CHGNet 0.3.0 (CHGNetCalculator: energy + forces + stress, its default), and the time of one
dipole-current call (StudentCalculator.get_dipole_current, as stored per MD step for IR spectra)
with its ratio to the student's energy+forces call. Calls of all models are
interleaved and the median over repeats is reported. Both wall time and process CPU time are
recorded; with --threads 1 the CPU time is the robust number on a busy shared machine (it does
not count time the process waits for a core), and the ratios use the chosen --clock.

With --compile "tiny+compile" and "small+compile" rows add those presets with the backbone
compiled by torch.compile (the one-off compilation is not timed). The dipole-current column is a
call at a new geometry (its own forward pass); "kept" is the dipole current from the forward
graph kept by the energy+forces call (what spectra MD does in the steps that store a frame),
relative to one energy+forces call.

    python benchmarks/student_speed.py [--repeats 7] [--calls 3] [--threads N] [--clock cpu|wall]
                                       [--compile] [--no-chgnet]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from lesdistill.calculator import StudentCalculator
from lesdistill.model import PRESETS, StudentConfig, StudentModel
from lesdistill.systems import water_box

SIZES = {96: 32, 192: 64}  # atoms: molecules


def _timer(calc, atoms, rng: np.random.Generator) -> Callable[[], None]:
    atoms = atoms.copy()
    atoms.calc = calc
    reference = atoms.positions.copy()

    def step() -> None:
        atoms.positions = reference + rng.normal(
            scale=1e-3, size=reference.shape
        )  # forces a new call
        atoms.get_forces()

    return step


def _current_timer(calc, atoms, rng: np.random.Generator) -> Callable[[], None]:
    """Dipole current dM/dt = sum_i Z*_i v_i through the calculator (six backward passes in a
    cell)."""
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.set_velocities(rng.normal(scale=0.01, size=atoms.positions.shape))
    reference = atoms.positions.copy()

    def step() -> None:
        atoms.positions = reference + rng.normal(scale=1e-3, size=reference.shape)
        calc.get_dipole_current(atoms)

    return step


def _kept_timer(calc, atoms, rng: np.random.Generator) -> Callable[[], None]:
    """Energy+forces keeping the forward graph, then the dipole current from it (a spectra-MD
    step that stores a frame)."""
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.set_velocities(rng.normal(scale=0.01, size=atoms.positions.shape))
    reference = atoms.positions.copy()

    def step() -> None:
        calc.retain_response_graph = True
        atoms.positions = reference + rng.normal(scale=1e-3, size=reference.shape)
        atoms.get_forces()
        calc.get_dipole_current(atoms)

    return step


def _les_timer(model: StudentModel, atoms) -> Callable[[], None]:
    """The LES part of a student step: energy of latent charges + gradients w.r.t. q, r, cell."""
    from lesdistill.les import energy

    kw = {"dtype": model.dtype}
    rng = np.random.default_rng(1)
    charges = torch.tensor(rng.normal(scale=0.5, size=len(atoms)), **kw, requires_grad=True)
    positions = torch.tensor(atoms.positions, **kw, requires_grad=True)
    cell = torch.tensor(atoms.cell.array, **kw, requires_grad=True)
    c = model.config

    def step() -> None:
        e = energy(charges, positions, cell, sigma=c.les_sigma, dl=c.les_dl, method=c.les_method)
        torch.autograd.grad(e, [charges, positions, cell])

    return step


def _measure(
    timers: dict[str, Callable[[], None]], repeats: int, calls: int, clock: Callable[[], float]
) -> dict[str, float]:
    for fn in timers.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, fn in timers.items():
            start = clock()
            for _ in range(calls):
                fn()
            samples[name].append((clock() - start) / calls * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="wall", help="process CPU time or wall time"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time the small preset with torch.compile"
    )
    parser.add_argument("--no-chgnet", action="store_true", help="skip the CHGNet reference")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    chgnet_calc = None
    if not args.no_chgnet:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        chgnet = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
        chgnet_calc = CHGNetCalculator(chgnet, use_device="cpu")
    models = {}
    for name in PRESETS:
        config = StudentConfig.from_preset(name, elements=["H", "O"], dtype="float32")
        models[name] = StudentModel(config).eval()
    if args.compile:
        for name in ("tiny", "small"):
            models[f"{name}+compile"] = StudentModel(
                StudentConfig.from_preset(name, elements=["H", "O"])
            ).eval()
            models[f"{name}+compile"].compile_backbone()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.clock} clock; "
        f"median of {args.repeats} x {args.calls} calls; load average {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"{'atoms':>5} {'model':>13} {'params':>8} {'ms E+F':>8} "
        f"{'LES ms':>7} {'LES %':>6} {'x CHGNet':>9} "
        f"{'dM/dt ms':>9} {'/ E+F':>6} {'kept / E+F':>10}"
    )
    print(header)
    print("-" * len(header))
    for n_atoms, n_molecules in SIZES.items():
        atoms = water_box(n_molecules=n_molecules, seed=0)
        timers: dict[str, Callable[[], None]] = {}
        if chgnet_calc is not None:
            timers["chgnet"] = _timer(chgnet_calc, atoms, rng)
        for name, model in models.items():
            timers[name] = _timer(StudentCalculator(model), atoms, rng)
            timers[f"{name}/les"] = _les_timer(model, atoms)
            timers[f"{name}/current"] = _current_timer(StudentCalculator(model), atoms, rng)
            timers[f"{name}/kept"] = _kept_timer(StudentCalculator(model), atoms, rng)
        ms = _measure(timers, args.repeats, args.calls, clock)
        if chgnet_calc is not None:
            params = sum(p.numel() for p in chgnet_calc.model.parameters())
            print(
                f"{n_atoms:5d} {'CHGNet':>13} {params:8d} "
                f"{ms['chgnet']:8.1f} {'-':>7} {'-':>6} {1.0:9.1f}"
            )
        for name, model in models.items():
            les_ms = ms[f"{name}/les"]
            share = 100.0 * les_ms / ms[name]
            ratio = ms["chgnet"] / ms[name] if chgnet_calc is not None else float("nan")
            params = sum(p.numel() for p in model.parameters())
            current = ms[f"{name}/current"]
            print(
                f"{n_atoms:5d} {name:>13} {params:8d} {ms[name]:8.1f} "
                f"{les_ms:7.1f} {share:6.1f} {ratio:9.1f} "
                f"{current:9.1f} {current / ms[name]:6.2f} "
                f"{(ms[f'{name}/kept'] - ms[name]) / ms[name]:10.2f}"
            )


if __name__ == "__main__":
    main()
