"""Teacher speed side by side: ms per energy+forces(+stress) on a 96-atom water box (32 H2O).

Calls are interleaved round-robin (teacher A, B, C, A, B, C, ...) so machine noise hits all
teachers alike; the table reports the median and the ratio to CHGNet. Also measures sampling
throughput (MD steps/s and frames/s through ``lesdistill.sampling.sample``) with the fastest
usable teacher settings.

    python benchmarks/teacher_speed.py [--repeats 5] [--threads 1] [--sample-teacher chgnet]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--teachers", default="chgnet,sevennet,xtb-gfn1")
    parser.add_argument("--sample-teacher", default="chgnet")
    parser.add_argument("--sample-frames", type=int, default=4)
    args = parser.parse_args()

    import numpy as np
    import torch

    from lesdistill.sampling import sample
    from lesdistill.systems import build
    from lesdistill.teachers import get_teacher

    torch.set_num_threads(args.threads)
    water = build("water", n_molecules=32, seed=0)
    rng = np.random.default_rng(0)
    specs = [s for s in args.teachers.split(",") if s]
    teachers = {s: get_teacher(s) for s in specs}
    times: dict[str, list[float]] = {s: [] for s in specs}
    for teacher in teachers.values():  # warm-up (graph compilation, caches)
        teacher.label(water)
    for _ in range(args.repeats):
        displaced = water.copy()
        displaced.positions += rng.normal(scale=0.01, size=displaced.positions.shape)
        for spec, teacher in teachers.items():
            t0 = time.perf_counter()
            teacher.label(displaced)  # energy + forces + stress
            times[spec].append(time.perf_counter() - t0)
    base = statistics.median(times[specs[0]])
    print(f"teacher speed, 96-atom water box, {args.threads} torch thread(s), "
          f"{args.repeats} interleaved calls each (median)")
    print(f"{'teacher':<12}{'ms/call':>10}{'ratio to ' + specs[0]:>22}")
    for spec in specs:
        med = statistics.median(times[spec])
        print(f"{spec:<12}{1000 * med:>10.1f}{med / base:>22.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frames.xyz"
        stride, equil = 5, 5
        t0 = time.perf_counter()
        sample(water, teachers.get(args.sample_teacher) or args.sample_teacher, out,
               temperatures_K=(300.0,), n_frames=args.sample_frames, stride=stride,
               equilibration_steps=equil, timestep_fs=0.5, progress=False)
        elapsed = time.perf_counter() - t0
        steps = args.sample_frames * stride + equil
        print(
            f"sampling {args.sample_teacher}: {steps} MD steps, {args.sample_frames} frames in "
            f"{elapsed:.1f} s = {steps / elapsed:.2f} steps/s, {args.sample_frames / elapsed:.3f} "
            f"frames/s (stride {stride})"
        )


if __name__ == "__main__":
    main()
