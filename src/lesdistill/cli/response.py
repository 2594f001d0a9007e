"""CLI: ``lesdistill md`` (student MD for spectra), ``lesdistill bec``, ``lesdistill ir``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lesdistill.cli.common import TRUST_BACKBONE_HELP, trusted
from lesdistill.cli.options import build as build_settings
from lesdistill.cli.options import settings_options
from lesdistill.errors import UserInputError, not_found
from lesdistill.md.settings import MDSettings
from lesdistill.spectra.settings import IRSettings


def _parse_groups(specs: list[str], symbols: list[str]) -> dict[str, list[int]]:
    """NAME=0,1,5-9 (atom indices, ranges inclusive) or NAME=element:O,H."""
    groups: dict[str, list[int]] = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise UserInputError(f"bad --group {spec!r}; use NAME=0,1,5-9 or NAME=element:O,H")
        if rest.startswith("element:"):
            wanted = set(rest[len("element:"):].split(","))
            index = [i for i, s in enumerate(symbols) if s in wanted]
        else:
            index = []
            try:
                for item in rest.split(","):
                    lo, dash, hi = item.partition("-")
                    index += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
            except ValueError:
                raise UserInputError(f"bad atom indices in --group {spec!r}") from None
        if not index or max(index) >= len(symbols) or min(index) < 0:
            raise UserInputError(f"--group {spec!r} selects no atoms or indices outside "
                                 f"0..{len(symbols) - 1}")
        groups[name] = index
    return groups


@settings_options(MDSettings)
def md(
    structure: Annotated[Path, typer.Argument(help="Starting structure (any ASE format).")],
    model: Annotated[Path, typer.Option(help="Student checkpoint (.pt).")] = Path("student.pt"),
    out: Annotated[Path, typer.Option(help="Trajectory directory (resumed if it exists).")] = Path(
        "md"),
    equil_ps: Annotated[float | None, typer.Option(
        help="NVT equilibration in ps (sets --n-equil from --timestep).")] = None,
    production_ps: Annotated[float | None, typer.Option(
        help="Production in ps (sets --n-steps from --timestep).")] = None,
    group: Annotated[list[str] | None, typer.Option(help="NAME=0,1,5-9 or NAME=element:O,H "
                                                         "(repeatable).")] = None,
    bec_every: Annotated[int, typer.Option(help="Store BEC every n-th frame (0: never).")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda.")] = "cpu",
    quick: Annotated[bool, typer.Option(help="Laptop-sized run: 0.2 ps NVT + 2 ps.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar.")] = True,
    trust_backbone: Annotated[bool, typer.Option("--trust-backbone",
                                                 help=TRUST_BACKBONE_HELP)] = False,
    *,
    overrides: dict[str, Any],
) -> None:
    """Student MD for IR spectra: NVT equilibration, then production storing the dipole current.

    The MD options are the fields of lesdistill.md.MDSettings."""
    from lesdistill.cli.common import device as check_device
    from lesdistill.md import format_summary, run_md
    from lesdistill.paths import check_output_dir
    from lesdistill.systems.io import check_start_structure, load_structure

    device = check_device(device)
    if quick:
        equil_ps = 0.2 if equil_ps is None else equil_ps
        production_ps = 2.0 if production_ps is None else production_ps
    timestep = overrides.get("timestep_fs", MDSettings().timestep_fs)
    if not timestep > 0:
        raise UserInputError(f"--timestep must be > 0 fs, got {timestep}; give a positive time "
                             "step, e.g. 0.5")
    for name, key, value in (("--equil-ps", "n_equil", equil_ps),
                             ("--production-ps", "n_steps", production_ps)):
        if value is None:
            continue
        if not value >= 0:
            raise UserInputError(f"{name} must be >= 0, got {value}")
        overrides[key] = max(1 if key == "n_steps" else 0, round(value * 1e3 / timestep))
    settings = build_settings(MDSettings, None, overrides)
    if not structure.is_file():
        raise not_found("structure file", structure, "pass an extxyz/cif/POSCAR file (e.g. from "
                        "`lesdistill system`)")
    if not model.is_file():
        raise not_found("student checkpoint", model, "train one with `lesdistill train` or "
                        "pass --model")
    check_output_dir(out, "--out")
    atoms = load_structure(structure)
    groups = _parse_groups(group or [], atoms.get_chemical_symbols())
    from lesdistill.calculator import StudentCalculator

    with trusted(trust_backbone):
        atoms.calc = StudentCalculator(model=model, device=device)
    check_start_structure(atoms, elements=atoms.calc.model.elements, source=str(structure))
    path = run_md(atoms, out, settings, groups=groups, bec_every=bec_every, seed=seed,
                  progress=progress)
    import json

    from lesdistill.md.trajectory import SUMMARY

    typer.echo(format_summary(json.loads((path / SUMMARY).read_text(encoding="utf-8"))))
    typer.echo(f"trajectory: {path}")


def bec(
    source: Annotated[Path, typer.Argument(help="Structure file or MD trajectory directory.")],
    model: Annotated[Path | None, typer.Option(help="Student checkpoint; without it, BEC "
                                                    "stored in SOURCE are summarized.")] = None,
    every: Annotated[int, typer.Option(help="Use every n-th frame.")] = 1,
    out: Annotated[Path | None, typer.Option(help="extxyz with per-atom 'bec' (N, 9).")] = None,
    correct_asr: Annotated[bool, typer.Option(
        help="Subtract the mean (acoustic sum rule).")] = False,
    total_charge: Annotated[float, typer.Option(help="Total charge Q of the cell, e.")] = 0.0,
    device: Annotated[str, typer.Option(help="cpu | cuda.")] = "cpu",
    trust_backbone: Annotated[bool, typer.Option("--trust-backbone",
                                                 help=TRUST_BACKBONE_HELP)] = False,
) -> None:
    """Born effective charges: per-atom tensors to file and a per-element summary."""
    from lesdistill.cli.common import device as check_device
    from lesdistill.spectra import bec as becmod

    if every < 1:
        raise UserInputError(f"--every must be >= 1, got {every}")
    device = check_device(device)
    if not source.exists():
        raise not_found("BEC source", source, "pass a structure file or an MD trajectory folder "
                        "(from `lesdistill md`)")
    if model is not None and not model.is_file():
        raise not_found("student checkpoint", model, "train one with `lesdistill train` or "
                        "check --model")
    if out is not None:
        from lesdistill.paths import check_output_file

        check_output_file(out, "--out")
    if source.is_dir():
        from lesdistill.md import load_trajectory

        traj = load_trajectory(source)
        if model is None:
            if traj.bec is None:
                raise UserInputError(f"{source} holds no BEC (run md with --bec-every) and no "
                                     "--model was given")
            frames = [traj.to_atoms(int(i)) for i in traj.bec_frame[::every]]
            values = traj.bec[::every]
        else:
            frames = [traj.to_atoms(i) for i in range(0, traj.n_frames, every)]
            values = None
    else:
        frames, values = becmod.read_bec_extxyz(source)
        frames, values = frames[::every], None if values is None else values[::every]
        if values is None and model is None:
            raise UserInputError(f"{source} holds no 'bec' arrays; pass --model to compute them")
    if model is not None:
        from lesdistill.calculator import StudentCalculator

        with trusted(trust_backbone):
            calc = StudentCalculator(model=model, device=device)
        values = becmod.bec_of_frames(frames, calc, progress=True)
    if correct_asr:
        values = becmod.subtract_mean_bec(values, total_charge)
    summary = becmod.bec_summary(frames[0].numbers, values, total_charge=total_charge,
                                 corrected=correct_asr)
    if out is not None:
        becmod.write_bec_extxyz(out, frames, values)
    typer.echo(summary.text())
    if out is not None:
        typer.echo(f"BEC written to {out}")


@settings_options(IRSettings)
def ir(
    trajectories: Annotated[list[Path], typer.Argument(help="MD trajectory directories or "
                                                            "extxyz files (averaged).")],
    out: Annotated[Path, typer.Option(help="Output prefix: PREFIX.csv, PREFIX.png, "
                                           "PREFIX_peaks.csv.")] = Path("ir"),
    temperature: Annotated[float | None, typer.Option(
        help="K (default: the mean kinetic temperature of the frames, else the run's target).")] = None,
    volume: Annotated[float | None, typer.Option(help="Å^3 (default: cell volume).")] = None,
    eps_inf: Annotated[float, typer.Option(help="Scale for latent currents (1: physical).")] = 1.0,
    system: Annotated[str, typer.Option(help="Band table: water | hcl | tio2-water.")] = "water",
    frame_dt_fs: Annotated[float | None, typer.Option(help="Frame spacing for extxyz "
                                                           "without time_fs, fs.")] = None,
    *,
    overrides: dict[str, Any],
) -> None:
    """IR absorption n*alpha (cm^-1) from the dipole current: CSV, PNG, peak table, sum rule.

    The method options are the fields of lesdistill.spectra.IRSettings."""
    settings = build_settings(IRSettings, None, overrides)
    from lesdistill.md import load_trajectory
    from lesdistill.spectra import ir as irmod
    from lesdistill.spectra import peaks
    from lesdistill.paths import check_output_file
    from lesdistill.spectra.outputs import write_ir_outputs

    for path in trajectories:
        if not path.exists():
            raise not_found("trajectory", path, "pass a folder written by `lesdistill md` (or "
                            "an extxyz file with velocities)")
    if out.name in ("", ".", ".."):
        raise UserInputError(f"--out {str(out)!r} must be a file prefix (e.g. ir or results/ir), "
                             "not a folder")
    check_output_file(out.with_name(out.name + ".csv"), "--out")
    trajs = [load_trajectory(path, positions=False, frame_dt_fs=frame_dt_fs)
             for path in trajectories]
    key = peaks.normalize_system(system)
    spectrum = irmod.ir_spectrum(trajs, settings, temperature_K=temperature, volume_A3=volume,
                                 eps_inf=eps_inf)
    table = peaks.compare_with_reference(spectrum, key)
    paths = write_ir_outputs(spectrum, out, system=key)
    typer.echo(spectrum.sum_rule.text() if spectrum.sum_rule else "sum rule: not checked")
    typer.echo(peaks.format_peak_table(table, key))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("md")(md)
    app.command("bec")(bec)
    app.command("ir")(ir)
