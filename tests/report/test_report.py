"""Report builder on synthetic numbers: valid self-contained HTML, every image a PNG, JSON."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from lesdistill.report.build import build_report
from lesdistill.report.check import check_report_html
from lesdistill.report.html import Figure, Section, Table, format_value, render_html


def _synthetic() -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    epochs = list(range(1, 11))
    w = np.linspace(0, 4500, 400)
    spec = 1e4 * np.exp(-((w - 3400) / 150) ** 2) + 3e3 * np.exp(-((w - 1650) / 40) ** 2)
    r = np.linspace(0.05, 5.95, 60)
    g = 1 + np.exp(-((r - 2.8) / 0.2) ** 2)
    data = {
        "title": "synthetic <report> & co",
        "warnings": ["student NVE energy drift +18 meV/atom/ps"],
        "teacher": {"name": "chgnet", "level_of_theory": "PBE/PBE+U (MPtrj)"},
        "student": {
            "preset": "tiny",
            "elements": ["H", "O"],
            "n_parameters": 12345,
            "eps_inf": 1.69,
        },
        "dataset": {"n_train": 60, "n_valid": 8, "n_test": 8},
        "timings_s": {"build": 0.1, "sample": 120.0},
        "timings_last_attempt_s": {"build": 0.1, "sample": 45.0},
        "timings_attempts": {"build": 1, "sample": 3},
        "learning_curve_final": {
            "epoch": 10,
            "weights": "ema",
            "train": {"energy_mae_meV_per_atom": 0.8, "forces_mae_meV_per_A": 15.0},
            "valid": {"energy_mae_meV_per_atom": 1.1, "forces_mae_meV_per_A": 21.0},
        },
        "learning_curve": {
            "epoch": epochs,
            "train_energy_mae_meV_per_atom": list(10.0 / np.arange(1, 11)),
            "valid_forces_mae_meV_per_A": list(200.0 / np.arange(1, 11)),
            "lr": [1e-3] * 10,
        },
        "parity": {
            "n_frames": 8,
            "energy": {"mae": 1.2, "rmse": 1.5, "unit": "meV/atom"},
            "forces": {"mae": 60.0, "rmse": 80.0, "unit": "meV/Å"},
        },
        "charges": {"O": {"mean": -0.8, "std": 0.05}, "H": {"mean": 0.4, "std": 0.03}},
        "bec": {
            "elements": {"O": {"mean_diagonal": -1.1}, "H": {"mean_diagonal": 0.55}},
            "acoustic_sum_rule": {"max_abs_e": 0.01},
            "n_frames": 4,
        },
        "rdf": {
            "r_A": r,
            "pairs": {"O-O": {"teacher": g, "student": g * 1.02}},
            "compare": {"O-O": {"peak_shift_A": 0.0, "mean_abs_diff": 0.01}},
            "teacher_span_fs": 200.0,
            "student_span_fs": 200.0,
        },
        "ir": {
            "wavenumber_cm": w,
            "n_alpha_per_cm": spec,
            "error": 0.1 * spec,
            "reference": {"wavenumber_cm": w, "n_alpha_per_cm": spec * 0.9, "label": "exp"},
            "peaks": [{"band": "stretch", "student": 3400.0, "reference": 3381.0, "shift": 19.0}],
            "sum_rule": {"relative_mismatch": 0.01, "nan_value": float("nan")},
        },
        "speed": [
            {"model": "teacher", "ms_per_step": 450.0},
            {"model": "student", "ms_per_step": 9.0},
        ],
        "finetune": {
            "teacher": "xtb-gfn2",
            "n_train": 6,
            "before": {"energy_mae_meV_atom": 50.0, "force_mae_meV_A": 300.0},
            "after": {"energy_mae_meV_atom": 5.0, "force_mae_meV_A": 120.0},
            "fractions": {
                "n_test": 3,
                "n_pool": 10,
                "folder": "finetune/fractions",
                "curve": {
                    "fraction": [0.2, 1.0],
                    "n_train": [2, 10],
                    "baseline": {"forces_rmse_meV_per_A": 310.0, "energy_mae_meV_per_atom": 50.0},
                    "finetune": {
                        "forces_rmse_meV_per_A": [200.0, 150.0],
                        "energy_mae_meV_per_atom": [9.0, 5.0],
                    },
                },
            },
        },
    }
    samples = {"parity_energy": (rng.normal(size=8), rng.normal(size=8)),
               "parity_forces": (rng.normal(size=300), rng.normal(size=300)),
               "charges": {"O": rng.normal(-0.8, 0.05, 64), "H": rng.normal(0.4, 0.03, 128)},
               "bec_diagonals": {"O": rng.normal(-1.1, 0.2, 64), "H": rng.normal(0.5, 0.1, 128)}}
    return data, samples


def test_full_report_is_valid_and_self_contained(tmp_path: Path) -> None:
    data, samples = _synthetic()
    page = build_report(data, tmp_path, samples=samples)
    text = page.read_text(encoding="utf-8")
    images = check_report_html(text)
    pngs = sorted((tmp_path / "figures").glob("*.png"))
    names = {p.stem for p in pngs}
    assert {"learning_curve_energy", "learning_curve_forces", "parity_energy", "parity_forces",
            "charges", "bec", "rdf", "ir", "finetune", "finetune_fractions"} <= names
    assert len(images) == len(pngs)
    # each PNG file is exactly one of the inline images
    assert {p.read_bytes() for p in pngs} == set(images)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "synthetic &lt;report&gt; &amp; co" in text
    assert text.index("Warnings") < text.index("Teacher, student and data")
    for needle in ("Infrared spectrum", "Speed", "Fine-tuning", "radial distribution",
                   "fraction sweep"):
        assert needle in text
    numbers = json.loads((tmp_path / "report.json").read_text())
    assert numbers["ir"]["sum_rule"]["nan_value"] is None  # NaN -> null, strict JSON
    assert numbers["speed"][1]["ms_per_step"] == 9.0
    assert len(numbers["rdf"]["r_A"]) == 60


def test_partial_report_leaves_out_missing_sections(tmp_path: Path) -> None:
    page = build_report({"title": "only speed", "speed": [{"model": "x", "ms_per_step": 1.0}]},
                        tmp_path)
    text = page.read_text()
    assert check_report_html(text) == []
    assert "Infrared" not in text and "Speed" in text


def test_checker_catches_broken_pages() -> None:
    png = _synthetic_png()
    good = render_html("t", [Section("s", figures=[Figure("f", png)])])
    assert len(check_report_html(good)) == 1
    with pytest.raises(ValueError, match="inline PNG"):
        check_report_html(good.replace("data:image/png;base64,", "figures/"))
    with pytest.raises(ValueError, match="PNG data"):
        check_report_html(good.replace(base64.b64encode(png).decode(),
                                       base64.b64encode(b"GIF89a" * 300).decode()))
    with pytest.raises(ValueError, match="unclosed|unbalanced"):
        check_report_html(good.replace("</section>", ""))
    with pytest.raises(ValueError, match="not PNG"):
        render_html("t", [Section("s", figures=[Figure("f", b"nope")])])


def test_format_value() -> None:
    assert format_value(None) == "-" and format_value(True) == "yes"
    assert format_value(float("nan")) == "n/a" and format_value(3) == "3"
    assert format_value(1234.567) == "1234.6" and format_value(1.23456e-5) == "1.235e-05"
    t = render_html("x", [Section("s", tables=[Table(["a"], [[0.5]])])])
    assert "<td>0.5</td>" in t


def _synthetic_png() -> bytes:
    from lesdistill.report.figures import charges_png

    return charges_png({"O": [0.1, 0.2, 0.3]})


def test_dielectric_section_appears_when_the_md_produced_it(tmp_path: Path) -> None:
    w = np.linspace(0, 1500, 300)
    data = {"title": "dielectric", "ir": {
        "wavenumber_cm": w, "n_alpha_per_cm": np.exp(-((w - 600) / 100) ** 2),
        "dielectric": {"static": {"eps0": 72.0, "error": 6.0, "eps_inf": 1.8,
                                  "variance_e2A2": 40.0, "run_ps": 20.0, "n_blocks": 4,
                                  "temperature_K": 300.0, "volume_A3": 3000.0,
                                  "convergence": [{"run_ps": 10.0, "eps0": 60.0, "error": 9.0},
                                                  {"run_ps": 20.0, "eps0": 72.0, "error": 6.0}]},
                       "omega": {"wavenumber_cm": w, "real": 1.8 + 70 / (1 + (w / 20) ** 2),
                                 "imag": 70 * (w / 20) / (1 + (w / 20) ** 2),
                                 "static_limit": 71.8}}}}
    text = build_report(data, tmp_path).read_text()
    assert "Dielectric response" in text and (tmp_path / "figures" / "dielectric.png").is_file()
    assert check_report_html(text)
    skipped = build_report({"title": "x", "ir": {**data["ir"], "dielectric": {"skipped": "open"}}},
                           tmp_path / "b").read_text()
    assert "Dielectric response" not in skipped


def test_labels_units_and_explanations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Charges say which scale they are on, every plot axis has a label (with a unit where the
    quantity has one), MAE titles carry their unit, the learning curve explains its gap, and
    stage times show every attempt."""
    from lesdistill.report import figures

    drawn = []
    real_png = figures._png

    def keep(fig):
        drawn.append(fig)
        return real_png(fig)

    monkeypatch.setattr(figures, "_png", keep)
    data, samples = _synthetic()
    text = build_report(data, tmp_path, samples=samples).read_text(encoding="utf-8")
    assert (
        "latent q mean (e)" in text
        and "sqrt(eps_inf) q mean (e)" in text
        and "eps_inf = 1.69" in text
    )
    # 0.8 / sqrt(1.69) = 0.6154 (latent) next to the stored scaled mean -0.8
    assert "-0.61538" in text or "-0.6154" in text
    assert "live weights" in text and "Markers: the saved (EMA) student" in text
    assert "all attempts (s)" in text and "last attempt (s)" in text
    titles = {}
    for fig in drawn:
        for ax in fig.axes:
            if not ax.get_visible() or not ax.has_data():
                continue
            assert ax.get_xlabel(), "an axis without a label"
            titles[ax.get_title()] = ax.get_ylabel()
            assert ax.get_ylabel(), f"y axis without a label: {ax.get_title()!r}"
    assert any(t.startswith("energy: MAE 1.2 meV/atom") for t in titles)
    assert any(t.startswith("forces: MAE 60 meV/Å") for t in titles)
    assert titles.get("energy MAE") == "meV/atom" and titles.get("force MAE") == "meV/Å"


def test_metric_label() -> None:
    from lesdistill.report.figures import metric_label

    assert metric_label("force_mae_meV_A") == ("force MAE", "meV/Å")
    assert metric_label("stress_rmse_meV_A3") == ("stress RMSE", "meV/Å³")
    assert metric_label("energy_mae_meV_atom") == ("energy MAE", "meV/atom")
