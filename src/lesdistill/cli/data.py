"""Data-side CLI commands: ``teachers``, ``system``, ``sample``, ``label``, ``merge``.

Thin wrappers over :mod:`lesdistill.teachers`, :mod:`lesdistill.systems` and
:mod:`lesdistill.sampling`; heavy imports happen inside the command bodies.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

from lesdistill import keys
from lesdistill.cli.options import build as build_settings
from lesdistill.cli.options import settings_options
from lesdistill.errors import UserInputError, not_found
from lesdistill.sampling.settings import QUICK, SampleSettings

#: water molecules of ``sample --system water``: default, and with --quick (laptop CPU, minutes)
WATER_MOLECULES, QUICK_MOLECULES = 64, 32


def _convert(value: str) -> Any:
    """CLI text -> int, float, bool, tuple of numbers (``1,3``) or str."""
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    if "," in value:
        return tuple(_convert(v) for v in value.split(",") if v)
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_params(pairs: list[str], name: str) -> dict[str, Any]:
    """``["n_molecules=64", "density-g-cm3=1.0"]`` -> kwargs checked against builder ``name``."""
    from lesdistill.systems import BUILDERS, _resolve

    if name not in BUILDERS:
        raise UserInputError(f"unknown system {name!r}; known: {', '.join(BUILDERS)}")
    allowed = [p for p in inspect.signature(_resolve(BUILDERS[name])).parameters if p != "seed"]
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise UserInputError(f"system parameter must look like key=value, got {pair!r}")
        if key not in allowed:
            raise UserInputError(f"unknown parameter {key!r} for system {name!r}; "
                             f"known: {', '.join(allowed)}")
        params[key] = _convert(value.strip())
    return params


def _extra_args_to_pairs(args: list[str]) -> list[str]:
    """``["--n-molecules", "64", "--phase=rutile"]`` -> ``["n-molecules=64", "phase=rutile"]``."""
    pairs, k = [], 0
    while k < len(args):
        arg = args[k]
        if not arg.startswith("--"):
            raise UserInputError(
                f"unexpected argument {arg!r}; system parameters look like --name value"
            )
        if "=" in arg:
            pairs.append(arg[2:])
            k += 1
        elif k + 1 < len(args):
            pairs.append(f"{arg[2:]}={args[k + 1]}")
            k += 2
        else:
            raise UserInputError(f"system parameter {arg} needs a value")
    return pairs


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    if threads < 1:
        raise UserInputError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def teachers(check: list[str] = typer.Option(None, "--check", help="Check these specs, e.g. "
                                               "mace:/models/mace-mp-0.model"),
             verbose: bool = typer.Option(False, "--verbose", "-v", help="Show metadata.")) -> None:
    """List every teacher family (package version found, usable, checkpoint formats, the install
    line that works) and every teacher: usable here yes/no, and exactly what is missing.

    With --check, exits 1 when any checked teacher is not usable (for scripts)."""
    from lesdistill.teachers import list_teachers
    from lesdistill.teachers.registry import family_statuses, teacher_status

    if not check:
        typer.echo(f"{'family':<11}{'usable':<8}{'version found':<28}checkpoint formats / install")
        for f in family_statuses():
            found = ", ".join(f"{k} {v or 'missing'}" for k, v in f.versions.items()) or "built in"
            found = found if len(found) < 27 else found + "\n" + " " * 47
            typer.echo(f"{f.family:<11}{'yes' if f.usable else 'no':<8}{found:<28}{f.formats}")
            typer.echo(f"{'':<47}install: {f.install}")
            if f.notes:
                typer.echo(f"{'':<47}note: {f.notes}")
        typer.echo("")
    rows = [teacher_status(s) for s in check] if check else list_teachers()
    width = max(len(r.name) for r in rows) + 2
    typer.echo(f"{'teacher':<{width}}{'usable':<8}level of theory / missing")
    for r in rows:
        level = r.info.level_of_theory if r.info else ""
        typer.echo(f"{r.name:<{width}}{'yes' if r.usable else 'no':<8}{level}")
        if not r.usable:
            typer.echo(f"{'':<{width + 8}}missing: {r.reason}")
        if verbose and r.info is not None:
            i = r.info
            elements = "any supported" if i.elements is None else f"{len(i.elements)} elements" \
                if len(i.elements) > 12 else ", ".join(sorted(i.elements))
            for label, value in (
                ("architecture", i.architecture),
                ("training data", i.training_data),
                ("elements", elements),
                ("periodic/open", f"{i.periodic}/{i.open}"),
                ("notes", i.notes or "-"),
                ("pip extra", i.extra or "-"),
            ):
                typer.echo(f"{'':<{width + 8}}{label}: {value}")
    if check and not all(r.usable for r in rows):
        raise typer.Exit(1)


def teacher_serve(
    spec: str = typer.Argument(..., help="Teacher spec to serve, e.g. mace:/models/mace.model."),
    unixsocket: str = typer.Option(..., "--unixsocket", help="Socket NAME (/tmp/ipi_NAME), "
                                   "where an i-PI driver (ASE SocketIOCalculator) listens."),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N."),
    threads: int = typer.Option(1, help="torch CPU threads."),
    timeout: float | None = typer.Option(None, help="Seconds to wait for the driver's next "
                                            "message (default: forever)."),
) -> None:
    """Serve a teacher over the i-PI protocol (the teacher end of env:PYTHON@SPEC teachers).

    Same as `python -m lesdistill.teachers.serve`, which needs only numpy, ASE and the teacher's
    package; `env:` teachers start it for you."""
    from lesdistill.teachers.serve import serve

    _set_threads(threads)
    serve(spec, unixsocket, device=device, timeout_s=timeout)


def system(ctx: typer.Context,
           name: str = typer.Argument(..., help="water | hcl | tio2-water | ionic"),
           out: str = typer.Option(..., "--out", "-o", help="Output structure file (extxyz)."),
           seed: int = typer.Option(0, help="Random seed.")) -> None:
    """Build a benchmark structure; builder parameters as --name value (e.g. --n-molecules 64)."""
    from lesdistill.paths import check_output_file
    from lesdistill.systems import build

    params = parse_params(_extra_args_to_pairs(list(ctx.args)), name)
    check_output_file(out, "--out")
    atoms = build(name, seed=seed, **params)
    from lesdistill.data.frames import write_frames  # ASE's I/O loads on use, not at --help

    write_frames(out, atoms)
    typer.echo(f"wrote {out}: {atoms.get_chemical_formula()} ({len(atoms)} atoms), "
               f"cell {' x '.join(f'{x:.2f}' for x in atoms.cell.lengths())} A")


@settings_options(SampleSettings)
def sample(
    out: str = typer.Option(..., "--out", "-o", help="Output extxyz (resumes if it exists)."),
    teacher: str = typer.Option("chgnet", "--teacher", "-t", help="Teacher spec."),
    system_name: str = typer.Option("water", "--system", help="Builder if no --structure."),
    structure: str | None = typer.Option(None, "--structure", "-s", help="Own structure file."),
    param: list[str] = typer.Option(None, "--param", "-p", help="Builder parameter key=value."),
    seed: int = typer.Option(0, help="Random seed (structure and MD)."),
    quick: bool = typer.Option(False, "--quick", help="Laptop-size run (32 waters, "
                               f"{QUICK.n_frames} frames, stride {QUICK.stride})."),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N."),
    threads: int | None = typer.Option(None, help="torch CPU threads (1 is fastest for small "
                                          "systems on a busy machine)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    *,
    overrides: dict[str, Any],
) -> None:
    """Teacher MD -> labelled extxyz frames (resumable: re-run the same command after a kill).

    The MD options are the fields of lesdistill.sampling.SampleSettings (given ones override
    the defaults, or the --quick preset)."""
    from lesdistill.device import check_device
    from lesdistill.paths import check_output_file
    from lesdistill.sampling import sample as run_sample
    from lesdistill.systems import build
    from lesdistill.systems.io import load_structure
    from lesdistill.teachers import get_teacher
    from lesdistill.teachers.registry import teacher_status

    _set_threads(threads)
    device = check_device(device, "--device")
    settings = build_settings(SampleSettings, QUICK if quick else None, overrides)
    check_output_file(out, "--out")
    status = teacher_status(teacher)  # cheap: validates the spec before loading any model
    if not status.usable:
        raise UserInputError(f"teacher {teacher!r} is not usable here: {status.reason}")
    if structure is not None:
        atoms = load_structure(structure, periodic=status.info is not None and not status.info.open)
    else:
        params = parse_params(param or [], system_name)
        if system_name == "water":
            params.setdefault("n_molecules", QUICK_MOLECULES if quick else WATER_MOLECULES)
        atoms = build(system_name, seed=seed, **params)
    teacher_obj = get_teacher(teacher, device=device)
    # SamplingAborted (an UnstableDynamicsError) reaches the user as one line, exit 1, via main()
    path = run_sample(atoms, teacher_obj, out, settings, seed=seed, progress=progress)
    typer.echo(f"frames in {path}")


def label(
    in_path: str = typer.Argument(..., help="Frames to relabel (extxyz)."),
    out: str = typer.Option(..., "--out", "-o", help="Output extxyz (resumes if it exists)."),
    teacher: str = typer.Option(..., "--teacher", "-t", help="Teacher spec."),
    keep_old: bool = typer.Option(False, "--keep-old", help="Keep old labels as previous_*."),
    keep_prefix: str | None = typer.Option(
        None, help="Prefix for kept labels (implies --keep-old)."
    ),
    workers: int = typer.Option(1, help="Processes on this machine."),
    shard: str | None = typer.Option(None, help="Label only shard i/n (0-based), e.g. 0/4."),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N."),
    threads: int | None = typer.Option(None, help="torch CPU threads of the main process."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    bec: bool = typer.Option(False, "--bec", help="Also label Born effective charges (per-atom "
                             "array 'bec', e): central finite differences of the teacher's "
                             "dipole, 6N extra calls per frame; dipole-giving teachers (xtb) "
                             "only."),
    bec_displacement: float = typer.Option(0.01, "--bec-displacement",
                                           help="Finite-difference step of --bec, Å."),
) -> None:
    """Relabel frames with another teacher (e.g. a higher level for fine-tuning); with --bec
    also the teacher's finite-difference BECs, for the BEC term of training (bec_weight)."""
    from lesdistill.device import check_device
    from lesdistill.paths import check_output_file
    from lesdistill.sampling import label as run_label
    from lesdistill.sampling.relabel import parse_shard
    from lesdistill.teachers.registry import teacher_status

    _set_threads(threads)
    device = check_device(device, "--device")
    if not Path(in_path).is_file():
        raise not_found("frames file", in_path, "pass an extxyz file of frames (e.g. from "
                        "`lesdistill sample`)")
    check_output_file(out, "--out")
    if workers < 1:
        raise UserInputError(f"--workers must be >= 1, got {workers}")
    parse_shard(shard)
    status = teacher_status(teacher)  # the same check as `lesdistill teachers --check`
    if not status.usable:
        raise UserInputError(f"teacher {teacher!r} is not usable here: {status.reason}")
    if bec and not bec_displacement > 0:
        raise UserInputError(f"--bec-displacement must be > 0 Å, got {bec_displacement}")
    prefix = keep_prefix if keep_prefix else (keys.PREVIOUS_PREFIX if keep_old else None)
    path = run_label(in_path, out, teacher, keep_prefix=prefix, workers=workers, shard=shard,
                     device=device, progress=progress,
                     bec_displacement_A=bec_displacement if bec else None)
    typer.echo(f"labelled frames in {path}")


def merge(shards: list[str] = typer.Argument(..., help="Shard files to join."),
          out: str = typer.Option(..., "--out", "-o", help="Merged extxyz.")) -> None:
    """Join labelled shards: unique frame_id, sorted by frame_id."""
    from lesdistill.paths import check_output_file
    from lesdistill.sampling import merge as run_merge
    from lesdistill.sampling import read_frames

    for shard in shards:
        if not Path(shard).is_file():
            raise not_found("shard file", shard, "pass the files written by `lesdistill label "
                            "--shard i/n`")
    check_output_file(out, "--out")
    path = run_merge(shards, out)
    typer.echo(f"merged {len(read_frames(path))} frames into {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("teachers")(teachers)
    app.command("teacher-serve")(teacher_serve)
    app.command("system", context_settings={"allow_extra_args": True,
                                            "ignore_unknown_options": True})(system)
    app.command("sample")(sample)
    app.command("label")(label)
    app.command("merge")(merge)
