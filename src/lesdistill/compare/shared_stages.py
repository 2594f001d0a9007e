"""Compare-level stages, run once before the teachers: the shared frames and the reference BECs.

    frames     <output>/frames/: structure.extxyz (starting structure), all.extxyz (every shared
               frame), split.json (train/valid/test indices into all.extxyz, the pipeline's
               split), bec.extxyz (the test frames on which all students' BECs are compared)
    reference  <output>/reference/: reference.json (source, or why there is none) and, when a
               reference exists, reference.npz (becs (F, N, 3, 3), e) on the frames of bec.extxyz

They read the resolved plan (``<output>/plan/frames.json``: which teacher draws the frames or
which file holds them; ``<output>/plan/reference.json``: where the reference comes from) as
input files, so a change of plan re-runs exactly the stage it concerns. The config of
:func:`lesdistill.pipeline.runner.run_stages` is the
:class:`~lesdistill.compare.config.CompareConfig`; ``ctx.extra["make_teacher"](spec)`` returns a
function that builds (once) the teacher ``spec``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from lesdistill import keys
from lesdistill.compare.config import CompareConfig
from lesdistill.compare.reference import (
    calculator_gives_dipole,
    finite_difference_bec,
    fixed_charge_bec,
    frames_bec,
)
from lesdistill.config import config_to_dict
from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.pipeline.runner import Stage

PLAN_FRAMES, PLAN_REFERENCE = "plan/frames.json", "plan/reference.json"


def _plan(ctx, name: str) -> dict[str, Any]:
    return json.loads(ctx.input(name).read_text(encoding="utf-8"))


def _sampling_settings(cfg: CompareConfig) -> Any:
    """The full sampling settings (with defaults) of ``lesdistill run``'s schema."""
    return cfg.run_config(cfg.teachers[0]).sampling


def run_frames(ctx) -> None:
    from lesdistill.compare.frames import (
        bec_frame_indices,
        build_structure,
        draw_frames,
        geometry_only,
        read_frames,
        write_frames,
    )
    from lesdistill.pipeline.stages_data import split_indices

    cfg: CompareConfig = ctx.config
    plan = _plan(ctx, PLAN_FRAMES)
    atoms = build_structure(cfg.system, seed=cfg.seed)
    if cfg.bec.cluster_molecules:  # before any teacher call
        from lesdistill.sampling.clusters import molecules

        n_mol = len(molecules(atoms)) if atoms.pbc.all() else 0
        if not atoms.pbc.all() or float(atoms.info.get(keys.TOTAL_CHARGE, 0.0)) != 0.0:
            raise UserInputError("bec.cluster_molecules needs a periodic, neutral structure to cut "
                                 "clusters from; set bec.cluster_molecules: 0")
        if cfg.bec.cluster_molecules > n_mol:
            raise UserInputError(f"bec.cluster_molecules = {cfg.bec.cluster_molecules} but the "
                                 f"structure has {n_mol} molecules; choose at most {n_mol}")
    write_frames(ctx.stage_dir / "structure.extxyz", [atoms])
    s = _sampling_settings(cfg)
    all_path = ctx.stage_dir / "all.extxyz"
    if plan["sampling_file"]:
        ctx.log(f"  shared frames from {plan['sampling_file']}")
        draw_frames(atoms, None, all_path, file=plan["sampling_file"])
    else:
        ctx.log(f"  shared frames from MD with teacher '{plan['sampler']}'")
        teacher = ctx.extra["make_teacher"](plan["sampler"])()
        draw_frames(atoms, s.settings(), all_path, teacher=teacher, seed=cfg.seed,
                    progress=ctx.progress)
    frames = read_frames(all_path)
    temps = [float(f.info.get(keys.TEMPERATURE_K, s.temperatures_K[0])) for f in frames]
    train, valid, test = split_indices(temps, s.valid_fraction, s.test_fraction, cfg.seed)
    if not test:
        raise UserInputError("no shared test frames: set sampling.test_fraction > 0")
    bec_idx = bec_frame_indices(test, cfg.bec.n_frames)
    split = {"train": train, "valid": valid, "test": test, "bec": bec_idx}
    bec_frames = [geometry_only(frames[i]) for i in bec_idx]
    if cfg.bec.cluster_molecules:  # open clusters, where a teacher's dipole is defined
        from lesdistill.sampling.clusters import cut_cluster

        rng = np.random.default_rng(cfg.seed)
        bec_frames = [cut_cluster(a, cfg.bec.cluster_molecules, rng) for a in bec_frames]
        for a in bec_frames:
            del a.arrays["source_index"]
        ctx.log(f"  BEC comparison on open clusters of {cfg.bec.cluster_molecules} molecules "
                f"({len(bec_frames[0])} atoms) cut from the BEC frames")
    write_frames(ctx.stage_dir / "bec.extxyz", bec_frames)
    write_text_atomic(ctx.stage_dir / "split.json", json.dumps(split) + "\n")
    ctx.log(f"  {len(frames)} shared frames: {len(train)} train, {len(valid)} valid, "
            f"{len(test)} test ({len(bec_idx)} for BEC comparison)")


def run_reference(ctx) -> None:
    from lesdistill.compare.frames import read_frames

    cfg: CompareConfig = ctx.config
    plan = _plan(ctx, PLAN_REFERENCE)
    frames = read_frames(ctx.input("frames/bec.extxyz"))
    info: dict[str, Any] = {"source": None, "n_frames": len(frames), "reason": ""}
    becs = None
    labelled = frames_bec(frames)
    spec = plan["reference_teacher"]
    if plan["reference"] in ("file", "auto") and labelled is not None:
        becs, info["source"] = labelled, "file: user-provided 'bec' labels of the shared frames"
    elif plan["reference"] == "file":
        raise UserInputError("bec.reference is 'file' but the shared frames carry no 'bec' array; "
                         "give sampling.file frames with per-atom bec (N, 9) labels")
    elif spec is None:
        info["reason"] = "no usable teacher gives a reference BEC (xTB or analytic)"
    elif spec.startswith("analytic-"):
        calc = ctx.extra["make_teacher"](spec)().calculator
        becs = [fixed_charge_bec(a, calc) for a in frames]
        info["source"] = f"teacher {spec}: exact BEC of its fixed point charges"
    elif len(frames[0]) > cfg.bec.max_atoms:
        info["reason"] = (f"{len(frames[0])} atoms > bec.max_atoms = {cfg.bec.max_atoms}: "
                          "finite differences too expensive")
    else:
        calc = ctx.extra["make_teacher"](spec)().calculator
        if calculator_gives_dipole(calc):
            ctx.log(f"  reference BEC: finite differences of the {spec} dipole, "
                    f"{6 * len(frames[0])} calculations per frame")
            try:
                becs = [finite_difference_bec(a, calc, displacement_A=cfg.bec.displacement_A,
                                              progress=ctx.progress) for a in frames]
            except UserInputError as err:  # a periodic dipole that is not a polarization
                info["reason"] = f"teacher {spec}: {err}"
                ctx.log(f"  no reference BEC: {err}")
            else:
                info["source"] = (f"teacher {spec}: finite differences of its dipole "
                                  f"(step {cfg.bec.displacement_A} Å)")
        else:
            info["reason"] = f"teacher {spec} gives no dipole"
    if becs is not None:
        with atomic_path(ctx.stage_dir / "reference.npz") as tmp:
            np.savez(tmp, becs=np.stack(becs))
    info["available"] = becs is not None
    write_text_atomic(ctx.stage_dir / "reference.json", json.dumps(info, indent=1) + "\n")
    ctx.log(f"  reference BEC: {info['source'] or 'none (' + info['reason'] + ')'}")


def shared_stages() -> list[Any]:
    def frames_inputs(cfg: CompareConfig) -> list[str]:
        files = [PLAN_FRAMES]
        if cfg.sampling.file is not None:
            files.append(str(cfg.sampling.file.resolve()))
        if "file" in cfg.system:
            files.append(str(cfg.system["file"].resolve()))
        return files

    return [
        Stage("frames", run_frames, description="shared frames (drawn once, split once)",
              hash_payload=lambda c: {"system": {k: str(v) for k, v in c.system.items()},
                                      "sampling": config_to_dict(_sampling_settings(c)),
                                      "seed": c.seed, "bec_frames": c.bec.n_frames,
                                      **({"bec_clusters": c.bec.cluster_molecules}
                                         if c.bec.cluster_molecules else {})},
              inputs=frames_inputs,
              outputs=lambda c: ["structure.extxyz", "all.extxyz", "split.json", "bec.extxyz"]),
        Stage("reference", run_reference, description="reference BECs on the shared BEC frames",
              hash_payload=lambda c: {"bec": [c.bec.reference, c.bec.displacement_A,
                                              c.bec.max_atoms]},
              inputs=lambda c: [PLAN_REFERENCE, "frames/bec.extxyz"],
              outputs=lambda c: ["reference.json"],
              enabled=lambda c: c.bec.reference != "none"),
    ]
