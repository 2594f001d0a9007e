"""Crash-safe extxyz store: complete frames only, partial tails dropped, atomic state."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from lesdistill.errors import UserInputError
from lesdistill.sampling.store import (
    append_frames,
    complete_length,
    frame_text,
    read_frames,
    read_state,
    repair,
    state_path,
    write_state,
)


def _frame(k: int) -> Atoms:
    atoms = Atoms("H2O", positions=np.arange(9.0).reshape(3, 3) + k, cell=[5, 5, 5], pbc=True)
    atoms.info["frame_id"] = k
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0 * k, forces=np.full((3, 3), 0.1 * k),
                                       stress=np.arange(6.0) * k)
    return atoms


def test_append_read_roundtrip(tmp_path) -> None:
    path = tmp_path / "f.xyz"
    append_frames(path, [_frame(0), _frame(1)])
    append_frames(path, [frame_text(_frame(2))])
    frames = read_frames(path)
    assert [f.info["frame_id"] for f in frames] == [0, 1, 2]
    assert frames[2].get_potential_energy() == -2.0
    np.testing.assert_allclose(frames[2].get_forces(), 0.2)
    np.testing.assert_allclose(frames[2].get_stress(), np.arange(6.0) * 2)


@pytest.mark.parametrize("cut", [1, 30, -1])
def test_repair_drops_partial_trailing_frame(tmp_path, cut: int) -> None:
    path = tmp_path / "f.xyz"
    append_frames(path, [_frame(0), _frame(1)])
    good = path.read_bytes()
    partial = frame_text(_frame(2)).encode()[:cut]
    with open(path, "ab") as handle:
        handle.write(partial)
    assert complete_length(path) == (2, len(good))
    assert len(read_frames(path)) == 2
    assert repair(path) == 2
    assert path.read_bytes() == good
    assert repair(tmp_path / "missing.xyz") == 0


def test_not_a_frame_file(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(UserInputError, match="not an extxyz frame file"):
        repair(path)


def test_state_roundtrip_and_corruption(tmp_path) -> None:
    sidecar = state_path(tmp_path / "out.xyz")
    assert sidecar.name == ".out.xyz.state.json"
    assert read_state(sidecar) is None
    rng = np.random.default_rng(5)
    state = {"x": [0.1, 1e-17, 123456.789], "rng": rng.bit_generator.state}
    write_state(sidecar, state)
    back = read_state(sidecar)
    assert back == state
    clone = np.random.default_rng()
    clone.bit_generator.state = back["rng"]
    assert clone.random() == rng.random()
    sidecar.write_text("{broken")
    with pytest.raises(UserInputError, match="corrupted state"):
        read_state(sidecar)
