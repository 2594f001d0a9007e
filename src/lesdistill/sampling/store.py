"""Crash-safe extxyz frame store: whole frames appended with flush + fsync, partial tails dropped.

A long job appends one complete frame at a time (:func:`append_frames`: the frame is serialised
in memory, written with one ``write`` call, flushed and fsynced). If the job is killed in the
middle of a write, the file ends with a partial frame; :func:`repair` (called on restart) cuts it
off, so the file always holds only complete frames. Small state sidecars are written atomically
(temp file + rename) with :func:`write_state` / :func:`read_state`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ase import Atoms

from lesdistill.data.frames import frames_text, parse_frames_text
from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic


def frame_text(atoms: Atoms) -> str:
    """One frame as extxyz text (labels from ``atoms.calc`` results, info and arrays)."""
    return frames_text(atoms)


def complete_length(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(number of complete frames, byte length they occupy) at the start of an extxyz file.

    A frame is complete when its atom-count line, comment line and all atom lines are present
    and newline-terminated. Raises UserInputError if the file is not extxyz-shaped.
    """
    n_frames = 0
    good = 0
    with open(path, "rb") as handle:
        data = handle.read()
    pos = 0
    size = len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        header = data[pos:end].strip()
        if not header:  # stray blank line between frames
            pos = end + 1
            continue
        try:
            natoms = int(header)
        except ValueError:
            raise UserInputError(
                f"{path}: not an extxyz frame file (line '{header[:40].decode(errors='replace')}'"
                " is not an atom count); move it away or choose another output"
            ) from None
        cursor = end + 1
        complete = True
        for _ in range(natoms + 1):  # comment line + atoms
            nxt = data.find(b"\n", cursor)
            if nxt < 0:
                complete = False
                break
            cursor = nxt + 1
        if not complete:
            break
        n_frames += 1
        pos = good = cursor
    return n_frames, good


def repair(path: str | os.PathLike[str]) -> int:
    """Cut a partial trailing frame off ``path`` (left by a killed job); return complete frames.

    A missing file counts as zero frames.
    """
    p = Path(path)
    if not p.exists():
        return 0
    n_frames, good = complete_length(p)
    if good < p.stat().st_size:
        with open(p, "r+b") as handle:
            handle.truncate(good)
            handle.flush()
            os.fsync(handle.fileno())
    return n_frames


def append_frames(path: str | os.PathLike[str], frames: Iterable[Atoms | str]) -> None:
    """Append complete frames (Atoms or pre-serialised text) durably: write, flush, fsync."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f if isinstance(f, str) else frame_text(f) for f in frames)
    if not text:
        return
    with open(p, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def read_frames(path: str | os.PathLike[str]) -> list[Atoms]:
    """All complete frames of an extxyz file written by this module (partial tail ignored)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"frame file not found: {p}")
    n_frames, good = complete_length(p)
    if n_frames == 0:
        return []
    with open(p, "rb") as handle:
        text = handle.read(good).decode("utf-8")
    return parse_frames_text(text)


def state_path(out_path: str | os.PathLike[str]) -> Path:
    """Sidecar state file of an output: ``<dir>/.<name>.state.json``."""
    p = Path(out_path)
    return p.with_name(f".{p.name}.state.json")


def write_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write the sidecar state atomically (JSON; floats round-trip exactly)."""
    write_text_atomic(path, json.dumps(state))


def read_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The sidecar state, or None if there is none."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserInputError(
            f"{p}: corrupted state file; delete it to start the job again"
        ) from None
