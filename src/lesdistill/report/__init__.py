"""Run report: a self-contained HTML page (PNG figures inline), the PNG files and a JSON of
all numbers. See :func:`lesdistill.report.build.build_report`."""

from __future__ import annotations

__all__ = ["build_report"]


def build_report(*args, **kwargs):  # lazy: matplotlib is imported only when a report is built
    """See :func:`lesdistill.report.build.build_report`."""
    from lesdistill.report.build import build_report as _build

    return _build(*args, **kwargs)
