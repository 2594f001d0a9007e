"""Which teacher-sampling protocol and training give the most faithful student BECs?

Controlled experiments at a fixed number of teacher calls: each protocol spends (about) the same
number of CHGNet MD steps on a 32-molecule water box; every protocol's frames train the same
student, and each student is scored against the paper's DFT Born effective charges of liquid
water (``../shared/reference/water_dft_bec_3frames.extxyz``; evaluation only, never trained on):
R^2, RMSE, MAE over all 9 components of all atoms after fixing the global sign, next to the best
per-element isotropic constant fitted to the DFT tensors themselves (the oracle to beat).

Stages are cached in ``--work`` (default ``/tmp/lesdistill-bec-protocols``), so the script can be
run piecewise::

    python benchmarks/bec_protocols.py sample demo-old tip3p-3T   # teacher MD (the costly part)
    python benchmarks/bec_protocols.py train demo-old:tiny30 tip3p-3T:tiny60
    python benchmarks/bec_protocols.py table [STUDENT.pt ...]     # every student, side by side

Protocols (``PROTOCOLS``) and training variants (``TRAININGS``) are defined below; the teacher
calls of each protocol are printed with its score.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DFT_FRAMES = REPO.parent / "shared" / "reference" / "water_dft_bec_3frames.extxyz"


# --------------------------------------------------------------------------------- scoring

def score_student(model_path: Path) -> dict[str, Any]:
    """lesdistill's BEC benchmark of one student against the DFT frames (R^2, RMSE, MAE over all
    9 components after the global sign fix, best scale, per-element Tr/3, the constant)."""
    from ase.io import read

    from lesdistill import StudentCalculator
    from lesdistill.analysis.bec_benchmark import benchmark
    from lesdistill.analysis.bec_files import student_becs

    frames = read(DFT_FRAMES, index=":")
    ref = np.concatenate([f.arrays["BEC"].reshape(-1, 3, 3) for f in frames])
    symbols = [s for f in frames for s in f.get_chemical_symbols()]
    pred = student_becs(StudentCalculator(str(model_path), device="cpu"), frames)
    return benchmark({"student": pred}, ref, symbols)


# --------------------------------------------------------------------------------- protocols

#: name -> (lesdistill.sampling.sample keyword arguments, what it tests). Every protocol spends
#: about the same number of teacher calls on a 32-molecule box (printed with its score).
PROTOCOLS: dict[str, tuple[dict[str, Any], str]] = {
    "demo-old": (
        {
            "temperatures_K": (420.0,),
            "n_frames": 72,
            "stride": 4,
            "equilibration_steps": 20,
            "friction_per_fs": 0.02,
            "settle_window": 0,
        },
        "the old demo: random packing, 20 steps, 420 K, no check",
    ),
    "tip3p-3T": (
        {
            "temperatures_K": (300.0, 330.0, 360.0),
            "n_frames": 72,
            "stride": 4,
            "equilibration_steps": 20,
            "friction_per_fs": 0.02,
            "pre_equilibration": "tip3p",
            "pre_equilibration_ps": 0.5,
            "settle_window": 20,
            "max_equilibration_steps": 200,
        },
        "the demo: a TIP3P liquid start per temperature, settle check",
    ),
    "snap-3T": (
        {
            "temperatures_K": (300.0, 330.0, 360.0),
            "n_frames": 240,
            "pre_equilibration": "tip3p",
            "pre_equilibration_ps": 0.5,
            "snapshot_fraction": 1.0,
            "snapshot_interval_ps": 0.05,
        },
        "independent TIP3P snapshots in the teacher's thermal monomer geometry, one call each",
    ),
}


def run_sample(name: str, work: Path) -> Path:
    """Teacher (CHGNet) frames of protocol ``name`` (cached): ``work/name/frames.extxyz``."""
    from ase.io import read

    from lesdistill import keys
    from lesdistill.sampling.md import sample
    from lesdistill.sampling.snapshots import is_snapshot
    from lesdistill.systems import build

    kwargs, _ = PROTOCOLS[name]
    out_dir = work / name
    out_dir.mkdir(parents=True, exist_ok=True)
    frames_path = out_dir / "frames.extxyz"
    meta_path = out_dir / "meta.json"
    if meta_path.exists():
        return frames_path
    t0 = time.process_time()
    sample(
        build("water", seed=0, n_molecules=32),
        "chgnet",
        frames_path,
        seed=0,
        progress=False,
        **kwargs,
    )
    frames = read(frames_path, index=":")
    steps = {}
    for f in frames:  # teacher calls = MD steps: per segment, the md_step of its last frame
        seg = (f.info[keys.TEMPERATURE_K], f.info.get("strain", 0.0))
        steps[seg] = max(steps.get(seg, 0), int(f.info["md_step"]))
    n_snap = sum(is_snapshot(f) for f in frames)
    md = [f for f in frames if not is_snapshot(f)]
    temps = [float(f.info[keys.MD_TEMPERATURE_K]) for f in md]
    # + about 40 calls on a 3-atom molecule for the teacher's monomer (TIP3P-started protocols)
    meta = {"teacher_calls": int(sum(steps.values())) + n_snap, "frames": len(frames),
            "snapshots": n_snap, "cpu_s": time.process_time() - t0,
            "mean_T_K": float(np.mean(temps)) if temps else float("nan")}
    meta_path.write_text(json.dumps(meta, indent=1))
    return frames_path


# --------------------------------------------------------------------------------- training

TRAININGS: dict[str, dict[str, Any]] = {
    # about the optimizer steps of tiny60 on the 60 training frames of a 72-frame protocol, for a
    # protocol with 3x the frames (fixed training time)
    "tiny20": {
        "model_preset": "tiny",
        "epochs": 20,
        "batch_size": 4,
        "lr": 0.005,
        "stage_two_start": 0.7,
        "early_stopping_patience": 10,
    },
    "tiny30": {
        "model_preset": "tiny",
        "epochs": 30,
        "batch_size": 4,
        "lr": 0.005,
        "stage_two_start": 0.7,
        "early_stopping_patience": 15,
    },
    "tiny60": {
        "model_preset": "tiny",
        "epochs": 60,
        "batch_size": 4,
        "lr": 0.005,
        "stage_two_start": 0.7,
        "early_stopping_patience": 20,
    },
    "tiny150": {
        "model_preset": "tiny",
        "epochs": 150,
        "batch_size": 4,
        "lr": 0.005,
        "stage_two_start": 0.7,
        "early_stopping_patience": 40,
    },
    "small100": {
        "model_preset": "small",
        "epochs": 100,
        "batch_size": 4,
        "lr": 0.005,
        "stage_two_start": 0.7,
        "early_stopping_patience": 40,
    },
    "small100f64": {
        "model_preset": "small",
        "epochs": 100,
        "batch_size": 4,
        "lr": 0.005,
        "stage_two_start": 0.7,
        "early_stopping_patience": 40,
        "dtype": "float64",
    },
}


def run_train(protocol: str, training: str, work: Path) -> Path:
    from lesdistill.training import TrainConfig, train

    frames = run_sample(protocol, work)
    out = work / protocol / f"train_{training}"
    best = out / "best.pt"
    if (out / "done.json").exists():
        return best
    opts = dict(TRAININGS[training])
    opts.setdefault("model", {})
    opts["model"] = {"eps_inf": 1.78, **opts["model"]}
    t0 = time.perf_counter()
    res = train(TrainConfig(**opts), [frames], out_dir=out, progress=False)
    final = res.final
    (out / "done.json").write_text(
        json.dumps(
            {"train_s": time.perf_counter() - t0, "epochs": res.epochs_completed, "final": final},
            indent=1,
            default=float,
        )
    )
    return best


def table(work: Path, extra: list[Path]) -> None:
    """Every trained student in ``work`` (and the ``extra`` checkpoints), scored side by side."""
    rows = []
    for tdir in sorted(work.glob("*/train_*")):
        if (tdir / "done.json").exists():
            meta = json.loads((tdir.parent / "meta.json").read_text())
            done = json.loads((tdir / "done.json").read_text())
            rows.append(
                (tdir.parent.name, tdir.name[6:], meta, done.get("final", {}), tdir / "best.pt")
            )
    for path in extra:
        rows.append((str(path), "", {}, {}, path))
    const = None
    print(f"{'protocol':10s} {'training':12s} {'calls':>5s} {'frames':>6s} {'<T> K':>6s} "
          f"{'R2':>6s} {'RMSE':>6s} {'MAE':>6s} {'scale':>6s} {'H tr/3':>7s} {'O tr/3':>7s}")
    for proto, training, meta, _final, best in rows:
        cache = best.with_suffix(".dft_score.json")
        if not cache.exists():
            cache.write_text(json.dumps(score_student(best), indent=1))
        result = json.loads(cache.read_text())
        s, const = result["students"]["student"], result["constant"]
        print(
            f"{proto:10s} {training:12s} "
            f"{meta.get('teacher_calls', 0):5d} "
            f"{meta.get('frames', 0):6d} "
            f"{meta.get('mean_T_K', float('nan')):6.0f} "
            f"{s['r2']:6.3f} {s['rmse_e']:6.3f} {s['mae_e']:6.3f} "
            f"{s['best_scale']:6.2f} {s['per_element']['H']['trace_pred_e']:+7.3f} "
            f"{s['per_element']['O']['trace_pred_e']:+7.3f}"
        )
    if const is not None:
        print(
            f"{'constant':23s} {'':19s} {const['r2']:6.3f} "
            f"{const['rmse_e']:6.3f} {const['mae_e']:6.3f} "
            f"{'':6s} {const['values_e']['H']:+7.3f} "
            f"{const['values_e']['O']:+7.3f}  (per-element oracle)"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("sample", "train", "table"))
    ap.add_argument("items", nargs="*", help="protocols (sample), protocol:training (train), "
                                             "student .pt files (table)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lesdistill-bec-protocols"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.what == "sample":
        for name in args.items:
            run_sample(name, args.work)
    elif args.what == "train":
        for item in args.items:
            run_train(*item.split(":"), args.work)
    table(args.work, [Path(p) for p in args.items] if args.what == "table" else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
