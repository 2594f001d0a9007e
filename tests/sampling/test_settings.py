"""SampleSettings is the one home of the sampling settings: run config, compare and CLI use it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lesdistill.cli import main
from lesdistill.cli.options import flag_of
from lesdistill.compare.config import parse
from lesdistill.config import SamplingConfig, config_from_dict, config_to_dict
from lesdistill.errors import UserInputError
from lesdistill.sampling import SampleSettings
from lesdistill.sampling.md import _Run
from lesdistill.settings import SettingsError, setting

FIELDS = [f.name for f in dataclasses.fields(SampleSettings)]


def test_run_config_section_is_the_settings_plus_the_split() -> None:
    cfg = SamplingConfig()
    assert isinstance(cfg, SampleSettings)
    assert cfg.settings() == SampleSettings()  # same defaults, no copy of them
    extra = {f.name for f in dataclasses.fields(SamplingConfig)} - set(FIELDS)
    assert extra == {"valid_fraction", "test_fraction"}
    data = {"strains": [-0.01, 0.01], "thermostat": "bussi", "equilibration_steps": 7,
            "min_distance_A": 0.6}
    run = config_from_dict({"sampling": data})
    assert run.sampling.settings() == SampleSettings(strains=(-0.01, 0.01), thermostat="bussi",
                                                     equilibration_steps=7, min_distance_A=0.6)
    assert set(config_to_dict(run)["sampling"]) == set(FIELDS) | extra


def test_compare_forwards_every_sampling_key() -> None:
    """compare used to drop strains, thermostat and equilibration_steps silently."""
    cfg = parse({"teachers": ["analytic-ionic"], "system": {"builder": "ionic"},
                 "sampling": {"strains": [0.0, 0.02], "thermostat": "nose-hoover",
                              "equilibration_steps": 3, "n_frames": 5, "friction_per_fs": 0.05}})
    got = cfg.run_config(cfg.teachers[0]).sampling.settings()
    assert got == SampleSettings(strains=(0.0, 0.02), thermostat="nose-hoover",
                                 equilibration_steps=3, n_frames=5, friction_per_fs=0.05)


@pytest.mark.parametrize(("change", "field", "needle"), [
    ({"n_frames": 0}, "n_frames", "n_frames must be > 0, got 0"),
    ({"timestep_fs": 20.0}, "timestep_fs", "timestep_fs must be <= 10 fs, got 20.0"),
    ({"thermostat": "berendsen"}, "thermostat", "one of langevin, bussi, nose-hoover"),
    ({"strains": (-0.6,)}, "strains", "> -0.5"),
    ({"temperatures_K": ()}, "temperatures_K", "empty"),
    ({"temperatures_K": (300.0, -1.0)}, "temperatures_K", "temperatures_K must be > 0"),
    ({"equilibration_steps": -1}, "equilibration_steps", ">= 0, got -1"),
    ({"stride": 2.5}, "stride", "stride must be an integer, got 2.5"),
    ({"relax": "yes"}, "relax", "relax must be true or false"),
])
def test_bad_values_name_field_value_and_where(change, field, needle) -> None:
    with pytest.raises(SettingsError, match=needle) as info:
        SampleSettings(**change)
    assert info.value.field == field
    yaml_value = list(change.values())[0]
    yaml_value = list(yaml_value) if isinstance(yaml_value, tuple) else yaml_value
    with pytest.raises(UserInputError, match=f"sampling.{field}"):
        config_from_dict({"sampling": {field: yaml_value}})


def test_numpy_and_list_values_are_converted() -> None:
    s = SampleSettings(n_frames=np.int64(4), temperatures_K=[300, np.float32(350)],
                       relax=np.bool_(True))
    assert s.n_frames == 4 and type(s.n_frames) is int
    assert s.temperatures_K == (300.0, 350.0) and s.relax is True


def test_resume_record_keeps_its_keys() -> None:
    """State files of earlier versions (same keys) still resume."""
    record = _Run(SampleSettings(), seed=3, teacher="t", structure_hash="h").jsonable()
    assert set(record) == set(FIELDS) | {"seed", "teacher", "structure_hash"}


def test_cli_has_one_flag_per_field(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    text = capsys.readouterr().out
    for f in dataclasses.fields(SampleSettings):
        assert flag_of(f).split("/")[0][:15] in text, f.name


def test_cli_names_the_flag(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sample", "--teacher", "analytic-ionic", "--system", "ionic", "--out",
              str(tmp_path / "x.xyz"), "--timestep-fs", "50", "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--timestep-fs" in err and "50" in err
    assert not (tmp_path / "x.xyz").exists()


def test_setting_rejects_mutable_defaults() -> None:
    with pytest.raises(TypeError, match="immutable"):
        setting([300.0], "temperatures")


def test_cli_bool_flag_has_both_spellings(tmp_path, monkeypatch) -> None:
    """--relax sets relax, --no-relax clears it (one flag, not two aliases)."""
    from lesdistill.cli import data as cli_data

    seen = {}

    def fake_sample(atoms, teacher, out, settings, **kwargs):
        seen["relax"] = settings.relax
        return out

    monkeypatch.setattr("lesdistill.sampling.sample", fake_sample)
    base = ["sample", "--teacher", "analytic-ionic", "--system", "ionic", "--out",
            str(tmp_path / "x.xyz"), "--no-progress", "--quick"]
    for flag, expected in (("--relax", True), ("--no-relax", False)):
        with pytest.raises(SystemExit) as info:
            main(base + [flag])
        assert info.value.code in (0, None)
        assert seen["relax"] is expected, flag
    assert cli_data.QUICK.relax is False
