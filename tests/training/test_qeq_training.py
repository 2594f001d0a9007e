"""A charge-equilibration student trained on energies and forces alone (analytic ionic teacher,
Na +1 e / Cl -1 e): its equilibrated charges approach the true ones and its forces beat the
short-range-only student, like the plain head's acceptance test (test_charge_recovery.py)."""

from __future__ import annotations

import numpy as np
import torch

from lesdistill.data.dataset import read_frames
from lesdistill.model import load_student
from lesdistill.training.evaluate import metrics_of, predict
from lesdistill.training.loop import train

from .conftest import tiny_config, write_ionic_dataset
from .test_charge_recovery import SMALL, _charge_and_bec_errors


def test_qeq_student_learns_charges_from_energies_and_forces(tmp_path):
    torch.manual_seed(0)
    data = write_ionic_dataset(
        tmp_path / "ions.xyz", SMALL.n_frames, n_pairs=SMALL.n_pairs, seed=1000
    )
    test = read_frames(
        write_ionic_dataset(tmp_path / "test.xyz", 8, n_pairs=SMALL.n_pairs, seed=5000)
    )
    metrics = {}
    for name, model in (("qeq", {"charge_model": "qeq"}), ("short", {"long_range": False})):
        cfg = tiny_config(
            model={**SMALL.model, **model},
            epochs=SMALL.epochs,
            batch_size=4,
            lr=5e-3,
            valid_fraction=0.1,
            stage_two_start=0.75,
            early_stopping_patience=None,
        )
        run = train(cfg, data, out_dir=tmp_path / name, progress=False)
        metrics[name] = (run, metrics_of(predict(load_student(run.best_path), test)))
    q_err, z_err, q_mean, _ = _charge_and_bec_errors(metrics["qeq"][0].best_path, test)
    f_qeq = metrics["qeq"][1]["forces_mae_meV_per_A"]
    f_sr = metrics["short"][1]["forces_mae_meV_per_A"]
    print(f"\nQeq charges {q_mean} (mean |rel err| {q_err:.4f}); BEC rel err {z_err:.4f}; "
          f"force MAE Qeq {f_qeq:.1f} vs short-range only {f_sr:.1f} meV/A")
    assert np.isfinite(q_err) and q_err < 0.10, q_mean
    assert z_err < 0.15
    assert f_sr > 2.0 * f_qeq
