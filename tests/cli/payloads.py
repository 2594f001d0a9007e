"""A pickle payload for the corpus (importing this module does nothing)."""

from __future__ import annotations


class Payload:
    """Unpickling this object runs ``open(marker, "w")`` (a pickle __reduce__ payload)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))
