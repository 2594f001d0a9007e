"""Crash-safe file output: write to a temporary file in the same folder, then rename.

A job killed mid-write never leaves a half-written output file behind: either the old file (or
none) or the complete new file is there. Like any other tool, the new file gets the permissions
of the file it replaces, or ``0666 & ~umask`` when it is new (``tempfile.mkstemp`` alone would
leave it ``0600``). The data are flushed to disk (``fsync``) before the rename and the folder
after it, so a power cut or a crashed node leaves the old or the new file, never an empty one
under the new name (a rename can reach the disk before the data otherwise).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _new_temp(target: Path, prefix: str, suffix: str) -> Path:
    """A temporary sibling of ``target`` with the mode ``target`` has (or would get when created);
    an unwritable folder is reported with the user's path (never the hidden temporary name)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    except OSError as exc:
        from lesdistill.errors import UserInputError

        raise UserInputError(f"cannot write {target}: {exc.strerror or exc}; choose a folder you "
                             "can write to") from None
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~current_umask()
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(tmp)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be
    opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_open only writes; got mode={mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(target, f".{target.name}.", ".tmp")
    try:
        with open(tmp, mode.replace("x", "w"), **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for libraries that write by file name
    (``torch.save``, ``fig.savefig``, ``np.savez``); fsync it and rename onto ``path`` on
    success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _new_temp(target, f".{target.stem}.", target.suffix)
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise


def file_sha256(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                separator: bool = False) -> str:
    """SHA-256 hex digest of the contents of ``paths`` (in order), read in 1 MiB chunks.

    ``separator=True`` adds a zero byte after each file (the training-data fingerprint: moving
    bytes from one file to the next changes it).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                h.update(block)
        if separator:
            h.update(b"\0")
    return h.hexdigest()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
