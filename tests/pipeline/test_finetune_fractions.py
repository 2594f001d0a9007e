"""The finetune stage with ``finetune.fractions``: a GFN1-xTB student of a water trimer, the
fraction sweep on GFN2-xTB frames inside the stage, its curve in metrics.json and the report,
the fraction-1 student as the stage's student, and bad fractions refused before any stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lesdistill.config import load_config
from lesdistill.errors import UserInputError

from ..analysis.test_finetune_fractions import _clusters, _label

pytest.importorskip("tblite")


def _config(tmp_path: Path, fractions: list[float]) -> Path:
    from ase.io import write

    write(tmp_path / "trimer.extxyz", _clusters(1, seed=0, rattle_A=0.0)[0], format="extxyz")
    _label(_clusters(12, seed=500), "xtb-gfn2", tmp_path / "gfn2.extxyz")
    data = {
        "output": str(tmp_path / "out"), "seed": 0, "threads": 1,
        "system": {"file": "trimer.extxyz"},
        "teacher": {"spec": "xtb-gfn1"},
        "sampling": {"temperatures_K": [300.0], "n_frames": 16, "stride": 2,
                     "equilibration_steps": 5, "valid_fraction": 0.15, "test_fraction": 0.15},
        "student": {"preset": "tiny", "options": {"channels": 16, "layers": 1, "n_rbf": 6}},
        "training": {"epochs": 10, "batch_size": 4, "lr": 0.005, "stage_two_start": None},
        "finetune": {"data": "gfn2.extxyz", "test_fraction": 0.25, "fractions": fractions,
                     "training": {"epochs": 6}},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_finetune_stage_runs_the_fraction_sweep(tmp_path: Path) -> None:
    from lesdistill.pipeline import run_pipeline
    from lesdistill.report.build import build_sections

    cfg = load_config(_config(tmp_path, [0.5, 1.0]))
    assert cfg.finetune.fractions == (0.5, 1.0)
    results = run_pipeline(cfg, only=["build", "sample", "train", "finetune"], progress=False,
                           log=lambda s: None)
    assert [r.status for r in results if r.name == "finetune"] == ["ran"]
    stage = Path(cfg.output) / "finetune"
    metrics = json.loads((stage / "metrics.json").read_text())
    sweep = metrics["fractions"]
    assert metrics["n_test"] == sweep["n_test"] == 3 and metrics["n_train"] == 6
    assert sweep["curve"]["n_train"] == [3, 6]
    on_disk = json.loads((stage / "fractions" / "fractions.json").read_text())
    assert on_disk["curve"] == sweep["curve"]
    # the stage's student is the sweep's fraction-1 student, scored on the same test frames
    assert (stage / "best.pt").read_bytes() == \
        (stage / "fractions" / "f_1" / "finetune" / "best.pt").read_bytes()
    full = sweep["curve"]["finetune"]["forces_rmse_meV_per_A"][-1]
    assert metrics["after"]["forces_rmse_meV_per_A"] == pytest.approx(full)
    assert metrics["before"]["forces_rmse_meV_per_A"] == pytest.approx(
        sweep["curve"]["baseline"]["forces_rmse_meV_per_A"])
    # the report's fine-tuning section carries the sweep table and plot
    section = next(s for s in build_sections({"finetune": metrics})
                   if s.title.startswith("Fine-tuning"))
    assert any(f.name == "finetune_fractions" for f in section.figures)
    assert any("fraction sweep" in t.caption for t in section.tables)


def test_bad_fractions_are_refused_before_any_stage(tmp_path: Path) -> None:
    from lesdistill.pipeline import run_pipeline

    cfg = load_config(_config(tmp_path, [0.01, 1.0]))  # 0.01 of 6 training frames: none
    with pytest.raises(UserInputError, match="finetune.fractions"):
        run_pipeline(cfg, progress=False, log=lambda s: None)
    assert not Path(cfg.output).exists()
    with pytest.raises(UserInputError, match="finetune.fractions"):
        load_config(_config(tmp_path, [1.0, 0.5]))
