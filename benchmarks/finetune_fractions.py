"""Fine-tuning a GFN1-xTB student to GFN2-xTB water: test force RMSE vs fraction of GFN2 data.

The paper's study (a PBE-level student fine-tuned to SCAN forces: 83.2 meV/Å at 10 % of 3346
frames, 74.8 at 40 %, flat beyond) with offline levels. Every step is resumable (re-run the same
command after a kill) and reuses what an earlier run left in ``--work``:

1. GFN1-xTB teacher MD of ``--molecules`` H2O (the demo's protocol: TIP3P starts at 300/330/360
   K, Langevin, stride 4), ``--frames`` frames in total;
2. a student (``--preset``, the demo's training section, ``--pretrain-epochs``) trained on every
   third frame with its GFN1-xTB labels;
3. the other frames relabelled with GFN2-xTB (the higher level);
4. ``lesdistill.analysis.finetune_fractions`` on the GFN2 frames: one seeded split (20 % test,
   10 % validation), the student fine-tuned on nested fractions (``--ft-epochs``, lr 1e-3), and
   with ``--scratch`` a student of the same architecture trained from fresh weights on each
   fraction with the same settings; the table and ``fractions.png`` in ``--work/sweep``.

    nice -n 10 python benchmarks/finetune_fractions.py --work ftbench --scratch
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

import torch

from lesdistill.analysis.finetune_fractions import format_fractions, sweep_from_data
from lesdistill.analysis.fraction_settings import PAPER_FRACTIONS, FractionSettings
from lesdistill.sampling import SampleSettings, label, sample
from lesdistill.systems import build
from lesdistill.training.config import TrainConfig
from lesdistill.training.loop import train


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _frames(work: Path, n_molecules: int, n_frames: int) -> Path:
    out = work / "frames_gfn1.extxyz"
    settings = SampleSettings(temperatures_K=(300.0, 330.0, 360.0), n_frames=n_frames, stride=4,
                              timestep_fs=0.5, pre_equilibration="tip3p",
                              pre_equilibration_ps=0.5, equilibration_steps=20, settle_window=20,
                              max_equilibration_steps=200, friction_per_fs=0.02)
    return sample(build("water", n_molecules=n_molecules, seed=0), "xtb-gfn1", out, settings,
                  seed=0, progress=False)


def _split_levels(frames: Path, work: Path) -> tuple[Path, Path]:
    """Every third frame for pretraining (GFN1 labels), the others for the GFN2 set."""
    from ase.io import read, write

    low, high_geometries = work / "pretrain_gfn1.extxyz", work / "high_geometries.extxyz"
    if not (low.is_file() and high_geometries.is_file()):
        images = read(frames, index=":")
        write(low, [a for i, a in enumerate(images) if i % 3 == 0], format="extxyz")
        write(high_geometries, [a for i, a in enumerate(images) if i % 3], format="extxyz")
    return low, high_geometries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="ftbench", help="working folder (resumed)")
    parser.add_argument("--molecules", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300, help="GFN1 MD frames in total")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--pretrain-epochs", type=int, default=60)
    parser.add_argument("--ft-epochs", type=int, default=40)
    parser.add_argument("--fractions", default=",".join(f"{f:g}" for f in PAPER_FRACTIONS))
    parser.add_argument("--scratch", action="store_true", help="also train from scratch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    print(f"start: {_load()}")

    t = time.perf_counter()
    frames = _frames(work, args.molecules, args.frames)
    low, high_geometries = _split_levels(frames, work)
    times["GFN1 sampling"] = time.perf_counter() - t

    t = time.perf_counter()
    pre = TrainConfig(model_preset=args.preset, model={"eps_inf": 1.78},
                      epochs=args.pretrain_epochs, batch_size=4, lr=5e-3, stage_two_start=0.7,
                      early_stopping_patience=20, valid_fraction=0.1, test_fraction=0.0, seed=0)
    student = train(pre, low, out_dir=work / "student", progress=False).best_path
    times["pretraining"] = time.perf_counter() - t

    t = time.perf_counter()
    high = label(high_geometries, work / "high_gfn2.extxyz", "xtb-gfn2", progress=False)
    times["GFN2 labels"] = time.perf_counter() - t

    t = time.perf_counter()
    fractions = tuple(float(x) for x in args.fractions.split(","))
    ft = TrainConfig(epochs=args.ft_epochs, batch_size=4, lr=1e-3, stage_two_start=0.7,
                     early_stopping_patience=15, valid_fraction=0.1, test_fraction=0.2, seed=0)
    summary = sweep_from_data(student, high, work / "sweep",
                              FractionSettings(fractions=fractions, scratch=args.scratch), ft,
                              progress=False)
    times["sweep"] = time.perf_counter() - t

    print(format_fractions(summary))
    c = summary["curve"]
    print("force RMSE / RMSE at the largest fraction (fine-tuned): "
          + ", ".join(f"{f:g}: {r:.3f}" for f, r in zip(c["fraction"],
                                                       c["finetune"]["forces_rmse_vs_largest"],
                                                       strict=True)))
    print(f"paper (PBE student -> SCAN): 10 %: 83.2, 40 %: 74.8 meV/Å (ratio {83.2 / 74.8:.3f}), "
          "flat beyond 40 %")
    print("wall time (s, this run; a step resumed from --work takes about 0): "
          + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    print(f"end: {_load()}")


if __name__ == "__main__":
    main()
