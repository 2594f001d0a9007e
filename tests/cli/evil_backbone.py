"""Test-only stand-in for malicious code named by a file: importing it or calling its factories
writes the file named by ``$LESDISTILL_EVIL_MARKER``. The corpus asserts that the marker never
appears unless the user opted in."""

from __future__ import annotations

import os
from pathlib import Path


def _mark(what: str) -> None:
    target = os.environ.get("LESDISTILL_EVIL_MARKER")
    if target:
        with open(Path(target), "a", encoding="utf-8") as handle:
            handle.write(what + "\n")


_mark("imported")


def Factory(config, **options):  # noqa: N802 - a backbone factory name
    _mark("backbone called")
    raise RuntimeError("the evil backbone ran")


def Calculator(**kwargs):  # noqa: N802 - an ASE calculator factory name
    _mark("calculator called")
    raise RuntimeError("the evil calculator ran")
