"""One home per stage's settings: library, run config and CLI share fields, defaults, bounds."""

from __future__ import annotations

import dataclasses

import pytest

from lesdistill.cli import main
from lesdistill.cli.options import flag_of
from lesdistill.config import RunConfig, config_from_dict, config_to_dict
from lesdistill.errors import UserInputError
from lesdistill.md import MDSettings
from lesdistill.sampling import SampleSettings
from lesdistill.settings import SettingsError
from lesdistill.spectra.settings import IRSettings

STAGES = [("sampling", SampleSettings, "sample"), ("md", MDSettings, "md"),
          ("ir", IRSettings, "ir")]


@pytest.mark.parametrize(("section", "cls", "command"), STAGES)
def test_config_section_and_cli_follow_the_dataclass(section, cls, command, capsys) -> None:
    run = RunConfig()
    part = getattr(run, section)
    assert isinstance(part, cls)
    assert cls.from_settings(part) == cls()  # the run config's defaults are the library's
    yaml_keys = set(config_to_dict(run)[section])
    assert {f.name for f in dataclasses.fields(cls)} <= yaml_keys
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    for f in dataclasses.fields(cls):
        assert flag_of(f).split("/")[0][:15] in text, (command, f.name)


@pytest.mark.parametrize(("section", "change", "needle"), [
    ("md", {"timestep_fs": 6.0}, "timestep_fs must be <= 5 fs, got 6.0"),
    ("md", {"stride": 10, "n_steps": 5}, r"stride \(10\) is larger than n_steps \(5\)"),
    ("md", {"production": "nose"}, "unknown production 'nose'"),
    ("md", {"n_equil": -1}, "n_equil must be >= 0"),
    ("ir", {"correction": "quantum"}, "unknown quantum correction 'quantum'"),
    ("ir", {"window": "box"}, "unknown window 'box'"),
    ("ir", {"n_blocks": 0}, "n_blocks must be > 0, got 0"),
    ("ir", {"window_ps": -1.0}, "window_ps must be > 0"),
])
def test_bad_values_are_named_in_library_config_and_cli(section, change, needle, tmp_path,
                                                        capsys) -> None:
    cls = dict((s, c) for s, c, _ in STAGES)[section]
    with pytest.raises(SettingsError, match=needle):
        cls(**change)
    with pytest.raises(UserInputError) as info:
        config_from_dict({section: change})
    field = next(iter(change)) if len(change) == 1 else "stride"
    assert f"{section}.{field}" in str(info.value)
    flags = {f.name: flag_of(f) for f in dataclasses.fields(cls)}
    argv = [x for k, v in change.items() for x in (flags[k], str(v))]
    command = dict((s, c) for s, _, c in STAGES)[section]
    with pytest.raises(SystemExit) as code:
        main([command, str(tmp_path / "nothing"), *argv])
    assert code.value.code == 2
    assert flags[field] in capsys.readouterr().err


def test_md_cli_time_in_ps_sets_the_steps(tmp_path, capsys) -> None:
    """--production-ps is converted with --timestep, before any file is read."""
    with pytest.raises(SystemExit) as code:
        main(["md", str(tmp_path / "s.xyz"), "--production-ps", "1", "--timestep", "0.25",
              "--stride", "8000"])
    assert code.value.code == 2
    assert "--stride (8000) is larger than n_steps (4000)" in capsys.readouterr().err
