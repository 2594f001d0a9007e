"""Loss terms and error metrics from per-batch sums (so DDP ranks and batches combine exactly).

For a batch, :func:`error_sums` returns sums of squared and absolute errors plus counts:

* energy per atom: (E_pred - E_ref) / N_atoms per frame, eV/atom
* forces: every Cartesian component, eV/Å
* stress: every Voigt component of the frames that have a stress label, eV/Å^3
* BEC: every tensor component Z[i, a, b] of the atoms that have a BEC label, e

The loss is ``sum_t w_t * SE_t / count_t`` where the counts are totals over all DDP ranks of one
optimizer step, i.e. a mean squared error per term exactly as one process with the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

TERMS = ("energy", "forces", "stress", "bec")
COUNT = {"energy": "n_energy", "forces": "n_forces", "stress": "n_stress", "bec": "n_bec"}
SUM_KEYS = tuple(k for t in TERMS for k in (COUNT[t], f"{t}_se", f"{t}_ae"))


@dataclass
class Targets:
    """Reference labels of a batch of B frames with N atoms in total (float tensors).

    energy [B] eV; n_atoms [B]; forces [N, 3] eV/Å; stress [B, 6] Voigt eV/Å^3 with
    stress_mask [B] (bool); bec [N, 3, 3] e with bec_mask [N] (bool).
    """

    energy: torch.Tensor
    n_atoms: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    stress_mask: torch.Tensor
    bec: torch.Tensor
    bec_mask: torch.Tensor

    @property
    def has_stress(self) -> bool:
        return bool(self.stress_mask.any())

    @property
    def has_bec(self) -> bool:
        return bool(self.bec_mask.any())

    @classmethod
    def from_frames(cls, frames: Sequence[Any]) -> Targets:
        """Stack the labels of :class:`~lesdistill.data.dataset.LabelledFrame` objects."""
        n_atoms = [f.n_atoms for f in frames]
        n_tot = sum(n_atoms)
        stress = np.zeros((len(frames), 6))
        stress_mask = np.zeros(len(frames), dtype=bool)
        bec = np.zeros((n_tot, 3, 3))
        bec_mask = np.zeros(n_tot, dtype=bool)
        start = 0
        for i, f in enumerate(frames):
            if f.stress is not None:
                stress[i] = f.stress
                stress_mask[i] = True
            if f.bec is not None:
                bec[start:start + f.n_atoms] = f.bec
                bec_mask[start:start + f.n_atoms] = True
            start += f.n_atoms
        forces = np.concatenate([f.forces for f in frames]) if frames else np.zeros((0, 3))
        return cls(
            energy=torch.tensor([f.energy for f in frames], dtype=torch.float64),
            n_atoms=torch.tensor(n_atoms, dtype=torch.float64),
            forces=torch.from_numpy(forces),
            stress=torch.from_numpy(stress),
            stress_mask=torch.from_numpy(stress_mask),
            bec=torch.from_numpy(bec),
            bec_mask=torch.from_numpy(bec_mask),
        )

    def to(self, device: torch.device | str, dtype: torch.dtype) -> Targets:
        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

        return Targets(**{k: cast(v) for k, v in vars(self).items()})


def voigt(stress: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] -> [B, 6] (xx yy zz yz xz xy); [B, 6] is returned unchanged."""
    if stress.shape[-1] == 6:
        return stress
    return torch.stack([stress[:, 0, 0], stress[:, 1, 1], stress[:, 2, 2],
                        stress[:, 1, 2], stress[:, 0, 2], stress[:, 0, 1]], dim=-1)


def error_sums(pred: Mapping[str, torch.Tensor], target: Targets, *,
               energy_key: str = "energy", forces_key: str = "forces", stress_key: str = "stress",
               bec_key: str = "born_effective_charges") -> dict[str, torch.Tensor]:
    """Sums of squared/absolute errors and counts for the batch (differentiable w.r.t. ``pred``).

    Stress and BEC terms are included only when the target has them AND ``pred`` contains them.
    """
    zero = target.energy.new_zeros(())
    out: dict[str, torch.Tensor] = {k: zero for k in SUM_KEYS}
    de = (pred[energy_key].reshape(-1) - target.energy) / target.n_atoms
    out.update(n_energy=zero + de.numel(), energy_se=(de ** 2).sum(), energy_ae=de.abs().sum())
    df = pred[forces_key].reshape(-1, 3) - target.forces
    out.update(n_forces=zero + df.numel(), forces_se=(df ** 2).sum(), forces_ae=df.abs().sum())
    if target.has_stress and pred.get(stress_key) is not None:
        ds = (voigt(pred[stress_key]) - target.stress)[target.stress_mask]
        out.update(n_stress=zero + ds.numel(), stress_se=(ds ** 2).sum(), stress_ae=ds.abs().sum())
    if target.has_bec and pred.get(bec_key) is not None:
        db = (pred[bec_key].reshape(-1, 3, 3) - target.bec)[target.bec_mask]
        out.update(n_bec=zero + db.numel(), bec_se=(db ** 2).sum(), bec_ae=db.abs().sum())
    return out


def weighted_loss(sums: Mapping[str, torch.Tensor], weights: Mapping[str, float],
                  counts: Mapping[str, float] | None = None) -> torch.Tensor:
    """sum_t w_t * SE_t / count_t; ``counts`` (global totals) default to the counts in ``sums``."""
    counts = counts if counts is not None else {k: float(sums[k]) for k in COUNT.values()}
    loss = sums["energy_se"] * 0.0
    for term in TERMS:
        n = float(counts[COUNT[term]])
        if n > 0 and weights.get(term, 0.0) > 0:
            loss = loss + weights[term] * sums[f"{term}_se"] / n
    return loss


def accumulate(
    total: dict[str, float], sums: Mapping[str, torch.Tensor | float]
) -> dict[str, float]:
    """Add detached batch sums into a running dict of floats (in place; also returned)."""
    for k in SUM_KEYS:
        total[k] = total.get(k, 0.0) + float(sums[k])
    return total


def metrics(
    total: Mapping[str, float], weights: Mapping[str, float] | None = None
) -> dict[str, float]:
    """MAE/RMSE in meV units from accumulated sums; plus ``loss`` if ``weights`` are given.

    energy_mae/rmse meV/atom, forces meV/Å, stress meV/Å^3, bec me (milli-e). Terms without data
    are NaN.
    """
    out: dict[str, float] = {}
    for term in TERMS:
        n = total.get(COUNT[term], 0.0)
        mae = 1000.0 * total[f"{term}_ae"] / n if n else math.nan
        rmse = 1000.0 * math.sqrt(total[f"{term}_se"] / n) if n else math.nan
        out[f"{term}_mae"], out[f"{term}_rmse"] = mae, rmse
    if weights is not None:
        out["loss"] = float(weighted_loss({k: torch.tensor(v) for k, v in total.items()}, weights))
    return out
