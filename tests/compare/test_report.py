"""Summary JSON + HTML report from synthetic per-teacher results (no training involved)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from lesdistill.compare import metrics
from lesdistill.compare.report import rerender, write_report
from lesdistill.compare.summary import TeacherResult, band_shifts, build_summary, jsonable


def _result(name, level, bend, q_o, seed):
    rng = np.random.default_rng(seed)
    w = np.linspace(0, 4500, 451)
    y = np.exp(-((w - bend) / 40) ** 2) + 2 * np.exp(-((w - 3400) / 150) ** 2)
    r = np.linspace(0.05, 6, 60)
    return TeacherResult(
        name=name,
        spec=name,
        info={"level_of_theory": level, "architecture": "arch-" + name, "training_data": "data"},
        energy_mae_meV_per_atom=float(rng.uniform(0.5, 2)),
        forces_mae_meV_per_A=float(rng.uniform(20, 60)),
        teacher_ms_per_step=50.0,
        student_ms_per_step=5.0,
        mean_charge_e={"H": -q_o / 2, "O": q_o},
        bec_trace_e={"H": 0.4, "O": -0.8 + seed / 10},
        asr_residual_e=1e-6,
        bec_vs_reference={"mae_e": 0.1, "rmse_e": 0.2, "r2": 0.8, "trace_mae_e": 0.05},
        ir_peaks_cm={"bend": bend, "stretch": 3400.0},
        stage_seconds={"train": 10.0, "md": 5.0},
        ir_curve={"wavenumber_cm": w.tolist(), "n_alpha_per_cm": y.tolist()},
        rdf={"O-O": {"r_A": r.tolist(), "g": (1 + np.sin(r)).tolist()}},
    )


@pytest.fixture()
def summary():
    results = [_result("a", "PBE", 1600.0, -0.7, 1), _result("b", "wB97M-V", 1650.0, -0.8, 2),
               _result("c", "ωB97M-V", 1655.0, -0.82, 3),
               TeacherResult(name="mace-x", spec="mace:/nonexistent.model", status="skipped",
                             reason="checkpoint file not found: /nonexistent.model")]
    rng = np.random.default_rng(0)
    z = rng.normal(size=(12, 3, 3))
    becs = {"a": z, "b": z + 0.1 * rng.normal(size=z.shape), "c": -z}
    return build_summary(name="toy", system={"builder": "water"}, n_frames={"train": 8, "test": 2},
                         results=results, elements=["H", "O"],
                         agreement=metrics.bec_agreement_matrix(becs),
                         reference={"source": "teacher:xtb-gfn1", "n_frames": 1},
                         experiment_cm={"bend": 1641.0, "stretch": 3381.0},
                         seconds={"frames": 3.0, "this_invocation": 1.0})


def test_summary_numbers(summary):
    assert summary["levels_of_theory"] == {"PBE": ["a"], "ωB97M-V": ["b", "c"]}
    assert summary["skipped"][0]["reason"].startswith("checkpoint file not found")
    rows = {t["name"]: t for t in summary["teachers"]}
    assert rows["a"]["band_shift_cm"] == {"bend": pytest.approx(-41.0),
                                          "stretch": pytest.approx(19.0)}
    assert rows["a"]["speedup"] == pytest.approx(10.0)
    r2 = np.array(summary["bec_agreement"]["r2"])
    assert r2.shape == (3, 3) and r2[0, 1] > 0.9 and r2[0, 2] < -1.0
    spread = summary["level_spread"]["bend peak (cm^-1)"]
    assert spread["std_within_level_mean"] == pytest.approx(2.5)
    json.dumps(summary, allow_nan=False)  # strict JSON


def test_report_files_and_html(summary, tmp_path):
    html_path = write_report(summary, tmp_path, experiment_curve=([1000, 1641, 2000], [0, 1, 0]))
    text = html_path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for name in ("bec_agreement", "ir_overlay", "rdf_overlay", "by_level"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG")
        assert f'id="fig-{name}"' in text
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 4
    assert "Skipped teachers" in text and "/nonexistent.model" in text
    assert "ωB97M-V" in text and "Level of theory vs architecture" in text
    assert "Run time" in text and "frames 3 s" in text
    assert json.loads((tmp_path / "summary.json").read_text())["name"] == "toy"
    (tmp_path / "report.html").unlink()
    assert rerender(tmp_path).is_file()


def test_helpers():
    assert band_shifts({"bend": 1600.0}, {"bend": 1641.0, "stretch": 3381.0}) == {"bend": -41.0}
    assert jsonable({"x": np.float32(np.nan), 1: (np.arange(2),)}) == {"x": None, "1": [[0, 1]]}


def test_sections_stay_with_an_explanation_when_every_md_is_unstable(tmp_path):
    results = [_result("a", "PBE", 1600.0, -0.7, 1), _result("b", "PBE", 1650.0, -0.8, 2)]
    for r in results:
        r.md_stable, r.md_issues = False, ["atoms closer than 0.5 Å at step 812"]
    summary = build_summary(
        name="toy",
        system={"builder": "water"},
        n_frames={"train": 8, "test": 2},
        results=results,
        elements=["H", "O"],
        agreement=None,
        reference=None,
        experiment_cm={"bend": 1641.0},
        seconds={},
    )
    text = write_report(summary, tmp_path).read_text()
    for title in ("IR spectra", "Radial distribution functions"):
        section = text[text.index(f"<h2>{title}</h2>"):]
        section = section[:section.index("</section>")]
        assert "the MD of every student was unstable" in section
        assert "a (atoms closer than 0.5 Å at step 812)" in section
    assert 'id="fig-ir_overlay"' not in text


def _estimated_width_px(table_html: str) -> int:
    """Width of a table at the report's font (~7.5 px per character at 0.92 em, 1.2 em padding
    per cell): the longest text in each column, header cells wrapped at spaces."""
    rows = re.findall(r"<tr>(.*?)</tr>", table_html, flags=re.S)
    widths: list[int] = []
    for k, row in enumerate(rows):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row, re.S)]
        for j, cell in enumerate(cells):
            n = max((len(w) for w in cell.split()), default=0) if k == 0 else len(cell)
            if j >= len(widths):
                widths.append(0)
            widths[j] = max(widths[j], n)
    return int(sum(7.5 * w + 18 for w in widths))


def test_every_table_fits_a_1400_px_page(summary, tmp_path):
    text = write_report(summary, tmp_path).read_text()
    tables = re.findall(r"<table>.*?</table>", text, flags=re.S)
    assert len(tables) >= 3
    for table in tables:
        assert _estimated_width_px(table) <= 1100, table[:300]  # the page body is 1100 px wide
