"""TrainConfig YAML round trip and validation; loss sums (batch/rank additivity); EMA."""

from __future__ import annotations

import math

import pytest
import torch

from lesdistill.errors import UserInputError
from lesdistill.training import losses
from lesdistill.training.config import TrainConfig
from lesdistill.training.ema import ExponentialMovingAverage


def test_yaml_round_trip(tmp_path):
    cfg = TrainConfig(
        model_preset="tiny",
        model={"cutoff": 4.0},
        epochs=7,
        ema_decay=None,
        dtype="float64",
        energy_key="REF_energy",
        stage_two_start=None,
    )
    assert TrainConfig.from_yaml(cfg.to_yaml()) == cfg
    path = tmp_path / "train.yaml"
    path.write_text("train:\n  epochs: 3\n  lr: 0.01\n")
    loaded = TrainConfig.from_yaml(path)
    assert (
        loaded.epochs == 3 and loaded.lr == 0.01 and loaded.batch_size == TrainConfig().batch_size
    )


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"dtype": "float16"}, "dtype"),
        ({"lr": -1.0}, "lr"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"stage_two_start": 1.5}, "stage_two_start"),
        ({"forces_weight": math.nan}, "forces_weight"),
        ({"valid_fraction": 1.0}, "valid_fraction"),
    ],
)
def test_bad_values_name_the_option(bad, match):
    with pytest.raises(UserInputError, match=match):
        TrainConfig(**bad)


def test_unknown_option_and_missing_file(tmp_path):
    with pytest.raises(UserInputError, match="unknown training option.*epoch_count"):
        TrainConfig.from_dict({"epoch_count": 3})
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        TrainConfig.from_yaml(tmp_path / "nope.yaml")


def test_stage_schedule():
    cfg = TrainConfig(epochs=40, stage_two_start=0.75)
    assert cfg.stage_two_epoch == 30
    assert cfg.weights(1)["forces"] > cfg.weights(1)["energy"]
    assert cfg.weights(2)["energy"] > cfg.weights(2)["forces"]
    assert TrainConfig(stage_two_start=None).stage_two_epoch is None


def _targets(n_atoms, seed):
    g = torch.Generator().manual_seed(seed)
    b = len(n_atoms)
    n = sum(n_atoms)
    return losses.Targets(
        energy=torch.randn(b, generator=g, dtype=torch.float64),
        n_atoms=torch.tensor(n_atoms, dtype=torch.float64),
        forces=torch.randn(n, 3, generator=g, dtype=torch.float64),
        stress=torch.randn(b, 6, generator=g, dtype=torch.float64),
        stress_mask=torch.tensor([True, False] * (b // 2)),
        bec=torch.randn(n, 3, 3, generator=g, dtype=torch.float64),
        bec_mask=torch.ones(n, dtype=torch.bool),
    )


def test_error_sums_known_values():
    t = losses.Targets(
        energy=torch.tensor([1.0, 2.0]),
        n_atoms=torch.tensor([2.0, 4.0]),
        forces=torch.zeros(6, 3),
        stress=torch.zeros(2, 6),
        stress_mask=torch.tensor([False, False]),
        bec=torch.zeros(6, 3, 3),
        bec_mask=torch.zeros(6, dtype=torch.bool),
    )
    pred = {"energy": torch.tensor([1.2, 1.6]), "forces": torch.full((6, 3), 0.5)}
    sums = losses.error_sums(pred, t)
    assert float(sums["energy_ae"]) == pytest.approx(0.1 + 0.1)  # 0.2/2 and 0.4/4 eV/atom
    assert float(sums["forces_se"]) == pytest.approx(18 * 0.25)
    assert float(sums["n_stress"]) == 0.0
    total = losses.accumulate({}, sums)
    m = losses.metrics(total, {"energy": 1.0, "forces": 10.0, "stress": 1.0, "bec": 1.0})
    assert m["energy_mae"] == pytest.approx(100.0) and m["forces_mae"] == pytest.approx(500.0)
    assert math.isnan(m["stress_mae"])
    assert m["loss"] == pytest.approx(0.01 + 10.0 * 0.25)


def test_loss_of_split_batches_with_global_counts_equals_full_batch():
    """The DDP rule: sum over ranks of (local SE / global count) == loss of the whole batch."""
    n_atoms = [3, 5, 2, 4]
    t = _targets(n_atoms, 0)
    g = torch.Generator().manual_seed(1)
    pred = {
        "energy": torch.randn(4, generator=g, dtype=torch.float64),
        "forces": torch.randn(14, 3, generator=g, dtype=torch.float64),
        "stress": torch.randn(4, 3, 3, generator=g, dtype=torch.float64),
        "born_effective_charges": torch.randn(14, 3, 3, generator=g, dtype=torch.float64),
    }
    weights = {"energy": 1.0, "forces": 100.0, "stress": 10.0, "bec": 2.0}
    full = losses.weighted_loss(losses.error_sums(pred, t), weights)

    def part(frames):
        atoms = torch.cat([torch.arange(sum(n_atoms[:f]), sum(n_atoms[:f + 1])) for f in frames])
        sub_t = losses.Targets(
            t.energy[frames],
            t.n_atoms[frames],
            t.forces[atoms],
            t.stress[frames],
            t.stress_mask[frames],
            t.bec[atoms],
            t.bec_mask[atoms],
        )
        sub_p = {
            "energy": pred["energy"][frames],
            "forces": pred["forces"][atoms],
            "stress": pred["stress"][frames],
            "born_effective_charges": pred["born_effective_charges"][atoms],
        }
        return losses.error_sums(sub_p, sub_t)

    parts = [part([0, 2]), part([1, 3])]
    total = {k: sum(float(p[k]) for p in parts) for k in losses.SUM_KEYS}
    split = sum(losses.weighted_loss(p, weights, counts=total) for p in parts)
    assert float(split) == pytest.approx(float(full), rel=1e-12)
    assert float(losses.weighted_loss(parts[0], weights)) != pytest.approx(float(full))


def test_ema_warmup_average_and_state():
    model = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # warm-up decay min(0.9, 2/11)
    d = 2.0 / 11.0
    torch.testing.assert_close(ema.shadow["weight"], d * start + (1 - d) * (start + 1.0))
    live = model.weight.detach().clone()
    with ema.average_parameters(model):
        torch.testing.assert_close(model.weight.detach(), ema.shadow["weight"])
    torch.testing.assert_close(model.weight.detach(), live)
    other = ExponentialMovingAverage(torch.nn.Linear(2, 1), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1 and other.decay == 0.9
    torch.testing.assert_close(other.shadow["weight"], ema.shadow["weight"])
