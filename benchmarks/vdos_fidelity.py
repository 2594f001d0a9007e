"""Does a student move like its teacher? VDOS of teacher and student NVE MD from the same start.

Both models run velocity-Verlet NVE from one structure with the same seeded Maxwell-Boltzmann
velocities (:mod:`lesdistill.md.same_start`); the band maxima of their vibrational densities of
states (:mod:`lesdistill.spectra.vdos`) are printed side by side with the shift student - teacher
(cm^-1). Run it on a finished demo, e.g.::

    python benchmarks/vdos_fidelity.py --student lesdistill-demo/train/best.pt \
        --start lesdistill-demo/sample/frames.extxyz --index 23 --teacher chgnet --steps 1000

``--index`` picks the start frame (an equilibrated teacher MD frame); the teacher's calls are
``--steps`` (0.5 fs each by default).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", type=Path, required=True)
    ap.add_argument("--start", type=Path, required=True, help="extxyz with the start structure")
    ap.add_argument("--index", type=int, default=-1)
    ap.add_argument("--teacher", default="chgnet")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--timestep-fs", type=float, default=0.5)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=300.0, help="start velocities (K)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    ap.add_argument("--teacher-velocities", type=Path, default=None,
                    help="npz cache of the teacher's velocities (Å/fs): read when it exists and "
                         "matches the run, else written; lets several students share one "
                         "teacher run")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from ase.io import read

    from lesdistill import StudentCalculator
    from lesdistill.md.same_start import nve_velocities, start_state
    from lesdistill.pipeline.stage_vdos import _kinetic_temperature_K
    from lesdistill.spectra.vdos import compare_vdos, format_vdos_table, vdos
    from lesdistill.teachers import get_teacher

    torch.set_num_threads(1)
    atoms = read(args.start, index=args.index)
    start = start_state(atoms, args.temperature, args.seed)
    masses, symbols = start.get_masses(), start.get_chemical_symbols()
    dt = args.timestep_fs * args.stride
    spectra, seconds = {}, {}
    models = (("teacher", get_teacher(args.teacher).calculator),
              ("student", StudentCalculator(str(args.student), device="cpu")))
    cache = args.teacher_velocities
    key = np.array([args.steps, args.timestep_fs, args.stride, args.temperature, args.seed,
                    args.index])
    for name, calc in models:
        t0 = time.perf_counter()
        if name == "teacher" and cache is not None and cache.exists():
            with np.load(cache, allow_pickle=False) as saved:
                same = (np.allclose(saved["key"], key)
                        and np.allclose(saved["start"], start.positions))
                if not same:
                    sys.exit(f"{cache} holds another run (steps, timestep, stride, T, seed, "
                             "index or start differ); delete it or pick another path")
                v = saved["velocities"]
        else:
            v = nve_velocities(start, calc, n_steps=args.steps, timestep_fs=args.timestep_fs,
                               stride=args.stride)
            if name == "teacher" and cache is not None:
                np.savez(cache, velocities=v, key=key, start=start.positions)
        seconds[name] = time.perf_counter() - t0
        spectra[name] = vdos(v, masses, dt, symbols=symbols)
        t_mean = _kinetic_temperature_K(v, masses)
        print(f"{name}: {args.steps} NVE steps in {seconds[name]:.0f} s, mean kinetic T "
              f"{t_mean:.0f} K")
    rows = compare_vdos(spectra["teacher"], spectra["student"], "water")
    print(format_vdos_table(rows))
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "seconds": seconds, "steps": args.steps,
                                        "timestep_fs": args.timestep_fs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
