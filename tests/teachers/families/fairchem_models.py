"""Small random-initialised fairchem-core 2.x checkpoints (eSEN and UMA), built by its own API.

The checkpoint is an ``MLIPInferenceCheckpoint`` (hydra ``model_config``, state dicts,
``tasks_config``) as the released ``uma-*.pt`` / ``esen-*.pt`` files; task names equal the head
output keys ``<dataset>_<property>``.
"""

from __future__ import annotations

from pathlib import Path

import torch


def _backbone(datasets: list[str], moe: bool) -> dict:
    cfg = {
        "model": ("fairchem.core.models.uma.escn_moe.eSCNMDMoeBackbone" if moe
                  else "fairchem.core.models.uma.escn_md.eSCNMDBackbone"),
        "max_num_elements": 100, "sphere_channels": 8, "lmax": 1, "mmax": 1,
        "otf_graph": True, "max_neighbors": 30, "cutoff": 4.0, "edge_channels": 8,
        "num_distance_basis": 16, "direct_forces": False, "regress_forces": True,
        "regress_stress": True, "num_layers": 1, "hidden_channels": 8,
        "norm_type": "rms_norm_sh", "act_type": "gate", "ff_type": "grid",
        "chg_spin_emb_type": "rand_emb", "dataset_mapping": {d: d for d in datasets},
    }
    if moe:
        cfg.update({"num_experts": 2, "use_composition_embedding": True})
    return cfg


def _tasks(datasets: list[str], element_refs: bool) -> list[dict]:
    tasks = []
    for ds in datasets:
        for prop, dim in (("energy", [1]), ("forces", [3]), ("stress", [1, 9])):
            task = {
                "_target_": "fairchem.core.units.mlip_unit.mlip_unit.Task",
                "name": f"{ds}_{prop}", "level": "system" if prop != "forces" else "atom",
                "property": prop,
                "out_spec": {"_target_": "fairchem.core.units.mlip_unit.mlip_unit.OutputSpec",
                             "dim": dim, "dtype": "float32"},
                "normalizer": {"_target_": "fairchem.core.modules.normalization.normalizer"
                                           ".Normalizer", "mean": 0.0, "rmsd": 1.0},
                "datasets": [ds],
            }
            if prop == "energy" and element_refs:
                refs = [0.0] * 101
                refs[1], refs[8] = -13.6, -2041.0  # H, O (eV), arbitrary but large
                task["element_references"] = {
                    "_target_": "fairchem.core.modules.normalization.element_references"
                                ".ElementReferences",
                    "element_references": {"_target_": "torch.tensor", "data": refs}}
            tasks.append(task)
    return tasks


def build_checkpoint(path: Path, *, datasets: list[str], moe: bool = False,
                     element_refs: bool = False, seed: int = 0) -> Path:
    """Random eSEN (``moe=False``) or UMA-style MoE model for ``datasets``, saved at ``path``."""
    import hydra
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    torch.manual_seed(seed)
    if moe:
        heads = {"efs": {"module": "fairchem.core.models.uma.escn_moe"
                                   ".DatasetSpecificSingleHeadWrapper",
                         "dataset_names": datasets,
                         "head_cls": "fairchem.core.models.uma.escn_md.MLP_EFS_Head",
                         "head_kwargs": {"wrap_property": False}}}
    else:
        heads = {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head",
                         "prefix": datasets[0]}}
    model_config = {"_target_": "fairchem.core.models.base.HydraModel",
                    "backbone": _backbone(datasets, moe), "heads": heads,
                    "pass_through_head_outputs": True}
    if moe:
        model_config["model_id"] = "uma-test-1.0"
    model = hydra.utils.instantiate(model_config)
    ema = torch.optim.swa_utils.AveragedModel(model)
    ckpt = MLIPInferenceCheckpoint(model_config=model_config,
                                   model_state_dict=model.state_dict(),
                                   ema_state_dict=ema.state_dict(),
                                   tasks_config=_tasks(datasets, element_refs))
    torch.save(ckpt, path)
    return path
