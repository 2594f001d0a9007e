"""Reading labelled extxyz frames: label lookup, configurable keys, splits and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from lesdistill.data.dataset import (
    LabelKeys,
    elements_of,
    file_digest,
    load_datasets,
    read_frames,
    split_frames,
    write_frames,
)
from lesdistill.errors import UserInputError


def _frame(seed: int = 0, *, stress: bool = True):
    rng = np.random.default_rng(seed)
    atoms = bulk("NaCl", "rocksalt", a=5.64) * (1, 1, 2)
    atoms.rattle(0.05, seed=seed)
    forces = rng.normal(size=(len(atoms), 3))
    kwargs = {"stress": rng.normal(size=6) * 1e-3} if stress else {}
    atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - seed, forces=forces, **kwargs)
    return atoms


def test_reads_ase_labels_bec_and_charge(tmp_path):
    atoms = [_frame(k) for k in range(3)]
    atoms[1].arrays["bec"] = np.tile(np.eye(3).reshape(9), (len(atoms[1]), 1)) * 2.0
    atoms[2].info["total_charge"] = -1
    path = write_path = tmp_path / "d.xyz"
    write(write_path, atoms)
    frames = read_frames(path)
    assert len(frames) == 3
    for ref, f in zip(atoms, frames):
        assert f.energy == pytest.approx(ref.get_potential_energy())
        np.testing.assert_allclose(f.forces, ref.get_forces())
        np.testing.assert_allclose(f.stress, ref.get_stress(), atol=1e-12)
        assert f.atoms.calc is None
    assert frames[0].bec is None and frames[1].bec.shape == (len(atoms[1]), 3, 3)
    np.testing.assert_allclose(frames[1].bec[0], 2.0 * np.eye(3))
    assert (
        frames[2].atoms.info["total_charge"] == -1.0 and frames[0].atoms.info["total_charge"] == 0.0
    )
    assert frames[0].source.endswith("d.xyz:0")
    assert elements_of(frames) == ["Na", "Cl"]


def test_user_label_keys_and_3x3_stress(tmp_path):
    atoms = _frame(0, stress=False)
    atoms.calc = None
    atoms.info["REF_energy"] = -3.5
    atoms.arrays["REF_forces"] = np.ones((len(atoms), 3))
    stress = np.arange(9.0).reshape(3, 3)
    stress = 0.5 * (stress + stress.T)
    atoms.info["REF_stress"] = stress.reshape(9)
    write(tmp_path / "ref.xyz", [atoms])
    with pytest.raises(UserInputError, match="no label 'energy' / 'forces'"):
        read_frames(tmp_path / "ref.xyz")
    keys = LabelKeys(energy="REF_energy", forces="REF_forces", stress="REF_stress")
    (frame,) = read_frames(tmp_path / "ref.xyz", keys)
    assert frame.energy == -3.5
    np.testing.assert_allclose(frame.forces, 1.0)
    voigt = [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]]
    np.testing.assert_allclose(frame.stress, voigt)


def test_missing_file_and_unlabelled_frames(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.xyz"):
        read_frames(tmp_path / "nope.xyz")
    bare = _frame(0)
    bare.calc = None
    write(tmp_path / "bare.xyz", [_frame(1), bare])
    with pytest.raises(UserInputError, match=r"bare.xyz:1: frame has no label"):
        read_frames(tmp_path / "bare.xyz")
    (tmp_path / "junk.xyz").write_text("this is not\nan xyz file\n")
    with pytest.raises(UserInputError, match="junk.xyz"):
        read_frames(tmp_path / "junk.xyz")


@pytest.mark.parametrize("field", ["forces", "energy", "bec"])
def test_non_finite_labels_are_rejected(tmp_path, field):
    atoms = _frame(0)
    if field == "forces":
        forces = atoms.get_forces().copy()
        forces[2, 1] = np.nan
        atoms.calc = SinglePointCalculator(atoms, energy=1.0, forces=forces)
    elif field == "energy":
        atoms.calc = SinglePointCalculator(atoms, energy=np.inf, forces=atoms.get_forces())
    else:
        bec = np.zeros((len(atoms), 9))
        bec[0, 0] = np.nan
        atoms.arrays["bec"] = bec
    write(tmp_path / "bad.xyz", [atoms])
    with pytest.raises(UserInputError, match=r"bad.xyz:0: .*(NaN|infinite)"):
        read_frames(tmp_path / "bad.xyz")


def test_wrong_bec_shape(tmp_path):
    atoms = _frame(0)
    atoms.arrays["bec"] = np.zeros((len(atoms), 4))
    write(tmp_path / "bec.xyz", [atoms])
    with pytest.raises(UserInputError, match=r"shape \(4, 4\); expected \(4, 9\)"):
        read_frames(tmp_path / "bec.xyz")


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    write(tmp_path / "d.xyz", [_frame(k) for k in range(20)])
    frames = read_frames(tmp_path / "d.xyz")
    train_a, valid_a = split_frames(frames, 0.2, seed=3)
    train_b, valid_b = split_frames(frames, 0.2, seed=3)
    _, valid_c = split_frames(frames, 0.2, seed=4)
    assert len(valid_a) == 4 and len(train_a) == 16
    assert [f.source for f in valid_a] == [f.source for f in valid_b]
    assert [f.source for f in valid_a] != [f.source for f in valid_c]
    assert {f.source for f in train_a} | {f.source for f in valid_a} == {f.source for f in frames}
    assert split_frames(frames, 0.0, seed=0)[1] == []
    with pytest.raises(UserInputError, match="valid_fraction"):
        split_frames(frames, 1.0, seed=0)


def test_explicit_validation_file_and_digest(tmp_path):
    write(tmp_path / "t.xyz", [_frame(k) for k in range(3)])
    write(tmp_path / "v.xyz", [_frame(k) for k in range(5, 7)])
    train, valid, test = load_datasets(tmp_path / "t.xyz", tmp_path / "v.xyz", valid_fraction=0.5,
                                       test_fraction=0.5)
    assert len(train) == 3 and len(valid) == 2 and test == []
    digest = file_digest([tmp_path / "t.xyz"])
    assert digest == file_digest(tmp_path / "t.xyz") != file_digest(tmp_path / "v.xyz")


def test_test_split_is_held_out_first_and_written_back_unchanged(tmp_path):
    frames_in = [_frame(k) for k in range(20)]
    for k, atoms in enumerate(frames_in):
        atoms.info["temperature_K"] = 300.0 + k
    write(tmp_path / "d.xyz", frames_in)
    train, valid, test = load_datasets(
        tmp_path / "d.xyz", valid_fraction=0.2, test_fraction=0.1, seed=1
    )
    assert (len(train), len(valid), len(test)) == (14, 4, 2)
    sources = [{f.source for f in part} for part in (train, valid, test)]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    assert set.union(*sources) == {f.source for f in read_frames(tmp_path / "d.xyz")}
    again = load_datasets(tmp_path / "d.xyz", valid_fraction=0.2, test_fraction=0.1, seed=1)[2]
    assert [f.source for f in again] == [f.source for f in test]
    out = write_frames(tmp_path / "held" / "test.extxyz", test)
    back = read_frames(out)
    assert [f.energy for f in back] == [f.energy for f in test]
    np.testing.assert_array_equal(back[0].forces, test[0].forces)
    index = int(test[0].source.rpartition(":")[2])
    assert read(out, index=0).info["temperature_K"] == 300.0 + index
