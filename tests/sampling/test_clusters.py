"""Clusters cut out of periodic frames (lesdistill.sampling.clusters) and cluster frames in
teacher sampling (SampleSettings.n_clusters): whole molecules, the box's geometry, refusals
before any teacher call, labels in open boundaries, resume, training on mixed frames."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.sampling.clusters import check_cluster_sampling, cut_cluster, molecules
from lesdistill.systems import build


def test_molecules_of_a_water_box() -> None:
    box = build("water", n_molecules=8, seed=1)
    mols = molecules(box)
    assert len(mols) == 8
    assert all(sorted(box.numbers[m].tolist()) == [1, 1, 8] for m in mols)


def test_cluster_keeps_the_box_geometry() -> None:
    box = build("water", n_molecules=32, seed=2)
    cluster = cut_cluster(box, 6, np.random.default_rng(0))
    assert len(cluster) == 18 and not cluster.pbc.any()
    src = cluster.arrays["source_index"]
    assert sorted(np.bincount(cluster.numbers)[[1, 8]].tolist()) == [6, 12]
    # distances inside the cluster are the box's minimum-image distances of the same atoms
    # (for pairs closer than half the box, where the minimum image is the cluster's image)
    d_cluster = cluster.get_all_distances()
    d_box = box.get_all_distances(mic=True)[np.ix_(src, src)]
    near = d_cluster < 0.5 * box.cell.lengths().min() - 0.5
    assert near.sum() > 0.6 * near.size
    np.testing.assert_allclose(d_cluster[near], d_box[near], atol=1e-9)
    np.testing.assert_allclose(d_cluster[:3], d_box[:3], atol=1e-9)  # the centre molecule
    # the six molecules are the six nearest (by centroid) to the centre molecule
    mols = molecules(box)
    which = sorted({next(k for k, m in enumerate(mols) if i in m) for i in src})
    assert len(which) == 6
    np.testing.assert_allclose(cluster.positions.mean(axis=0), 0.0, atol=1e-12)


def test_clusters_refused_when_impossible() -> None:
    from ase.build import bulk

    crystal = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    with pytest.raises(UserInputError, match="percolates"):
        cut_cluster(crystal, 1, np.random.default_rng(0))
    box = build("water", n_molecules=4, seed=0)
    closed = SimpleNamespace(name="periodic-only", info=SimpleNamespace(open=False))
    with pytest.raises(UserInputError, match="cannot label open"):
        check_cluster_sampling(box, closed, 2)
    opened = SimpleNamespace(name="any", info=SimpleNamespace(open=True))
    with pytest.raises(UserInputError, match="at most 4"):
        check_cluster_sampling(box, opened, 5)
    charged = box.copy()
    charged.info["total_charge"] = 1.0
    with pytest.raises(UserInputError, match="neutral"):
        check_cluster_sampling(charged, opened, 2)


def test_sampling_with_clusters(tmp_path: Path) -> None:
    pytest.importorskip("tblite")
    from lesdistill.sampling import read_frames, sample
    from lesdistill.teachers import get_teacher

    box = build("water", n_molecules=8, seed=3)
    settings = dict(temperatures_K=(300.0,), n_frames=4, stride=2, timestep_fs=0.5,
                    equilibration_steps=2, n_clusters=2, cluster_molecules=3, seed=5,
                    progress=False)
    out = sample(box, "xtb-gfn1", tmp_path / "f.extxyz", **settings)
    frames = read_frames(out)
    assert [f.info[keys.FRAME_ID] for f in frames] == list(range(6))
    md, clusters = frames[:4], frames[4:]
    assert all(f.info[keys.ORIGIN] == "md" and f.pbc.all() for f in md)
    assert all(f.info[keys.ORIGIN] == "cluster" and not f.pbc.any() and len(f) == 9
               for f in clusters)
    teacher = get_teacher("xtb-gfn1")
    labels = teacher.label(clusters[0])
    np.testing.assert_allclose(clusters[0].get_forces(), labels["forces"], atol=1e-6)
    assert "stress" not in clusters[0].calc.results
    # a finished run re-runs to the same file; the plan is seeded
    again = read_frames(sample(box, "xtb-gfn1", tmp_path / "f.extxyz", **settings))
    np.testing.assert_allclose(again[5].positions, clusters[1].positions)
    # the student trains on periodic and cluster frames together
    from lesdistill.training import train
    from lesdistill.training.config import TrainConfig

    result = train(TrainConfig(model_preset="tiny", model={"channels": 8}, epochs=1,
                               batch_size=3, test_fraction=0.0, valid_fraction=0.2),
                   [out], out_dir=tmp_path / "train", progress=False)
    assert result.best_path.is_file()
