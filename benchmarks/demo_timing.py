"""Wall time of `lesdistill demo` per stage, and student vs teacher speed from the same run.

    python benchmarks/demo_timing.py [--out DIR] [--reuse]

Runs the demo from scratch in a fresh process (so model loading and imports count, as for a
user), then prints the seconds each stage took (from the stage state files), the total wall
time against the 10-minute budget, and the teacher/student ms per energy+forces call that the
demo's evaluate stage measured side by side. ``--reuse`` only reads an existing output folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

BUDGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-demo"))
    parser.add_argument("--reuse", action="store_true", help="read an existing demo folder")
    args = parser.parse_args()
    total = None
    if not args.reuse:
        if args.out.exists():
            shutil.rmtree(args.out)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from lesdistill.cli import main; main()", "demo",
                        "--out", str(args.out)], check=True)
        total = time.perf_counter() - start
    from lesdistill.pipeline import STAGE_NAMES
    from lesdistill.pipeline.runner import read_state

    print(f"\n{'stage':10s} {'wall time (s)':>14s}")
    stage_sum = 0.0
    for name in STAGE_NAMES:
        state = read_state(args.out / name)
        if state.get("status") == "done":
            stage_sum += float(state["seconds"])
            print(f"{name:10s} {float(state['seconds']):14.1f}")
    print(f"{'stages':10s} {stage_sum:14.1f}")
    if total is not None:
        verdict = "within" if total <= BUDGET_S else "OVER"
        print(f"{'total':10s} {total:14.1f}   (process wall time incl. imports and model "
              f"loading; {verdict} the {BUDGET_S:.0f} s budget)")
    metrics = json.loads((args.out / "evaluate" / "metrics.json").read_text())
    speed = metrics["speed"]
    t, s = speed["teacher"], speed["student"]
    print(f"\nspeed on {t['n_atoms']} atoms (median of {t['repeats']} interleaved calls): "
          f"teacher {t['model']} {t['ms_per_step']:.1f} ms/step, {s['model']} "
          f"{s['ms_per_step']:.1f} ms/step -> {t['ms_per_step'] / s['ms_per_step']:.1f}x faster")
    h = metrics["held_out"]
    print(f"held-out accuracy ({h['n_frames']} frames): energy MAE "
          f"{h['energy_mae_meV_per_atom']:.2f} "
          f"meV/atom, force MAE {h['forces_mae_meV_per_A']:.1f} meV/Å")


if __name__ == "__main__":
    main()
