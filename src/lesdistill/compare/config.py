"""Configuration of a multi-teacher comparison (``lesdistill compare CONFIG.yaml``).

One comparison = one system, one set of shared frames (drawn once, from one teacher's MD or from a
given extxyz file, then relabelled by every teacher so that every student is trained and evaluated
on the same geometries), and a list of teachers. The per-teacher stages (label -> train -> evaluate
-> MD -> BEC/IR) are configured by the ``student``, ``training``, ``md`` and ``ir`` blocks,
which are passed unchanged to the pipeline modules and validated there. Input files
(``system.file``, ``sampling.file``) are relative to the config file; ``output`` is relative to the
working folder.

The shared sections (``system``, ``student``, ``training``, ``md``, ``ir``, ``report`` and the MD
settings of ``sampling``) have the same schema as in ``lesdistill run`` (:mod:`lesdistill.config`);
:meth:`CompareConfig.run_config` turns them into one per-teacher run config, and :func:`parse`
validates them through it, so a bad value is reported the same way as by ``lesdistill run``.

YAML schema (units in the key names; defaults in brackets)::

    name: water-cpu                       # [file stem] title of the report
    output: out/compare-water-cpu         # [out/compare-<name>] relative to the working folder
    device: cpu                           # [cpu] torch device of students and teachers
    seed: 0                               # [0] seeds sampling, training and MD
    system: {builder: water, params: {n_molecules: 16}}   # or {file: water.xyz}
    sampling:                             # the shared frames, drawn once
      source: teacher                     # [teacher] MD with `teacher`; or `file`
      teacher: xtb-gfn1                   # [first usable teacher] spec/name whose MD draws frames
      file: frames.extxyz                 # (source: file) frames; may carry `bec` (N,9) DFT labels
      temperatures_K: [300.0]             # every other key as in `lesdistill run`'s sampling
      n_frames: 64                        #   (lesdistill.config.SamplingConfig): frames in total
      stride: 10                          #   MD steps between frames
      timestep_fs: 0.5                    #   strains, equilibration_steps, thermostat, ... too
      valid_fraction: 0.1                 #   early-stopping frames
      test_fraction: 0.1                  #   held-out frames: student-vs-teacher errors
    teachers:                             # a spec string, or a mapping with metadata overrides
      - xtb-gfn1
      - spec: mace:/models/mace-mp-0b3-medium.model
        name: mace-mp-0b3                 # [slug of spec] sub-folder out/<name>/ and table label
        level_of_theory: PBE+U            # overrides of lesdistill.teachers.TeacherInfo fields
        training_data: MPtrj              #   family, architecture, training_data, level_of_theory
        architecture: MACE
    student: {preset: tiny}               # as in `lesdistill run`
    training: {epochs: 50}                # as in `lesdistill run`
    md: {temperature_K: 300, timestep_fs: 0.5, n_equil: 200, n_steps: 2000, stride: 2}
    ir: {reference: water}                # as in `lesdistill run`
    report: {speed_repeats: 5}            # as in `lesdistill run` (title defaults to the name)
    evaluate:                             # as in `lesdistill run`: every student is scored on it
      bec_reference: dft_bec.extxyz       # reference BECs (per-atom array, evaluation only)
      bec_array: BEC
      bec_compare: ["UMA-M=uma_student.extxyz:MACE_BEC:sqrt(1.78)"]   # shown beside them
    vdos: {n_steps: 400}                  # as in `lesdistill run`: teacher vs student VDOS
    bec:
      n_frames: 4                         # [4] shared test frames where all BECs are compared
      reference: auto                     # [auto] auto | none | file | teacher:<spec or name>
      displacement_A: 0.01                # [0.01] finite-difference step, dipole reference
      max_atoms: 96                       # [96] largest cell for a finite-difference reference
      cluster_molecules: 0                # [0] > 0: compare on open clusters of this many
                                          #     molecules cut from the BEC frames

``reference: auto`` uses the frames' ``bec`` labels when every shared frame has them, else the
first usable xTB teacher (finite differences of its dipole, 6 N calls per frame) when the cell has
at most ``max_atoms`` atoms, else the first analytic teacher (exact BEC of its fixed charges),
else no reference. ``teacher:<name>`` forces one teacher (xTB or analytic).

A teacher's dipole in a periodic cell is no polarization once charge flows between atoms (GFN-xTB:
the wrapped sum of q_i r_i; its finite-difference BECs change with where the cell faces are and
are refused, :mod:`lesdistill.compare.reference`). ``cluster_molecules: n`` compares the BECs
instead on one open cluster per BEC frame: the n molecules nearest a seeded centre molecule,
whole (:func:`lesdistill.sampling.clusters.cut_cluster`), where the dipole is defined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lesdistill.codetrust import check_compare_config
from lesdistill.config import RunConfig, SamplingConfig, config_from_dict
from lesdistill.errors import UserInputError

#: Metadata fields of a TeacherInfo that a compare config may override.
INFO_OVERRIDES = ("family", "architecture", "training_data", "level_of_theory")

_TOP_KEYS = {"name", "output", "device", "seed", "system", "sampling", "teachers", "student",
             "training", "md", "ir", "report", "bec", "evaluate", "vdos"}
_RUN_SAMPLING_KEYS = {f.name for f in fields(SamplingConfig)}
_SAMPLING_KEYS = {"source", "teacher", "file"} | _RUN_SAMPLING_KEYS
_BEC_KEYS = {"n_frames", "reference", "displacement_A", "max_atoms", "cluster_molecules"}
_TEACHER_KEYS = {"spec", "name", *INFO_OVERRIDES}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class TeacherEntry:
    """One teacher of a comparison: its spec, its folder/table name, metadata overrides."""

    spec: str
    name: str
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SharedSampling:
    """Where the shared frames come from (drawn once; every teacher relabels them).

    ``run`` holds the given keys of ``lesdistill run``'s sampling section
    (:class:`lesdistill.config.SamplingConfig`); :meth:`CompareConfig.run_config` validates them.
    """

    source: str = "teacher"  # "teacher" | "file"
    teacher: str | None = None  # spec or name of the teacher whose MD draws the frames
    file: Path | None = None
    run: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BECSettings:
    """Which frames the student BECs are compared on, and where a reference BEC comes from."""

    n_frames: int = 4
    reference: str = "auto"  # "auto" | "none" | "file" | "teacher:<spec or name>"
    displacement_A: float = 0.01
    max_atoms: int = 96
    #: > 0: compare BECs on open clusters of this many molecules cut from the BEC frames
    cluster_molecules: int = 0


@dataclass(frozen=True)
class CompareConfig:
    """A validated comparison config; build it with :func:`load_compare_config`/:func:`parse`."""

    name: str
    output: Path
    system: dict[str, Any]
    sampling: SharedSampling
    teachers: tuple[TeacherEntry, ...]
    device: str = "cpu"
    seed: int = 0
    #: student / training / md / ir / report sections (``lesdistill run`` schema)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    bec: BECSettings = field(default_factory=BECSettings)

    def teacher(self, key: str) -> TeacherEntry:
        """The entry whose name or spec is ``key`` (KeyError if none)."""
        for entry in self.teachers:
            if key in (entry.name, entry.spec):
                return entry
        raise KeyError(key)

    def run_dict(self, entry: TeacherEntry) -> dict[str, Any]:
        """Plain-data run config (``lesdistill run`` schema) of one teacher's student."""
        report = {"title": f"{self.name}: {entry.name}", **self.sections.get("report", {})}
        data: dict[str, Any] = {
            "output": str(self.output / entry.name), "seed": self.seed, "device": self.device,
            "system": ({"builder": None, "file": str(self.system["file"])} if "file" in self.system
                       else dict(self.system)),
            "teacher": {"spec": entry.spec}, "sampling": dict(self.sampling.run),
            "report": report,
        }
        for key in ("student", "training", "md", "ir", "evaluate", "vdos"):
            if self.sections.get(key):
                data[key] = self.sections[key]
        return data

    def run_config(self, entry: TeacherEntry) -> RunConfig:
        """Validated :class:`lesdistill.config.RunConfig` of one teacher's student."""
        return config_from_dict(self.run_dict(entry))


def slug(spec: str) -> str:
    """Folder-safe name of a teacher spec: ``mace:/m/mace-mp-0b3.model`` -> ``mace-mace-mp-0b3``.

    Built-in specs keep their name (``xtb-gfn1``, ``chgnet+d3``); for ``family:PATH[@task]`` the
    family, the checkpoint's file stem and the task are joined by ``-``.
    """
    text = spec.strip()
    if ":" in text and not text.startswith("ase:"):
        family, rest = text.split(":", 1)
        task = ""
        if "@" in rest:
            rest, task = rest.rsplit("@", 1)
        stem = Path(rest).stem or Path(rest).name
        parts = [family, stem] + ([task] if task else [])
        text = "-".join(p for p in parts if p)
    elif text.startswith("ase:"):
        text = "ase-" + text.rsplit(":", 1)[-1]
    out = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.")
    return out or "teacher"


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise UserInputError(message)


def _unknown(keys: Any, allowed: set[str], where: str) -> None:
    extra = sorted(set(keys) - allowed)
    _need(not extra, f"unknown key(s) {extra} in {where}; allowed: {sorted(allowed)}")


def _positive_int(value: Any, where: str, *, minimum: int = 1) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    _need(ok, f"{where} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive_float(value: Any, where: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    _need(ok, f"{where} must be a positive number, got {value!r}")
    return float(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    _need(isinstance(value, dict), f"{where} must be a mapping, got {type(value).__name__}")
    return dict(value)


def _resolve(path: Any, base: Path, where: str) -> Path:
    _need(isinstance(path, str | Path) and str(path) != "", f"{where} must be a path, got {path!r}")
    p = Path(str(path)).expanduser()
    return p if p.is_absolute() else (base / p)


def _resolve_evaluate(section: dict[str, Any], base: Path) -> dict[str, Any]:
    """``evaluate`` (as in ``lesdistill run``) with its reference files relative to ``base``."""
    from lesdistill.analysis.bec_files import resolve_compare_spec

    out = dict(section)
    if out.get("bec_reference") is not None:
        out["bec_reference"] = str(_resolve(out["bec_reference"], base, "evaluate.bec_reference"))
    if isinstance(out.get("bec_compare"), list):
        out["bec_compare"] = [resolve_compare_spec(str(s), base) for s in out["bec_compare"]]
    return out


def parse_device(value: Any) -> str:
    """A torch device name (cpu, cuda, cuda:N, mps); UserInputError otherwise."""
    device = str(value)
    _need(device == "cpu" or bool(re.match(r"^(cuda(:\d+)?|mps)$", device)),
          f"device must be cpu, cuda, cuda:N or mps, got {device!r}")
    return device


def _parse_teachers(raw: Any) -> tuple[TeacherEntry, ...]:
    _need(isinstance(raw, list) and len(raw) > 0,
          "teachers must be a non-empty list of teacher specs, e.g. [xtb-gfn1, chgnet]")
    entries: list[TeacherEntry] = []
    for i, item in enumerate(raw):
        where = f"teachers[{i}]"
        if isinstance(item, str):
            item = {"spec": item}
        _need(isinstance(item, dict), f"{where} must be a spec string or a mapping with 'spec'")
        _unknown(item, _TEACHER_KEYS, where)
        spec = item.get("spec")
        _need(isinstance(spec, str) and spec.strip() != "", f"{where}.spec must be a teacher spec")
        name = str(item.get("name") or slug(spec))
        _need(bool(_NAME_RE.match(name)),
              f"{where}.name {name!r} must be a folder name (letters, digits, . _ + -)")
        overrides = {}
        for key in INFO_OVERRIDES:
            if item.get(key) is not None:
                overrides[key] = str(item[key])
        entries.append(TeacherEntry(spec=spec.strip(), name=name, overrides=overrides))
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    _need(not dupes, f"teacher names must be unique, {dupes} repeated; give each a 'name:'")
    return tuple(entries)


def _parse_sampling(raw: Any, base: Path, teachers: tuple[TeacherEntry, ...]) -> SharedSampling:
    data = _mapping(raw, "sampling")
    _unknown(data, _SAMPLING_KEYS, "sampling")
    source = data.get("source", "file" if "file" in data else "teacher")
    _need(source in ("teacher", "file"),
          f"sampling.source must be 'teacher' or 'file', got {source!r}")
    file = None
    if source == "file":
        _need("file" in data, "sampling.source is 'file' but sampling.file is missing")
        file = _resolve(data["file"], base, "sampling.file")
    teacher = data.get("teacher")
    if teacher is not None:
        _need(isinstance(teacher, str), f"sampling.teacher must be a spec string, got {teacher!r}")
        known = {e.spec for e in teachers} | {e.name for e in teachers}
        _need(teacher in known, f"sampling.teacher {teacher!r} is not one of the listed teachers "
              f"{sorted(e.name for e in teachers)}")
    run = {k: v for k, v in data.items() if k in _RUN_SAMPLING_KEYS}
    return SharedSampling(source=source, teacher=teacher, file=file, run=run)


def _parse_bec(raw: Any, teachers: tuple[TeacherEntry, ...]) -> BECSettings:
    data = _mapping(raw, "bec")
    _unknown(data, _BEC_KEYS, "bec")
    ref = str(data.get("reference", "auto"))
    if ref.startswith("teacher:"):
        spec = ref.split(":", 1)[1]
        known = {e.spec for e in teachers} | {e.name for e in teachers}
        _need(spec in known, f"bec.reference {ref!r} names a teacher not listed in teachers")
    else:
        _need(ref in ("auto", "none", "file"),
              f"bec.reference must be auto, none, file or teacher:<spec>, got {ref!r}")
    return BECSettings(
        n_frames=_positive_int(data.get("n_frames", 4), "bec.n_frames"),
        reference=ref,
        displacement_A=_positive_float(data.get("displacement_A", 0.01), "bec.displacement_A"),
        max_atoms=_positive_int(data.get("max_atoms", 96), "bec.max_atoms"),
        cluster_molecules=_positive_int(data.get("cluster_molecules", 0),
                                        "bec.cluster_molecules", minimum=0))


def _parse_system(raw: Any, base: Path) -> dict[str, Any]:
    data = _mapping(raw, "system")
    _need(("builder" in data) != ("file" in data),
          "system needs exactly one of 'builder' (e.g. water) or 'file' (a structure file)")
    _unknown(data, {"builder", "params", "file"}, "system")
    if "file" in data:
        return {"file": _resolve(data["file"], base, "system.file")}
    _need(isinstance(data["builder"], str),
          f"system.builder must be a name, got {data['builder']!r}")
    return {"builder": data["builder"], "params": _mapping(data.get("params"), "system.params")}


def parse(data: Any, *, base_dir: str | Path = ".", default_name: str = "compare",
          validate_sections: bool = True) -> CompareConfig:
    """Validate a config mapping (already loaded from YAML); input paths are taken relative to
    ``base_dir``. The shared sections are checked by building the first teacher's run config
    (``validate_sections``). Raises :class:`UserInputError` naming the bad key and value."""
    _need(isinstance(data, dict), "a compare config must be a YAML mapping (key: value)")
    _unknown(data, _TOP_KEYS, "the compare config")
    base = Path(base_dir)
    name = str(data.get("name") or default_name)
    _need(bool(_NAME_RE.match(name)), f"name {name!r} must be letters, digits, . _ + - only")
    teachers = _parse_teachers(data.get("teachers"))
    device = parse_device(data.get("device", "cpu"))
    seed = data.get("seed", 0)
    _need(isinstance(seed, int) and not isinstance(seed, bool),
          f"seed must be an integer, got {seed!r}")
    sections = {key: _mapping(data.get(key), key)
                for key in ("student", "training", "md", "ir", "report", "evaluate", "vdos")}
    sections["evaluate"] = _resolve_evaluate(sections["evaluate"], base)
    cfg = CompareConfig(
        name=name,
        output=_resolve(data.get("output", f"out/compare-{name}"), Path("."), "output"),
        system=_parse_system(data.get("system"), base),
        sampling=_parse_sampling(data.get("sampling"), base, teachers),
        teachers=teachers, device=device, seed=int(seed), sections=sections,
        bec=_parse_bec(data.get("bec"), teachers))
    if validate_sections:
        cfg.run_config(teachers[0])
    return cfg


def load_compare_config(path: str | Path, *, trust_code: bool = False) -> CompareConfig:
    """Read and validate a compare YAML file (FileNotFoundError / UserInputError on bad input).

    A file that names code (an ``ase:`` teacher, a custom backbone) needs ``trust_code=True``
    (see :mod:`lesdistill.codetrust`)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"compare config {str(p)!r} not found; pass a YAML file, "
                                "e.g. configs/compare/water-cpu.yaml")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise UserInputError(f"{p} is not valid YAML: {first}") from None
    cfg = parse(data, base_dir=p.parent, default_name=p.stem)

    check_compare_config(cfg, p, trust_code)
    return cfg
