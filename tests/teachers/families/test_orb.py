"""orb-models 0.5.5 (Python 3.11): a random Orb v3 model saved as a state dict, labelled here."""

from __future__ import annotations

import pytest

pytest.importorskip("orb_models")

import torch  # noqa: E402

from lesdistill.teachers import get_teacher  # noqa: E402
from lesdistill.teachers.conformance import check_teacher  # noqa: E402
from lesdistill.teachers.registry import teacher_status  # noqa: E402

from .conftest import label_file  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The conservative-20-omat architecture (its builder fixes the size), random weights."""
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    torch.manual_seed(0)
    model = pretrained.orb_v3_conservative_architecture(
        device="cpu", system_config=SystemConfig(radius=6.0, max_num_neighbors=20))
    path = tmp_path_factory.mktemp("orb") / "orb-v3-conservative-20-omat-test.ckpt"
    torch.save(model.state_dict(), path)
    return path


def test_orb_from_released_file_name_labels_water(checkpoint, water_box, tmp_path) -> None:
    spec = f"orb:{checkpoint}"
    assert teacher_status(spec).usable
    teacher = get_teacher(spec)
    assert "orb-v3-conservative-20-omat" in teacher.info.architecture
    assert teacher.info.training_data == "OMat24"
    model = teacher.calculator.model
    assert not hasattr(model, "_compiled_call_impl") or model._compiled_call_impl is None  # eager
    small = water_box[:9]  # 3 molecules: the full-size Orb model costs seconds per call on CPU
    check_teacher(teacher, small, force_tol=0.05)
    frames = label_file(tmp_path, teacher, [small])
    assert frames[0].get_forces().shape == (9, 3)


def test_orb_architecture_is_explicit_not_guessed(checkpoint, tmp_path) -> None:
    renamed = tmp_path / "my-model.ckpt"
    renamed.write_bytes(checkpoint.read_bytes())
    status = teacher_status(f"orb:{renamed}")
    assert not status.usable and "architecture" in status.reason
    with pytest.raises(ValueError, match="cannot tell the architecture"):
        get_teacher(f"orb:{renamed}")
    with pytest.raises(ValueError, match="unknown architecture 'orb-v9'"):
        get_teacher(f"orb:{renamed}@orb-v9")
    with pytest.raises(ValueError, match="does not fit the architecture 'orb-v3-direct-20-mpa'"):
        get_teacher(f"orb:{renamed}@orb-v3-direct-20-mpa")
    assert "orb-v3-conservative-20-omat" in get_teacher(
        f"orb:{renamed}@orb_v3_conservative_20_omat").info.architecture
