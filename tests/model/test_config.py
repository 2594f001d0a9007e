"""StudentConfig: presets, validation with one-line messages, YAML round trip."""

from __future__ import annotations

import pytest

from lesdistill.model import PRESETS, StudentConfig, StudentModel


def test_presets_grow_and_cutoff_in_one_place():
    sizes = []
    for name in ("tiny", "small", "medium"):
        config = StudentConfig.from_preset(name, elements=["O", "H"])
        assert config.preset == name and config.cutoff == PRESETS[name]["cutoff"]
        assert config.elements == ("H", "O")  # sorted by atomic number
        model = StudentModel(config)
        assert (
            model.cutoff
            == config.cutoff
            == model.backbone.rbf.cutoff
            == model.backbone.envelope.cutoff
        )
        sizes.append(sum(p.numel() for p in model.parameters()))
    assert sizes[0] < sizes[1] < sizes[2]


def test_yaml_round_trip(tmp_path):
    config = StudentConfig.from_preset(
        "small",
        elements=["H", "O", "Cl"],
        neutrality="none",
        eps_inf=1.77,
        les_sigma=1.2,
        dtype="float64",
        backbone_options={},
    )
    path = tmp_path / "student.yaml"
    text = config.to_yaml(path)
    assert path.read_text() == text
    assert StudentConfig.from_yaml(path) == config
    assert StudentConfig.from_yaml(text) == config
    # a preset name plus overrides is enough in a hand-written file
    short = StudentConfig.from_yaml("preset: tiny\nelements: [H, O]\ncutoff: 4.0\n")
    assert short.channels == PRESETS["tiny"]["channels"] and short.cutoff == 4.0


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"cutoff": -1.0}, "cutoff must be a positive number"),
        ({"channels": 0}, "channels must be a positive integer"),
        ({"neutrality": "sum"}, "neutrality must be one of"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"elements": ["H", "Xx"]}, "unknown chemical symbols"),
        ({"elements": ["H", "H"]}, "duplicates"),
        ({"les_method": "fft"}, "les_method must be one of"),
    ],
)
def test_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        StudentConfig.from_preset("tiny", **overrides)


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        StudentConfig.from_preset("huge")
    with pytest.raises(ValueError, match=r"unknown student config keys \['chanels'\]"):
        StudentConfig.from_yaml("preset: tiny\nchanels: 3\n")
    with pytest.raises(FileNotFoundError, match="not found"):
        StudentConfig.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="must be a mapping"):
        StudentConfig.from_yaml("- a\n- b\n")
    with pytest.raises(ValueError, match="elements of the training set"):
        StudentModel(StudentConfig.from_preset("tiny"))


def test_custom_backbone_factory_errors():
    with pytest.raises(ValueError, match="cannot import backbone"):
        StudentModel(
            StudentConfig.from_preset("tiny", elements=["H"], backbone="no_such_pkg.mod:Net")
        )
    with pytest.raises(ValueError, match="not a lesdistill.model.Backbone"):
        StudentModel(StudentConfig.from_preset("tiny", elements=["H"], backbone="builtins:vars"))
