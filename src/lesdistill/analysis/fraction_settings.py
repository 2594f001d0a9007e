"""The settings of the fine-tuning fraction sweep (:mod:`lesdistill.analysis.finetune_fractions`).

Kept apart from the sweep itself so that the run config (``finetune.fractions``) and the CLI
(``lesdistill train --init ... --fractions``) build it without importing numpy, ASE or torch.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from lesdistill.errors import UserInputError
from lesdistill.settings import Settings, SettingsError, coerce, setting

__all__ = ["PAPER_FRACTIONS", "FractionSettings", "parse_fractions"]

#: a sweep close to the paper's (10% and 40% of the higher-level frames are its quoted points)
PAPER_FRACTIONS = (0.05, 0.1, 0.2, 0.4, 0.7, 1.0)


@dataclass(frozen=True)
class FractionSettings(Settings):
    """Which fractions of the higher-level training frames to fine-tune on, and the comparison.

    Every fraction's training set contains the smaller fractions' sets (the first frames of one
    seeded order); all students are scored on one held-out test split.
    """

    fractions: tuple[float, ...] = setting(
        (), "fractions of the higher-level training frames to fine-tune on, increasing, in "
        "(0, 1], e.g. 0.05,0.1,0.2,0.4,0.7,1.0 (one fine-tuned student each; empty: no sweep)")
    scratch: bool = setting(False, "also train a student of the same architecture from scratch "
                            "on each fraction (the comparison; costs one more training each)")

    def __post_init__(self) -> None:
        coerce(self)
        f = self.fractions
        for x in f:
            if not (math.isfinite(x) and 0.0 < x <= 1.0):
                raise SettingsError("fractions", f"fractions must lie in (0, 1], got {x!r} in "
                                    f"{list(f)}; give fractions of the training frames, e.g. "
                                    "0.1,0.4,1.0")
        if any(b <= a for a, b in itertools.pairwise(f)):
            raise SettingsError("fractions", f"fractions must be strictly increasing (no "
                                f"duplicates), got {list(f)}; sort them and drop repeats")


def parse_fractions(text: str, flag: str = "--fractions") -> tuple[float, ...]:
    """``"0.1,0.4,1"`` -> ``(0.1, 0.4, 1.0)``; a one-line error naming ``flag`` otherwise."""
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserInputError(f"bad {flag} {text!r}: give comma-separated fractions in (0, 1], "
                             "e.g. 0.05,0.1,0.2,0.4,0.7,1.0") from None
    if not values:
        raise UserInputError(f"{flag} is empty: give comma-separated fractions in (0, 1], "
                             "e.g. 0.05,0.1,0.2,0.4,0.7,1.0")
    try:
        FractionSettings(fractions=values)
    except SettingsError as exc:
        raise UserInputError(exc.naming(flag)) from None
    return values
