"""Progress reporting for every long job: a tqdm bar on a terminal, quiet plain lines in logs.

``progress_bar(...)`` returns a tqdm bar only when stderr is a terminal. Redirected to a file
(a batch job, ``nohup``, CI), a bar would fill the log with carriage returns and ANSI escape
sequences; instead the job writes at most one plain line per ``interval_s`` (default 60 s),
e.g. ``sampling chgnet: 120/300 frame (40%), 512 s elapsed, lr=0.001``, and one final line only
if it wrote any before. Jobs shorter than ``interval_s`` write nothing at all.
``LESDISTILL_PROGRESS_INTERVAL_S`` sets the interval (0: no plain lines at all).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

__all__ = ["progress_bar", "PlainProgress"]

_DEFAULT_INTERVAL_S = 60.0


def _interval_s() -> float:
    text = os.environ.get("LESDISTILL_PROGRESS_INTERVAL_S", "")
    try:
        return max(0.0, float(text)) if text else _DEFAULT_INTERVAL_S
    except ValueError:
        return _DEFAULT_INTERVAL_S


class PlainProgress:
    """The tqdm subset our jobs use (``update``, ``set_postfix``, ``set_description``, ``close``,
    iteration, context manager), writing occasional plain lines instead of a bar."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None,
                 initial: int = 0, desc: str = "", unit: str = "it", file: IO[str] | None = None,
                 interval_s: float | None = None, enabled: bool = True) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.desc, self.unit = total, int(initial), desc, unit
        self.file = file
        self.interval_s = _interval_s() if interval_s is None else float(interval_s)
        self.enabled = enabled and self.interval_s > 0
        self.postfix = ""
        self._start = self._last = time.monotonic()
        self._wrote = False
        self._closed = False

    def _line(self) -> str:
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        share = f" ({100.0 * self.n / self.total:.0f}%)" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        return (f"{self.desc + ': ' if self.desc else ''}{done} {self.unit}{share}, "
                f"{time.monotonic() - self._start:.0f} s elapsed{extra}")

    def _emit(self) -> None:
        print(self._line(), file=self.file or sys.stderr, flush=True)
        self._wrote = True
        self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.enabled and time.monotonic() - self._last >= self.interval_s:
            self._emit()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def close(self) -> None:
        if not self._closed and self.enabled and self._wrote:
            self._emit()
        self._closed = True

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress object wraps no iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(file: IO[str] | None) -> bool:
    stream = file or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None,
                 initial: int = 0, desc: str = "", unit: str = "it", enabled: bool = True,
                 leave: bool = True, file: IO[str] | None = None) -> Any:
    """A progress reporter for one long loop (tqdm's call signature, subset).

    ``enabled=False`` (``--no-progress``) writes nothing. On a terminal: a tqdm bar on stderr.
    Otherwise: a :class:`PlainProgress` (see the module docstring).
    """
    if enabled and _is_terminal(file):
        from tqdm import tqdm

        return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, leave=leave,
                    file=file or sys.stderr, dynamic_ncols=True)
    return PlainProgress(iterable, total=total, initial=initial, desc=desc, unit=unit, file=file,
                         enabled=enabled)
