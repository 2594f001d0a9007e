"""Relabelling (kept old labels, resume, shards, workers) and merging shards."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.sampling import label, merge, read_frames, sample
from lesdistill.sampling.relabel import parse_shard
from lesdistill.sampling.store import append_frames
from lesdistill.teachers import get_teacher


@pytest.fixture
def frames_file(nacl: Atoms, tmp_path):
    return sample(nacl, "analytic-ionic", tmp_path / "frames.xyz", temperatures_K=(400.0,),
                  n_frames=5, stride=3, timestep_fs=2.0, equilibration_steps=3, seed=1,
                  progress=False)


def test_relabel_keeps_old_labels(frames_file, tmp_path) -> None:
    out = label(frames_file, tmp_path / "half.xyz", "analytic-ionic-half",
                keep_prefix=keys.PREVIOUS_PREFIX, progress=False)
    old, new = read_frames(frames_file), read_frames(out)
    teacher = get_teacher("analytic-ionic-half")
    assert [f.info[keys.FRAME_ID] for f in new] == [f.info[keys.FRAME_ID] for f in old]
    for a, b in zip(old, new, strict=True):
        np.testing.assert_allclose(b.positions, a.positions)
        assert b.info[keys.TEACHER] == "analytic-ionic-half"
        assert b.info["previous_teacher"] == "analytic-ionic"
        assert b.info["previous_energy"] == pytest.approx(a.get_potential_energy())
        np.testing.assert_allclose(b.arrays["previous_forces"], a.get_forces())
        np.testing.assert_allclose(b.info["previous_stress"], a.get_stress())
        assert b.get_potential_energy() == pytest.approx(teacher.label(b)["energy"], abs=1e-6)
    plain = read_frames(label(frames_file, tmp_path / "plain.xyz", "analytic-ionic-half",
                              progress=False))
    assert "previous_energy" not in plain[0].info


def test_relabel_resumes_without_duplicates(frames_file, tmp_path) -> None:
    full = label(frames_file, tmp_path / "full.xyz", "analytic-ionic-half", progress=False)
    partial = tmp_path / "partial.xyz"
    first_two = read_frames(full)[:2]
    append_frames(partial, first_two)
    with open(partial, "a") as handle:  # a killed writer's half frame
        handle.write(full.read_text()[:100])
    label(frames_file, partial, "analytic-ionic-half", progress=False)
    assert partial.read_bytes() == full.read_bytes()


def test_shards_merge_equal_unsharded(frames_file, tmp_path) -> None:
    full = label(frames_file, tmp_path / "full.xyz", "analytic-ionic-half", progress=False)
    shards = [label(frames_file, tmp_path / f"s{i}.xyz", "analytic-ionic-half", shard=f"{i}/3",
                    progress=False) for i in range(3)]
    assert [len(read_frames(s)) for s in shards] == [2, 2, 1]
    merged = merge([shards[2], shards[0], shards[1], shards[0]], tmp_path / "merged.xyz")
    assert merged.read_bytes() == full.read_bytes()


def test_workers_give_the_same_frames(frames_file, tmp_path) -> None:
    serial = label(frames_file, tmp_path / "serial.xyz", "analytic-ionic-half", progress=False)
    parallel = label(frames_file, tmp_path / "parallel.xyz", "analytic-ionic-half", workers=2,
                     progress=False)
    assert parallel.read_bytes() == serial.read_bytes()


def test_bad_shard_and_inputs(frames_file, tmp_path) -> None:
    with pytest.raises(UserInputError, match="must differ"):
        label(frames_file, frames_file, "analytic-ionic-half", progress=False)
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x/2", "3", "-1/2"):
        with pytest.raises(UserInputError, match="shard"):
            parse_shard(bad)
    no_ids = tmp_path / "noid.xyz"
    atoms = Atoms("Na", positions=[[0, 0, 0]])
    from ase.io import write

    write(no_ids, atoms, format="extxyz")
    with pytest.raises(UserInputError, match="frame_id"):
        merge([no_ids], tmp_path / "m.xyz")
    water = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    path = tmp_path / "water.xyz"
    append_frames(path, [water])
    with pytest.raises(ValueError, match="cannot handle element"):
        label(path, tmp_path / "x.xyz", "analytic-ionic", progress=False)


def test_chgnet_labels_a_small_water_box(tmp_path) -> None:
    """CHGNet 0.3.0 from the wheel labels a periodic 8-molecule water box (once)."""
    from lesdistill.systems import water_box

    path = tmp_path / "w.xyz"
    frame = water_box(8, seed=0)
    frame.info[keys.FRAME_ID] = 0
    append_frames(path, [frame])
    out = read_frames(label(path, tmp_path / "chg.xyz", "chgnet", progress=False))
    labelled = out[0]
    assert labelled.info[keys.TEACHER] == "chgnet"
    assert np.isfinite(labelled.get_potential_energy())
    assert labelled.get_potential_energy() / len(labelled) == pytest.approx(-4.7, abs=0.6)
    forces = labelled.get_forces()
    assert forces.shape == (24, 3) and np.abs(forces.sum(axis=0)).max() < 1e-3
    assert labelled.get_stress().shape == (6,)
