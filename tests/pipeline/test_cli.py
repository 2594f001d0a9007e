"""CLI: `lesdistill run` / `lesdistill demo` are registered; bad configs exit 2 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesdistill.cli import main


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--from" in text and "CONFIG" in text
    assert _exit_code(["demo", "--help"]) == 0
    assert "--out" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "needle"), [
    ("sampling: {n_frame: 3}\n", "unknown config key 'sampling.n_frame'"),
    ("md: {n_steps: -1}\n", "md.n_steps must be > 0"),
])
def test_bad_config_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert _exit_code(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err and err.startswith("lesdistill: error:")


def test_missing_config_and_unknown_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert _exit_code(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    path = tmp_path / "ok.yaml"
    path.write_text(f"output: {tmp_path / 'out'}\n")
    assert _exit_code(["run", str(path), "--from", "nosuch"]) == 2
    assert "unknown stage 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
