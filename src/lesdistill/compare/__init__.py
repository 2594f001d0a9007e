"""Multi-teacher benchmark: distil one system from many teachers on shared frames, compare them.

``lesdistill compare CONFIG.yaml`` (see :mod:`lesdistill.compare.config` for the schema) runs the
per-teacher stages into ``<output>/<teacher>/`` and writes one report (HTML + PNG + JSON) with the
error/speed/charge table, the BEC agreement matrix between students, each student's BEC error
against a reference, IR spectra and RDFs overlaid, and teachers grouped by level of theory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the lazy exports below, for type checkers and IDEs
    from lesdistill.compare.config import CompareConfig, load_compare_config
    from lesdistill.compare.runner import run_compare

__all__ = ["CompareConfig", "load_compare_config", "run_compare"]


def __getattr__(name: str) -> Any:
    # Lazy: the runner pulls in torch, teachers and the pipeline only when used.
    if name in ("CompareConfig", "load_compare_config"):
        from lesdistill.compare import config

        return getattr(config, name)
    if name == "run_compare":
        from lesdistill.compare.runner import run_compare

        return run_compare
    raise AttributeError(f"module 'lesdistill.compare' has no attribute {name!r}")
