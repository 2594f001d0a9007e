"""Cost of training with BEC labels on some frames: this checkout against a git revision.

Two worker processes import lesdistill from two source trees (the working tree and ``--baseline``
checked out with ``git archive``) and run :func:`lesdistill.training.loop.train` on the same
frames in turn, round by round; each run is timed by the worker's process CPU time (one thread).
The frames: ``--frames`` water structures of ``--molecules`` H2O (``water`` builder, seeded,
positions jittered by 0.05 Å; ``--system box``: periodic, ``cluster``: the cell removed) with
synthetic labels (energy, forces, and on the first ``--labelled`` frames a BEC of +0.4 / -0.8 e
on the diagonal plus noise): what is timed is the training step, not the fit. The final
training losses of the two versions are printed side by side (equal when the BEC term is the
same).

    python benchmarks/bec_training_cost.py --baseline REV [--system box] [--frames 24]
        [--labelled 6] [--epochs 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np

from compare_versions import Worker, _checkout  # run as benchmarks/bec_training_cost.py

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, time, tempfile
import torch
torch.set_num_threads(1)
from lesdistill.training.config import TrainConfig
from lesdistill.training.loop import train

args = json.loads(sys.argv[1])
cfg = TrainConfig(model_preset="tiny", model={"eps_inf": 1.78}, epochs=args["epochs"],
                  batch_size=4, lr=1e-3, bec_weight=10.0, stage_two_bec_weight=10.0,
                  stage_two_start=None, valid_fraction=0.0, test_fraction=0.0, seed=0,
                  checkpoint_interval_s=1e9)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    with tempfile.TemporaryDirectory() as out:
        c0, w0 = time.process_time(), time.perf_counter()
        result = train(cfg, args["data"], out_dir=out, progress=False)
        c1, w1 = time.process_time(), time.perf_counter()
    row = result.history[-1]
    print(json.dumps({"cpu_s": c1 - c0, "wall_s": w1 - w0, "loss": row["train_loss"],
                      "bec_mae_me": row.get("train_bec_mae_me")}), flush=True)
"""


def _frames(path: Path, system: str, n_frames: int, n_molecules: int, labelled: int) -> None:
    from lesdistill import keys
    from lesdistill.data.frames import write_frames
    from lesdistill.systems import build

    rng = np.random.default_rng(0)
    frames = []
    for k in range(n_frames):
        atoms = build("water", n_molecules=n_molecules, seed=k)
        if system == "cluster":
            atoms.set_cell([0.0, 0.0, 0.0])
            atoms.pbc = False
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        n = len(atoms)
        atoms.info[keys.ENERGY] = float(rng.normal(scale=0.1)) - 14.0 * n
        atoms.arrays[keys.FORCES] = rng.normal(scale=0.5, size=(n, 3))
        if k < labelled:
            diag = np.where(atoms.numbers == 1, 0.4, -0.8)
            bec = diag[:, None, None] * np.eye(3) + rng.normal(scale=0.05, size=(n, 3, 3))
            atoms.arrays[keys.BEC_ARRAY] = bec.reshape(n, 9)
        frames.append(atoms)
    write_frames(path, frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision of the old code")
    parser.add_argument("--system", choices=("box", "cluster"), default="box")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--molecules", type=int, default=16)
    parser.add_argument("--labelled", type=int, default=6, help="frames with BEC labels")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "frames.extxyz"
        _frames(data, args.system, args.frames, args.molecules, args.labelled)
        common = {"data": str(data), "epochs": args.epochs}
        old = Worker(_checkout(args.baseline, Path(tmp)), common, WORKER)
        new = Worker(ROOT / "src", common, WORKER)
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            for name, worker in (("old", old), ("new", new)):
                runs[name].append(worker.ask({}))
        old.close()
        new.close()
    print(f"{args.system}: {args.frames} frames of {3 * args.molecules} atoms, BEC labels on "
          f"{args.labelled}, tiny float32, batch 4, {args.epochs} epochs, 1 thread; median of "
          f"{args.rounds} runs; baseline {args.baseline}; load average {os.getloadavg()[0]:.1f}")
    med = {k: {c: statistics.median(r[c] for r in v) for c in ("cpu_s", "wall_s")}
           for k, v in runs.items()}
    print(f"{'':>12} {'CPU s':>8} {'wall s':>8} {'final train loss':>18} {'BEC MAE me':>11}")
    for name in ("old", "new"):
        last = runs[name][-1]
        print(f"{name:>12} {med[name]['cpu_s']:8.2f} {med[name]['wall_s']:8.2f} "
              f"{last['loss']:18.8g} {last['bec_mae_me'] or float('nan'):11.4f}")
    print(f"{'old/new':>12} {med['old']['cpu_s'] / med['new']['cpu_s']:8.2f} "
          f"{med['old']['wall_s'] / med['new']['wall_s']:8.2f}")


if __name__ == "__main__":
    main()
