"""BEC agreement / error metrics and level-of-theory grouping on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from lesdistill.compare import metrics


def _becs(seed: int, n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3, 3)) + np.eye(3) * rng.normal(size=(n, 1, 1))


def test_r2_identical_is_one_and_mean_prediction_is_zero():
    z = _becs(0)
    assert metrics.bec_r2(z, z) == pytest.approx(1.0)
    mean = np.broadcast_to(z.mean(axis=0), z.shape)
    assert metrics.bec_r2(mean, z) == pytest.approx(0.0, abs=1e-12)


def test_r2_matches_hand_formula_and_drops_with_noise():
    z = _becs(1)
    noisy = z + np.random.default_rng(2).normal(scale=0.3, size=z.shape)
    ss_res = np.sum((noisy - z) ** 2)
    ss_tot = np.sum((z - z.mean(axis=0)) ** 2)
    assert metrics.bec_r2(noisy, z) == pytest.approx(1 - ss_res / ss_tot)
    noisier = z + np.random.default_rng(2).normal(scale=1.0, size=z.shape)
    assert metrics.bec_r2(noisier, z) < metrics.bec_r2(noisy, z) < 1.0


def test_r2_uses_per_component_mean_not_global_mean():
    # diagonal tensors with the same diagonal everywhere plus tiny noise: a model that predicts
    # the mean tensor must score ~0, not ~1 (a global scalar mean would reward the diag offset)
    rng = np.random.default_rng(3)
    z = np.eye(3) * 2.0 + rng.normal(scale=0.01, size=(30, 3, 3))
    assert metrics.bec_r2(np.broadcast_to(np.eye(3) * 2.0, z.shape), z) < 0.05


def test_r2_accepts_flat_nine_and_frames_and_rejects_bad_shapes():
    z = _becs(4, 12)
    assert metrics.bec_r2(z.reshape(3, 4, 9), z.reshape(3, 4, 3, 3)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="match atom for atom"):
        metrics.bec_r2(z[:5], z)
    with pytest.raises(ValueError, match="shape"):
        metrics.bec_r2(np.zeros((4, 2, 2)), np.zeros((4, 2, 2)))
    bad = z.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.bec_r2(bad, z)


def test_agreement_matrix_diagonal_and_asymmetry():
    a = _becs(5)
    a = a - a.mean(axis=0)  # centred, so the sums of squares below are exact
    b = 0.5 * a  # same pattern, smaller spread
    names, m = metrics.bec_agreement_matrix({"a": a, "b": b, "a2": a.copy()})
    assert names == ["a", "b", "a2"]
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert m[0, 2] == pytest.approx(1.0) and m[2, 0] == pytest.approx(1.0)
    assert m[0, 1] == pytest.approx(1 - 1.0)  # residual 0.5a has the same SS as b's own spread
    assert m[1, 0] == pytest.approx(1 - 0.25)
    assert m[0, 1] != m[1, 0]


def test_bec_errors_and_per_element():
    z = _becs(6, 4)
    pred = z.copy()
    pred[0] += np.eye(3) * 0.3  # O atom: trace error 0.3, component MAE 0.9/9
    out = metrics.bec_errors(pred, z, symbols=["O", "H", "H", "H"])
    assert out["mae_e"] == pytest.approx(0.9 / 36)
    assert out["trace_mae_e"] == pytest.approx(0.3 / 4)
    assert out["per_element"]["O"] == pytest.approx(0.1)
    assert out["per_element"]["H"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="symbols"):
        metrics.bec_errors(pred, z, symbols=["O"])


def test_per_element_summaries_and_sum_rule():
    sym = ["O", "H", "H"] * 2
    q = np.array([-0.8, 0.4, 0.4, -0.6, 0.3, 0.3])
    assert metrics.per_element_mean(q, sym) == pytest.approx({"H": 0.35, "O": -0.7})
    z = np.stack([np.eye(3) * x for x in q])
    assert metrics.bec_trace_per_element(z, sym) == pytest.approx({"H": 0.35, "O": -0.7})
    assert metrics.acoustic_sum_rule_residual([z[:3], z[3:]]) == pytest.approx(0.0, abs=1e-12)
    assert metrics.acoustic_sum_rule_residual([z[:2]]) == pytest.approx(0.4)


def test_level_grouping_canonicalises_spellings():
    groups = metrics.group_by_level({
        "uma": "wB97M-V", "esen": "omegaB97M-V", "mace": "PBE+U",
        "chgnet": "DFT PBE / PBE+U (Materials Project GGA/GGA+U mix)",
        "x1": "semi-empirical tight binding GFN1-xTB with D3(BJ) dispersion", "orb": None})
    assert groups == {"GFN1-xTB": ["x1"], "PBE/PBE+U": ["mace", "chgnet"], "unknown": ["orb"],
                      "ωB97M-V": ["uma", "esen"]}
    assert metrics.canonical_level("MatPES r2SCAN") == "r2SCAN"
    assert metrics.canonical_level("DFT PBEsol (PET-MAD)") == "PBEsol"
    assert metrics.canonical_level("revPBE-D3") == "revPBE-D3"
    assert metrics.canonical_level("wB97M-D3(BJ)") == "ωB97M-D3(BJ)"
    assert metrics.canonical_level("classical ionic model: Na +1 e") == "analytic"
    assert metrics.canonical_level("My custom method") == "My custom method"


def test_spread_within_and_between_levels():
    groups = {"A": ["a1", "a2"], "B": ["b1", "b2"]}
    vals = {"a1": 1600.0, "a2": 1602.0, "b1": 1650.0, "b2": 1652.0}
    out = metrics.spread_within_and_between(vals, groups)
    assert out["std_within_level_mean"] == pytest.approx(1.0)
    assert out["std_between_levels"] == pytest.approx(25.0)
    assert out["std_total"] > out["std_within_level_mean"]


def test_sign_alignment_of_latent_charges():
    z = _becs(7)
    assert metrics.sign_to_match(-z, z) == -1.0 and metrics.sign_to_match(z, z) == 1.0
    noisy = -z + 0.2 * np.random.default_rng(8).normal(size=z.shape)
    assert metrics.sign_to_match(noisy, z) == -1.0
    water = np.stack([np.eye(3) * q for q in (-0.8, 0.4, 0.4)])
    assert metrics.conventional_sign(water, ["O", "H", "H"]) == 1.0
    assert metrics.conventional_sign(-water, ["O", "H", "H"]) == -1.0
    assert metrics.conventional_sign(water[:1], ["O"]) is None
