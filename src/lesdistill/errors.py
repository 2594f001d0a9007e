"""Errors that reach the user as one line.

Library code that validates user input (files, options, structures, configs) raises
:class:`UserInputError` (or :class:`InputFileNotFoundError`, :class:`UntrustedCodeError`,
:class:`MissingDependencyError`) with a message that names the input and says how to fix it;
the CLI turns exactly these into one line on stderr and exit code 2. Anything else raised
inside the library (``TypeError``, ``KeyError``, ``AttributeError``, a plain ``ValueError`` ...)
is a bug and keeps its traceback (exit code 1).
"""

from __future__ import annotations

import os


class UserInputError(ValueError):
    """Bad input from the user (file, option, structure); the message says how to fix it."""


class InputFileNotFoundError(UserInputError, FileNotFoundError):
    """An input file or folder the user named does not exist (message: the path and the fix)."""


class UntrustedCodeError(UserInputError):
    """A file names code (a custom backbone, an ``ase:`` teacher) and the user did not opt in.

    The message names the file, the code and the opt-in (``--trust-backbone`` /
    ``trust_backbone=True`` for students and training states, ``--trust-code`` /
    ``trust_code=True`` for config files)."""


def not_found(what: str, path: str | os.PathLike[str], fix: str) -> InputFileNotFoundError:
    """``InputFileNotFoundError("<what> not found: <path>; <fix>")``."""
    return InputFileNotFoundError(f"{what} not found: {path}; {fix}")


class UnstableDynamicsError(RuntimeError):
    """MD became unphysical (NaN, runaway temperature, overlapping atoms); finished work is kept.

    The CLI prints the message as one line and exits with code 1.
    """


class TeacherServerError(RuntimeError):
    """A teacher running in its own process (socket teacher) died, hung or could not start.

    The message names the teacher; frames labelled before the failure are kept. The CLI prints
    it as one line and exits with code 1.
    """


class MissingDependencyError(ImportError):
    """An optional package (a teacher family, h5py, ...) is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        hint = f"pip install 'lesdistill[{extra}]'" if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"the package '{package}' is not installed{what}; install it with: {hint}")
        self.package = package
