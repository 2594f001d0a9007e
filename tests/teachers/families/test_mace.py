"""MACE (mace-torch 0.3.16, e3nn 0.4.4) in its own venv, through the socket teacher.

The MACE environment is ``$LESDISTILL_MACE_PYTHON`` (default: the ``mace`` venv that
``.ci/teacher-envs.sh mace`` makes); it holds torch, mace-torch and ASE only, no lesdistill.
The random model is built there with mace-torch's own API and saved as a ``*.model`` file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lesdistill import keys
from lesdistill.teachers import get_teacher
from lesdistill.teachers.conformance import check_teacher
from lesdistill.teachers.registry import teacher_status

from .conftest import HERE, TEACHER_VENVS, label_file

MACE_PYTHON = os.environ.get(
    "LESDISTILL_MACE_PYTHON", str(TEACHER_VENVS / "mace" / "bin" / "python")
)
if not Path(MACE_PYTHON).exists():
    pytest.skip(f"no MACE environment at {MACE_PYTHON} (.ci/teacher-envs.sh mace)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def mace_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mace") / "mace-test.model"
    subprocess.run([MACE_PYTHON, str(HERE / "mace_model.py"), str(path)], check=True,
                   env={**os.environ, "PYTHONPATH": ""}, capture_output=True)
    return path


def test_mace_is_not_importable_beside_lesdistill_but_serves_over_the_socket(
        mace_model, water_box, tmp_path) -> None:
    assert not teacher_status(f"mace:{mace_model}").usable or \
        os.environ.get("LESDISTILL_ALLOW_MACE_HERE")
    spec = f"env:{MACE_PYTHON}@mace:{mace_model}"
    assert teacher_status(spec).usable, teacher_status(spec).reason
    teacher = get_teacher(spec)
    try:
        labels = check_teacher(teacher, water_box, force_tol=1e-4)  # float64 model
        assert labels["energy"] < -16000  # E0s of H and O are in the model
        frames = label_file(tmp_path, teacher, [water_box, water_box])
        assert [f.info[keys.TEACHER] for f in frames] == [spec, spec]
        np.testing.assert_allclose(frames[0].get_forces(), labels["forces"], atol=1e-6)  # extxyz
        np.testing.assert_allclose(frames[0].get_stress(), labels["stress"], atol=1e-8)
        # the e3nn 0.4.4 / TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD side effects stay in that process
        assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    finally:
        pid = teacher.calculator.server_pid
        teacher.calculator.close()
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


def test_mace_in_process_would_need_the_package(mace_model) -> None:
    status = teacher_status(f"mace:{mace_model}")
    if not status.usable:
        assert "env:VENV/bin/python@mace:PATH" in status.reason
