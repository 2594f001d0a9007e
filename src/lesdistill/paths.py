"""Output paths, checked before any expensive work starts.

``check_output_file`` / ``check_output_dir`` raise :class:`~lesdistill.errors.UserInputError`
naming the user's path (never a temporary file) when an output cannot be written: a parent that
is a regular file, a file name that is a folder (``--out .``), a folder without write
permission. Nothing is created by the check (missing parent folders are created later, when the
output is written): the nearest existing ancestor is probed with a temporary file that is
removed at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lesdistill.errors import UserInputError


def _existing_ancestor(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_writable_folder(folder: Path, path: Path, what: str) -> None:
    if not folder.is_dir():
        raise UserInputError(f"{what} {path}: {folder} is a regular file, not a folder; choose a "
                             "path inside a folder")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".lesdistill-write-test."):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserInputError(f"{what} {path}: cannot write in {folder} ({reason}); choose a "
                             "folder you can write to") from None


def check_output_file(path: str | os.PathLike[str], what: str = "output file") -> Path:
    """``path`` as a Path if a file can be written there (creating missing parent folders)."""
    target = Path(path).expanduser()
    if target.name in ("", ".", "..") or str(path).endswith(os.sep):
        raise UserInputError(f"{what} {str(path)!r} names a folder, not a file; give a file name, "
                             "e.g. frames.xyz")
    if target.is_dir():
        raise UserInputError(f"{what} {target} is an existing folder; give a file name inside it")
    if target.exists():
        _check_writable_folder(target.parent, target, what)
        if not os.access(target, os.W_OK):
            raise UserInputError(f"{what} {target} is read-only; make it writable or choose "
                                 "another path")
        return target
    _check_writable_folder(_existing_ancestor(target.parent), target, what)
    return target


def check_output_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """``path`` as a Path if it is (or can become) a folder we can write in."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise UserInputError(f"{what} {target} is a regular file, not a folder; choose another "
                             "path or remove the file")
    _check_writable_folder(_existing_ancestor(target), target, what)
    return target
