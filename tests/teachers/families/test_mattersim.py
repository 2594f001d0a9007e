"""MatterSim 1.2.3: a small random M3GNet Potential saved with Potential.save(), labelled here."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("mattersim")

import torch  # noqa: E402

from lesdistill.teachers import get_teacher  # noqa: E402
from lesdistill.teachers.conformance import check_teacher  # noqa: E402
from lesdistill.teachers.registry import teacher_status  # noqa: E402

from .conftest import label_file  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from mattersim.forcefield.m3gnet.m3gnet import M3Gnet
    from mattersim.forcefield.potential import Potential

    torch.manual_seed(0)
    model = M3Gnet(num_blocks=1, units=16, max_l=2, max_n=2, cutoff=5.0, threebody_cutoff=4.0,
                   device="cpu")
    path = tmp_path_factory.mktemp("mattersim") / "mattersim-test.pth"
    Potential(model, device="cpu").save(str(path))
    return path


def test_mattersim_labels_water(checkpoint, water_box, tmp_path) -> None:
    assert importlib.util.find_spec("torchvision") is None  # removed by the install recipe
    spec = f"mattersim:{checkpoint}"
    assert teacher_status(spec).usable
    teacher = get_teacher(spec)
    labels = check_teacher(teacher, water_box, force_tol=0.02)
    frames = label_file(tmp_path, teacher, [water_box])
    assert frames[0].get_potential_energy() == pytest.approx(labels["energy"], rel=1e-6)
