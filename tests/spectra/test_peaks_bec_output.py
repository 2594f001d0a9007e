"""Reference data, peak tables, CSV/PNG output, BEC summary and the acoustic sum rule."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from lesdistill.errors import UserInputError
from lesdistill.spectra import bec as becmod
from lesdistill.spectra import peaks
from lesdistill.spectra.ir import IRSpectrum, spectrum_from_current


def test_reference_water_loads_and_band_maxima_match_the_data_note():
    x, y = peaks.load_reference("water")
    assert x.shape == y.shape == (528,) and np.all(np.diff(x) > 0)
    integral = np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x))
    assert integral == pytest.approx(9.8e6, rel=0.01)  # README of the shared reference data
    found = {p.band: p.position_cm for p in peaks.reference_bands("water")}
    expected = {"H-bond stretch": 185, "libration": 617, "bend": 1641, "combination": 2128,
                "OH stretch": 3381}
    for band, position in expected.items():
        assert found[band] == pytest.approx(position, abs=3.0)


def _fake_spectrum(x, y):
    return IRSpectrum(wavenumber_cm=x, n_alpha_per_cm=y, error_per_cm=np.full_like(y, np.nan),
                      temperature_K=300.0, volume_A3=1.0, correction="harmonic", window="hann",
                      window_ps=1.0, n_blocks=1, frame_dt_fs=1.0)


def test_peak_shifts_against_water_reference():
    x = np.arange(0.0, 4500.0, 1.0)
    bands = [(200.0, 2000.0, 60.0), (650.0, 4000.0, 150.0), (1600.0, 3000.0, 40.0),
             (3500.0, 12000.0, 150.0)]
    y = sum(h * np.exp(-0.5 * ((x - c) / s) ** 2) for c, h, s in bands)
    table = {p.band: p for p in peaks.compare_with_reference(_fake_spectrum(x, y), "water")}
    assert table["bend"].resolved
    assert table["bend"].shift_cm == pytest.approx(1600 - 1640.6, abs=1.5)
    assert table["OH stretch"].shift_cm == pytest.approx(3500 - 3380.7, abs=1.5)
    assert table["bend"].fwhm_cm == pytest.approx(2.3548 * 40.0, rel=0.02)
    assert not table["combination"].resolved and table["combination"].shift_cm is None
    text = peaks.format_peak_table(list(table.values()), "water")
    assert "Segelstein" in text and "n.r." in text
    hcl = peaks.compare_with_reference(_fake_spectrum(x, y), "HCl(aq)")
    assert [p.reference_cm for p in hcl] == [1196.0, 1760.0, 2997.0]
    assert [p.band for p in peaks.find_peaks(x, y)] == ["peak 1", "peak 2", "peak 3", "peak 4"]
    with pytest.raises(UserInputError, match="unknown system"):
        peaks.compare_with_reference(_fake_spectrum(x, y), "benzene")


def test_csv_peak_csv_and_png_are_written_atomically(tmp_path):
    t = np.arange(4000.0)
    current = np.stack([0.02 * np.cos(0.3 * t), 0.01 * np.sin(0.1 * t), 0 * t], axis=1)
    s = spectrum_from_current(current, 1.0, temperature_K=300.0, volume_A3=1000.0,
                              window_ps=0.5, n_blocks=2, group_currents={"x": current * [1, 0, 0]})
    csv = s.write_csv(tmp_path / "ir.csv")
    data = np.loadtxt(csv, delimiter=",", comments="#", skiprows=3)
    assert data.shape == (len(s.wavenumber_cm), 5)
    np.testing.assert_allclose(data[:, 1], s.n_alpha_per_cm, rtol=1e-7, atol=1e-9)
    header = csv.read_text().splitlines()
    assert header[2] == "wavenumber_cm-1,n_alpha_cm-1,error_cm-1,n_alpha_x_cm-1,error_x_cm-1"
    assert "sum rule" in header[1]
    from lesdistill.spectra.plot import plot_ir

    png = plot_ir(s, tmp_path / "ir.png", reference="water")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    peaks.write_peak_csv(peaks.compare_with_reference(s, "water"), tmp_path / "peaks.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ir.csv", "ir.png", "peaks.csv"]
    import json

    from lesdistill.spectra import ir_summary, write_ir_outputs

    summary = json.loads(json.dumps(ir_summary(s, "water")))
    assert summary["sum_rule"]["expected_cm-2"] is None and len(summary["bands"]) == 5
    paths = write_ir_outputs(s, tmp_path / "sub" / "run", system="tio2")
    assert sorted(p.name for p in paths.values()) == ["run.csv", "run.png", "run_peaks.csv",
                                                      "run_peaks_x.csv"]  # group x: own table
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(
        p.name for p in paths.values())  # no temporary files left behind


def test_bad_spectrum_inputs_raise_clear_errors():
    current = np.zeros((100, 3))
    with pytest.raises(UserInputError, match="too short for the requested resolution"):
        spectrum_from_current(current, 1.0, temperature_K=300, volume_A3=10, window_ps=1.0)
    with pytest.raises(UserInputError, match="trajectory too short"):
        spectrum_from_current(current, 1.0, temperature_K=300, volume_A3=10)
    with pytest.raises(UserInputError, match="unknown quantum correction"):
        spectrum_from_current(np.zeros((1000, 3)), 1.0, temperature_K=300, volume_A3=10,
                              correction="kubo")
    with pytest.raises(UserInputError, match="Nyquist"):
        spectrum_from_current(np.zeros((1000, 3)), 10.0, temperature_K=300, volume_A3=10)
    with pytest.raises(UserInputError, match="finite"):
        spectrum_from_current(np.full((1000, 3), np.nan), 1.0, temperature_K=300, volume_A3=10)


def test_bec_summary_asr_correction_and_extxyz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    z = np.stack([-0.8 * np.eye(3), 0.4 * np.eye(3), 0.4 * np.eye(3)])
    noisy = z[None] + 0.02 * rng.normal(size=(5, 3, 3, 3))
    summary = becmod.bec_summary(atoms.numbers, noisy)
    assert [e.symbol for e in summary.elements] == ["H", "O"]
    assert summary.elements[1].mean_trace3 == pytest.approx(-0.8, abs=0.03)
    assert summary.asr_violation > 0.01
    fixed = becmod.subtract_mean_bec(noisy)
    np.testing.assert_allclose(fixed.sum(axis=1), 0.0, atol=1e-12)
    assert becmod.bec_summary(atoms.numbers, fixed).asr_violation < 1e-12
    charged = becmod.subtract_mean_bec(noisy, total_charge=1.0)
    np.testing.assert_allclose(charged.sum(axis=1), np.broadcast_to(np.eye(3), (5, 3, 3)),
                               atol=1e-12)
    assert "acoustic sum rule" in summary.text()
    path = becmod.write_bec_extxyz(tmp_path / "bec.extxyz", [atoms] * 5, noisy)
    frames, back = becmod.read_bec_extxyz(path)
    assert len(frames) == 5
    np.testing.assert_allclose(back, noisy, atol=1e-7)  # extxyz keeps 8 decimals
    with pytest.raises(UserInputError, match="does not match"):
        becmod.bec_summary(atoms.numbers[:2], noisy)
