"""BEC labels from a teacher's finite-difference dipole (``label(..., bec_displacement_A=)``,
``lesdistill label --bec``): exact on a fixed-charge teacher, refused for dipole-less teachers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from lesdistill import keys
from lesdistill.cli import main
from lesdistill.errors import UserInputError
from lesdistill.sampling import label, read_frames
from lesdistill.teachers import get_teacher
from lesdistill.teachers.analytic import AnalyticIonicCalculator
from lesdistill.teachers.base import Teacher


class FixedChargeDipole(AnalyticIonicCalculator):
    """The analytic ionic teacher plus the dipole sum_i q_i r_i (e Å) of its fixed charges."""

    implemented_properties = [*AnalyticIonicCalculator.implemented_properties, "dipole"]

    def calculate(self, atoms: Any = None, properties: Any = None,
                  system_changes: Any = None) -> None:
        super().calculate(atoms, properties)
        assert self.atoms is not None
        charges = self.atom_charges(self.atoms)
        self.results["dipole"] = charges @ self.atoms.positions


def _teacher() -> Teacher:
    return Teacher("fixed-charge-dipole", get_teacher("analytic-ionic").info, FixedChargeDipole())


def _cluster() -> Atoms:
    atoms = Atoms("NaClNaCl", positions=[[0, 0, 0], [2.8, 0, 0], [2.8, 2.8, 0], [0, 2.8, 0]])
    atoms.info[keys.FRAME_ID] = 0
    return atoms


def _crystal(nacl: Atoms) -> Atoms:
    atoms = nacl.copy()
    atoms.rattle(0.05, seed=1)
    atoms.info[keys.FRAME_ID] = 1
    return atoms


def test_fixed_charges_give_z_equal_q_identity(nacl, tmp_path) -> None:
    frames = tmp_path / "in.extxyz"
    write(frames, [_cluster()], format="extxyz")
    periodic = tmp_path / "periodic.extxyz"
    write(periodic, [_crystal(nacl)], format="extxyz")
    for path in (frames, periodic):
        out = label(path, tmp_path / f"bec_{path.name}", _teacher(), bec_displacement_A=0.01,
                    progress=False)
        (atoms,) = read_frames(out)
        z = atoms.arrays[keys.BEC_ARRAY].reshape(-1, 3, 3)
        q = np.where(np.array(atoms.get_chemical_symbols()) == "Na", 1.0, -1.0)
        np.testing.assert_allclose(z, q[:, None, None] * np.eye(3), atol=1e-8)
        assert atoms.get_forces().shape == (len(atoms), 3)  # energies and forces as before


def test_stale_bec_of_another_level_is_dropped_or_kept_under_the_prefix(tmp_path) -> None:
    atoms = _cluster()
    atoms.arrays[keys.BEC_ARRAY] = np.full((len(atoms), 9), 7.0)
    path = tmp_path / "old.extxyz"
    write(path, [atoms], format="extxyz")
    (plain,) = read_frames(label(path, tmp_path / "plain.extxyz", "analytic-ionic",
                                 progress=False))
    assert keys.BEC_ARRAY not in plain.arrays
    (kept,) = read_frames(label(path, tmp_path / "kept.extxyz", "analytic-ionic",
                                keep_prefix=keys.PREVIOUS_PREFIX, progress=False))
    assert keys.BEC_ARRAY not in kept.arrays
    np.testing.assert_allclose(kept.arrays[f"{keys.PREVIOUS_PREFIX}{keys.BEC_ARRAY}"], 7.0)


def test_teacher_without_dipole_or_bad_step_is_refused_before_writing(tmp_path) -> None:
    path = tmp_path / "in.extxyz"
    write(path, [_cluster()], format="extxyz")
    out = tmp_path / "out.extxyz"
    with pytest.raises(UserInputError, match="gives no dipole"):
        label(path, out, "analytic-ionic", bec_displacement_A=0.01, progress=False)
    for bad in (0.0, -0.01, float("nan")):
        with pytest.raises(UserInputError, match="displacement"):
            label(path, out, _teacher(), bec_displacement_A=bad, progress=False)
    assert not out.exists()


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (["--teacher", "analytic-ionic", "--bec"], "gives no dipole"),
    (["--teacher", "xtb-gfn1", "--bec", "--bec-displacement", "0"], "--bec-displacement"),
])
def test_cli_bad_bec_input_one_line_exit_2(extra, message, tmp_path, capsys) -> None:
    path = tmp_path / "in.extxyz"
    write(path, [_cluster()], format="extxyz")
    out = tmp_path / "out.extxyz"
    code, err = _run(["label", str(path), "--out", str(out), "--no-progress", *extra], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0]
    assert not out.exists()


def test_cli_xtb_bec_labels_obey_the_sum_rule(tmp_path, capsys) -> None:
    """GFN1-xTB on one water molecule: 18 extra calls; a neutral molecule's BECs sum to zero."""
    pytest.importorskip("tblite")
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    path = tmp_path / "in.extxyz"
    write(path, [water], format="extxyz")
    out = tmp_path / "out.extxyz"
    code, err = _run(["label", str(path), "--out", str(out), "--teacher", "xtb-gfn1", "--bec",
                      "--no-progress"], capsys)
    assert code == 0, err
    (atoms,) = read_frames(out)
    z = atoms.arrays[keys.BEC_ARRAY].reshape(3, 3, 3)
    np.testing.assert_allclose(z.sum(axis=0), 0.0, atol=2e-3)
    assert np.trace(z[0]) / 3 < -0.2 and np.trace(z[1]) / 3 > 0.1  # O negative, H positive
