"""CLI: ``lesdistill bec-benchmark`` (student BECs against reference tensors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesdistill.cli.common import TRUST_BACKBONE_HELP, trusted


def bec_benchmark(
    reference: Annotated[Path, typer.Option(
        help="extxyz frames with per-atom reference BECs (9 columns, row-major Z_ab = dP_a/dr_b, "
             "e). Evaluation data: never train on it.")],
    out: Annotated[Path, typer.Option(help="Folder for bec_benchmark.json/.txt and "
                                           "bec_parity.png.")],
    model: Annotated[Path | None, typer.Option(help="Student checkpoint (.pt).")] = None,
    array: Annotated[str, typer.Option(help="Name of the reference per-atom array.")] = "BEC",
    compare_file: Annotated[list[str] | None, typer.Option(
        "--compare-file", help="[NAME=]FILE:ARRAY[:SCALE]: another model's BECs on the same "
                               "frames, scored with the same code, e.g. "
                               "uma.extxyz:MACE_BEC:sqrt(1.78) (repeatable).")] = None,
    name: Annotated[str, typer.Option(help="Label of the student in tables and plots.")] = (
        "student"),
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N.")] = "cpu",
    trust_backbone: Annotated[bool, typer.Option("--trust-backbone",
                                                 help=TRUST_BACKBONE_HELP)] = False,
) -> None:
    """Student BECs vs reference tensors: sign fixed, R^2/RMSE/MAE, per-element Tr/3, best scale,
    the isotropic-constant yardstick (pass: MAE <= half the constant's), parity plot, JSON."""
    from lesdistill.analysis.bec_benchmark import format_benchmark
    from lesdistill.analysis.bec_files import run_bec_benchmark

    from lesdistill.device import check_device
    from lesdistill.paths import check_output_dir

    device = check_device(device, "--device")
    check_output_dir(out, "--out")
    with trusted(trust_backbone):
        result = run_bec_benchmark(reference, model=model, array=array,
                                   compare=compare_file or [], out_dir=out, device=device,
                                   name=name)
    typer.echo(format_benchmark(result))
    typer.echo(f"wrote {', '.join(result['files'].values())}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("bec-benchmark")(bec_benchmark)
