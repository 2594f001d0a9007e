"""Total charge and spin multiplicity: checks against the element count, carried by batches and
the calculator, refused by teachers that ignore the spin, and bad input on the command line."""

from __future__ import annotations

import pytest
import torch
from ase import Atoms
from ase.build import molecule

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.data.charge_state import charge_and_spin, check_charge_spin
from lesdistill.errors import UserInputError

WATER = [8, 1, 1]  # 10 electrons


@pytest.mark.parametrize("charge, spin", [(0, None), (0, 1), (0, 3), (1, 2), (-1, 2), (0.5, None),
                                          (10, 1)])
def test_states_that_fit(charge, spin):
    check_charge_spin(WATER, charge, spin)


@pytest.mark.parametrize("charge, spin, message", [
    (0, 2, "does not fit 10 electrons"), (1, 1, "does not fit 9 electrons"),
    (11, None, "leaves -1 electrons"), (0, 0, "whole number >= 1"), (0, 1.5, "whole number"),
    (0.5, 2, "whole number of electrons"), (-1, 13, "does not fit 11"),
])
def test_states_that_do_not_fit(charge, spin, message):
    with pytest.raises(UserInputError, match=message):
        check_charge_spin(WATER, charge, spin, "water")


def test_batches_carry_the_spin():
    neutral, cation = molecule("H2O"), molecule("H2O")
    cation.info.update({keys.TOTAL_CHARGE: 1, keys.SPIN_MULTIPLICITY: 2})
    batch = AtomicBatch.from_atoms([neutral, cation], 4.0)
    assert batch.total_charge.tolist() == [0.0, 1.0]
    assert batch.spin_multiplicity.tolist() == [1.0, 2.0]
    assert batch.to("cpu", torch.float32).spin_multiplicity.dtype == torch.float32
    cation.info[keys.SPIN_MULTIPLICITY] = 1
    with pytest.raises(UserInputError, match="structure 1: spin multiplicity 1 does not fit 9"):
        AtomicBatch.from_atoms([neutral, cation], 4.0)
    assert charge_and_spin({keys.TOTAL_CHARGE: "-1"}) == (-1.0, None)


def test_teacher_that_ignores_the_spin_refuses_it():
    from lesdistill.teachers import get_teacher

    teacher = get_teacher("analytic-ionic")
    atoms = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]])
    teacher.label(atoms)
    atoms.info[keys.SPIN_MULTIPLICITY] = 3
    with pytest.raises(UserInputError, match="ignores the spin multiplicity"):
        teacher.label(atoms)


def test_xtb_teacher_reads_charge_and_spin():
    pytest.importorskip("tblite")
    from lesdistill.teachers import get_teacher

    teacher = get_teacher("xtb-gfn2")
    water = molecule("H2O")
    neutral = teacher.label(water)["energy"]
    water.info.update({keys.TOTAL_CHARGE: 1, keys.SPIN_MULTIPLICITY: 2})
    cation = teacher.label(water)["energy"]
    assert cation - neutral > 10.0  # ionisation energy of water ~12.6 eV (GFN2-xTB ~18 eV)


def test_student_calculator_follows_a_charge_change(tmp_path):
    from lesdistill.calculator import StudentCalculator
    from tests.model.conftest import _make_model

    atoms = molecule("H2O")
    atoms.calc = StudentCalculator(_make_model(charge_spin_embedding=True))
    q0 = atoms.get_charges().sum()
    atoms.info[keys.TOTAL_CHARGE] = 1.0
    atoms.info[keys.SPIN_MULTIPLICITY] = 2
    assert atoms.get_charges().sum() == pytest.approx(q0 + 1.0)
    atoms.info[keys.SPIN_MULTIPLICITY] = 1
    with pytest.raises(UserInputError, match="does not fit 9 electrons"):
        atoms.get_potential_energy()


def test_cli_md_with_a_charge_that_does_not_fit_exits_2(tmp_path, capsys):
    from lesdistill.cli import main
    from lesdistill.model.checkpoint import save_student
    from tests.model.conftest import _make_model

    save_student(_make_model(), tmp_path / "s.pt")
    water = molecule("H2O")
    water.info[keys.TOTAL_CHARGE] = 12
    water.write(tmp_path / "start.xyz")
    with pytest.raises(SystemExit) as exc:
        main(["md", str(tmp_path / "start.xyz"), "--model", str(tmp_path / "s.pt"), "--out",
              str(tmp_path / "md"), "--n-steps", "4", "--stride", "2", "--n-equil", "0",
              "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "electrons" in err, err
    assert not (tmp_path / "md").exists() or not any((tmp_path / "md").iterdir())
