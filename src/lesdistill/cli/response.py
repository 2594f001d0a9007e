"""CLI: ``lesdistill md`` (student MD for spectra), ``lesdistill bec``, ``lesdistill ir``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lesdistill.cli.common import TRUST_BACKBONE_HELP, require_structure_and_student, trusted
from lesdistill.cli.options import build as build_settings
from lesdistill.cli.options import settings_options
from lesdistill.errors import UserInputError, not_found
from lesdistill.md import format_summary, load_trajectory, run_md
from lesdistill.md.settings import MDSettings
from lesdistill.md.trajectory import SUMMARY
from lesdistill.spectra.settings import IRSettings

#: ``md --group`` values that store per-atom currents for groups computed per frame in ``ir``
DYNAMIC_GROUPS = ("atoms", "hcl", "tio2-water")


def _parse_groups(specs: list[str], symbols: list[str]) -> dict[str, list[int]]:
    """NAME=0,1,5-9 (atom indices, ranges inclusive) or NAME=element:O,H."""
    groups: dict[str, list[int]] = {}
    for spec in specs:
        if spec in DYNAMIC_GROUPS:
            continue
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise UserInputError(f"bad --group {spec!r}; use NAME=0,1,5-9, NAME=element:O,H or "
                                 f"one of {', '.join(DYNAMIC_GROUPS)} (per-frame groups)")
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
    group: Annotated[list[str] | None, typer.Option(
        help="NAME=0,1,5-9 or NAME=element:O,H (fixed groups; repeatable), or hcl | tio2-water "
             "| atoms: store per-atom currents Z*_i v_i for per-frame groups in `ir`.")] = None,
    bec_every: Annotated[int, typer.Option(help="Store BEC every n-th frame (0: never).")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    replicas: Annotated[int, typer.Option(
        help="Independent replicas run in one torch-sim batch (needs lesdistill[torchsim]), "
             "one trajectory each in OUT/replica-NNN (1: ASE).")] = 1,
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
    require_structure_and_student(structure, model)
    check_output_dir(out, "--out")
    atoms = load_structure(structure)
    groups = _parse_groups(group or [], atoms.get_chemical_symbols())
    if replicas != 1 and settings.has_field:
        raise UserInputError("--field runs with the ASE engine only; drop --replicas (or run "
                             "the replicas one by one)")
    if replicas != 1:
        from lesdistill.engines.cli import md_replicas

        md_replicas(atoms, structure, model, out, settings, replicas=replicas, groups=groups,
                    atom_currents=any(g in DYNAMIC_GROUPS for g in group or []),
                    bec_every=bec_every, seed=seed, device=device, progress=progress,
                    trust_backbone=trust_backbone)
        return
    from lesdistill.calculator import StudentCalculator

    with trusted(trust_backbone):
        atoms.calc = StudentCalculator(model=model, device=device)
    check_start_structure(atoms, elements=atoms.calc.model.elements, source=str(structure))
    path = run_md(atoms, out, settings, groups=groups, bec_every=bec_every, seed=seed,
                  progress=progress, atom_currents=any(g in DYNAMIC_GROUPS for g in group or []))
    import json

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
    trajectories: Annotated[
        list[Path],
        typer.Argument(
            help="MD trajectory directories (of a "
            "--replicas run: all replicas) or "
            "extxyz files (averaged)."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Output prefix: PREFIX.csv, PREFIX.png, PREFIX_peaks.csv.")
    ] = Path("ir"),
    temperature: Annotated[
        float | None,
        typer.Option(
            help="K (default: the mean kinetic temperature of the frames, else the run's target)."
        ),
    ] = None,
    volume: Annotated[float | None, typer.Option(help="Å^3 (default: cell volume).")] = None,
    eps_inf: Annotated[float, typer.Option(help="Scale for latent currents (1: physical).")] = 1.0,
    system: Annotated[str, typer.Option(help="Band table: water | hcl | tio2-water.")] = "water",
    frame_dt_fs: Annotated[
        float | None, typer.Option(help="Frame spacing for extxyz without time_fs, fs.")
    ] = None,
    dielectric: Annotated[
        bool,
        typer.Option(help="Also eps_0 and eps(omega) (periodic cells): PREFIX_dielectric.csv."),
    ] = True,
    eps_electronic: Annotated[
        float | None,
        typer.Option(
            help="eps_inf added to the nuclear response (default: the student's eps_inf stored "
            "with the MD, else 1)."
        ),
    ] = None,
    *,
    overrides: dict[str, Any],
) -> None:
    """IR absorption n*alpha (cm^-1) from the dipole current: CSV, PNG, peak table, sum rule.

    The method options (and the per-frame group selector --group with its options) are the
    fields of lesdistill.spectra.IRSettings; with --group the group spectra are self terms
    unless --group-mode cross."""
    if overrides.get("group") is not None and "group_mode" not in overrides:
        overrides["group_mode"] = "self"  # per-frame groups: self terms, as the paper
    settings = build_settings(IRSettings, None, overrides)
    group = settings.group
    from lesdistill.paths import check_output_file
    from lesdistill.spectra import ir as irmod
    from lesdistill.spectra import peaks
    from lesdistill.spectra.outputs import group_tables, view, write_ir_outputs

    for path in trajectories:
        if not path.exists():
            raise not_found("trajectory", path, "pass a folder written by `lesdistill md` (or "
                            "an extxyz file with velocities)")
    if out.name in ("", ".", ".."):
        raise UserInputError(f"--out {str(out)!r} must be a file prefix (e.g. ir or results/ir), "
                             "not a folder")
    check_output_file(out.with_name(out.name + ".csv"), "--out")
    style = settings.style
    if style == "paper" and settings.correction != "harmonic":
        raise UserInputError(f"--style paper uses classical intensities without a correction "
                             f"factor; drop --correction {settings.correction} (or use harmonic)")
    if eps_electronic is not None and not eps_electronic >= 1.0:
        raise UserInputError(f"--eps-electronic must be >= 1, got {eps_electronic}")
    key = peaks.normalize_system(system)
    options = settings.selector_options()
    from lesdistill.engines.replicas import expand_replica_dirs

    trajs = [load_trajectory(path, positions=group is not None, frame_dt_fs=frame_dt_fs)
             for path in expand_replica_dirs(trajectories)]
    decomposition = None
    if group is not None:
        from lesdistill.analysis import groups as groupmod

        pairs = [groupmod.with_group_currents(t, group, **options) for t in trajs]
        trajs = [t for t, _ in pairs]
        decomposition = groupmod.summary(pairs[0][1])
    spectrum = irmod.ir_spectrum(trajs, settings, temperature_K=temperature, volume_A3=volume,
                                 eps_inf=eps_inf)
    shown = view(spectrum, key, style)
    paths = write_ir_outputs(spectrum, out, system=key, style=style)
    if len(trajs) > 1:
        typer.echo(f"averaged {len(trajs)} trajectories x {settings.n_blocks} block(s); error "
                   "bars: standard error over them")
    typer.echo(spectrum.sum_rule.text() if spectrum.sum_rule else "sum rule: not checked")
    if style == "paper":
        typer.echo(shown.label() + f" (1 a.u. = {shown.scale_per_cm:.4g} cm^-1 of n*alpha)")
    if decomposition is not None:
        typer.echo(_decomposition_text(decomposition, spectrum))
    if dielectric:
        from lesdistill.spectra.dielectric import dielectric_response

        response = dielectric_response(trajs, window=spectrum.window,
                                       window_ps=spectrum.window_ps, n_blocks=settings.n_blocks,
                                       max_wavenumber_cm=settings.max_wavenumber_cm,
                                       temperature_K=spectrum.temperature_K,
                                       eps_inf=eps_electronic, current_scale=eps_inf)
        if isinstance(response, str):
            typer.echo(f"dielectric response: not computed ({response})")
        else:
            static, eps = response
            paths["dielectric"] = eps.write_csv(Path(f"{out}_dielectric.csv"))
            typer.echo(static.text())
            typer.echo(f"eps'(omega -> 0) of the {eps.window} {eps.window_ps:g} ps window: "
                       f"{eps.static_limit:.4g} (equals eps_0 when the window outlasts the "
                       "dielectric relaxation)")
    unit = "a.u." if style == "paper" else "cm^-1"
    typer.echo(peaks.format_peak_table(peaks.compare_with_reference(shown, key), key,
                                       height_unit=unit))
    for name, (table, rows) in group_tables(shown, key).items():
        typer.echo(f"group {name}:")
        typer.echo(peaks.format_peak_table(rows, table, height_unit=unit))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def _decomposition_text(decomposition: dict, spectrum: object) -> str:
    sizes = ", ".join(f"{name} {v['mean']:.1f}" for name, v in
                      decomposition["atoms_per_group"].items())
    text = f"groups ({decomposition['selector']}, atoms per frame): {sizes}"
    if decomposition.get("cuts_A"):
        text += "; layer cuts (Å): " + ", ".join(f"{c:.2f}" for c in decomposition["cuts_A"])
    residual = getattr(spectrum, "partition_residual", None)
    if residual is not None:
        text += f"\nsum of group currents vs total: max deviation {residual:.2e} of rms"
    fraction = spectrum.cross_fraction() if hasattr(spectrum, "cross_fraction") else None
    if fraction is not None:
        text += (f"; cross terms between groups carry {fraction:+.1%} of the integrated "
                 "absorption (column n_alpha_cross_terms_cm-1)")
    return text


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("md")(md)
    app.command("bec")(bec)
    app.command("ir")(ir)
