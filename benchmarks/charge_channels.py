"""Several latent charge channels (``les_channels``) vs one: the BEC against DFT water frames.

Trains one student on teacher-labelled frames with the demo's training settings (tiny preset,
eps_inf 1.78, 40 epochs, batch 4, lr 5e-3, second stage from 70%, seed 0) and ``les_channels`` =
``--channels``, then scores its BECs (from the summed channel charges) with
``lesdistill bec-benchmark`` against the reference frames. Run once per channel count (the runs
are independent, so they can go in parallel) and compare the printed rows; the reference frames
are evaluation-only.

    python benchmarks/charge_channels.py --frames frames.extxyz --channels 1 --out ch1
        --reference ../shared/reference/water_dft_bec_3frames.extxyz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from lesdistill.cli import main as cli_main
from lesdistill.training.config import TrainConfig
from lesdistill.training.loop import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, help="teacher-labelled training frames (extxyz)")
    parser.add_argument("--reference", required=True, help="frames with reference BECs (extxyz)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    cfg = TrainConfig(model_preset="tiny", model={"eps_inf": 1.78, "les_channels": args.channels},
                      epochs=args.epochs, batch_size=4, lr=5e-3, stage_two_start=0.7,
                      early_stopping_patience=20, valid_fraction=0.1, seed=0)
    run = train(cfg, args.frames, out_dir=out / "train", progress=False)
    metrics = json.loads((out / "train" / "final_metrics.json").read_text(encoding="utf-8"))[
        "valid"
    ]
    print(f"les_channels {args.channels}: valid energy {metrics['energy_mae_meV_per_atom']:.2f} "
          f"meV/atom, forces {metrics['forces_mae_meV_per_A']:.1f} meV/Å")
    try:
        cli_main(["bec-benchmark", "--model", str(run.best_path), "--reference", args.reference,
                  "--out", str(out / "bec"), "--name", f"les_channels={args.channels}"])
    except SystemExit as exc:
        if exc.code:
            raise


if __name__ == "__main__":
    main()
