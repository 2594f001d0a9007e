"""Validated loading of users' structure files."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import write

from lesdistill.errors import UserInputError
from lesdistill.systems import load_structure, water_box
from lesdistill.systems.io import load_frames, validate_structure


def test_roundtrip_periodic_structure(tmp_path) -> None:
    path = tmp_path / "w.xyz"
    atoms = water_box(4, seed=0)
    write(path, atoms, format="extxyz")
    back = load_structure(path, periodic=True)
    np.testing.assert_allclose(back.positions, atoms.positions)
    np.testing.assert_allclose(back.cell.array, atoms.cell.array)
    assert len(load_frames(path)) == 1


def test_bad_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_structure(tmp_path / "nope.xyz")
    with pytest.raises(UserInputError, match="directory"):
        load_structure(tmp_path)
    text = tmp_path / "readme.xyz"
    text.write_text("just some\nnotes\n")
    with pytest.raises(UserInputError, match="not a structure file"):
        load_structure(text)
    nan = tmp_path / "nan.xyz"
    nan.write_text("2\n\nH nan 0 0\nH 0 0 0.74\n")
    with pytest.raises(UserInputError, match="NaN"):
        load_structure(nan)
    mol = tmp_path / "mol.xyz"
    write(mol, molecule("H2O"))
    assert len(load_structure(mol)) == 3
    with pytest.raises(UserInputError, match="not periodic"):
        load_structure(mol, periodic=True)


def test_validate_structure() -> None:
    with pytest.raises(UserInputError, match="no atoms"):
        validate_structure(Atoms())
    with pytest.raises(TypeError, match="ase.Atoms"):
        validate_structure("H2O")  # type: ignore[arg-type]
    flat = Atoms("H", positions=[[0, 0, 0]], cell=[[1, 0, 0], [0, 1, 0], [0, 0, 0]], pbc=True)
    with pytest.raises(UserInputError, match="degenerate"):
        validate_structure(flat)
    with pytest.raises(UserInputError, match="unknown elements"):
        validate_structure(Atoms("X", positions=[[0, 0, 0]]))
