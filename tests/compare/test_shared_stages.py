"""Shared frames from a user's file carrying DFT-style BEC labels: split once, and the labels
become the reference BEC (no training involved)."""

from __future__ import annotations

import json

import numpy as np
from ase.build import bulk
from ase.io import read, write

from lesdistill.compare.config import parse
from lesdistill.compare.runner import plan, resolve_teachers, write_plan
from lesdistill.compare.shared_stages import shared_stages
from lesdistill.pipeline.runner import run_stages


def _frames_file(tmp_path, n=8):
    rng = np.random.default_rng(0)
    frames = []
    for k in range(n):
        atoms = bulk("NaCl", "rocksalt", a=5.6, cubic=True)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        q = np.where(atoms.numbers == 11, 1.1, -1.1)
        atoms.arrays["bec"] = (q[:, None, None] * np.eye(3)).reshape(len(atoms), 9) + k * 1e-3
        frames.append(atoms)
    path = tmp_path / "frames.extxyz"
    write(path, frames)
    return path


def test_file_frames_with_bec_labels_are_the_reference(tmp_path):
    path = _frames_file(tmp_path)
    cfg = parse({"output": str(tmp_path / "out"), "system": {"file": str(path)},
                 "sampling": {"file": str(path), "valid_fraction": 0.2, "test_fraction": 0.25},
                 "teachers": ["analytic-ionic"], "bec": {"n_frames": 2}})
    usable, skipped = resolve_teachers(cfg, read(path))
    assert not skipped
    write_plan(cfg.output, plan(cfg, usable, print))
    built = []

    def make(spec):
        built.append(spec)
        raise AssertionError("no teacher needed when frames come from a file with BEC labels")

    results = run_stages(shared_stages(), cfg, cfg.output, progress=False, log=lambda s: None,
                         extra={"make_teacher": make})
    assert [r.status for r in results] == ["ran", "ran"] and not built
    frames_dir = cfg.output / "frames"
    split = json.loads((frames_dir / "split.json").read_text())
    assert sorted(split["train"] + split["valid"] + split["test"]) == list(range(8))
    assert len(split["test"]) == 2 and split["bec"] == split["test"]
    assert len(read(frames_dir / "all.extxyz", index=":")) == 8
    ref = json.loads((cfg.output / "reference" / "reference.json").read_text())
    assert ref["available"] and ref["source"].startswith("file")
    with np.load(cfg.output / "reference" / "reference.npz") as data:
        z = data["becs"]
    assert z.shape == (2, 8, 3, 3)
    np.testing.assert_allclose(np.abs(np.trace(z, axis1=2, axis2=3) / 3), 1.1, atol=0.01)
    # nothing changed: both stages are skipped on a second run
    again = run_stages(shared_stages(), cfg, cfg.output, progress=False, log=lambda s: None,
                       extra={"make_teacher": make})
    assert [r.status for r in again] == ["skipped", "skipped"]


def test_bec_comparison_on_open_clusters_with_an_xtb_reference(tmp_path):
    """bec.cluster_molecules: the BEC frames become open clusters cut from the shared periodic
    frames, where the xTB dipole is defined, and the reference is computed on them."""
    import pytest

    pytest.importorskip("tblite")
    from lesdistill.systems import build

    rng = np.random.default_rng(1)
    frames = []
    for _ in range(4):
        atoms = build("water", n_molecules=8, seed=0)
        atoms.positions += rng.normal(scale=0.03, size=atoms.positions.shape)
        atoms.info["energy"] = 0.0
        atoms.arrays["forces"] = np.zeros((len(atoms), 3))
        frames.append(atoms)
    path = tmp_path / "water.extxyz"
    write(path, frames)
    raw = {"output": str(tmp_path / "out"), "system": {"file": str(path)},
           "sampling": {"file": str(path), "valid_fraction": 0.25, "test_fraction": 0.25},
           "teachers": ["xtb-gfn1"],
           "bec": {"n_frames": 1, "reference": "teacher:xtb-gfn1", "cluster_molecules": 2}}
    cfg = parse(raw)
    usable, _ = resolve_teachers(cfg, read(path))
    write_plan(cfg.output, plan(cfg, usable, print))
    from lesdistill.teachers import get_teacher

    results = run_stages(shared_stages(), cfg, cfg.output, progress=False, log=lambda s: None,
                         extra={"make_teacher": lambda spec: (lambda: get_teacher(spec))})
    assert [r.status for r in results] == ["ran", "ran"]
    (cluster,) = read(cfg.output / "frames" / "bec.extxyz", index=":")
    assert len(cluster) == 6 and not cluster.pbc.any()
    ref = json.loads((cfg.output / "reference" / "reference.json").read_text())
    assert ref["available"] and ref["source"].startswith("teacher xtb-gfn1"), ref
    with np.load(cfg.output / "reference" / "reference.npz") as data:
        z = data["becs"]
    assert z.shape == (1, 6, 3, 3)
    np.testing.assert_allclose(z[0].sum(axis=0), 0.0, atol=5e-3)  # open, neutral: sum rule
    for bad, phrase in ((-1, "bec.cluster_molecules"), (9, "has 8 molecules")):
        raw_bad = {**raw, "output": str(tmp_path / f"bad{bad}"),
                   "bec": {**raw["bec"], "cluster_molecules": bad}}
        with pytest.raises(ValueError, match=phrase):
            cfg_bad = parse(raw_bad)
            write_plan(cfg_bad.output, plan(cfg_bad, usable, print))
            run_stages(shared_stages(), cfg_bad, cfg_bad.output, progress=False,
                       log=lambda s: None, extra={"make_teacher": lambda spec: None})
