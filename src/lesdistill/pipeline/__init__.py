"""The distillation pipeline behind ``lesdistill run CONFIG.yaml`` and ``lesdistill demo``.

Stages, in order (each writes into ``OUTPUT/<stage>/``)::

    build     the structure (builder or file)                  -> build/structure.extxyz
    sample    teacher MD + labels, train/valid/test split      -> sample/*.extxyz
    train     the LES student                                   -> train/best.pt
    refine    (refine.n_frames > 0) teacher labels on frames of -> refine/train/best.pt
              the student's own MD, fine-tuning on them
    finetune  (optional) on a small higher-level set            -> finetune/best.pt
              (finetune.fractions: the fraction sweep)          -> finetune/fractions/
    evaluate  held-out errors, latent charges, speed table,    -> evaluate/metrics.json
              BEC benchmark (evaluate.bec_reference)            -> evaluate/bec_benchmark/
    md        student MD with dipole current (and BECs)         -> md/traj/
    ir        BEC summary, IR spectrum vs experiment            -> ir/ir.json, ir/spectrum.csv
    vdos      (vdos.n_steps > 0) teacher vs student VDOS          -> vdos/vdos.json
    report    HTML + PNG + JSON report (with RDFs)              -> report/report.html

A stage is skipped when the content hash of its config sections and input files is unchanged;
``from_stage`` forces a stage and all later ones; a run killed mid-stage resumes that stage
(sampling, training and MD continue from their own checkpoints). See :mod:`.runner`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesdistill.config import RunConfig, config_to_dict, dump_config
from lesdistill.errors import UserInputError
from lesdistill.fileio import file_sha256, write_text_atomic
from lesdistill.pipeline import layout as L
from lesdistill.pipeline.runner import Stage, StageResult, run_stages, stage_timings

__all__ = [
    "STAGE_NAMES",
    "hash_view",
    "make_stages",
    "run_pipeline",
    "report_path",
    "stage_timings",
]

STAGE_NAMES = ("build", "sample", "train", "refine", "finetune", "evaluate", "md", "ir", "vdos",
               "report")


def _file_digest(path: str | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return file_sha256(path)


def hash_view(value: Any) -> Any:
    """Plain data of a config section for stage hashes, keeping only the fields that differ from
    their defaults (recursively): a release that adds a setting with a default that keeps the
    old behaviour does not re-run the finished stages of existing runs."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            current = getattr(value, f.name)
            if f.default is not dataclasses.MISSING:
                default: Any = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                out[f.name] = hash_view(current)
                continue
            if config_to_dict(current) != config_to_dict(default):
                out[f.name] = hash_view(current)
        return out
    return config_to_dict(value)


def evaluate_payload(cfg: RunConfig) -> Any:
    """The evaluate section with the content of the reference files it names."""
    ev = cfg.evaluate
    if ev.bec_reference is None:
        return None
    from lesdistill.analysis.bec_files import parse_compare_spec

    files = [ev.bec_reference] + [str(parse_compare_spec(s)[1]) for s in ev.bec_compare]
    return {"section": config_to_dict(ev), "sha256": [_file_digest(f) for f in files]}


def make_stages() -> list[Stage]:
    """The pipeline's stages (functions are imported lazily when a stage runs)."""
    from lesdistill.pipeline import stage_ir, stage_refine, stage_report, stage_vdos
    from lesdistill.pipeline import stages_data as D
    from lesdistill.pipeline import stages_physics as P

    def c(x: Any) -> Any:
        return hash_view(x)

    def ft_payload(cfg: RunConfig) -> Any:
        if cfg.finetune is None:
            return None
        return {"finetune": c(cfg.finetune), "training": cfg.training, "student": c(cfg.student),
                "seed": cfg.seed, "data_sha256": _file_digest(cfg.finetune.data)}

    return [
        Stage("build", D.run_build, description="build the structure",
              hash_payload=lambda cfg: {"system": c(cfg.system), "seed": cfg.seed,
                                        "file_sha256": _file_digest(cfg.system.file)},
              outputs=lambda cfg: ["structure.extxyz"]),
        Stage("sample", D.run_sample, description="teacher MD and labels",
              hash_payload=lambda cfg: {"teacher": c(cfg.teacher), "sampling": c(cfg.sampling),
                                        "seed": cfg.seed},
              inputs=lambda cfg: [L.STRUCTURE],
              outputs=lambda cfg: ["frames.extxyz", "train.extxyz", "valid.extxyz",
                                   "test.extxyz", "teacher.json"]),
        Stage("train", D.run_train, description="train the LES student",
              hash_payload=lambda cfg: {"student": c(cfg.student), "training": cfg.training,
                                        "seed": cfg.seed},
              inputs=lambda cfg: [L.TRAIN, L.VALID], outputs=lambda cfg: ["best.pt"]),
        Stage("refine", stage_refine.run_refine,
              description="teacher labels on the student's own MD, fine-tune",
              hash_payload=lambda cfg: {"refine": c(cfg.refine), "teacher": c(cfg.teacher),
                                        "training": cfg.training, "seed": cfg.seed,
                                        "temperatures_K": cfg.sampling.temperatures_K},
              inputs=lambda cfg: [L.STUDENT, L.FRAMES, L.TRAIN, L.VALID, L.TEST],
              outputs=lambda cfg: ["train/best.pt", "metrics.json"],
              enabled=lambda cfg: cfg.refine.n_frames > 0),
        Stage("finetune", D.run_finetune, description="fine-tune on the higher-level set",
              hash_payload=ft_payload,
              inputs=lambda cfg: [D.distilled_student(cfg), L.FRAMES],
              outputs=lambda cfg: ["best.pt", "metrics.json"]
              + (["fractions/fractions.json"] if cfg.finetune and cfg.finetune.fractions else []),
              enabled=lambda cfg: cfg.finetune is not None),
        Stage("evaluate", P.run_evaluate, description="held-out errors, charges, speed",
              hash_payload=lambda cfg: {"teacher": c(cfg.teacher),
                                        "speed_repeats": cfg.report.speed_repeats,
                                        "seed": cfg.seed, "evaluate": evaluate_payload(cfg)},
              inputs=lambda cfg: sorted({D.distilled_student(cfg), D.final_student(cfg), L.TEST,
                                         L.STRUCTURE}),
              outputs=lambda cfg: ["metrics.json", "parity.npz"]),
        Stage("md", P.run_md_stage, description="student MD (dipole current, BECs)",
              hash_payload=lambda cfg: {"md": c(cfg.md), "bec_every": cfg.ir.bec_every,
                                        "seed": cfg.seed,
                                        # only when on: existing runs keep their md stage
                                        **({"atom_currents": True}
                                           if P.records_atom_currents(cfg) else {})},
              inputs=lambda cfg: [D.final_student(cfg), L.FRAMES],
              outputs=lambda cfg: ["traj/summary.json"]),
        Stage("ir", stage_ir.run_ir, description="BEC summary and IR spectrum",
              hash_payload=lambda cfg: {"ir": c(cfg.ir)},  # bec_every also re-runs md
              inputs=lambda cfg: [L.TRAJ], outputs=lambda cfg: ["ir.json", "spectrum.csv"]),
        Stage("vdos", stage_vdos.run_vdos, description="teacher vs student VDOS, same start",
              hash_payload=lambda cfg: {"vdos": c(cfg.vdos), "teacher": c(cfg.teacher),
                                        "md_temperature_K": cfg.md.temperature_K,
                                        "bands": cfg.ir.reference, "seed": cfg.seed},
              inputs=lambda cfg: [D.final_student(cfg), L.FRAMES],
              outputs=lambda cfg: ["vdos.json", "vdos.png"],
              enabled=lambda cfg: cfg.vdos.n_steps > 0),
        Stage("report", stage_report.run_report, description="HTML/JSON report with RDFs",
              hash_payload=lambda cfg: {"config": c(cfg)},
              inputs=lambda cfg: [p for p in (L.TEACHER_JSON, L.CURVE, L.EVAL_METRICS,
                                              L.PARITY, L.TRAJ_SUMMARY, L.IR_JSON,
                                              L.BEC_JSON, L.FT_METRICS, L.FRAMES,
                                              L.VDOS_JSON, L.REFINE_METRICS)
                                  if (p != L.FT_METRICS or cfg.finetune is not None)
                                  and (p != L.REFINE_METRICS or cfg.refine.n_frames > 0)
                                  and (p != L.VDOS_JSON or cfg.vdos.n_steps > 0)],
              outputs=lambda cfg: ["report.html", "report.json"]),
    ]


def report_path(cfg: RunConfig) -> Path:
    """Where the HTML report of a run is written."""
    return Path(cfg.output) / "report" / "report.html"


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in OpenMP libraries loaded later (tblite)."""
    import os

    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    torch.set_num_threads(n)


def run_pipeline(cfg: RunConfig, *, from_stage: str | None = None,
                 only: list[str] | None = None, progress: bool = True,
                 log: Any = print) -> list[StageResult]:
    """Run (or continue) the whole pipeline of ``cfg`` into ``cfg.output``."""
    if from_stage is not None and from_stage not in STAGE_NAMES:
        raise UserInputError(f"unknown stage {from_stage!r} for --from; stages: "
                             f"{', '.join(STAGE_NAMES)}")
    from lesdistill.pipeline.preflight import check_run_config

    check_run_config(cfg)  # every section, before anything is written
    if cfg.threads is not None:
        set_threads(cfg.threads)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", dump_config(cfg))  # the full, resolved config
    stages = make_stages()
    return run_stages(stages, cfg, out, from_stage=from_stage, only=only, progress=progress,
                      log=log, extra={"stage_names": [s.name for s in stages]})
