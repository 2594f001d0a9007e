"""Small pieces of the pipeline stages: data split, teacher segment, metrics, timing, BEC."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from lesdistill.analysis.rdf import rdf_pairs
from lesdistill.config import RunConfig, config_from_dict
from lesdistill.pipeline.stage_ir import bec_summary_dict
from lesdistill.pipeline.stages_data import split_indices
from lesdistill.pipeline.stages_physics import teacher_segment
from lesdistill.pipeline.timing import time_calculators
from lesdistill.spectra.bec import diagonals_by_element
from lesdistill.training.evaluate import Predictions, charge_stats, metrics_of, parity_arrays


def test_split_is_disjoint_complete_and_time_separated() -> None:
    segments = [300.0] * 20 + [350.0] * 20
    tr, va, te = split_indices(segments, 0.1, 0.1, seed=3)
    assert sorted(tr + va + te) == list(range(40)) and not set(tr) & set(va)
    # test = the last frames of each segment; valid = seeded picks among the rest
    assert te == [18, 19, 38, 39]
    assert len(va) == 4 and split_indices(segments, 0.1, 0.1, seed=3) == (tr, va, te)
    assert split_indices(segments, 0.1, 0.1, seed=4)[1] != va
    # every segment keeps at least one training frame
    tr, va, te = split_indices([1, 1, 1], 0.3, 0.3, seed=0)
    assert len(tr) == 1 and len(va) == 1 and len(te) == 1


def test_teacher_segment_picks_md_temperature_and_zero_strain() -> None:
    cfg = config_from_dict({"md": {"temperature_K": 330.0}})
    frames = []
    for t in (300.0, 330.0, 360.0):
        for s in (-0.02, 0.0):
            for _ in range(2):
                atoms = Atoms("H")
                atoms.info.update({"temperature_K": t, "strain": s})
                frames.append(atoms)
    assert teacher_segment(cfg, frames) == [6, 7]


def test_error_metrics_units() -> None:
    """The one metric schema (training/evaluate.py): meV/atom, meV/Å, units in the names."""
    z = np.zeros
    pred = Predictions(energy_ref=np.array([1.0, 2.0]), energy_pred=np.array([1.001, 1.998]),
                       forces_ref=z((3, 3)), forces_pred=np.full((3, 3), 0.05),
                       numbers=np.array([8, 1, 1]), stress_ref=z((0, 6)), stress_pred=z((0, 6)),
                       bec_ref=z((0, 3, 3)), bec_pred=z((0, 3, 3)),
                       charges=np.array([-0.8, 0.4, 0.4]), n_atoms=np.array([1, 2]))
    m = metrics_of(pred)
    assert m["energy_mae_meV_per_atom"] == pytest.approx(1.5)
    assert m["forces_mae_meV_per_A"] == pytest.approx(50.0) and "stress_mae_meV_per_A3" not in m
    assert m["forces_per_element"]["H"]["n_atoms"] == 2
    assert charge_stats(pred)["H"] == {"mean": 0.4, "std": 0.0, "min": 0.4, "max": 0.4, "n": 2}
    arrays = parity_arrays(pred)
    assert arrays["charges_O"].tolist() == [-0.8] and arrays["n_atoms"].tolist() == [1, 2]


def test_time_calculators_interleaves_and_reports() -> None:
    atoms = Atoms("Ar8", positions=np.random.default_rng(0).uniform(0, 6, (8, 3)),
                  cell=[6, 6, 6], pbc=True)
    t = time_calculators(atoms, {"a": LennardJones(), "b": LennardJones(rc=3.0)}, repeats=3)
    assert set(t) == {"a", "b"}
    for v in t.values():
        assert v["ms_per_step"] > 0 and v["ms_min"] <= v["ms_per_step"] and v["n_atoms"] == 8


def test_bec_summary_dict_of_fixed_charges() -> None:
    numbers = np.array([8, 1, 1])
    bec = np.stack([q * np.eye(3) for q in (-0.8, 0.4, 0.4)])[None].repeat(2, axis=0)
    summary = bec_summary_dict(bec, numbers)
    assert summary["elements"]["O"]["trace_over_3"] == pytest.approx(-0.8)
    assert summary["elements"]["H"]["Z_yy"] == pytest.approx(0.4)
    assert summary["acoustic_sum_rule"]["frobenius_norm_e"] == pytest.approx(0.0, abs=1e-12)
    diag = diagonals_by_element(bec, numbers)
    assert diag["H"].shape == (2 * 2 * 3,) and np.allclose(diag["O"], -0.8)


def test_rdf_pairs() -> None:
    assert rdf_pairs({"O", "H"}) == [("O", "O"), ("O", "H")]
    assert rdf_pairs({"O", "H", "Cl"}) == [("O", "O"), ("O", "H"), ("Cl", "O")]
    assert rdf_pairs({"Na", "Cl"}) == [("Cl", "Cl")]
    assert isinstance(RunConfig().md.n_steps, int)


def test_quality_warnings_flag_unstable_md_only() -> None:
    from lesdistill.pipeline.stage_report import quality_warnings

    cfg = config_from_dict({"md": {"temperature_K": 300.0}})
    bad = quality_warnings(cfg, {"md": {"nve_drift_meV_per_atom_ps": 18.6,
                                        "mean_temperature_K": 538.0},
                                 "ir": {"sum_rule": {"relative_mismatch": 1.17}},
                                 "parity": {"forces": {"mae": 400.0}}})
    assert len(bad) == 4 and "drift" in bad[0] and "538 K" in bad[1]
    good = quality_warnings(cfg, {"md": {"nve_drift_meV_per_atom_ps": 0.01,
                                         "mean_temperature_K": 310.0},
                                  "ir": {"sum_rule": {"relative_mismatch": 0.07}},
                                  "parity": {"forces": {"mae": 60.0}}})
    assert good == []


def test_caveats_say_when_the_dynamics_were_not_checked_against_the_teacher() -> None:
    import dataclasses

    from lesdistill.config import load_preset
    from lesdistill.md.same_start import SameStartSettings
    from lesdistill.pipeline.stage_report import caveats

    cfg = load_preset("demo")
    data = {"md": {"mean_temperature_K": 300.0}, "ir": {"n_blocks": 2}}
    assert any("not compared with the teacher" in n for n in caveats(cfg, data))
    checked = dataclasses.replace(cfg, vdos=SameStartSettings(n_steps=1000))
    assert not any("not compared with the teacher" in n for n in caveats(checked, data))
