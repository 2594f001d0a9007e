"""The paper's IR view: empirical NQE red shift and peak normalisation on synthetic spectra."""

from __future__ import annotations

import numpy as np
import pytest

from lesdistill.errors import UserInputError
from lesdistill.spectra import paper, peaks
from lesdistill.spectra.ir import IRSpectrum
from lesdistill.spectra.outputs import ir_summary, write_ir_outputs


def _gauss(x, centre, height, width):
    return height * np.exp(-0.5 * ((x - centre) / width) ** 2)


def _spectrum(y, groups=None, correction="harmonic"):
    x = np.arange(0.0, 4501.0, 1.0)
    return IRSpectrum(wavenumber_cm=x, n_alpha_per_cm=y(x), error_per_cm=np.full(x.shape, np.nan),
                      temperature_K=300.0, volume_A3=1.0, correction=correction, window="hann",
                      window_ps=1.0, n_blocks=1, frame_dt_fs=0.5,
                      groups={k: (g(x), np.full(x.shape, np.nan)) for k, g in
                              (groups or {}).items()})


def test_nqe_shift_is_piecewise_linear_through_the_anchors():
    nu = np.array([0.0, 500.0, 1000.0, 1320.0, 1640.0, 2220.0, 2800.0, 3125.0, 3450.0, 4400.0])
    expected = [5, 5, 5, 32.5, 60, 80, 100, 137.5, 175, 175]
    np.testing.assert_allclose(paper.nqe_shift_cm(nu), expected)
    moved = nu - paper.nqe_shift_cm(nu)
    assert np.all(np.diff(moved) > 0)  # the map keeps the order of the grid


def test_peaks_move_down_by_the_shift_at_their_position():
    def y(x):
        return _gauss(x, 700.0, 2000.0, 60.0) + _gauss(x, 1700.0, 1500.0, 30.0) + _gauss(
            x, 3500.0, 9000.0, 80.0)
    view = paper.paper_view(_spectrum(y), "water")
    found = [p.position_cm for p in peaks.find_peaks(view.wavenumber_cm, view.intensity)]
    # every wavenumber nu0 moves to nu0 - s(nu0), so does a peak maximum
    for nu0, got in zip([700.0, 1700.0, 3500.0], found, strict=True):
        assert got == pytest.approx(float(nu0 - paper.nqe_shift_cm(nu0)), abs=1.5)
    assert found[1] == pytest.approx(1700.0 - 62.0, abs=1.5)
    assert found[2] == pytest.approx(3500.0 - 175.0, abs=1.5)
    # water: baseline-subtracted, global maximum 1
    assert view.intensity.max() == pytest.approx(1.0) and view.intensity.min() == pytest.approx(0.0)
    assert view.window_cm is None and view.scale_per_cm == pytest.approx(9000.0, rel=1e-3)


def test_hcl_and_tio2_normalise_to_the_maximum_in_2800_3800_and_groups_still_add_up():
    def core(x):
        return _gauss(x, 1200.0, 6000.0, 100.0) + _gauss(x, 3000.0, 1000.0, 150.0)

    def bulk(x):
        return _gauss(x, 3400.0, 2000.0, 120.0)

    spec = _spectrum(lambda x: core(x) + bulk(x), {"core": core, "bulk": bulk})
    for system in ("hcl", "tio2-water"):
        view = paper.paper_view(spec, system)
        x = view.wavenumber_cm
        inside = (x >= 2800) & (x <= 3800)
        assert view.intensity[inside].max() == pytest.approx(1.0)
        assert view.intensity.max() > 2.0  # the 1200 cm^-1 band outside the window stays above 1
        assert view.baseline_per_cm == 0.0
        np.testing.assert_allclose(view.groups["core"] + view.groups["bulk"], view.intensity,
                                   atol=1e-12)
        assert view.group_peak["bulk"] < 1.0
    with pytest.raises(UserInputError, match="correction"):
        paper.paper_view(_spectrum(bulk, correction="standard"), "hcl")
    with pytest.raises(UserInputError, match="maximum"):
        paper.paper_view(_spectrum(lambda x: 0 * x), "water")


def test_paper_outputs_are_labelled_and_group_tables_use_the_matching_reference(tmp_path):
    def core(x):
        return _gauss(x, 1220.0, 3000.0, 60.0) + _gauss(
            x, 1826.4, 1500.0, 30.0
        )  # nu - s(nu) = 1196, 1760

    def bulk(x):
        return _gauss(x, 1641.0, 800.0, 40.0) + _gauss(x, 3381.0, 4000.0, 150.0)

    spec = _spectrum(lambda x: core(x) + bulk(x), {"core": core, "bulk": bulk})
    summary = ir_summary(spec, "hcl", style="paper")
    assert summary["style"] == "paper" and "NQE" in summary["paper"]["label"]
    assert summary["group_bands"]["core"]["reference"] == "hcl"
    assert summary["group_bands"]["bulk"]["reference"] == "water"
    core_bands = {b["band"]: b for b in summary["group_bands"]["core"]["bands"]}
    # the NQE shift brings the synthetic core bands back onto the experimental positions
    assert core_bands["Zundel proton transfer"]["shift_cm-1"] == pytest.approx(0.0, abs=2.0)
    assert core_bands["protonated-water bend"]["shift_cm-1"] == pytest.approx(0.0, abs=3.0)
    paths = write_ir_outputs(spec, tmp_path / "ir", system="hcl", style="paper")
    assert sorted(p.name for p in paths.values()) == [
        "ir.csv", "ir.png", "ir_peaks.csv", "ir_peaks_bulk.csv", "ir_peaks_core.csv"]
    lines = paths["csv"].read_text().splitlines()
    assert "paper style" in lines[0] and lines[3].startswith("wavenumber_cm-1,intensity_au")
    assert "height_au" in paths["peaks"].read_text().splitlines()[0]
    absolute = ir_summary(spec, "hcl")
    assert absolute["style"] == "absolute" and "paper" not in absolute
    with pytest.raises(UserInputError, match="unknown IR style"):
        ir_summary(spec, "hcl", style="figure")


def test_reference_tables_of_the_benchmark_systems():
    hcl = {p.band: p.position_cm for p in peaks.reference_bands("hcl")}
    assert hcl == {"Zundel proton transfer": 1196.0, "protonated-water bend": 1760.0,
                   "Zundel-like OH stretch": 2997.0}
    tio2 = {p.band: p.position_cm for p in peaks.reference_bands("tio2-water") if p.resolved}
    assert tio2 == {"interfacial water bend": 1636.0, "interfacial OH stretch": 3262.0}
    assert peaks.reference_for_group("hcl", "core") == "hcl"
    assert peaks.reference_for_group("tio2-water", "layer1") == "tio2-water"
    assert peaks.reference_for_group("tio2-water", "layer2") == "water"
    assert peaks.reference_for_group("water", "anything") == "water"
