"""Files of a training run folder and the learning-curve table.

``out_dir/best.pt`` (best validation loss of the final stage), ``last.pt`` (latest epoch; both
students with EMA weights, loadable with ``lesdistill.model.load_student``), ``state.pt`` (resume
state), ``valid.extxyz`` / ``test.extxyz`` (the validation and held-out test frames of the
seeded split, as read; only when no validation files are given), ``learning_curve.csv`` (one row per
epoch: epoch, stage, lr, train/valid loss, energy MAE meV/atom, force MAE meV/Å, stress MAE meV/Å^3
and BEC MAE me when the data have them, wall time s; train columns: running mean over the epoch's
optimizer steps with the live weights; valid columns: the EMA weights after the epoch),
``final_metrics.json`` (when training finished: train and valid errors of the final EMA weights,
measured the same way, see
:func:`write_final_metrics`).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesdistill.fileio import write_text_atomic


@dataclass(frozen=True)
class OutputPaths:
    out_dir: Path

    @property
    def best(self) -> Path:
        return self.out_dir / "best.pt"

    @property
    def last(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def state(self) -> Path:
        return self.out_dir / "state.pt"

    @property
    def curve(self) -> Path:
        return self.out_dir / "learning_curve.csv"

    @property
    def final_metrics(self) -> Path:
        return self.out_dir / "final_metrics.json"

    @property
    def valid_frames(self) -> Path:
        return self.out_dir / "valid.extxyz"

    @property
    def test_frames(self) -> Path:
        return self.out_dir / "test.extxyz"


_METRIC_COLUMNS = (
    ("energy_mae", "energy_mae_meV_per_atom"),
    ("forces_mae", "forces_mae_meV_per_A"),
    ("stress_mae", "stress_mae_meV_per_A3"),
    ("bec_mae", "bec_mae_me"),
)


def curve_row(
    epoch: int,
    stage: int,
    lr: float,
    train: dict[str, float],
    valid: dict[str, float] | None,
    has_stress: bool,
    has_bec: bool,
    wall_s: float,
) -> dict[str, float]:
    """One learning-curve row (epoch is 1-based in the table)."""
    row: dict[str, float] = {
        "epoch": epoch + 1,
        "stage": stage,
        "lr": lr,
        "train_loss": train["loss"],
        "valid_loss": valid["loss"] if valid else math.nan,
    }
    for key, column in _METRIC_COLUMNS:
        if (key == "stress_mae" and not has_stress) or (key == "bec_mae" and not has_bec):
            continue
        row[f"train_{column}"] = train[key]
        row[f"valid_{column}"] = valid[key] if valid else math.nan
    row["wall_time_s"] = wall_s
    return row


def write_curve(path: Path, history: list[dict[str, float]]) -> None:
    """Write the whole learning curve as CSV, atomically."""
    if not history:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]), lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomic(path, buf.getvalue())


def write_final_metrics(
    path: Path,
    epoch: int,
    train: dict[str, float],
    valid: dict[str, float] | None,
    *,
    has_stress: bool,
    has_bec: bool,
) -> None:
    """``{"epoch", "weights": "ema", "train": {column: value}, "valid": {...}}`` (learning-curve
    column names, meV units), atomically."""
    import json

    def columns(m: dict[str, float] | None) -> dict[str, float] | None:
        if m is None:
            return None
        return {
            column: float(m[key])
            for key, column in _METRIC_COLUMNS
            if key in m
            and math.isfinite(m[key])
            and not ((key == "stress_mae" and not has_stress) or (key == "bec_mae" and not has_bec))
        }

    data = {"epoch": epoch, "weights": "ema", "train": columns(train), "valid": columns(valid)}
    write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False, default=str) + "\n")


def read_curve(path: Path) -> list[dict[str, float]]:
    """Read a learning curve written by :func:`write_curve`."""
    with open(path, encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def postfix(row: dict[str, Any]) -> dict[str, str]:
    """Short progress-bar summary of a learning-curve row."""
    out = {"lr": f"{row['lr']:.2g}"}
    for key, label in (("valid_energy_mae_meV_per_atom", "E"), ("valid_forces_mae_meV_per_A", "F")):
        value = row.get(key, math.nan)
        if math.isnan(value):
            value = row.get(key.replace("valid_", "train_"), math.nan)
        out[label] = f"{value:.3g}"
    return out
