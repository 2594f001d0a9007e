"""One student for several charge states: trained on water dimers labelled by GFN2-xTB as the
neutral singlet, the cation doublet and the anion doublet (the same geometries), a student with
``charge_spin_embedding`` predicts each state's energy; without the embedding it cannot tell them
apart beyond what the total charge does through the LES charges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesdistill import keys
from lesdistill.data.dataset import read_frames
from lesdistill.model import load_student
from lesdistill.training.evaluate import predict
from lesdistill.training.loop import train

from .conftest import tiny_config

STATES = ((0, 1), (1, 2), (-1, 2))  # (total charge e, spin multiplicity)


def _dimers(n: int, seed: int):
    from ase.build import molecule

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a, b = molecule("H2O"), molecule("H2O")
        b.rotate(rng.uniform(0, 360), rng.normal(size=3))
        b.translate([2.9 + rng.uniform(-0.2, 0.3), 0.0, 0.0])
        dimer = a + b
        dimer.rattle(0.04, seed=seed + k)
        out.append(dimer)
    return out


def _labelled(path, geometries):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    pytest.importorskip("tblite")
    from lesdistill.teachers import get_teacher

    teacher = get_teacher("xtb-gfn2")
    frames = []
    for atoms in geometries:
        for charge, spin in STATES:
            a = atoms.copy()
            a.info[keys.TOTAL_CHARGE], a.info[keys.SPIN_MULTIPLICITY] = charge, spin
            labels = teacher.label(a)
            a.calc = SinglePointCalculator(a, energy=labels["energy"], forces=labels["forces"])
            frames.append(a)
    write(path, frames, format="extxyz")
    return path


def test_student_tells_charge_states_apart(tmp_path):
    torch.manual_seed(0)
    data = _labelled(tmp_path / "train.xyz", _dimers(24, seed=0))
    test = read_frames(_labelled(tmp_path / "test.xyz", _dimers(4, seed=100)))
    gaps = {}
    for embedding in (True, False):
        cfg = tiny_config(model={"charge_spin_embedding": embedding}, epochs=40, batch_size=6,
                          lr=5e-3, valid_fraction=0.1, early_stopping_patience=None,
                          energy_weight=1000.0, forces_weight=10.0, stage_two_start=None)
        run = train(cfg, data, out_dir=tmp_path / f"emb_{embedding}", progress=False)
        p = predict(load_student(run.best_path), test)
        true = (p.energy_ref * p.n_atoms).reshape(-1, len(STATES))  # eV per structure
        predicted = (p.energy_pred * p.n_atoms).reshape(true.shape)
        gaps[embedding] = predicted - predicted[:, :1]
    true_gap = true - true[:, :1]  # cation - neutral ~ +18 eV, anion - neutral ~ +6 eV
    err = {k: np.abs(v[:, 1:] - true_gap[:, 1:]).mean() for k, v in gaps.items()}
    print(f"\nxTB state gaps {true_gap[:, 1:].mean(axis=0)} eV; student with embedding "
          f"{gaps[True][:, 1:].mean(axis=0)}, without {gaps[False][:, 1:].mean(axis=0)}; "
          f"mean |gap error| {err[True]:.3f} vs {err[False]:.3f} eV")
    assert err[True] < 0.05 * np.abs(true_gap[:, 1:]).mean()
    assert err[False] > 5 * err[True]
