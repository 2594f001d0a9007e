"""PET (upet 0.3.1 + metatomic-torch 0.1.19): a random metatrain PET as .ckpt and exported .pt."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("metatomic_ase")
pytest.importorskip("upet")

from lesdistill.teachers import get_teacher  # noqa: E402
from lesdistill.teachers.conformance import check_teacher  # noqa: E402
from lesdistill.teachers.registry import teacher_status  # noqa: E402

from .conftest import HERE, label_file  # noqa: E402

sys.path.insert(0, str(HERE))
import pet_models  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return pet_models.build(tmp_path_factory.mktemp("pet"))


def test_exported_pt_and_upet_ckpt_give_the_same_labels(models, water_box, tmp_path) -> None:
    ckpt, exported = models
    assert teacher_status(f"pet:{ckpt}").usable and teacher_status(f"pet:{exported}").usable
    from_pt = get_teacher(f"pet:{exported}")
    from_ckpt = get_teacher(f"pet:{ckpt}")  # exported on load by upet
    assert type(from_pt.calculator).__module__.startswith("metatomic_ase")
    labels = check_teacher(from_pt, water_box, force_tol=0.05)
    other = from_ckpt.label(water_box)
    assert other["energy"] == pytest.approx(labels["energy"], rel=1e-6)
    np.testing.assert_allclose(other["forces"], labels["forces"], atol=1e-5)
    np.testing.assert_allclose(other["stress"], labels["stress"], atol=1e-6)
    frames = label_file(tmp_path, from_ckpt, [water_box])
    np.testing.assert_allclose(frames[0].get_forces(), labels["forces"], atol=1e-5)


def test_ckpt_without_upet_says_how_to_export(models, monkeypatch) -> None:
    from lesdistill.teachers import adapter, pet

    real = adapter.has_module
    monkeypatch.setattr(pet, "has_module", lambda m: False if m == "upet" else real(m))
    status = teacher_status(f"pet:{models[0]}")
    assert not status.usable and "upet.save_upet" in status.reason
    with pytest.raises(ValueError, match="upet.save_upet"):
        get_teacher(f"pet:{models[0]}")
