"""Learning curve: the saturation rule on known curves, a tiny end-to-end run (train, score,
resume), and bad input (reference frames in the training pool, too large sizes: exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesdistill.analysis.learning_curve import (
    LearningCurveSettings,
    format_curve,
    run_learning_curve,
    saturation,
)
from lesdistill.cli import main

from ..training.conftest import write_ionic_dataset


def test_saturation_finds_where_doubling_stops_paying() -> None:
    sizes = [5, 10, 20, 40, 80]
    assert saturation(sizes, [100, 50, 25, 12.5, 6.25], 0.1) is None  # halves every doubling
    assert saturation(sizes, [100, 50, 48, 47, 46.5], 0.1) == 10
    assert saturation(sizes, [100, 99, 98.5, 98, 97.9], 0.1) == 5
    # gains are per doubling: 10 -> 40 (two doublings) losing 30% is 16% per doubling
    assert saturation([10, 40], [100, 70], 0.1) is None
    assert saturation([10, 40], [100, 85], 0.1) == 10


def test_settings_are_validated() -> None:
    for bad in ({"sizes": ()}, {"sizes": (5, 5)}, {"sizes": (0, 5)}, {"valid_fraction": 0.0},
                {"stop_gain": 1.5}, {"training": {"seed": 1}}):
        with pytest.raises(ValueError):
            LearningCurveSettings(**bad)
    assert LearningCurveSettings(sizes=(20, 5)).sizes == (5, 20)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lc")
    return {"pool": write_ionic_dataset(d / "pool.xyz", 8, seed=0),
            "test": write_ionic_dataset(d / "test.xyz", 2, seed=50),
            "ref": write_ionic_dataset(d / "ref.xyz", 2, seed=80, with_bec=True)}


TINY = {"model_preset": "tiny", "model": {"channels": 16, "layers": 1, "n_rbf": 6}, "epochs": 1,
        "batch_size": 2, "checkpoint_interval_s": 1e9}


def test_tiny_learning_curve_end_to_end_and_resume(data, tmp_path) -> None:
    settings = LearningCurveSettings(sizes=(2, 6), valid_fraction=0.2, training=TINY)
    out = tmp_path / "lc"
    summary = run_learning_curve(data["pool"], data["test"], out, settings,
                                 bec_reference=data["ref"], bec_array="bec", progress=False)
    c = summary["curve"]
    assert c["n_frames"] == [2, 6]
    assert all(v > 0 for v in c["forces_mae_meV_per_A"] + c["bec_mae_e"])
    assert c["bec_constant_mae_e"] == pytest.approx(0.0, abs=1e-9)  # exact q I: constant is exact
    on_disk = json.loads((out / "learning_curve.json").read_text())
    assert on_disk["curve"] == c and (out / "learning_curve.png").stat().st_size > 0
    # nested subsets: the 2-frame set is the start of the 6-frame set
    from ase.io import read

    small = read(out / "n_00002" / "train.extxyz", ":")
    large = read(out / "n_00006" / "train.extxyz", ":")
    assert all((a.positions == b.positions).all() for a, b in zip(small, large[:2], strict=True))
    assert "frames" in format_curve(summary) and summary["verdict"]
    # a second run re-uses the finished sizes (no retraining): same numbers
    again = run_learning_curve(data["pool"], data["test"], out, settings,
                               bec_reference=data["ref"], bec_array="bec", progress=False)
    assert again["curve"] == c


@pytest.mark.parametrize("case,phrase", [("reference in pool", "evaluation only"),
                                         ("too large", "exceeds")])
def test_bad_input_exit_2_nothing_written(data, tmp_path, capsys, case, phrase) -> None:
    out = tmp_path / "lc"
    ref = data["ref"] if case == "reference in pool" else None
    pool = data["ref"] if case == "reference in pool" else data["pool"]
    argv = ["learning-curve", "--data", pool, "--test", data["test"], "--out", out,
            "--sizes", "1" if case == "reference in pool" else "2,100", "--epochs", "1"]
    if ref is not None:
        argv += ["--bec-reference", ref, "--array", "bec"]
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1 and phrase in err, err
    assert not out.exists()
