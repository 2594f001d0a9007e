"""A small random-initialised metatrain PET for H/O, saved as a upet/metatrain ``.ckpt`` and as an
exported metatomic TorchScript ``.pt``, with metatrain's own API."""

from __future__ import annotations

from pathlib import Path

import torch


def build(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """(checkpoint ``pet-test.ckpt``, exported ``pet-test.pt``) in ``folder``."""
    from metatomic.torch import ModelMetadata
    from metatrain.pet import PET, Trainer
    from metatrain.utils.architectures import get_default_hypers
    from metatrain.utils.data import DatasetInfo
    from metatrain.utils.data.target_info import get_energy_target_info

    torch.manual_seed(seed)
    hypers = get_default_hypers("pet")
    model_hypers = dict(hypers["model"])
    model_hypers.update({"cutoff": 4.0, "d_pet": 8, "d_head": 8, "d_node": 8, "d_feedforward": 8,
                         "num_heads": 1, "num_attention_layers": 1, "num_gnn_layers": 1})
    model_hypers = {k: v for k, v in model_hypers.items() if k in hypers["model"]}
    info = DatasetInfo(length_unit="Angstrom", atomic_types=[1, 8], targets={
        "energy": get_energy_target_info("energy", {"quantity": "energy", "unit": "eV"},
                                         add_position_gradients=True, add_strain_gradients=True)})
    model = PET(model_hypers, info)
    model.metadata = ModelMetadata(name="pet-test", description="random PET for tests")
    ckpt = folder / "pet-test.ckpt"
    trainer = Trainer(hypers["training"])
    trainer.best_model_state_dict = model.state_dict()  # what an export loads (no training run)
    trainer.save_checkpoint(model, ckpt)
    exported = folder / "pet-test.pt"
    model.export().save(str(exported))
    return ckpt, exported
