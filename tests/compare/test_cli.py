"""`lesdistill compare`: registered on a fresh Typer app; unusable teachers are skipped."""

from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from lesdistill.cli.compare import register
from lesdistill.report.check import check_report_html


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test app"""

    register(app)
    return app


def test_all_teachers_unusable_gives_a_report_of_skipped_teachers(tmp_path, make_config):
    cfg = make_config(tmp_path, ["mace:/nonexistent.model", "orb:/nonexistent.ckpt"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(_app(), ["compare", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = tmp_path / "out" / "report"
    check_report_html((report / "report.html").read_text())
    summary = json.loads((report / "summary.json").read_text())
    skipped = {s["name"]: s for s in summary["skipped"]}
    assert set(skipped) == {"mace-nonexistent", "orb-nonexistent"}
    assert all(s["status"] == "skipped" and s["reason"] for s in skipped.values())
    assert "/nonexistent.model" in skipped["mace-nonexistent"]["reason"]
    assert "Skipped teachers" in (report / "report.html").read_text()


def test_bad_config_is_a_user_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("teachers: []\nsystem: {builder: water}\n")
    result = CliRunner().invoke(_app(), ["compare", str(path)])
    assert result.exit_code != 0
    assert "non-empty list" in str(result.exception)


def test_unknown_from_stage_is_rejected(tmp_path, make_config):
    from lesdistill.compare.config import parse
    from lesdistill.compare.runner import run_compare
    from lesdistill.errors import UserInputError

    cfg = parse(make_config(tmp_path, ["mace:/nonexistent.model"]))
    with pytest.raises(UserInputError, match="unknown stage 'trian'"):
        run_compare(cfg, progress=False, log=lambda s: None, from_stage="trian")
