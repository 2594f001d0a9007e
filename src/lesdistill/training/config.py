"""Training settings: one dataclass, YAML round trip, validated on construction.

Loss weights follow MACE's two-stage recipe: stage one weights forces strongly (``forces_weight``
100 vs ``energy_weight`` 1); from ``stage_two_start`` (fraction of ``epochs``) the energy weight is
raised (``stage_two_energy_weight`` 1000) and the learning rate lowered (``stage_two_lr_factor``),
which fixes energies once forces are learnt. Loss terms (mean squared errors): energy per atom
(eV/atom)^2, forces per component (eV/Å)^2, stress per component (eV/Å^3)^2, BEC per component
(e^2).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesdistill.errors import UserInputError

_CHOICES = {"optimizer": ("adamw", "adam"), "dtype": ("float32", "float64")}


@dataclass
class TrainConfig:
    """All settings of one training run (units in the field names or comments).

    model_preset / model: the student size preset ("tiny", "small", "medium") and overrides of
    StudentConfig fields (e.g. ``{"cutoff": 4.5}``); ignored when fine-tuning from ``init``.
    batch_size is the GLOBAL number of frames per optimizer step (split across DDP ranks).
    """

    model_preset: str = "small"
    model: dict[str, Any] = field(default_factory=dict)
    epochs: int = 100
    batch_size: int = 4
    lr: float = 5e-3
    optimizer: str = "adamw"
    weight_decay: float = 5e-7
    amsgrad: bool = True
    scheduler_patience: int = 5  # epochs without validation improvement before lr *= factor
    scheduler_factor: float = 0.8
    min_lr: float = 1e-6
    ema_decay: float | None = 0.99  # None: no EMA
    clip_grad_norm: float | None = 10.0  # None: no clipping
    early_stopping_patience: int | None = 30  # epochs without improvement; None: never stop early
    energy_weight: float = 1.0
    forces_weight: float = 100.0
    stress_weight: float = 1000.0
    bec_weight: float = 1.0
    stage_two_start: float | None = 0.75  # fraction of epochs; None: one stage only
    stage_two_energy_weight: float = 1000.0
    stage_two_forces_weight: float = 100.0
    stage_two_stress_weight: float = 1000.0
    stage_two_bec_weight: float = 1.0
    stage_two_lr_factor: float = 0.2  # the learning rate is multiplied by this at the stage switch
    valid_fraction: float = 0.1
    # held out of the training files before the validation split, never trained on or used for
    # model selection, written to out_dir/test.extxyz (ignored when validation files are given)
    test_fraction: float = 0.1
    seed: int = 0
    dtype: str = "float32"
    energy_key: str = "energy"
    forces_key: str = "forces"
    stress_key: str = "stress"
    bec_key: str = "bec"
    total_charge_key: str = "total_charge"
    # also save resume state mid-epoch this often (s; 0: every step)
    checkpoint_interval_s: float = 300.0

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise UserInputError(
                    f"TrainConfig.{name}={getattr(self, name)!r}; "
                    f"choose one of {', '.join(choices)}"
                )
        positive_int = ("epochs", "batch_size", "scheduler_patience")
        for name in positive_int:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserInputError(f"TrainConfig.{name}={value!r}; expected an integer >= 1")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise UserInputError(
                f"TrainConfig.early_stopping_patience={self.early_stopping_patience}; "
                "expected >= 1 or null"
            )
        positive = ("lr", "min_lr")
        non_negative = (
            "checkpoint_interval_s",
            "weight_decay",
            "energy_weight",
            "forces_weight",
            "stress_weight",
            "bec_weight",
            "stage_two_energy_weight",
            "stage_two_forces_weight",
            "stage_two_stress_weight",
            "stage_two_bec_weight",
        )
        for name in positive + non_negative:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (
                    name in positive and value == 0):
                kind = "> 0" if name in positive else ">= 0"
                raise UserInputError(
                    f"TrainConfig.{name}={value!r}; expected a finite number {kind}"
                )
        if not 0.0 < self.scheduler_factor < 1.0:
            raise UserInputError(
                f"TrainConfig.scheduler_factor={self.scheduler_factor}; expected in (0, 1)"
            )
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise UserInputError(
                f"TrainConfig.ema_decay={self.ema_decay}; expected in (0, 1) or null"
            )
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise UserInputError(
                f"TrainConfig.clip_grad_norm={self.clip_grad_norm}; expected > 0 or null"
            )
        if self.stage_two_start is not None and not 0.0 <= self.stage_two_start <= 1.0:
            raise UserInputError(
                f"TrainConfig.stage_two_start={self.stage_two_start}; expected in [0, 1] or null"
            )
        if not 0.0 < self.stage_two_lr_factor <= 1.0:
            raise UserInputError(
                f"TrainConfig.stage_two_lr_factor={self.stage_two_lr_factor}; expected in (0, 1]"
            )
        for name in ("valid_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserInputError(
                    f"TrainConfig.{name}={getattr(self, name)}; expected in [0, 1)"
                )
        if self.valid_fraction + self.test_fraction >= 0.9:
            raise UserInputError(
                f"TrainConfig.valid_fraction + test_fraction = "
                f"{self.valid_fraction + self.test_fraction:g}; keep it below 0.9 so "
                "frames are left for training"
            )
        if not isinstance(self.model, dict):
            raise UserInputError("TrainConfig.model must be a mapping of StudentConfig overrides")

    # --- schedule ---------------------------------------------------------------------------------
    @property
    def stage_two_epoch(self) -> int | None:
        """First epoch (0-based) of stage two, or None without stage two."""
        if self.stage_two_start is None:
            return None
        return min(self.epochs, int(round(self.stage_two_start * self.epochs)))

    def weights(self, stage: int) -> dict[str, float]:
        """Loss weights {energy, forces, stress, bec} of stage 1 or 2."""
        if stage == 1:
            return {"energy": self.energy_weight, "forces": self.forces_weight,
                    "stress": self.stress_weight, "bec": self.bec_weight}
        return {"energy": self.stage_two_energy_weight, "forces": self.stage_two_forces_weight,
                "stress": self.stage_two_stress_weight, "bec": self.stage_two_bec_weight}

    # --- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise UserInputError(f"training config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserInputError(f"unknown training option(s): {', '.join(unknown)}; "
                                 f"valid options: {', '.join(sorted(known))}")
        return cls(**data)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text_or_path: str | os.PathLike[str]) -> TrainConfig:
        """Load from a YAML file path or a YAML string. A ``train:`` top-level block is accepted."""
        import yaml

        text = str(text_or_path)
        if isinstance(text_or_path, os.PathLike) or (len(text) < 4096 and "\n" not in text
                                                      and text.endswith((".yaml", ".yml"))):
            path = Path(text_or_path)
            if not path.exists():
                raise FileNotFoundError(
                    f"training config not found: {path}; check the path or write "
                    "one (see `TrainConfig().to_yaml()`)"
                )
            text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise UserInputError(
                f"training config is not valid YAML: {str(exc).splitlines()[0]}"
            ) from None
        if isinstance(data, dict) and set(data) == {"train"}:
            data = data["train"] or {}
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
