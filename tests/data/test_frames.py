"""lesdistill.data.frames: the one reader/writer of structure files and its validation policy."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from lesdistill.data.frames import (
    frames_text,
    parse_frames_text,
    read_frame,
    read_frames,
    write_frames,
)
from lesdistill.errors import UserInputError
from lesdistill.fileio import file_sha256


def _labelled(seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = Atoms("OH2", positions=rng.normal(size=(3, 3)), cell=np.eye(3) * 5.0, pbc=True)
    atoms.info["temperature_K"] = 300.0
    atoms.arrays["bec"] = rng.normal(size=(3, 9))
    atoms.calc = SinglePointCalculator(atoms, energy=-1.5, forces=rng.normal(size=(3, 3)),
                                       stress=rng.normal(size=6))
    return atoms


def test_round_trip_keeps_labels_info_and_arrays(tmp_path):
    frames = [_labelled(0), _labelled(1)]
    path = write_frames(tmp_path / "f.extxyz", frames)
    back = read_frames(path)
    assert len(back) == 2
    for a, b in zip(frames, back, strict=True):
        np.testing.assert_allclose(b.positions, a.positions)
        np.testing.assert_allclose(b.arrays["bec"], a.arrays["bec"])
        assert b.info["temperature_K"] == 300.0
        assert b.get_potential_energy() == pytest.approx(-1.5)
        np.testing.assert_allclose(b.get_forces(), a.get_forces())
        np.testing.assert_allclose(b.get_stress(), a.get_stress())
    assert parse_frames_text(frames_text(frames))[1].info["temperature_K"] == 300.0
    np.testing.assert_allclose(read_frame(path, 1).positions, frames[1].positions)


def test_policy_for_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file not found: .*; label some frames"):
        read_frames(tmp_path / "missing.xyz", what="data file", hint="label some frames")
    with pytest.raises(UserInputError, match="is a directory"):
        read_frames(tmp_path)
    garbage = tmp_path / "garbage.extxyz"
    garbage.write_text("not\na structure\n")
    with pytest.raises(UserInputError, match="is not a frames file ASE can read"):
        read_frames(garbage)
    empty = tmp_path / "empty.extxyz"
    write_frames(empty, [])
    with pytest.raises(UserInputError, match="contains no frames"):
        read_frames(empty, format="extxyz")
    assert read_frames(empty, format="extxyz", allow_empty=True) == []
    bad = _labelled(2)
    bad.positions[1, 0] = np.nan
    write_frames(tmp_path / "nan.extxyz", [_labelled(3), bad])
    with pytest.raises(UserInputError, match=r"nan.extxyz:1: NaN or infinite positions"):
        read_frames(tmp_path / "nan.extxyz")


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"abc" * 1000)
    b.write_bytes(b"xyz")
    assert file_sha256(a) == hashlib.sha256(b"abc" * 1000).hexdigest()
    joined = hashlib.sha256(b"abc" * 1000 + b"\0" + b"xyz" + b"\0").hexdigest()
    assert file_sha256([a, b], separator=True) == joined
