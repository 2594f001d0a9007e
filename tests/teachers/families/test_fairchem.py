"""fairchem-core 2.24 (UMA, eSEN): random models saved as MLIPInferenceCheckpoint, labelled here."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fairchem.core")

import sys  # noqa: E402

from lesdistill import keys  # noqa: E402
from lesdistill.teachers import get_teacher  # noqa: E402
from lesdistill.teachers.base import SPIN_MULTIPLICITY  # noqa: E402
from lesdistill.teachers.conformance import check_teacher  # noqa: E402
from lesdistill.teachers.registry import teacher_status  # noqa: E402

from .conftest import HERE, label_file  # noqa: E402

sys.path.insert(0, str(HERE))
from fairchem_models import build_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fairchem")
    return {
        "esen_omol": build_checkpoint(folder / "esen-omol.pt", datasets=["omol"]),
        "uma": build_checkpoint(folder / "uma-test.pt", datasets=["omat", "omol"], moe=True,
                                element_refs=True),
    }


def test_esen_omol_only_checkpoint_uses_its_own_task(checkpoints, water_box, tmp_path) -> None:
    spec = f"esen:{checkpoints['esen_omol']}"
    status = teacher_status(spec)
    assert status.usable and "read when loaded" in status.info.level_of_theory  # not "PBE"
    teacher = get_teacher(spec)
    assert teacher.info.level_of_theory == "DFT wB97M-V/def2-TZVPD"
    assert "task omol" in teacher.info.training_data
    assert "energies referenced" in teacher.info.notes
    assert not teacher.calculator.predictor.inference_settings.compile  # eager on CPU
    check_teacher(teacher, water_box, force_tol=0.02)
    frames = label_file(tmp_path, spec, [water_box])
    assert frames[0].info[keys.TEACHER] == spec
    np.testing.assert_allclose(frames[0].get_forces(), teacher.label(water_box)["forces"],
                               atol=1e-6)
    with pytest.raises(ValueError, match="has no task 'omat'.*omol"):
        get_teacher(f"{spec}@omat")


def test_uma_needs_a_task_and_reports_its_level(checkpoints, water_box) -> None:
    path = checkpoints["uma"]
    with pytest.raises(ValueError, match="has tasks omat, omol; choose one"):
        get_teacher(f"uma:{path}")
    omat = get_teacher(f"uma:{path}@omat")
    assert omat.info.level_of_theory.startswith("DFT PBE")
    assert "energies total" in omat.info.notes
    labels = check_teacher(omat, water_box, force_tol=0.02)
    assert labels["energy"] < -16000  # the checkpoint's element references are added back
    charged = water_box.copy()
    charged.info[keys.TOTAL_CHARGE] = 1
    with pytest.raises(ValueError, match="does not take a total charge"):
        omat.label(charged)


def test_uma_omol_charge_and_spin_reach_the_model(checkpoints) -> None:
    from ase.build import molecule

    teacher = get_teacher(f"uma:{checkpoints['uma']}@omol")
    ion = molecule("H2O")
    ion.info[keys.TOTAL_CHARGE] = 1
    ion.info[SPIN_MULTIPLICITY] = 2
    neutral = molecule("H2O")
    e_ion = teacher.label(ion)["energy"]
    e_neutral = teacher.label(neutral)["energy"]
    assert e_ion != pytest.approx(e_neutral, abs=1e-9)  # the charge/spin embedding is used
    assert ion.info[keys.TOTAL_CHARGE] == 1 and "charge" not in ion.info  # caller's atoms intact


def test_user_reference_energies_are_added(checkpoints, water_box, tmp_path) -> None:
    refs = tmp_path / "refs.json"
    refs.write_text(json.dumps({"H": -1.5, "O": -10.0}))
    base = get_teacher(f"esen:{checkpoints['esen_omol']}")
    shifted = get_teacher(f"esen:{checkpoints['esen_omol']}@omol,refs={refs}")
    n_h, n_o = (
        water_box.get_chemical_symbols().count("H"),
        water_box.get_chemical_symbols().count("O"),
    )
    a, b = base.label(water_box), shifted.label(water_box)
    assert b["energy"] - a["energy"] == pytest.approx(-1.5 * n_h - 10.0 * n_o, abs=1e-6)
    np.testing.assert_allclose(b["forces"], a["forces"], atol=1e-6)
    assert str(refs) in shifted.info.notes
    with pytest.raises(ValueError, match="not an element"):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"Xx": 1.0}))
        get_teacher(f"esen:{checkpoints['esen_omol']}@omol,refs={bad}")
