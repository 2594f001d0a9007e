"""``lesdistill compare CONFIG.yaml``: distil one system from several teachers, compare them."""

from __future__ import annotations

from pathlib import Path

import typer

from lesdistill.cli.common import TRUST_CODE_HELP


def register(app: typer.Typer) -> None:
    """Add the ``compare`` command to ``app``."""

    @app.command("compare")
    def compare(
        config: Path = typer.Argument(..., help="compare config (YAML), e.g. "
                                      "configs/compare/water-cpu.yaml"),
        output: Path | None = typer.Option(None, "--output", "-o",
                                           help="output folder (overrides the config's)"),
        device: str | None = typer.Option(None, help="torch device: cpu, cuda, cuda:1"),
        from_stage: str | None = typer.Option(
            None, "--from", help="re-run this stage (frames, reference, train, md, ir, ...) "
            "and every later one, for every teacher"),
        report_only: bool = typer.Option(False, "--report-only",
                                         help="only re-render the report from summary.json"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars"),
        trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
    ) -> None:
        """Distil the config's system from every listed teacher on shared frames and write one
        comparison report (HTML + PNG + JSON) into OUTPUT/report/. Unusable teachers are listed
        as skipped with the reason; finished stages are reused."""
        import dataclasses

        from lesdistill.compare.config import load_compare_config, parse_device
        from lesdistill.device import check_device
        from lesdistill.paths import check_output_dir

        cfg = load_compare_config(config, trust_code=trust_code)
        if output is not None:
            cfg = dataclasses.replace(cfg, output=output)
        if device is not None:
            cfg = dataclasses.replace(cfg, device=parse_device(device))
        check_device(cfg.device, "--device" if device is not None else "device (config)")
        check_output_dir(cfg.output, "output folder")
        from lesdistill.pipeline.preflight import check_sections

        check_sections(cfg.run_config(cfg.teachers[0]))  # student/training, before any stage
        if report_only:
            from lesdistill.compare.report import rerender

            path = rerender(Path(cfg.output) / "report")
        else:
            from lesdistill.compare.runner import run_compare

            path = run_compare(cfg, progress=progress, log=typer.echo, from_stage=from_stage)
        typer.echo(f"report: {path}")
