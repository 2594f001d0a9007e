"""Fused PaiNN message vs the plain-autograd layer, side by side in one process.

For each preset (untrained float32 weights) and water box (lesdistill.systems.water_box) it
times, interleaved round by round (process CPU time, one thread), the student's energy+forces
(``StudentModel(batch, compute_forces=True)``, batch built once) and one vector-Jacobian
product of the latent charges (what the dipole current does six times), with
``model.backbone.fused`` True and False, and prints the ratios and the largest force
difference between the two (float32 round-off).

    python benchmarks/painn_message.py [--presets tiny,small] [--molecules 64] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from lesdistill.data.batch import AtomicBatch
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.systems import water_box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--molecules", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    atoms = water_box(n_molecules=args.molecules, seed=0)
    print(
        f"{3 * args.molecules} atoms, 1 thread, CPU time, median of {args.rounds} x {args.calls}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'preset':>7} {'task':>6} {'plain ms':>9} {'fused ms':>9} {'plain/fused':>12}")
    for preset in args.presets.split(","):
        model = StudentModel(
            StudentConfig.from_preset(preset, elements=["H", "O"], dtype="float32")
        ).eval()
        batch = AtomicBatch.from_atoms([atoms], model.cutoff, dtype=model.dtype)

        def ef(model: StudentModel = model, batch: AtomicBatch = batch) -> torch.Tensor:
            return model(batch, compute_forces=True, create_graph=False)["forces"]

        def vjp(model: StudentModel = model, batch: AtomicBatch = batch) -> None:
            x = batch.positions.clone().requires_grad_(True)
            q = model.latent_charges(batch.replace(positions=x))
            torch.autograd.grad(q, x, torch.cos(x[:, 0].detach()))

        forces = {}
        samples = {(f, t): [] for f in (False, True) for t in ("E+F", "VJP")}
        for fused in (False, True):
            model.backbone.fused = fused
            forces[fused] = ef().detach()
            vjp()
        for _ in range(args.rounds):
            for fused in (False, True):
                model.backbone.fused = fused
                for task, fn in (("E+F", ef), ("VJP", vjp)):
                    start = time.process_time()
                    for _ in range(args.calls):
                        fn()
                    samples[(fused, task)].append((time.process_time() - start) / args.calls * 1e3)
        for task in ("E+F", "VJP"):
            plain = statistics.median(samples[(False, task)])
            fused = statistics.median(samples[(True, task)])
            print(f"{preset:>7} {task:>6} {plain:9.2f} {fused:9.2f} {plain / fused:12.2f}")
        diff = (forces[True] - forces[False]).abs().max().item()
        print(
            f"{preset:>7} max |F_fused - F_plain| = {diff:.2e} eV/Å "
            f"(max |F| {forces[False].abs().max().item():.2f})"
        )


if __name__ == "__main__":
    main()
