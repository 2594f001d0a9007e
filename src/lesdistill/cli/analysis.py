"""CLI: ``lesdistill bec-benchmark`` (student BECs against reference tensors) and
``lesdistill learning-curve`` (student errors against the number of teacher frames)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesdistill.cli.common import TRUST_BACKBONE_HELP, trusted
from lesdistill.errors import UserInputError


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
    fd_teacher: Annotated[str | None, typer.Option(
        help="Reference = finite differences of this teacher's dipole on the reference frames "
             "(xtb-gfn1 | xtb-gfn2; 6 N calls per frame) instead of their BEC array.")] = None,
    displacement: Annotated[float, typer.Option(help="Finite-difference step, Å.")] = 0.01,
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
                                   name=name, fd_teacher=fd_teacher,
                                   displacement_A=displacement, progress=True)
    typer.echo(format_benchmark(result))
    typer.echo(f"wrote {', '.join(result['files'].values())}")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserInputError(f"bad --sizes {text!r}: give frame counts like 5,10,20,50") from None


def learning_curve(
    data: Annotated[Path, typer.Option(help="Labelled teacher frames (extxyz): the pool the "
                                            "training subsets are drawn from.")],
    test: Annotated[Path, typer.Option(help="Held-out labelled frames (same teacher) for the "
                                            "energy/force errors.")],
    out: Annotated[Path, typer.Option(help="Output folder (resumed if it exists).")],
    sizes: Annotated[str, typer.Option(help="Numbers of training frames, comma-separated.")] = (
        "5,10,20,50,100,200,400"),
    bec_reference: Annotated[Path | None, typer.Option(
        help="extxyz with reference BECs (evaluation only) to score every student on.")] = None,
    array: Annotated[str, typer.Option(help="Per-atom array of the BEC reference.")] = "BEC",
    preset: Annotated[str, typer.Option(help="Student preset: tiny | small | medium.")] = "tiny",
    epochs: Annotated[int, typer.Option(help="Epochs per student.")] = 100,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 4,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 5e-3,
    eps_inf: Annotated[float, typer.Option(help="Student eps_inf (water: 1.78).")] = 1.0,
    valid_fraction: Annotated[float, typer.Option(help="Fixed validation share of the pool.")] = (
        0.1),
    stop_gain: Annotated[float, typer.Option(
        help="Relative gain per doubling below which more frames stop paying.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed (subsets and training).")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N.")] = "cpu",
    progress: Annotated[bool, typer.Option(help="Progress bars.")] = True,
) -> None:
    """Force and BEC error vs number of teacher frames: one student per size on nested subsets,
    one plot, one JSON, and the size from which more teacher calls stop paying."""
    from lesdistill.analysis.learning_curve import (
        LearningCurveSettings,
        format_curve,
        run_learning_curve,
    )
    from lesdistill.device import check_device
    from lesdistill.paths import check_output_dir

    device = check_device(device, "--device")
    check_output_dir(out, "--out")
    training = {"model_preset": preset, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                "model": {"eps_inf": eps_inf}}
    settings = LearningCurveSettings(sizes=_sizes(sizes), valid_fraction=valid_fraction,
                                     seed=seed, stop_gain=stop_gain, training=training)
    summary = run_learning_curve(data, test, out, settings, bec_reference=bec_reference,
                                 bec_array=array, device=device, progress=progress)
    typer.echo(format_curve(summary))
    typer.echo(f"wrote {', '.join(summary['files'])}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("bec-benchmark")(bec_benchmark)
    app.command("learning-curve")(learning_curve)
