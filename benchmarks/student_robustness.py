"""Do under-trained students survive hot MD? The ZBL prior (data-ranged) against no prior.

For each seed it trains two students on the same labelled frames for a few epochs, one with
``repulsion: zbl`` (the default: switched ZBL that ends at each element pair's closest contact
in the training data) and one with ``repulsion: none``, then runs Langevin MD (0.5 fs, friction
0.02/fs) from the first test frame and reports the first 50-step block in which two atoms came
closer than 0.5 Å or positions became non-finite, or that the run survived, with the closest
pair seen. Validation errors are printed too: the prior is zero on every training geometry, so
they should agree.

    python benchmarks/student_robustness.py --train lesdistill-demo/sample/train.extxyz \\
        --valid lesdistill-demo/sample/valid.extxyz --start lesdistill-demo/sample/test.extxyz \\
        [--epochs 3] [--seeds 1 2 3] [--temperature 600] [--steps 4000]

(the frames of a `lesdistill demo` run: CHGNet water, 32 molecules, sampled at 420 K).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.io import read
from ase.md import velocitydistribution as vdist
from ase.md.langevin import Langevin

from lesdistill.calculator import StudentCalculator
from lesdistill.sampling.guards import min_pair_distance
from lesdistill.training.config import TrainConfig
from lesdistill.training.loop import train


def hot_md(student: Path, start, temperature_K: float, n_steps: int, seed: int) -> str:
    atoms = start.copy()
    atoms.calc = StudentCalculator(student)
    rng = np.random.default_rng(seed)
    if hasattr(vdist, "thermalize_momenta"):  # ASE >= 3.29
        vdist.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:
        vdist.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    dyn = Langevin(
        atoms,
        0.5 * units.fs,
        temperature_K=temperature_K,
        friction=0.02 / units.fs,
        fixcm=False,
        rng=rng,
    )
    closest = np.inf
    for block in range(n_steps // 50):
        dyn.run(50)
        d = min_pair_distance(atoms, 2.0)
        closest = min(closest, d)
        if not np.all(np.isfinite(atoms.positions)) or d < 0.5:
            dist = atoms.get_all_distances(mic=True) + 9.0 * np.eye(len(atoms))
            i, j = np.unravel_index(np.argmin(dist), dist.shape)
            return (f"collapsed at step {(block + 1) * 50}: {atoms[i].symbol}-{atoms[j].symbol} "
                    f"{d:.3f} Å, T {atoms.get_temperature():.0f} K")
    return f"survived {n_steps} steps, closest pair {closest:.3f} Å"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--valid", type=Path, required=True)
    parser.add_argument(
        "--start", type=Path, required=True, help="structure file; its first frame starts the MD"
    )
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--temperature", type=float, default=600.0, help="K")
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = read(args.start, 0)
    print(
        f"{args.preset} students, {args.epochs} epochs on "
        f"{args.train}; Langevin MD at {args.temperature:.0f} K, "
        f"{args.steps} steps of 0.5 fs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for repulsion in ("none", "zbl"):
                config = TrainConfig(model_preset=args.preset, epochs=args.epochs, seed=seed,
                                     model={"repulsion": repulsion})
                out = Path(tmp) / f"{repulsion}-{seed}"
                result = train(
                    config, args.train, valid_files=args.valid, out_dir=out, progress=False
                )
                errors = ", ".join(
                    f"{k} {v:.4g}" for k, v in result.final.items() if "valid" in k and "mae" in k
                )
                outcome = hot_md(out / "best.pt", start, args.temperature, args.steps, seed)
                print(f"seed {seed} repulsion {repulsion:>4}: {errors}; {outcome}", flush=True)


if __name__ == "__main__":
    main()
