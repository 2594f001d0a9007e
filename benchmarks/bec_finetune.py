"""Can a GFN1-xTB student's charge head represent GFN1-xTB's own BECs? BEC fine-tuning on K frames.

The issue-12 target: against the teacher's finite-difference BEC on held-out frames, a student's
MAE at most half that of the best per-element isotropic constant. Trained on energies and forces
only, the students sit at the constant's level. Here a student is fine-tuned with the BEC term
(``TrainConfig.bec_weight``) on K training frames labelled with the teacher's own
finite-difference BEC (``lesdistill label --bec``), and scored with ``lesdistill bec-benchmark``'s
code on the same held-out frames, next to the K = 0 fine-tune (same epochs, no BEC labels).
Every step is resumable and reuses what an earlier run left in ``--work``:

``--seed`` (default 0) seeds the builder, the teacher MD, the split and the training.

1. ``--molecules`` H2O (``water`` builder; ``--system cluster``: the cell removed, pbc
   False), GFN1-xTB MD (the protocol of the cluster / box runs in benchmarks/README.md);
2. a seeded split by frame: ``test`` (never trained on; its first frame of each temperature is
   the BEC test set), ``valid``, ``train``; a ``tiny`` student (the demo's training section, eps_inf
   1.78) trained on ``train`` with energies and forces;
3. the teacher's finite-difference BEC of the held-out frames (``bench_base/reference_fd.extxyz``)
   and of the first max(K) training frames of a seeded order (``bec_train.extxyz``, nested);
4. per K: fine-tune of the student on ``train`` with BEC labels on its first K frames (BEC
   weight ``--bec-weight``, folders ``ft_bec{K}_w{W}``; ``last.pt``
   scored: the validation frames carry no BEC labels, so ``best.pt`` would select on forces);
   BEC table against the reference and the held-out force error before and after.

    OMP_NUM_THREADS=1 python benchmarks/bec_finetune.py --work xtbbec/cluster --system cluster
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesdistill import keys
from lesdistill.analysis.bec_files import run_bec_benchmark
from lesdistill.data.frames import read_frames, write_frames
from lesdistill.sampling import SampleSettings, label, sample
from lesdistill.systems import build
from lesdistill.training.config import TrainConfig
from lesdistill.training.evaluate import evaluate
from lesdistill.training.loop import train

TEACHER = "xtb-gfn1"


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _frames(work: Path, system: str, n_molecules: int, n_frames: int, seed: int) -> Path:
    atoms = build("water", n_molecules=n_molecules, seed=seed)
    if system == "cluster":
        atoms.set_cell([0.0, 0.0, 0.0])
        atoms.pbc = False
        settings = SampleSettings(temperatures_K=(300.0, 330.0, 360.0), n_frames=n_frames,
                                  stride=4, timestep_fs=0.5, equilibration_steps=100,
                                  settle_window=20, max_equilibration_steps=400,
                                  friction_per_fs=0.02)
    else:
        settings = SampleSettings(temperatures_K=(300.0, 330.0, 360.0), n_frames=n_frames,
                                  stride=4, timestep_fs=0.5, pre_equilibration="tip3p",
                                  pre_equilibration_ps=0.5, equilibration_steps=20,
                                  settle_window=20, max_equilibration_steps=200,
                                  friction_per_fs=0.02)
    return sample(atoms, TEACHER, work / "frames.extxyz", settings, seed=seed, progress=False)


def _split(frames_path: Path, work: Path, n_test: int, n_valid: int,
           seed: int) -> dict[str, Path]:
    """Seeded split by frame (written once): test, BEC test (one frame per temperature), valid,
    train (in a seeded order: its first K frames get the BEC labels)."""
    paths = {k: work / f"{k}.extxyz" for k in ("test", "bec_test", "valid", "train")}
    if all(p.is_file() for p in paths.values()):
        return paths
    frames = read_frames(frames_path)
    order = np.random.default_rng(seed).permutation(len(frames))
    test = [frames[i] for i in sorted(order[:n_test])]
    valid = [frames[i] for i in sorted(order[n_test:n_test + n_valid])]
    train_ = [frames[i] for i in order[n_test + n_valid:]]
    firsts: dict[float, Any] = {}
    for atoms in test:
        firsts.setdefault(float(atoms.info.get("temperature_K", 0.0)), atoms)
    for name, part in (("test", test), ("bec_test", list(firsts.values())), ("valid", valid),
                       ("train", train_)):
        write_frames(paths[name], part)
    return paths


def _with_bec(train_path: Path, labelled: Path, k: int, out: Path) -> Path:
    """``train_path`` with the ``bec`` arrays of the first ``k`` frames from ``labelled``."""
    if out.is_file():
        return out
    frames, bec = read_frames(train_path), read_frames(labelled)
    for atoms, src in zip(frames[:k], bec[:k], strict=True):
        assert np.allclose(atoms.positions, src.positions)
        atoms.arrays[keys.BEC_ARRAY] = src.arrays[keys.BEC_ARRAY]
    write_frames(out, frames)
    return out


def _score(name: str, model: Path, reference: Path, out: Path, test: Path,
           fitted: Path | None) -> dict[str, Any]:
    """BEC benchmark on ``reference``, energy/force errors on ``test`` and the BEC MAE (e) on
    the BEC-labelled training frames ``fitted`` (how well the labels themselves are fitted)."""
    res = run_bec_benchmark(reference, model=model, array="BEC", out_dir=out, name=name)
    s, c = res["students"][name], res["constant"]
    f = evaluate(model, test)
    fit = evaluate(model, fitted)["bec_mae_e"] if fitted is not None else float("nan")
    return {"name": name, "r2": s["r2"], "mae_e": s["mae_e"], "rmse_e": s["rmse_e"],
            "trace_H": s["per_element"]["H"]["trace_pred_e"],
            "trace_O": s["per_element"]["O"]["trace_pred_e"],
            "const_r2": c["r2"], "const_mae_e": c["mae_e"],
            "threshold_e": s["yardstick"]["threshold_mae_e"], "passed": s["yardstick"]["passed"],
            "forces_mae_meV_per_A": f["forces_mae_meV_per_A"], "fit_bec_mae_e": fit,
            "energy_mae_meV_per_atom": f["energy_mae_meV_per_atom"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="xtbbec", help="working folder (resumed)")
    parser.add_argument("--system", choices=("cluster", "box"), default="cluster")
    parser.add_argument("--molecules", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0,
                        help="builder, teacher MD, split and training seed")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--n-test", type=int, default=10)
    parser.add_argument("--n-valid", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=60, help="base student")
    parser.add_argument("--ft-epochs", type=int, default=30)
    parser.add_argument("--ft-lr", type=float, default=1e-3)
    parser.add_argument("--bec-weight", type=float, default=10.0,
                        help="TrainConfig.bec_weight and stage_two_bec_weight (per e^2)")
    parser.add_argument("--ks", default="0,4,8,16", help="numbers of BEC-labelled frames")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ks = [int(k) for k in args.ks.split(",")]
    times: dict[str, float] = {}
    print(f"start: {_load()}", flush=True)

    t = time.perf_counter()
    paths = _split(_frames(work, args.system, args.molecules, args.frames, args.seed), work,
                   args.n_test, args.n_valid, args.seed)
    times["sampling"] = time.perf_counter() - t

    t = time.perf_counter()
    base_cfg = TrainConfig(model_preset="tiny", model={"eps_inf": 1.78}, epochs=args.epochs,
                           batch_size=4, lr=5e-3, stage_two_start=0.7,
                           early_stopping_patience=20, test_fraction=0.0, seed=args.seed)
    base = train(base_cfg, paths["train"], valid_files=paths["valid"], out_dir=work / "base",
                 progress=False).best_path
    times["base training"] = time.perf_counter() - t

    t = time.perf_counter()
    reference = work / "bench_base" / "reference_fd.extxyz"
    if not reference.is_file():
        run_bec_benchmark(paths["bec_test"], model=base, out_dir=work / "bench_base",
                          fd_teacher=TEACHER, name="base")
    times["FD BEC of the test frames"] = time.perf_counter() - t

    t = time.perf_counter()
    kmax = max(ks)
    first = work / f"train_first{kmax}.extxyz"
    if not first.is_file():
        write_frames(first, read_frames(paths["train"])[:kmax])
    labelled = label(first, work / "bec_train.extxyz", TEACHER, bec_displacement_A=0.01,
                     progress=False) if kmax > 0 else first
    times[f"FD BEC of {kmax} training frames"] = time.perf_counter() - t

    rows = [_score("base (energies+forces)", base, reference, work / "bench_base_scored",
                   paths["test"], None)]
    w = f"{args.bec_weight:g}"
    for k in ks:
        t = time.perf_counter()
        data = _with_bec(paths["train"], labelled, k, work / f"train_bec{k}.extxyz")
        cfg = base_cfg.replace(epochs=args.ft_epochs, lr=args.ft_lr,
                               bec_weight=args.bec_weight, stage_two_bec_weight=args.bec_weight)
        res = train(cfg, data, valid_files=paths["valid"], out_dir=work / f"ft_bec{k}_w{w}",
                    init=base, progress=False)
        times[f"fine-tune K={k}"] = time.perf_counter() - t
        fitted = None
        if k > 0:
            fitted = work / f"bec_train{k}.extxyz"
            if not fitted.is_file():
                write_frames(fitted, read_frames(labelled)[:k])
        rows.append(_score(f"fine-tuned, K={k}, w={w}", res.last_path, reference,
                           work / f"bench_ft{k}_w{w}", paths["test"], fitted))
    (work / f"summary_w{w}.json").write_text(json.dumps({"rows": rows, "times_s": times,
                                                   "args": vars(args)}, indent=2) + "\n")
    c = rows[0]
    print(f"reference: FD of the {TEACHER} dipole on {paths['bec_test']}; per-element constant "
          f"R^2 {c['const_r2']:.3f}, MAE {c['const_mae_e']:.3f} e, target MAE <= "
          f"{c['threshold_e']:.3f} e")
    print(f"{'student':<30}{'R^2':>7}{'MAE e':>8}{'RMSE e':>8}{'Tr/3 H':>8}{'Tr/3 O':>8}"
          f"{'F MAE':>8}{'E MAE':>7}{'fit':>7}  target")
    for r in rows:
        print(f"{r['name']:<30}{r['r2']:>7.3f}{r['mae_e']:>8.3f}{r['rmse_e']:>8.3f}"
              f"{r['trace_H']:>+8.3f}{r['trace_O']:>+8.3f}{r['forces_mae_meV_per_A']:>8.1f}"
              f"{r['energy_mae_meV_per_atom']:>7.2f}{r['fit_bec_mae_e']:>7.3f}"
              f"  {'PASS' if r['passed'] else 'fail'}")
    print("(F MAE meV/Å, E MAE meV/atom: on all test frames; fit: BEC MAE in e on the K "
          "BEC-labelled training frames)")
    print("wall time (s; a step resumed from --work takes about 0): "
          + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    print(f"end: {_load()}")


if __name__ == "__main__":
    main()
