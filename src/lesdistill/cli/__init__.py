"""The ``lesdistill`` command line: thin wrappers over the library, no physics here.

Each sub-module registers its commands on the one Typer app. Sub-modules import heavy packages
(torch models, teachers) inside the command functions, so ``lesdistill --help`` stays fast.
Errors from bad input (:class:`lesdistill.errors.UserInputError` and its kin, usage errors of
the command line) become one line on stderr and exit code 2; set ``LESDISTILL_DEBUG=1`` to see
the full traceback instead. Internal errors keep their traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from lesdistill import __version__
from lesdistill.cli import analysis, compare, data, pipeline, response, train
from lesdistill.errors import (
    MissingDependencyError,
    TeacherServerError,
    UnstableDynamicsError,
    UserInputError,
)

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


from lesdistill.engines import cli as _engines  # noqa: E402

for _module in (data, train, response, pipeline, compare, analysis, _engines):
    _module.register(app)


@app.command("version")
def version() -> None:
    """Print the lesdistill version."""
    typer.echo(__version__)


#: what main() reports as one line with exit code 2: the project's user-input errors, a missing
#: optional package, and the operating system refusing a path the user named. Anything else
#: (TypeError, KeyError, AttributeError, a plain ValueError ... from inside the library) is a bug
#: and keeps its traceback (exit code 1).
USER_ERRORS = (UserInputError, MissingDependencyError, FileNotFoundError, IsADirectoryError,
               NotADirectoryError, PermissionError, FileExistsError)


def _one_line(text: str, fallback: str) -> str:
    """The first non-empty line of ``text`` (messages put what is wrong and the fix there)."""
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else fallback


def _click_classes() -> tuple[type[BaseException], type[BaseException]]:
    """(ClickException, Abort) of the click that typer uses (vendored or not)."""
    mro = typer.BadParameter.__mro__
    click_exception = next(c for c in mro if c.__name__ == "ClickException")
    return click_exception, typer.Abort


def _os_message(exc: OSError) -> str:
    # os.replace(tmp, target) errors name the hidden temporary file first: report the target
    name = exc.filename2 if getattr(exc, "filename2", None) else exc.filename
    name = "" if name is None else name
    reason = exc.strerror or _one_line(str(exc), type(exc).__name__)
    fix = {PermissionError: "check the permissions or choose another path",
           FileNotFoundError: "check the path", IsADirectoryError: "give a file, not a folder",
           NotADirectoryError: "a parent of this path is a regular file; choose another path",
           FileExistsError: "remove it or choose another path"}.get(type(exc), "check the path")
    if isinstance(exc, UserInputError) or not name:
        return _one_line(str(exc), type(exc).__name__)
    return f"{name}: {reason}; {fix}"


def _given_value(exc: BaseException, argv: list[str]) -> str:
    """`` (got 'ten')`` for a bad option value, naming what the user typed."""
    param = getattr(exc, "param", None)
    opts = list(getattr(param, "opts", []) or [])
    for k, arg in enumerate(argv):
        for opt in opts:
            if arg == opt and k + 1 < len(argv):
                return f" (got {argv[k + 1]!r})"
            if arg.startswith(opt + "="):
                return f" (got {arg.split('=', 1)[1]!r})"
    return ""


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exits 0 on success, 2 on bad input (including command-line usage
    errors), 1 if an MD run became unphysical or a socket teacher's process died or hung (one line
    on stderr in these cases); internal
    errors keep their traceback."""
    click_exception, abort = _click_classes()
    debug = bool(os.environ.get("LESDISTILL_DEBUG"))
    try:
        code = app(args=argv, prog_name="lesdistill", standalone_mode=False)
    except click_exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            ctx = getattr(exc, "ctx", None)
            print(ctx.get_help() if ctx is not None else exc.format_message())
            raise SystemExit(2) from None
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "lesdistill"
        message = _one_line(exc.format_message(), type(exc).__name__).rstrip(".")
        given = _given_value(exc, sys.argv[1:] if argv is None else argv)
        print(f"lesdistill: error: {message}{given}; see `{where} --help`", file=sys.stderr)
        raise SystemExit(getattr(exc, "exit_code", 2) or 2) from None
    except abort:
        print("lesdistill: aborted", file=sys.stderr)
        raise SystemExit(130) from None
    except (UnstableDynamicsError, TeacherServerError) as exc:
        if debug:
            raise
        print(f"lesdistill: error: {_one_line(str(exc), type(exc).__name__)}", file=sys.stderr)
        raise SystemExit(1) from None
    except USER_ERRORS as exc:
        if debug:
            raise
        if isinstance(exc, OSError) and not isinstance(exc, UserInputError):
            message = _os_message(exc)
        else:
            message = _one_line(str(exc), type(exc).__name__)
        print(f"lesdistill: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code if isinstance(code, int) else 0)
