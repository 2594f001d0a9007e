"""Teacher vs student speed, measured side by side in one process (the report's speed table).

Accuracy on labelled frames has one home: :mod:`lesdistill.training.evaluate`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["time_calculators"]


def time_calculators(atoms: Any, calculators: Mapping[str, Any], *, repeats: int = 5,
                     seed: int = 0, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Milliseconds per energy+forces call of each calculator on ``atoms``, side by side.

    Calls are interleaved (model A, model B, A, B, ...) on freshly rattled copies (0.01 Å, so no
    result cache is hit) so that the shared machine's load affects all models alike. Returns
    {name: {"ms_per_step": median, "ms_min": fastest, "n_atoms": N}}.
    """
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {name: [] for name in calculators}
    for k in range(warmup + repeats):
        shift = rng.normal(scale=0.01, size=(len(atoms), 3))
        for name, calc in calculators.items():
            work = atoms.copy()
            work.positions += shift
            work.calc = calc
            start = time.perf_counter()
            work.get_potential_energy()
            work.get_forces()
            elapsed = (time.perf_counter() - start) * 1000.0
            if k >= warmup:
                times[name].append(elapsed)
    return {name: {"ms_per_step": float(np.median(t)), "ms_min": float(np.min(t)),
                   "n_atoms": len(atoms), "repeats": repeats} for name, t in times.items()}
