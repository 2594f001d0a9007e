"""Teacher-family tests: real packages, random-initialised models built by each package's API.

They run in the family's own virtual environment (``.ci/teacher-envs.sh`` creates one per
family; ``.ci/teacher-tests.sh``, called by ``.ci/run`` after ``make test``, runs each group
there) and are marked ``teachers``, which the default ``make test`` deselects. Where the family's
package is not importable, its tests are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from ase import Atoms

from lesdistill.systems import build

HERE = Path(__file__).resolve().parent
#: where .ci/teacher-envs.sh puts the family venvs
TEACHER_VENVS = Path(os.environ.get("LESDISTILL_TEACHER_VENVS") or Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lesdistill" / "teacher-envs")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.teachers)


@pytest.fixture
def water_box() -> Atoms:
    """8 water molecules (24 atoms) in a periodic box at liquid density, seeded."""
    atoms = build("water", seed=0, n_molecules=8)
    atoms.rattle(0.02, seed=1)
    return atoms


def label_file(tmp_path: Path, spec: Any, frames: list[Atoms]) -> list[Atoms]:
    """Write ``frames``, relabel them with ``spec`` (or a Teacher) by
    ``lesdistill.sampling.label``."""
    from ase.io import write

    from lesdistill.sampling import label
    from lesdistill.sampling.store import read_frames

    src = tmp_path / "in.xyz"
    write(src, frames, format="extxyz")
    out = label(src, tmp_path / "out.xyz", spec, progress=False)
    return read_frames(out)
