"""Run configuration for ``lesdistill run``: one YAML file describes a whole distillation.

A run config has one section per pipeline stage. Every value has exactly one home (its
dataclass field below, with its default); a YAML file overrides fields, and an optional
``preset: NAME`` key starts from a packaged preset (``lesdistill/configs/NAME.yaml``) first.
Unknown keys raise :class:`~lesdistill.errors.UserInputError` naming the key and its section.

Layout (units in the field names)::

    output: runs/water          # output folder (relative to the current directory)
    seed: 0                     # the one seed; every stage derives its own from it
    device: cpu                 # cpu | cuda | cuda:1 (not part of any stage hash)
    threads: null               # CPU threads (torch, OpenMP); 1 is fastest on a busy machine
    system:   {builder: water, params: {n_molecules: 32}}    # or {file: water.extxyz}
    teacher:  {spec: chgnet}
    sampling: {temperatures_K: [300], n_frames: 80, stride: 4, timestep_fs: 0.5, ...}  # total
    student:  {preset: tiny, options: {...}}       # options: StudentConfig fields
    training: {...}                                # TrainConfig fields (lesdistill.training)
    refine:   {n_frames: 40, equilibration_ps: 1.0, interval_fs: 25, epochs: 20}  # optional:
               # teacher labels on the student's own MD, then fine-tuning (0 frames: off)
    finetune: {teacher: xtb-gfn2, n_frames: 8, training: {...},   # optional
               fractions: [0.1, 0.4, 1.0], scratch: false}  # optional fraction sweep
    md:       {temperature_K: 300, timestep_fs: 0.5, n_equil: 200, n_steps: 4000, stride: 2,
               production: nve}
    ir:       {correction: harmonic, window: hann, bec_every: 50, reference: water,
               group: null, style: absolute}   # group: hcl | tio2-water (per-frame groups)
    evaluate: {bec_reference: dft_bec.extxyz, bec_array: BEC, bec_compare: [...]}   # optional
    vdos:     {n_steps: 0, timestep_fs: 0.5, stride: 2}   # teacher vs student VDOS (0: off)
    report:   {speed_repeats: 5, title: ...}

Relative input file paths (``system.file``, ``finetune.data``, ``evaluate.bec_reference``,
the files of ``evaluate.bec_compare``) are resolved against the folder of the YAML file that
names them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lesdistill.analysis.fraction_settings import FractionSettings
from lesdistill.codetrust import check_run_config
from lesdistill.config_types import from_dict, to_dict
from lesdistill.errors import UserInputError
from lesdistill.md.same_start import SameStartSettings
from lesdistill.md.settings import MDSettings
from lesdistill.sampling.refine_settings import RefineSettings
from lesdistill.sampling.settings import SampleSettings
from lesdistill.settings import SettingsError, one_of, positive, setting
from lesdistill.spectra.settings import IRSettings

__all__ = [
    "EvaluateConfig", "FinetuneConfig", "IRConfig",
    "MDConfig", "ReportConfig", "RunConfig", "SamplingConfig",
    "StudentSection", "SystemConfig", "TeacherConfig", "available_presets", "load_config",
    "load_preset", "config_from_dict", "config_to_dict", "dump_config",
]


@dataclass(frozen=True)
class SystemConfig:
    """The structure: a builder from :mod:`lesdistill.systems` or a structure file."""

    builder: str | None = "water"  # lesdistill.systems.build name ("water", "hcl", "tio2-water")
    params: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the builder
    file: str | None = None  # any ASE-readable structure file (replaces the builder)


@dataclass(frozen=True)
class TeacherConfig:
    """The teacher foundation model (``lesdistill.teachers.get_teacher`` spec string)."""

    spec: str = "chgnet"  # e.g. chgnet, sevennet, xtb-gfn1, uma:/path/uma.pt@omol, mace:/path.model


@dataclass(frozen=True)
class SamplingConfig(SampleSettings):
    """Teacher MD that produces the labelled training frames, and how the frames are split.

    The MD fields, defaults and bounds are those of :class:`lesdistill.sampling.SampleSettings`
    (one NVT segment per (temperature, strain) pair; ``n_frames`` in total, split evenly);
    :meth:`settings` gives that object. The run's top-level ``seed`` seeds the MD.
    """

    valid_fraction: float = setting(0.1, "fraction of all frames for early stopping")
    test_fraction: float = setting(
        0.1, "fraction of all frames held out for parity plots / metrics"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "valid_fraction", "test_fraction", strict=False)
        if self.valid_fraction + self.test_fraction >= 0.9:
            raise SettingsError("valid_fraction", "valid_fraction + test_fraction must be < 0.9 "
                                "so that frames are left for training")

    def settings(self) -> SampleSettings:
        """The teacher-MD protocol (what :func:`lesdistill.sampling.sample` takes)."""
        return SampleSettings.from_settings(self)


@dataclass(frozen=True)
class StudentSection:
    """Student architecture: a preset of ``lesdistill.model.StudentConfig`` plus overrides."""

    preset: str = "small"  # tiny | small | medium
    options: dict[str, Any] = field(default_factory=dict)  # StudentConfig field overrides


@dataclass(frozen=True)
class FinetuneConfig(FractionSettings):
    """Optional fine-tuning on a small higher-level set (``data`` file, or ``teacher`` labels).

    With ``fractions`` (and ``scratch``), the fields of
    :class:`lesdistill.analysis.fraction_settings.FractionSettings`, the stage also fine-tunes
    on nested fractions of its training frames, all scored on its held-out test frames
    (:mod:`lesdistill.analysis.finetune_fractions`; ``finetune/fractions/``).
    """

    data: str | None = None  # labelled extxyz file (energy/forces[/stress]) at the higher level
    teacher: str | None = None  # or: relabel frames of the sampled set with this teacher spec
    n_frames: int = 20  # frames relabelled by ``teacher`` (taken evenly from the sampled set)
    test_fraction: float = 0.25  # of the fine-tuning set, held out for before/after metrics
    training: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides for this stage


#: Student MD for spectra, BECs and RDFs: the fields of :class:`lesdistill.md.MDSettings`.
MDConfig = MDSettings


@dataclass(frozen=True)
class IRConfig(IRSettings):
    """The IR spectrum from the stored dipole current: the fields of
    :class:`lesdistill.spectra.IRSettings`, plus the BECs stored by the MD and the reference.

    The dipole current is already in physical charges (the student's ``eps_inf``, set once in
    ``student.options.eps_inf``), so there is no eps_inf here.
    """

    bec_every: int = setting(50, "BEC tensors of every n-th stored MD frame (BEC summary, "
                             "sum rule)")
    reference: str | None = setting("water", "band table / experiment: water | hcl | "
                                    "tio2-water | null")

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "bec_every")
        one_of(self, "reference", (None, "water", "hcl", "tio2-water"))
        if self.style == "paper" and self.correction != "harmonic":
            raise SettingsError("style", f"{{field}} paper uses classical intensities without a "
                                f"correction factor; set correction: harmonic (got "
                                f"{self.correction!r}) or style: absolute")

    def settings(self) -> IRSettings:
        """The spectrum method (what :func:`lesdistill.spectra.ir_spectrum` takes)."""
        return IRSettings.from_settings(self)


@dataclass(frozen=True)
class EvaluateConfig:
    """Reference-based evaluation of the final student (reference frames: evaluation only).

    ``bec_reference``: extxyz frames with per-atom reference BECs in the array ``bec_array``
    (9 columns, row-major Z_ab = dP_a/dr_b, e), scored by ``lesdistill bec-benchmark``;
    ``bec_compare``: other models' BECs on the same frames, ``[NAME=]FILE:ARRAY[:SCALE]``."""

    bec_reference: str | None = None
    bec_array: str = "BEC"
    bec_compare: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportConfig:
    """The HTML/JSON report."""

    title: str = "lesdistill report"
    speed_repeats: int = 5  # energy+forces calls timed per model for the speed table
    rdf_rmax_A: float = 6.0  # upper RDF radius (clipped to what the cell allows)
    rdf_bins: int = 120


@dataclass(frozen=True)
class RunConfig:
    """A whole distillation run."""

    output: str = "lesdistill-run"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None  # CPU threads for torch and OpenMP (None: library defaults)
    system: SystemConfig = field(default_factory=SystemConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    student: StudentSection = field(default_factory=StudentSection)
    training: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields
    refine: RefineSettings = field(default_factory=RefineSettings)  # student-driven sampling
    finetune: FinetuneConfig | None = None
    md: MDSettings = field(default_factory=MDSettings)
    ir: IRConfig = field(default_factory=IRConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    vdos: SameStartSettings = field(default_factory=SameStartSettings)  # teacher vs student VDOS
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        _validate(self)


#: TrainConfig fields that a run config sets in another section (every value has one home).
_TRAINING_ELSEWHERE = {"model_preset": "student.preset", "model": "student.options",
                       "seed": "the top-level 'seed'", "valid_fraction": "sampling.valid_fraction"}

#: StudentConfig fields a run config must not set in student.options.
_STUDENT_OPTIONS_FIXED = {"elements": "they come from the training data",
                          "preset": "use student.preset", "seed": "use the top-level 'seed'"}


# --- validation -------------------------------------------------------------------------------

def _positive(value: float, name: str, *, strict: bool = True) -> None:
    if value != value or (value <= 0 if strict else value < 0):  # NaN-safe
        rel = ">" if strict else ">="
        raise UserInputError(f"{name} must be {rel} 0, got {value!r}; fix it in the config")


def _validate(cfg: RunConfig) -> None:
    sysc = cfg.system
    if (sysc.builder is None) == (sysc.file is None):
        raise UserInputError(
            "system: give exactly one of 'builder' (e.g. water) or 'file' "
            f"(a structure file); got builder={sysc.builder!r}, file={sysc.file!r}"
        )
    if sysc.file is not None and sysc.params:
        raise UserInputError("system.params only applies to a builder; remove it when using 'file'")
    if not cfg.teacher.spec.strip():
        raise UserInputError("teacher.spec is empty; give a teacher, e.g. 'chgnet'")
    ft = cfg.finetune
    if ft is not None:
        if (ft.data is None) == (ft.teacher is None):
            raise UserInputError("finetune: give exactly one of 'data' (a labelled extxyz file) "
                                 "or 'teacher' (a higher-level teacher spec)")
        _positive(ft.n_frames, "finetune.n_frames")
        if not 0.0 < ft.test_fraction < 1.0:
            raise UserInputError(
                f"finetune.test_fraction must be in (0, 1), got {ft.test_fraction}"
            )
    _check_evaluate(cfg.evaluate)
    _positive(cfg.report.speed_repeats, "report.speed_repeats")
    _positive(cfg.report.rdf_rmax_A, "report.rdf_rmax_A")
    _positive(cfg.report.rdf_bins, "report.rdf_bins")
    for key, why in _STUDENT_OPTIONS_FIXED.items():
        if key in cfg.student.options:
            raise UserInputError(f"student.options.{key} cannot be set: {why}")
    for key, home in _TRAINING_ELSEWHERE.items():
        if key in cfg.training or (cfg.finetune is not None and key in cfg.finetune.training):
            raise UserInputError(f"training.{key} is set elsewhere in a run config: use {home}")
    if not str(cfg.output).strip():
        raise UserInputError("output is empty; give an output folder")
    if cfg.threads is not None:
        _positive(cfg.threads, "threads")
    _check_component_keys(cfg)
    _check_vacuum(cfg)


def _check_vacuum(cfg: RunConfig) -> None:
    """A built slab with a vacuum gap needs an explicit choice of the LES slab correction."""
    params = cfg.system.params or {}
    vacuum = params.get("vacuum_A") if cfg.system.builder == "tio2-water" else None
    chosen = "les_slab_correction" in cfg.student.options
    if isinstance(vacuum, (int, float)) and vacuum > 0 and not chosen:
        raise UserInputError(
            f"system.params.vacuum_A = {vacuum} makes a slab with vacuum along z: set "
            "student.options.les_slab_correction: yeh-berkowitz (the 2D-periodic long range), or "
            "none to keep the 3D-periodic sum")


def _check_evaluate(ev: EvaluateConfig) -> None:
    """Read the BEC reference and comparison files now, before any expensive stage runs."""
    if ev.bec_reference is None:
        if ev.bec_compare:
            raise UserInputError("evaluate.bec_compare needs evaluate.bec_reference")
        return
    from lesdistill.analysis.bec_files import read_predictions, read_reference

    ref = read_reference(ev.bec_reference, ev.bec_array)
    from lesdistill.analysis.bec_files import parse_compare_spec

    for spec in ev.bec_compare:
        _, path, array, scale = parse_compare_spec(spec)
        read_predictions(path, array, ref, scale=scale)


def _field_names(module: str, cls: str) -> set[str] | None:
    import importlib

    try:
        return {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}
    except (ImportError, AttributeError):  # component not installed: checked when it runs
        return None


def _check_component_keys(cfg: RunConfig) -> None:
    """Unknown keys in the sections passed through to StudentConfig / TrainConfig."""
    checks = [("student.options", cfg.student.options, "lesdistill.model.config", "StudentConfig"),
              ("training", cfg.training, "lesdistill.training.config", "TrainConfig")]
    if cfg.finetune is not None:
        checks.append(("finetune.training", cfg.finetune.training, "lesdistill.training.config",
                       "TrainConfig"))
    for where, block, module, cls in checks:
        if not block:
            continue
        names = _field_names(module, cls)
        if names is None:
            continue
        for key in block:
            if key not in names:
                raise UserInputError(f"unknown config key '{where}.{key}'; allowed: "
                                     f"{', '.join(sorted(names - set(_TRAINING_ELSEWHERE)))}")


# --- dict <-> dataclass ---------------------------------------------------------------------

def _file_replaces_builder(data: dict[str, Any]) -> dict[str, Any]:
    """``system: {file: x.xyz}`` without a builder means no builder (not the default water)."""
    block = data.get("system")
    if isinstance(block, dict) and block.get("file") is not None and "builder" not in block:
        return {**data, "system": {**block, "builder": None}}
    return data


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Build a validated :class:`RunConfig` from a plain dict (as read from YAML)."""
    if not isinstance(data, dict):
        raise UserInputError(f"a run config must be a mapping of keys, got {type(data).__name__}")
    return from_dict(RunConfig, _file_replaces_builder(data), "")


def config_to_dict(cfg: Any) -> Any:
    """Plain-data (YAML/JSON-ready) view of a config dataclass (tuples become lists)."""
    return to_dict(cfg)


def dump_config(cfg: RunConfig) -> str:
    """YAML text of a full config (every value explicit), loadable by :func:`load_config`."""
    import yaml

    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def section_json(value: Any) -> str:
    """Canonical JSON of a config section (for content hashes)."""
    return json.dumps(config_to_dict(value), sort_keys=True, separators=(",", ":"))


# --- YAML and presets ---------------------------------------------------------------------------

def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("params",):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}; check the path (examples are "
                                "in configs/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" (line {line + 1})" if line is not None else ""
        raise UserInputError(
            f"{path} is not valid YAML{at}: {getattr(exc, 'problem', exc)}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a run config must be a mapping of keys at the top level")
    return data


def available_presets() -> list[str]:
    """Names of the run presets shipped inside the package (``lesdistill/configs``)."""
    folder = resources.files("lesdistill") / "configs"
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _preset_dict(name: str) -> dict[str, Any]:
    res = resources.files("lesdistill") / "configs" / f"{name}.yaml"
    if not res.is_file():
        raise UserInputError(
            f"unknown preset {name!r}; available: {', '.join(available_presets())}"
        )
    with resources.as_file(res) as path:
        data = _read_yaml(Path(path))
    data.pop("preset", None)
    return data


def load_preset(name: str, **overrides: Any) -> RunConfig:
    """A packaged run preset (e.g. ``"demo"``), with optional top-level overrides."""
    return config_from_dict(_deep_merge(_preset_dict(name), overrides))


def _resolve_inputs(data: dict[str, Any], folder: Path) -> None:
    """Make relative input paths absolute against the YAML file's folder (in place)."""
    for section, key in (("system", "file"), ("finetune", "data"), ("evaluate", "bec_reference")):
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            p = Path(block[key]).expanduser()
            if not p.is_absolute():
                block[key] = str((folder / p).resolve())
    block = data.get("evaluate")
    if isinstance(block, dict) and isinstance(block.get("bec_compare"), list):
        from lesdistill.analysis.bec_files import resolve_compare_spec

        block["bec_compare"] = [resolve_compare_spec(s, folder) if isinstance(s, str) else s
                                for s in block["bec_compare"]]


def load_config(path: str | Path, *, output: str | Path | None = None,
                trust_code: bool = False) -> RunConfig:
    """Read a run config from YAML (with optional ``preset:`` base); ``output`` overrides.

    A file that names code (an ``ase:`` teacher, a custom backbone) needs ``trust_code=True``
    (see :mod:`lesdistill.codetrust`)."""
    path = Path(path)
    data = _read_yaml(path)
    preset = data.pop("preset", None)
    data = _file_replaces_builder(data)
    _resolve_inputs(data, path.resolve().parent)
    if preset is not None:
        if not isinstance(preset, str):
            raise UserInputError(f"{path}: 'preset' must be a preset name, got {preset!r}")
        data = _deep_merge(_preset_dict(preset), data)
    if output is not None:
        data["output"] = str(output)
    cfg = config_from_dict(data)

    check_run_config(cfg, path, trust_code)
    return cfg
