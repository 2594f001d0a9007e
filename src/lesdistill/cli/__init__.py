"""The ``lesdistill`` command line: thin wrappers over the library, no physics here.

Each sub-module registers its commands on the one Typer app. Sub-modules import heavy packages
(torch models, teachers) inside the command functions, so ``lesdistill --help`` stays fast.
Errors from bad input become one line on stderr and exit code 2; set ``LESDISTILL_DEBUG=1`` to
see the full traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer

from lesdistill import __version__
from lesdistill.cli import analysis, compare, data, pipeline, response, train
from lesdistill.errors import MissingDependencyError, UnstableDynamicsError

app = typer.Typer(
    name="lesdistill",
    help="Distil foundation MLIPs into fast LES students; latent charges, BEC and IR spectra.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Distil foundation MLIPs into fast LES students; latent charges, BEC and IR spectra."""


for _module in (data, train, response, pipeline, compare, analysis):
    _module.register(app)


@app.command("version")
def version() -> None:
    """Print the lesdistill version."""
    typer.echo(__version__)


# ImportError: an optional package (a teacher family) is missing; MissingDependencyError is one.
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError,
               MissingDependencyError, ImportError, KeyError)


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exits 0 on success, 2 on bad input, 1 if an MD run became unphysical
    (one line on stderr in both cases)."""
    try:
        app(args=argv)  # standalone mode: Typer handles usage errors and exits itself
    except UnstableDynamicsError as exc:
        if os.environ.get("LESDISTILL_DEBUG"):
            raise
        print(f"lesdistill: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        raise SystemExit(1) from None
    except USER_ERRORS as exc:
        if os.environ.get("LESDISTILL_DEBUG"):
            raise
        text = str(exc).strip()
        message = text.splitlines()[0] if text else type(exc).__name__
        if isinstance(exc, KeyError):
            message = f"missing key {message}"
        print(f"lesdistill: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
