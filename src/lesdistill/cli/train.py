"""``lesdistill train`` and ``lesdistill evaluate``: thin wrappers over :mod:`lesdistill.training`.

Examples::

    lesdistill train --data train.xyz --out run/ --preset small --epochs 200
    lesdistill train --data train.xyz --valid valid.xyz --out run/ --config train.yaml
    lesdistill train --data dft.xyz --out ft/ --init run/best.pt --epochs 50    # fine-tuning
    lesdistill train --data dft.xyz --out sweep/ --init run/best.pt --fractions
    0.05,0.1,0.2,0.4,0.7,1 torchrun --nproc_per_node=4 --no-python lesdistill train --data train.xyz
    --out run/ --device cuda lesdistill evaluate --model run/best.pt --data test.xyz --out eval/
"""

from __future__ import annotations

from pathlib import Path

import typer

from lesdistill.analysis.fraction_settings import FractionSettings, parse_fractions
from lesdistill.cli.common import TRUST_BACKBONE_HELP, TRUST_CODE_HELP, trusted
from lesdistill.errors import UserInputError, not_found
from lesdistill.settings import field_help


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``evaluate`` to ``app``."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)


def train_command(
    data: list[Path] = typer.Option(
        ..., "--data", help="Labelled extxyz training file(s) (repeatable)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output folder: best.pt, last.pt, state.pt, learning_curve.csv."
    ),
    valid: list[Path] = typer.Option(
        None, "--valid", help="Validation file(s); default: a seeded split of --data."
    ),
    preset: str = typer.Option(
        None, "--preset", help="Student size: tiny | small | medium (default small)."
    ),
    config: Path = typer.Option(
        None, "--config", help="TrainConfig YAML (options from the command line win)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Number of epochs."),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Frames per optimizer step (global)."
    ),
    lr: float = typer.Option(None, "--lr", help="Initial learning rate."),
    seed: int = typer.Option(None, "--seed", help="Seed of split, shuffling and initial weights."),
    init: Path = typer.Option(None, "--init", help="Fine-tune: start from this student (.pt)."),
    allow_new_elements: bool = typer.Option(
        False, "--allow-new-elements", help="With --init: allow elements the old student never saw."
    ),
    fractions: str = typer.Option(
        None,
        "--fractions",
        help="With --init: fine-tune on nested "
        "fractions of --data (e.g. 0.05,0.1,0.2,0.4,0.7,1), all scored "
        "on one held-out test split (test_fraction); writes "
        "fractions.json and fractions.png into --out.",
    ),
    scratch: bool = typer.Option(
        False,
        "--scratch",
        help="With --fractions: " + field_help(FractionSettings, "scratch") + ".",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N"),
    dtype: str = typer.Option(None, "--dtype", help="float32 (default) | float64"),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    trust_backbone: bool = typer.Option(False, "--trust-backbone", help=TRUST_BACKBONE_HELP),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
) -> None:
    """Train a LES student on teacher-labelled frames (resumes after a kill: re-run the same
    command)."""
    from lesdistill.cli.common import device as check_device
    from lesdistill.codetrust import code_references, require_trust
    from lesdistill.paths import check_output_dir
    from lesdistill.training.config import TrainConfig
    from lesdistill.training.loop import train

    device = check_device(device)
    check_output_dir(out, "--out")
    for path in [*data, *(valid or [])]:
        if not path.is_file():
            raise not_found("data file", path, "pass labelled extxyz frames (e.g. from "
                            "`lesdistill sample`)")
    if init is not None and not init.is_file():
        raise not_found("--init student", init, "pass a .pt written by `lesdistill train`")
    sweep = _sweep_settings(fractions, scratch, init, valid)
    cfg = TrainConfig.from_yaml(config) if config is not None else TrainConfig()
    if config is not None:
        require_trust(config, code_references([], cfg.model), trust_code, cfg.model)
    overrides = {"model_preset": preset, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                 "seed": seed, "dtype": dtype}
    cfg = cfg.replace(**{k: v for k, v in overrides.items() if v is not None})
    from lesdistill.model.config import StudentConfig

    try:  # the student settings, checked before any data is read
        StudentConfig.from_preset(cfg.model_preset, **{**cfg.model, "elements": ("H",)})
    except ValueError as exc:
        raise UserInputError(f"bad student model settings: {exc}") from None
    if sweep is not None:
        with trusted(trust_backbone):
            _run_sweep(init, data, out, sweep, cfg, allow_new_elements, device, not no_progress,
                       trust_backbone)
        return
    with trusted(trust_backbone):
        result = train(cfg, data, valid_files=valid or None, out_dir=out, init=init,
                       allow_new_elements=allow_new_elements, device=device,
                       progress=not no_progress, trust_backbone=trust_backbone)
    from lesdistill.training.distributed import is_main_process

    if not is_main_process():
        return
    last = result.final
    summary = ", ".join(f"{k} {last[k]:.4g}" for k in ("valid_energy_mae_meV_per_atom",
                                                        "valid_forces_mae_meV_per_A") if k in last)
    typer.echo(f"trained {result.epochs_completed} epochs (best epoch {result.best_epoch}"
               f"{', stopped early' if result.stopped_early else ''}); {summary}")
    typer.echo(f"best student: {result.best_path}")


def _sweep_settings(fractions: str | None, scratch: bool, init: Path | None,
                    valid: list[Path] | None) -> FractionSettings | None:
    """The fraction sweep asked for on the command line (None: plain training)."""
    if fractions is None:
        if scratch:
            raise UserInputError("--scratch needs --fractions (the from-scratch comparison of a "
                                 "fraction sweep)")
        return None
    if init is None:
        raise UserInputError("--fractions needs --init: the pretrained student to fine-tune")
    if valid:
        raise UserInputError("--fractions splits --data itself (test and validation frames, "
                             "by test_fraction and valid_fraction); drop --valid")
    return FractionSettings(fractions=parse_fractions(fractions), scratch=scratch)


def _run_sweep(init: Path, data: list[Path], out: Path, sweep: FractionSettings, cfg: object,
               allow_new_elements: bool, device: str, progress: bool,
               trust_backbone: bool) -> None:
    from lesdistill.analysis.finetune_fractions import format_fractions, sweep_from_data

    summary = sweep_from_data(init, data, out, sweep, cfg, allow_new_elements=allow_new_elements,
                              device=device, progress=progress, trust_backbone=trust_backbone,
                              log=lambda text: typer.echo(text, err=True) if progress else None)
    typer.echo(format_fractions(summary))
    typer.echo(f"wrote {', '.join(summary['files'])}")


def evaluate_command(
    model: Path = typer.Option(..., "--model", help="Student checkpoint (.pt)."),
    data: list[Path] = typer.Option(..., "--data", help="Labelled extxyz file(s) to evaluate on."),
    out: Path = typer.Option(None, "--out", help="Folder for metrics.json and parity plots (PNG)."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N"),
    energy_key: str = typer.Option(
        "energy", "--energy-key", help="Name of the reference energy label."
    ),
    forces_key: str = typer.Option(
        "forces", "--forces-key", help="Name of the reference forces label."
    ),
    stress_key: str = typer.Option(
        "stress", "--stress-key", help="Name of the reference stress label."
    ),
    trust_backbone: bool = typer.Option(False, "--trust-backbone", help=TRUST_BACKBONE_HELP),
) -> None:
    """Energy/force/stress MAE and RMSE of a student on labelled frames; parity plots with --out."""
    from lesdistill.cli.common import device as check_device
    from lesdistill.data.dataset import LabelKeys
    from lesdistill.paths import check_output_dir
    from lesdistill.training.evaluate import evaluate, format_table

    device = check_device(device)
    if out is not None:
        check_output_dir(out, "--out")
    for path in data:
        if not path.is_file():
            raise not_found("data file", path, "pass labelled extxyz frames")
    label_keys = LabelKeys(energy=energy_key, forces=forces_key, stress=stress_key)
    with trusted(trust_backbone):
        metrics = evaluate(model, data, device=device, out_dir=out, label_keys=label_keys)
    typer.echo(format_table(metrics))
    if out is not None:
        typer.echo(f"metrics and parity plots written to {out}")
