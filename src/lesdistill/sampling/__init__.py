"""Teacher MD sampling, relabelling and shard merging (resumable extxyz datasets).

    sample(atoms, teacher, out_path, settings=SampleSettings(), *, seed=0, device="cpu",
           progress=True, **field_overrides) -> Path
    label(in_path, out_path, teacher, *, keep_prefix=None, workers=1, shard=None) -> Path
    merge(shard_paths, out_path) -> Path
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the lazy exports below, for type checkers and IDEs
    from lesdistill.sampling.guards import SamplingAborted
    from lesdistill.sampling.md import sample
    from lesdistill.sampling.relabel import label, merge
    from lesdistill.sampling.settings import SampleSettings
    from lesdistill.sampling.store import read_frames

__all__ = ["SampleSettings", "SamplingAborted", "label", "merge", "read_frames", "sample"]

_TARGETS = {
    "sample": "lesdistill.sampling.md",
    "SampleSettings": "lesdistill.sampling.settings",
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
