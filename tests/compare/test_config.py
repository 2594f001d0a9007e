"""Compare-config schema: defaults, teacher entries, overrides and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesdistill.compare.config import load_compare_config, parse, slug
from lesdistill.errors import UserInputError


def _base(**extra):
    data = {"system": {"builder": "water", "params": {"n_molecules": 4}},
            "teachers": ["xtb-gfn1", {"spec": "mace:/m/mace-mp-0b3-medium.model",
                                      "level_of_theory": "PBE+U", "training_data": "MPtrj"}]}
    data.update(extra)
    return data


def test_defaults_and_teacher_entries(tmp_path):
    cfg = parse(_base(), base_dir=tmp_path, default_name="w")
    assert cfg.name == "w" and cfg.device == "cpu" and cfg.seed == 0
    assert cfg.output == Path("out/compare-w")
    assert [t.name for t in cfg.teachers] == ["xtb-gfn1", "mace-mace-mp-0b3-medium"]
    assert cfg.teachers[1].overrides == {"level_of_theory": "PBE+U", "training_data": "MPtrj"}
    assert cfg.sampling.source == "teacher" and cfg.sampling.teacher is None
    run = cfg.run_config(cfg.teachers[1])
    assert run.teacher.spec == "mace:/m/mace-mp-0b3-medium.model"
    assert Path(run.output) == Path("out/compare-w/mace-mace-mp-0b3-medium")
    assert cfg.bec.reference == "auto" and cfg.bec.n_frames == 4
    assert cfg.teacher("xtb-gfn1").spec == "xtb-gfn1"
    assert cfg.teacher("mace:/m/mace-mp-0b3-medium.model").name == "mace-mace-mp-0b3-medium"


def test_slug_of_specs():
    assert slug("xtb-gfn1") == "xtb-gfn1"
    assert slug("chgnet+d3") == "chgnet+d3"
    assert slug("uma:/ckpt/uma-s-1p1.pt@omol") == "uma-uma-s-1p1-omol"
    assert slug("ase:mypkg.calcs:Factory") == "ase-Factory"


def test_file_sampling_is_relative_to_config(tmp_path):
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("system: {file: start.xyz}\nsampling: {file: frames.extxyz}\n"
                        "teachers: [analytic-water]\n")
    cfg = load_compare_config(cfg_path)
    assert cfg.sampling.source == "file" and cfg.sampling.file == tmp_path / "frames.extxyz"
    assert cfg.system == {"file": tmp_path / "start.xyz"}
    assert cfg.run_config(cfg.teachers[0]).system.file == str(tmp_path / "start.xyz")
    assert cfg.name == "c"


@pytest.mark.parametrize("change, message", [
    ({"teachers": []}, "non-empty list"),
    ({"teachers": ["chgnet", "chgnet"]}, "unique"),
    ({"teachers": [{"spec": "chgnet", "colour": "red"}]}, "unknown key"),
    ({"teachers": [{"spec": "x", "name": "a/b"}]}, "folder name"),
    ({"system": {}}, "exactly one of 'builder'"),
    ({"sampling": {"n_frames": 0}}, "sampling.n_frames"),
    ({"sampling": {"valid_fraction": 0.5, "test_fraction": 0.5}}, "valid_fraction"),
    ({"md": {"n_stepz": 3}}, "md.n_stepz"),
    ({"student": {"preset": "tiny", "colour": 1}}, "colour"),
    ({"sampling": {"teacher": "orb:/x"}}, "not one of the listed"),
    ({"sampling": {"source": "dft"}}, "sampling.source"),
    ({"bec": {"reference": "magic"}}, "bec.reference"),
    ({"bec": {"reference": "teacher:sevennet"}}, "not listed"),
    ({"bec": {"displacement_A": -1}}, "displacement_A"),
    ({"device": "tpu"}, "device"),
    ({"studnet": {}}, "unknown key"),
])
def test_bad_values_name_the_key(change, message):
    with pytest.raises(UserInputError, match=message):
        parse(_base(**change))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_compare_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("teachers: [a\n")
    with pytest.raises(UserInputError, match="not valid YAML"):
        load_compare_config(bad)


def test_shipped_configs_parse():
    root = Path(__file__).resolve().parents[2] / "configs" / "compare"
    files = sorted(root.glob("*.yaml"))
    assert {f.stem for f in files} >= {"water", "hcl", "tio2-water", "water-cpu"}
    for f in files:
        cfg = load_compare_config(f)
        assert len(cfg.teachers) >= 2, f
