"""The trainer's only contact with :mod:`lesdistill.model`: build, rebuild, predict, save.

Students are built from ``TrainConfig.model_preset`` + ``TrainConfig.model`` overrides with the
elements of the data and per-element reference energies E0 fitted by least squares on the
training frames. Fine-tuning (``init``) starts from a saved student: elements the data have but
the student lacks raise :class:`UserInputError` unless ``allow_new_elements`` (new rows are then
added by :func:`lesdistill.model.extend_elements`); E0 are corrected by a least-squares fit of
the residual energies of the new data, so a change of level of theory (e.g. teacher -> DFT)
shifts the per-element offsets instead of the network. The ZBL prior of a student ends, per
element pair, at the closest contact of that pair in the training frames (fine-tuning data with
closer contacts move it in), so it is zero at every training geometry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from lesdistill import keys
from lesdistill.data.neighbors import closest_pair_distances
from lesdistill.errors import UserInputError
from lesdistill.les.batch_response import born_effective_charges_batch
from lesdistill.model import extend_elements, fit_reference_energies, load_student, save_student
from lesdistill.model.backbone import check_backbone_trusted
from lesdistill.model.charge_sign import flip_charge_sign, follows_convention
from lesdistill.model.repulsion import DATA_RANGE_FACTOR, pair_key

if TYPE_CHECKING:
    from lesdistill.data.batch import AtomicBatch
    from lesdistill.data.dataset import LabelledFrame
    from lesdistill.model import StudentModel
    from lesdistill.training.config import TrainConfig


def new_student(
    config: TrainConfig, elements: Sequence[str], frames: Sequence[LabelledFrame]
) -> StudentModel:
    """A fresh student of ``config.model_preset`` with E0 fitted on ``frames``."""
    from lesdistill.model import StudentConfig, StudentModel, fit_reference_energies

    overrides = {
        "dtype": config.dtype,
        "seed": config.seed,
        **config.model,
        "elements": tuple(elements),
    }
    try:
        student_cfg = StudentConfig.from_preset(config.model_preset, **overrides)
    except ValueError as exc:
        raise UserInputError(f"bad student model settings: {exc}") from None
    model = StudentModel(student_cfg)
    e0 = fit_reference_energies(
        [f.atoms for f in frames], [f.energy for f in frames], list(elements)
    )
    model.set_reference_energies(e0)
    if (
        model.repulsion is not None
    ):  # the ZBL prior ends at the closest contact of each pair in the data
        closest = closest_pair_distances([f.atoms for f in frames], model.cutoff)
        model.set_repulsion_range({pair: DATA_RANGE_FACTOR * d for pair, d in closest.items()
                                   if pair_key(*pair) not in student_cfg.repulsion_range})
    return model


def from_init(path: str | os.PathLike[str], elements: Sequence[str], allow_new_elements: bool,
              frames: Sequence[LabelledFrame], *, trust_backbone: bool = False) -> StudentModel:
    """Load a student to fine-tune; check elements; refit E0 on the residuals of ``frames``."""
    model = load_student(path, trust_backbone=trust_backbone)
    new = [e for e in elements if e not in model.elements]
    if new and not allow_new_elements:
        raise UserInputError(
            f"the data contain element(s) {', '.join(new)} that the student {path} was "
            f"not trained on (it knows {', '.join(model.elements)}); pass "
            "--allow-new-elements (allow_new_elements=True) to add them"
        )
    if new:
        model = extend_elements(model, new)
    model.train()
    cutoff_ = cutoff(model)
    residual = []
    with torch.no_grad():
        for f in frames:
            batch = _batch_of([f.atoms], cutoff_).to(model.device, model.dtype)
            e = model(batch, compute_forces=False, create_graph=False)[keys.ENERGY]
            residual.append(f.energy - float(e.sum()))
    delta = fit_reference_energies([f.atoms for f in frames], residual, list(model.elements))
    e0 = model.reference_energies_dict()
    model.set_reference_energies({k: e0[k] + delta.get(k, 0.0) for k in model.elements})
    if model.repulsion is not None:  # new data closer than the prior's range: move the range in
        current = model.repulsion_ranges()
        closest = closest_pair_distances([f.atoms for f in frames], cutoff_)
        model.set_repulsion_range({pair: min(DATA_RANGE_FACTOR * d, current[pair])
                                   for pair, d in closest.items() if pair in current})
    return model


def describe(model: StudentModel) -> dict[str, Any]:
    """Plain-type description that :func:`rebuild` turns back into an identical (untrained)
    model."""
    return {"config": model.config.to_dict()}


def rebuild(description: Any, *, source: str = "training state",
            trust_backbone: bool = False) -> StudentModel:
    """The (untrained) model of a :func:`describe` dict read from ``source`` (a file): its
    backbone is checked like a student checkpoint's before any code is built."""
    from lesdistill.model import StudentConfig, StudentModel

    config = description.get("config") if isinstance(description, dict) else None
    if not isinstance(config, dict):
        raise UserInputError(
            f"{source} holds no student description; delete it to restart training"
        )
    check_backbone_trusted(config.get("backbone", "painn"), trust=trust_backbone, source=source)
    try:
        return StudentModel(StudentConfig.from_dict(dict(config)))
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"{source} has an invalid student config ({exc}); delete it to "
                             "restart training") from None


def save(model: StudentModel, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
    save_student(model, path, metadata)


def load(path: str | os.PathLike[str], device: str = "cpu", *,
         trust_backbone: bool = False) -> StudentModel:
    return load_student(path, device=device, trust_backbone=trust_backbone)


def cutoff(model: StudentModel) -> float:
    return float(model.cutoff)


def _batch_of(atoms_list: Sequence[Any], cutoff_: float) -> AtomicBatch:
    from lesdistill.data.batch import AtomicBatch

    return AtomicBatch.from_atoms(list(atoms_list), cutoff_)


def batch_parts(atoms_list: Sequence[Any], cutoff_: float) -> list[AtomicBatch]:
    """One single-structure batch per frame (neighbour lists computed once, reused every epoch)."""
    return [_batch_of([a], cutoff_) for a in atoms_list]


def collate(parts: Sequence[AtomicBatch]) -> AtomicBatch:
    from lesdistill.data.batch import AtomicBatch

    return AtomicBatch.collate(list(parts))


def unwrap(net: torch.nn.Module) -> StudentModel:
    return getattr(net, "module", net)


def predict(net: torch.nn.Module, batch: AtomicBatch, *, stress: bool, bec: bool | Sequence[bool],
            training: bool) -> dict[str, torch.Tensor]:
    """Model outputs for the loss: energy [B], forces [N, 3], stress [B, 3, 3], BEC [N, 3, 3].

    ``bec``: compute the BECs of every structure (True), none (False) or, per structure, of those
    marked (the others are zero; a batch with none marked computes none).
    ``training=True`` keeps the graph of forces/stress/BEC for the backward pass.
    """
    out = dict(net(batch, compute_forces=True, compute_stress=stress, create_graph=training))
    structures = None if isinstance(bec, bool) else [bool(b) for b in bec]
    if (bec is True) or (structures is not None and any(structures)):
        out[keys.BEC] = born_effective_charges(unwrap(net), batch, create_graph=training,
                                               structures=structures)
    if not training:
        out = {k: v.detach() for k, v in out.items()}
    return out


def born_effective_charges(
    model: StudentModel, batch: AtomicBatch, *, create_graph: bool,
    structures: Sequence[bool] | None = None,
) -> torch.Tensor:
    """Student BEC tensors [N, 3, 3] (e), Z[i, a, b] = dP_a/dr_ib, of the structures marked in
    ``structures`` (default all; the others zero), from one forward pass of the whole batch
    (:func:`lesdistill.les.batch_response.born_effective_charges_batch`)."""
    periodic = batch.pbc.any(dim=1).tolist()
    cells = [batch.cell[b] if periodic[b] else None for b in range(batch.num_structures)]
    with torch.enable_grad():
        positions = batch.positions.detach().requires_grad_(True)
        charges = model.latent_charges(batch.replace(positions=positions))
        return born_effective_charges_batch(
            charges, positions, batch.split_sizes(), cells, eps_inf=float(model.config.eps_inf),
            slab=bool(model.config.slab), create_graph=create_graph, structures=structures)


def with_charge_sign_convention(
    model: StudentModel, parts: Sequence[AtomicBatch]
) -> tuple[StudentModel, dict[str, Any]]:
    """The model to save: ``model`` itself, or a copy with its latent charges negated so that the
    more electronegative atoms are negative on ``parts`` (see lesdistill.model.charge_sign)."""
    import copy

    ok = follows_convention(model, parts)
    if ok is None:
        return model, {"convention": "undecided (element without a tabulated electronegativity)"}
    if ok:
        return model, {"convention": "electronegative atoms negative", "flipped": False}
    flipped = copy.deepcopy(model)
    flip_charge_sign(flipped)
    return flipped, {"convention": "electronegative atoms negative", "flipped": True}

