"""Errors that reach the user as one line.

Library code raises ``ValueError``/``TypeError``/``FileNotFoundError`` (or :class:`UserInputError`)
with a message that names what is wrong and how to fix it; the CLI turns any of them into one
line on stderr and exit code 2.
"""


class UserInputError(ValueError):
    """Bad input from the user (file, option, structure); the message says how to fix it."""


class UnstableDynamicsError(RuntimeError):
    """MD became unphysical (NaN, runaway temperature, overlapping atoms); finished work is kept.

    The CLI prints the message as one line and exits with code 1.
    """


class MissingDependencyError(ImportError):
    """An optional package (a teacher family, h5py, ...) is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        hint = f"pip install 'lesdistill[{extra}]'" if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"the package '{package}' is not installed{what}; install it with: {hint}")
        self.package = package
