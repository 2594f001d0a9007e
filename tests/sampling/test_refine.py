"""Student-driven sampling (lesdistill.sampling.refine): settings, the student-MD frames, the
teacher's labels on them, fine-tuning that lowers the error where the student runs, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from lesdistill import keys
from lesdistill.sampling import read_frames, sample
from lesdistill.sampling.refine import ORIGIN_STUDENT_MD, refine, student_md_frames
from lesdistill.sampling.refine_settings import RefineSettings
from lesdistill.settings import SettingsError
from lesdistill.teachers import get_teacher
from lesdistill.training import train
from lesdistill.training.config import TrainConfig

SETTINGS = RefineSettings(n_frames=12, equilibration_ps=0.02, interval_fs=8.0, timestep_fs=2.0,
                          epochs=30, lr_factor=1.0, valid_fraction=0.25)


@pytest.mark.parametrize("bad", [dict(n_frames=1), dict(n_frames=-2), dict(timestep_fs=3.0),
                                 dict(interval_fs=0.2), dict(valid_fraction=1.0),
                                 dict(temperatures_K=(300.0, -1.0)), dict(epochs=0)])
def test_settings_reject_bad_values(bad: dict) -> None:
    with pytest.raises(SettingsError):
        RefineSettings(**bad)


def test_settings_split_and_steps() -> None:
    s = RefineSettings(n_frames=7, interval_fs=25.0, timestep_fs=0.5, equilibration_ps=1.0)
    assert s.steps_per_frame() == 50 and s.equilibration_steps() == 2000
    assert s.split((300.0, 330.0, 360.0)) == [(300.0, 3), (330.0, 2), (360.0, 2)]
    assert RefineSettings(n_frames=4, temperatures_K=(250.0,)).split((300.0,)) == [(250.0, 4)]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny student trained briefly on analytic-ionic NaCl MD frames (one temperature)."""
    from ase.build import bulk

    d = tmp_path_factory.mktemp("refine")
    crystal = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 1, 1))
    frames = sample(crystal, "analytic-ionic", d / "frames.extxyz", temperatures_K=(600.0,),
                    n_frames=16, stride=2, timestep_fs=2.0, equilibration_steps=4, seed=3,
                    progress=False, settle_window=0)
    all_frames = read_frames(frames)
    from ase.io import write

    write(d / "train.extxyz", all_frames[:12], format="extxyz")
    write(d / "valid.extxyz", all_frames[12:], format="extxyz")
    config = TrainConfig(model_preset="tiny", model={"channels": 8, "cutoff": 4.0}, epochs=6,
                         batch_size=4, lr=0.005, stage_two_start=None, test_fraction=0.0, seed=0)
    result = train(config, [d / "train.extxyz"], valid_files=[d / "valid.extxyz"],
                   out_dir=d / "train", progress=False)
    return {"dir": d, "student": result.best_path, "train": d / "train.extxyz",
            "valid": d / "valid.extxyz", "frames": frames, "config": config}


def test_student_md_frames_are_the_students_configurations(distilled: dict) -> None:
    from lesdistill import StudentCalculator

    start = read_frames(distilled["frames"])[-1]
    calc = StudentCalculator(str(distilled["student"]))
    frames, why = student_md_frames(calc, start, temperature_K=600.0, n_frames=3,
                                    settings=SETTINGS, seed=1, first_id=100)
    assert why is None and len(frames) == 3
    assert [f.info[keys.FRAME_ID] for f in frames] == [100, 101, 102]
    assert all(f.info[keys.ORIGIN] == ORIGIN_STUDENT_MD for f in frames)
    assert all(f.calc is None for f in frames)  # no labels: the teacher labels them
    # they moved away from the start (10 + 4 steps of 2 fs at 600 K between frames)
    assert np.abs(frames[0].positions - start.positions).max() > 0.01
    again, _ = student_md_frames(calc, start, temperature_K=600.0, n_frames=3,
                                 settings=SETTINGS, seed=1, first_id=100)
    np.testing.assert_allclose(again[2].positions, frames[2].positions)  # seeded


def test_student_md_stops_at_an_unphysical_state() -> None:
    from ase.calculators.calculator import Calculator, all_changes

    class Exploding(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 0.0, "forces": np.full((len(atoms), 3), np.nan)}

    start = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]], cell=[8.0, 8.0, 8.0], pbc=True)
    frames, why = student_md_frames(Exploding(), start, temperature_K=300.0, n_frames=3,
                                    settings=SETTINGS, seed=0)
    assert frames == [] and "NaN" in why


def test_refine_labels_student_md_and_lowers_its_error(distilled: dict, tmp_path: Path) -> None:
    teacher = get_teacher("analytic-ionic")
    start = read_frames(distilled["frames"])[-1]
    out = tmp_path / "refine"
    result = refine(distilled["student"], {600.0: start}, teacher, out, SETTINGS,
                    distilled["config"], [distilled["train"]], [distilled["valid"]],
                    test_files=[distilled["valid"]], seed=0, progress=False)
    m = result.metrics
    assert m["n_frames"] == 12 and m["n_valid"] == 3 and m["n_train"] == 9
    labelled = read_frames(out / "labelled.extxyz")
    assert all(f.info[keys.ORIGIN] == ORIGIN_STUDENT_MD for f in labelled)
    for frame in labelled[:2]:  # the teacher's labels
        np.testing.assert_allclose(frame.get_forces(), teacher.label(frame)["forces"], atol=1e-6)
    before, after = m["before"]["new"], m["after"]["new"]
    assert after["forces_mae_meV_per_A"] < 0.8 * before["forces_mae_meV_per_A"]
    assert result.best_path == out / "train" / "best.pt" and result.best_path.is_file()
    # a re-run reuses the MD frames and the labels, and the finished training
    mtime = (out / "labelled.extxyz").stat().st_mtime_ns
    again = refine(distilled["student"], {600.0: start}, teacher, out, SETTINGS,
                   distilled["config"], [distilled["train"]], [distilled["valid"]],
                   test_files=[distilled["valid"]], seed=0, progress=False)
    assert (out / "labelled.extxyz").stat().st_mtime_ns == mtime
    assert again.metrics["after"] == m["after"]


def test_refine_needs_a_start_per_temperature(distilled: dict, tmp_path: Path) -> None:
    from lesdistill.errors import UserInputError

    start = read_frames(distilled["frames"])[-1]
    settings = SETTINGS.replace(temperatures_K=(300.0, 600.0))
    with pytest.raises(UserInputError, match="no start structure for"):
        refine(distilled["student"], {600.0: start}, "analytic-ionic", tmp_path / "r", settings,
               distilled["config"], [distilled["train"]], [distilled["valid"]], progress=False)
    assert not (tmp_path / "r" / "student_md.extxyz").exists()


def test_pipeline_refine_stage_feeds_later_stages(tmp_path: Path) -> None:
    """`run` with a refine block: the stage runs after train, its student is the final one, a
    second run skips it, and the report shows its section; refine off: no stage, train's student."""
    import json

    from ase.build import bulk
    from ase.io import write

    from lesdistill.config import config_from_dict
    from lesdistill.pipeline import run_pipeline
    from lesdistill.pipeline.stages_data import final_student
    from lesdistill.report.build import build_sections

    write(tmp_path / "nacl.extxyz", bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 1, 1)))
    data = {"output": str(tmp_path / "out"), "seed": 0, "threads": 1,
            "system": {"file": str(tmp_path / "nacl.extxyz")},
            "teacher": {"spec": "analytic-ionic"},
            "sampling": {"temperatures_K": [600.0], "n_frames": 16, "stride": 2,
                         "timestep_fs": 2.0, "equilibration_steps": 4},
            "student": {"preset": "tiny", "options": {"channels": 8, "cutoff": 4.0}},
            "training": {"epochs": 4, "batch_size": 4, "stage_two_start": None},
            "refine": {"n_frames": 6, "equilibration_ps": 0.02, "interval_fs": 8.0,
                       "timestep_fs": 2.0, "epochs": 3}}
    cfg = config_from_dict(data)
    assert final_student(cfg) == "refine/train/best.pt"
    only = ["build", "sample", "train", "refine"]
    results = run_pipeline(cfg, only=only, progress=False, log=lambda s: None)
    assert [r.status for r in results if r.name == "refine"] == ["ran"]
    metrics = json.loads((tmp_path / "out" / "refine" / "metrics.json").read_text())
    assert metrics["n_frames"] == 6 and metrics["plan"] == [{"temperature_K": 600.0, "n_frames": 6}]
    again = run_pipeline(cfg, only=only, progress=False, log=lambda s: None)
    assert [r.status for r in again if r.name == "refine"] == ["skipped"]
    section = next(s for s in build_sections({"refine": metrics}) if "refine" in s.title)
    assert section.tables[0].rows[0][0].startswith("student's own MD")
    off = config_from_dict({**data, "refine": {"n_frames": 0}})
    assert final_student(off) == "train/best.pt"
    assert [r.name for r in run_pipeline(off, only=only, progress=False, log=lambda s: None)
            if r.status == "ran"] == []  # build/sample/train unchanged, refine disabled
