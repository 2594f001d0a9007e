"""CLI: ``lesdistill run CONFIG.yaml`` (a whole distillation) and ``lesdistill demo``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from lesdistill.cli.common import TRUST_CODE_HELP
from lesdistill.errors import UserInputError

STAGES_HELP = "build, sample, train, finetune, evaluate, md, ir, report"


def _run(cfg, from_stage: str | None, quiet: bool) -> None:
    from lesdistill.pipeline import report_path, run_pipeline
    from lesdistill.pipeline.preflight import check_run_config

    start = time.perf_counter()
    check_run_config(cfg)  # before the first line of output: a bad config is one line
    typer.echo(f"lesdistill: output folder {Path(cfg.output).resolve()}")
    results = run_pipeline(cfg, from_stage=from_stage, progress=not quiet,
                           log=(lambda msg: None) if quiet else typer.echo)
    ran = [r.name for r in results if r.status == "ran"]
    typer.echo(f"lesdistill: done in {time.perf_counter() - start:.0f} s "
               f"(ran: {', '.join(ran) or 'nothing, all stages up to date'})")
    typer.echo(f"report: {report_path(cfg).resolve()}")


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``demo`` to ``app``."""

    @app.command("run")
    def run_command(
        config: Path = typer.Argument(..., help="Run config (YAML); see configs/ for examples."),
        from_stage: str | None = typer.Option(
            None, "--from", help=f"Re-run this stage and all later ones ({STAGES_HELP})."),
        out: Path | None = typer.Option(None, "--out", help="Output folder (overrides "
                                           "'output' in the config)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars or stage log."),
        device: str | None = typer.Option(None, "--device", help="Torch device (overrides "
                                             "'device' in the config): cpu | cuda | cuda:N."),
        trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
    ) -> None:
        """Distil a student from a teacher and analyse it, as described by CONFIG.

        Stages: build -> sample -> train -> (finetune) -> evaluate -> md -> ir -> report. A stage
        whose inputs did not change is skipped; a killed run continues where it stopped. The
        whole config is checked before the first stage runs.
        """
        import dataclasses

        from lesdistill.config import load_config
        from lesdistill.device import check_device

        cfg = load_config(config, output=out, trust_code=trust_code)
        if device is not None:
            cfg = dataclasses.replace(cfg, device=check_device(device, "--device"))
        _run(cfg, from_stage, quiet)

    @app.command("demo")
    def demo_command(
        out: Path = typer.Option(Path("lesdistill-demo"), "--out", help="Output folder."),
        from_stage: str | None = typer.Option(
            None, "--from", help=f"Re-run this stage and all later ones ({STAGES_HELP})."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars or stage log."),
        reference: Path | None = typer.Option(
            None, "--reference", help="Folder with the DFT BEC frames of liquid water "
            f"({DEMO_REFERENCE}); default: $LESDISTILL_REFERENCE_DIR or ../shared/reference if "
            "present. The report then scores the student's BECs against DFT."),
    ) -> None:
        """Offline end-to-end demo (< 10 min on a laptop CPU): CHGNet teacher on a liquid-water
        box -> LES student -> student MD -> Born effective charges -> IR spectrum vs experiment
        -> HTML report (with the BEC benchmark against DFT when the reference frames are found)."""
        from lesdistill.config import load_preset

        overrides: dict[str, object] = {"output": str(out)}
        ref_dir = _demo_reference(reference)
        if ref_dir is not None:
            overrides["evaluate"] = _demo_evaluate(ref_dir)
        _run(load_preset("demo", **overrides), from_stage, quiet)


#: the paper's DFT BEC frames of liquid water (evaluation only) and its two students' BECs
DEMO_REFERENCE = "water_dft_bec_3frames.extxyz"
DEMO_COMPARE = (("UMA-M student (paper)", "water_bec_student_UMA-M_3frames.extxyz"),
                ("MACE-MP-0 student (paper)", "water_bec_student_MACE-MP0L_3frames.extxyz"))


def _demo_reference(given: Path | None) -> Path | None:
    """The folder holding :data:`DEMO_REFERENCE`: ``given`` (must hold it), else
    ``$LESDISTILL_REFERENCE_DIR``, else ``../shared/reference`` from the working directory."""
    import os

    if given is not None:
        if not (given / DEMO_REFERENCE).is_file():
            raise UserInputError(f"--reference {given}: no {DEMO_REFERENCE} there; give the folder "
                                 "that holds the DFT BEC frames")
        return given
    for folder in (os.environ.get("LESDISTILL_REFERENCE_DIR"), "../shared/reference"):
        if folder and (Path(folder) / DEMO_REFERENCE).is_file():
            return Path(folder)
    return None


def _demo_evaluate(folder: Path) -> dict[str, object]:
    """``evaluate`` section: the DFT BEC benchmark, with the paper's students where present
    (their latent BECs x sqrt(eps_inf = 1.78), the paper's convention)."""
    compare = [
        f"{name}={(folder / file).resolve()}:MACE_BEC:sqrt(1.78)"
        for name, file in DEMO_COMPARE
        if (folder / file).is_file()
    ]
    return {"bec_reference": str((folder / DEMO_REFERENCE).resolve()), "bec_array": "BEC",
            "bec_compare": compare}
