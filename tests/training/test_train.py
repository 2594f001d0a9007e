"""End-to-end training on analytic-teacher data: outputs, re-runs, fine-tuning, BEC loss,
evaluate."""

from __future__ import annotations

import math

import pytest
import torch

from lesdistill.errors import UserInputError
from lesdistill.model import load_student
from lesdistill.training import losses, modelio
from lesdistill.training.evaluate import evaluate
from lesdistill.training.loop import train
from lesdistill.training.outputs import read_curve

from .conftest import tiny_config


@pytest.fixture(scope="module")
def trained(ionic_xyz, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return train(
        tiny_config(epochs=3, stage_two_start=0.67), ionic_xyz, out_dir=out, progress=False
    )


def test_outputs_curve_and_loadable_students(trained, ionic_xyz):
    r = trained
    for path in (r.best_path, r.last_path, r.state_path, r.curve_path):
        assert path.is_file()
    curve = read_curve(r.curve_path)
    assert [row["epoch"] for row in curve] == [1, 2, 3]
    assert [row["stage"] for row in curve] == [1, 1, 2]
    assert {
        "lr",
        "train_loss",
        "valid_loss",
        "valid_energy_mae_meV_per_atom",
        "valid_forces_mae_meV_per_A",
        "valid_stress_mae_meV_per_A3",
    } <= set(curve[0])
    assert all(math.isfinite(row["valid_loss"]) for row in curve)
    assert curve[1]["train_loss"] < curve[0]["train_loss"]
    student = load_student(r.best_path)
    assert student.elements == ("Na", "Cl")
    assert student.metadata["training"]["n_valid_frames"] == 3
    assert r.best_epoch == 3  # stage two restarts the best-model selection
    assert not any(p.name.endswith(".tmp") or p.name.startswith(".") for p in r.out_dir.iterdir())


def test_held_out_frames_are_written_and_recorded(trained, ionic_xyz, tmp_path):
    from lesdistill.data.dataset import read_frames
    from lesdistill.training.evaluate import evaluate

    meta = load_student(trained.best_path).metadata["training"]
    assert meta["n_test_frames"] == 1 and meta["n_train_frames"] == 8
    test = read_frames(trained.out_dir / "test.extxyz")
    valid = read_frames(trained.out_dir / "valid.extxyz")
    assert len(test) == 1 and len(valid) == 3
    every = {f.source: f.energy for f in read_frames(ionic_xyz)}
    assert [every[s] for s in meta["test_frame_ids"]] == [f.energy for f in test]
    assert [every[s] for s in meta["valid_frame_ids"]] == [f.energy for f in valid]
    assert not set(meta["test_frame_ids"]) & set(meta["valid_frame_ids"])
    metrics = evaluate(trained.best_path, [trained.out_dir / "test.extxyz"], out_dir=tmp_path)
    assert metrics["n_frames"] == 1


def test_final_metrics_compare_train_and_valid_with_the_same_weights(trained, ionic_xyz, tmp_path):
    """The curve's train errors are running means with live weights; final_metrics.json
    evaluates the saved (EMA) student on both sets alike."""
    import json

    from lesdistill.data.dataset import read_frames, write_frames
    from lesdistill.training.evaluate import evaluate

    final = json.loads((trained.out_dir / "final_metrics.json").read_text())
    assert final["epoch"] == 3 and final["weights"] == "ema"
    valid = evaluate(trained.last_path, [trained.out_dir / "valid.extxyz"])
    assert final["valid"]["forces_mae_meV_per_A"] == pytest.approx(
        valid["forces_mae_meV_per_A"], rel=1e-4
    )
    assert final["valid"]["forces_mae_meV_per_A"] == pytest.approx(
        trained.final["valid_forces_mae_meV_per_A"], rel=1e-4)
    meta = load_student(trained.last_path).metadata["training"]
    held = set(meta["valid_frame_ids"]) | set(meta["test_frame_ids"])
    train_frames = [f for f in read_frames(ionic_xyz) if f.source not in held]
    write_frames(tmp_path / "train.extxyz", train_frames)
    on_train = evaluate(trained.last_path, [tmp_path / "train.extxyz"])
    assert final["train"]["forces_mae_meV_per_A"] == pytest.approx(
        on_train["forces_mae_meV_per_A"], rel=1e-4
    )


def test_rerun_of_finished_run_returns_without_training(trained, ionic_xyz):
    before = trained.state_path.stat().st_mtime_ns
    again = train(
        tiny_config(epochs=3, stage_two_start=0.67),
        ionic_xyz,
        out_dir=trained.out_dir,
        progress=False,
    )
    assert again.history == trained.history
    assert trained.state_path.stat().st_mtime_ns == before


def test_rerun_with_other_settings_is_refused(trained, ionic_xyz):
    with pytest.raises(UserInputError, match="different config"):
        train(
            tiny_config(epochs=3, stage_two_start=0.67, lr=1e-2),
            ionic_xyz,
            out_dir=trained.out_dir,
            progress=False,
        )


def test_finetune_from_student_and_new_elements(trained, ionic_xyz, kcl_xyz, tmp_path):
    cfg = tiny_config(epochs=1, stage_two_start=None)
    fresh = train(cfg, ionic_xyz, out_dir=tmp_path / "fresh", progress=False)
    tuned = train(
        cfg, ionic_xyz, out_dir=tmp_path / "tuned", init=trained.best_path, progress=False
    )
    # starting from a trained student beats starting from random weights after the same epoch
    assert tuned.history[0]["valid_loss"] < fresh.history[0]["valid_loss"]
    with pytest.raises(UserInputError, match=r"element\(s\) K .*--allow-new-elements"):
        train(cfg, kcl_xyz, out_dir=tmp_path / "kcl", init=trained.best_path, progress=False)
    assert not (tmp_path / "kcl" / "state.pt").exists()
    grown = train(
        cfg.replace(valid_fraction=0.0),
        kcl_xyz,
        out_dir=tmp_path / "kcl2",
        init=trained.best_path,
        allow_new_elements=True,
        progress=False,
    )
    student = load_student(grown.best_path)
    assert set(student.elements) == {"Na", "K", "Cl"}
    assert math.isnan(grown.history[0]["valid_loss"]) and math.isfinite(
        grown.history[0]["train_loss"]
    )


def test_bec_loss_reaches_the_charge_head_and_is_logged(ionic_bec_xyz, tmp_path):
    from lesdistill.data.dataset import read_frames

    frames = read_frames(ionic_bec_xyz)
    cfg = tiny_config(epochs=1, bec_weight=5.0, stage_two_start=None)
    model = modelio.new_student(cfg, ["Na", "Cl"], frames)
    parts = modelio.batch_parts([f.atoms for f in frames[:2]], model.cutoff)
    batch = modelio.collate(parts)
    pred = modelio.predict(
        model, batch.to("cpu", model.dtype), stress=False, bec=True, training=True
    )
    assert pred["born_effective_charges"].shape == (batch.num_atoms, 3, 3)
    sums = losses.error_sums(pred, losses.Targets.from_frames(frames[:2]).to("cpu", model.dtype))
    assert float(sums["n_bec"]) == 9 * batch.num_atoms
    losses.weighted_loss(sums, {"energy": 0.0, "forces": 0.0, "stress": 0.0, "bec": 1.0}).backward()
    grad = sum(
        float(p.grad.abs().sum()) for p in model.charge_head.parameters() if p.grad is not None
    )
    assert grad > 0
    result = train(cfg, ionic_bec_xyz, out_dir=tmp_path / "bec", progress=False)
    row = result.history[0]
    assert math.isfinite(row["valid_bec_mae_me"]) and math.isfinite(row["train_bec_mae_me"])


def test_batch_bec_equals_each_structure_alone(ionic_bec_xyz):
    from lesdistill import les
    from lesdistill.data.dataset import read_frames

    frames = read_frames(ionic_bec_xyz)
    cfg = tiny_config(epochs=1, dtype="float64")
    model = modelio.new_student(cfg, ["Na", "Cl"], frames).eval()
    parts = modelio.batch_parts([f.atoms for f in frames[:3]], model.cutoff)
    batch = modelio.collate(parts).to("cpu", model.dtype)
    z = modelio.born_effective_charges(model, batch, create_graph=False)
    alone = []
    for part in parts:
        one = modelio.collate([part]).to("cpu", model.dtype)

        def charge_fn(x, one=one):
            return model.latent_charges(one.replace(positions=x))

        alone.append(les.born_effective_charges(charge_fn, one.positions, one.cell[0],
                                                eps_inf=model.config.eps_inf))
    assert torch.allclose(z, torch.cat(alone), atol=1e-10, rtol=0)
    some = modelio.born_effective_charges(model, batch, create_graph=False,
                                          structures=[False, True, False])
    n = [p_.n_atoms for p_ in frames[:3]]
    assert torch.count_nonzero(some[: n[0]]) == 0 and torch.count_nonzero(some[n[0] + n[1]:]) == 0
    assert torch.allclose(some[n[0]: n[0] + n[1]], alone[1], atol=1e-10, rtol=0)


def test_training_computes_becs_only_of_labelled_frames(ionic_bec_xyz, tmp_path, monkeypatch):
    """Frames without BEC labels cost no BEC pass, and the losses are those of computing all."""
    from lesdistill.data.frames import read_frames as read_atoms
    from lesdistill.data.frames import write_frames

    atoms = read_atoms(ionic_bec_xyz)
    for k, a in enumerate(atoms):
        if k % 3:  # frames 0 and 3 keep their labels
            del a.arrays["bec"]
    data = tmp_path / "some_bec.xyz"
    write_frames(data, atoms)
    cfg = tiny_config(epochs=2, bec_weight=5.0, stage_two_start=None, batch_size=2)
    real = modelio.born_effective_charges
    calls = []

    def record(model, batch, *, create_graph, structures=None):
        calls.append(structures)
        return real(model, batch, create_graph=create_graph, structures=structures)

    monkeypatch.setattr(modelio, "born_effective_charges", record)
    skipping = train(cfg, data, out_dir=tmp_path / "skip", progress=False)
    assert calls and all(s is not None and any(s) for s in calls)  # none without labels
    assert sum(sum(s) for s in calls) < sum(len(s) for s in calls)
    real_predict = modelio.predict

    def every_frame(net, batch, *, stress, bec, training):
        return real_predict(net, batch, stress=stress, bec=bec is not False, training=training)

    monkeypatch.setattr(modelio, "predict", every_frame)
    full = train(cfg, data, out_dir=tmp_path / "full", progress=False)
    for a, b in zip(skipping.history, full.history, strict=True):
        for key in ("train_loss", "valid_loss", "train_bec_mae_me"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-9), key


def test_float64_training(ionic_xyz, tmp_path):
    r = train(
        tiny_config(epochs=1, dtype="float64", stage_two_start=None),
        ionic_xyz,
        out_dir=tmp_path,
        progress=False,
    )
    assert load_student(r.last_path).dtype == torch.float64


def test_evaluate_table_and_parity_plots(trained, ionic_xyz, tmp_path):
    metrics = evaluate(trained.best_path, ionic_xyz, out_dir=tmp_path)
    assert metrics["n_frames"] == 12 and metrics["n_atoms"] == 96
    assert set(metrics["forces_per_element"]) == {"Na", "Cl"}
    assert metrics["forces_per_element"]["Na"]["n_atoms"] == 48
    for key in ("energy_mae_meV_per_atom", "forces_rmse_meV_per_A", "stress_mae_meV_per_A3"):
        assert math.isfinite(metrics[key]) and metrics[key] > 0
    assert metrics["forces_rmse_meV_per_A"] >= metrics["forces_mae_meV_per_A"]
    for name in ("parity_energy.png", "parity_forces.png", "parity_stress.png", "metrics.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "parity_forces.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_early_stopping_jumps_to_stage_two_then_stops(ionic_xyz, tmp_path, monkeypatch):
    from lesdistill.training import loop

    flat = {"loss": 1.0, "energy_mae": 1.0, "forces_mae": 1.0, "stress_mae": 1.0, "bec_mae": 1.0}
    monkeypatch.setattr(loop._Run, "validate", lambda self: dict(flat))  # validation never improves
    cfg = tiny_config(epochs=10, stage_two_start=0.9, early_stopping_patience=2)
    r = train(cfg, ionic_xyz, out_dir=tmp_path, progress=False)
    assert [row["stage"] for row in r.history] == [1, 1, 1, 2, 2, 2]
    assert r.stopped_early and r.epochs_completed == 6 and r.best_epoch == 4
    lrs = [row["lr"] for row in r.history]
    assert lrs[3] == pytest.approx(lrs[2] * cfg.stage_two_lr_factor)
