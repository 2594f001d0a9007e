"""Teacher MD sampling, relabelling and shard merging (resumable extxyz datasets).

    sample(atoms, teacher, out_path, *, temperatures_K=(300.0,), n_frames=200, stride=10,
           timestep_fs=0.5, seed=0, relax=False, ...) -> Path
    label(in_path, out_path, teacher, *, keep_prefix=None, workers=1, shard=None) -> Path
    merge(shard_paths, out_path) -> Path
"""

from __future__ import annotations

from typing import Any

__all__ = ["SamplingAborted", "label", "merge", "read_frames", "sample"]

_TARGETS = {
    "sample": "lesdistill.sampling.md",
    "label": "lesdistill.sampling.relabel",
    "merge": "lesdistill.sampling.relabel",
    "read_frames": "lesdistill.sampling.store",
    "SamplingAborted": "lesdistill.sampling.guards",
}


def __getattr__(name: str) -> Any:
    if name in _TARGETS:
        import importlib

        return getattr(importlib.import_module(_TARGETS[name]), name)
    raise AttributeError(f"module 'lesdistill.sampling' has no attribute {name!r}")
