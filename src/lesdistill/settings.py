"""Stage settings: the one home of each stage's fields, defaults, choices and bounds.

Every stage's library module owns one frozen dataclass of its settings (e.g.
:class:`lesdistill.sampling.md.SampleSettings`). The run config (YAML), the compare config and
the CLI build that object instead of re-declaring fields, so adding a setting is one line in
the dataclass (a YAML key and a CLI flag follow from it). This module holds the shared pieces:

* :func:`setting`: a field with its default, a one-line help text (shown by the CLI) and an
  optional CLI flag name;
* :func:`coerce`: converts and type-checks every field against its annotation (called first in
  ``__post_init__``; ``int`` fields accept numpy integers, tuple fields accept lists);
* :class:`SettingsError` and the checks :func:`positive`, :func:`one_of`, :func:`at_most`: the
  message names the field, the bad value and the fix. Inside a YAML section the run config
  names the key (``sampling.n_frames must be > 0, got 0``), the CLI names the flag.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable
from typing import Any, Self

from lesdistill.config_types import convert_value
from lesdistill.errors import UserInputError

__all__ = [
    "Settings",
    "SettingsError",
    "at_most",
    "coerce",
    "field_help",
    "one_of",
    "positive",
    "setting",
]


class SettingsError(UserInputError):
    """A bad settings value of field ``field``.

    ``message`` names the field with the placeholder ``{field}`` (else its first occurrence of
    the field name is the placeholder); :meth:`naming` fills in another name for it.
    """

    def __init__(self, field: str, message: str) -> None:
        if "{field}" not in message:
            if field not in message:
                raise ValueError(f"internal: settings message {message!r} does not name {field!r}")
            message = message.replace(field, "{field}", 1)
        super().__init__(message.replace("{field}", field))
        self.field = field
        self.template = message

    def naming(self, name: str) -> str:
        """The message with the field called ``name`` (``sampling.n_frames``, ``--n-frames``)."""
        return self.template.replace("{field}", name)


class Settings:
    """Base of the frozen settings dataclasses: copies with changes, views of subclasses."""

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (field names; TypeError for an unknown one), validated."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        """The ``cls`` part of ``settings`` (e.g. of a run-config section that extends it)."""
        return cls(**{f.name: getattr(settings, f.name)
                      for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def setting(default: Any, help: str, *, cli: str | None = None) -> Any:  # noqa: A002
    """A dataclass field with a default, a help text and (optionally) its CLI flag."""
    metadata = {"help": help, **({"cli": cli} if cli else {})}
    if isinstance(default, list | dict | set):
        raise TypeError("internal: settings defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata=metadata)


def field_help(cls: type, name: str) -> str:
    """The help text of field ``name`` of settings class ``cls`` ('' if none)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return str(f.metadata.get("help", ""))
    raise KeyError(name)


def coerce(obj: Any) -> None:
    """Convert every field of frozen dataclass ``obj`` to its annotated type, in place."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        try:
            converted = convert_value(value, hints[f.name], f.name)
        except UserInputError as exc:
            raise SettingsError(f.name, str(exc)) from None
        object.__setattr__(obj, f.name, converted)


def _bad(name: str, value: Any, expected: str, fix: str) -> SettingsError:
    return SettingsError(name, f"{{field}} must be {expected}, got {value!r}"
                               f"{'; ' + fix if fix else ''}")


def positive(obj: Any, *names: str, strict: bool = True, fix: str = "") -> None:
    """Each named field (a number, or a tuple of numbers) is > 0 (``strict``) or >= 0."""
    for name in names:
        value = getattr(obj, name)
        items: Iterable[Any] = value if isinstance(value, tuple) else (value,)
        for item in items:
            ok = item is not None and not math.isnan(item) and (item > 0 if strict else item >= 0)
            if not ok:
                raise _bad(name, value, "> 0" if strict else ">= 0", fix)


def at_most(obj: Any, name: str, upper: float, unit: str = "", fix: str = "") -> None:
    """Field ``name`` is <= ``upper``."""
    value = getattr(obj, name)
    if value > upper:
        raise _bad(name, value, f"<= {upper:g}{' ' + unit if unit else ''}", fix)


def one_of(obj: Any, name: str, choices: Iterable[str | None], what: str = "") -> None:
    """Field ``name`` is one of ``choices`` (``what``: how the message calls the value)."""
    choices = tuple(choices)
    value = getattr(obj, name)
    if value not in choices:
        names = ", ".join("null" if c is None else str(c) for c in choices)
        label = f"{what} {value!r} ({{field}})" if what else f"{{field}} {value!r}"
        raise SettingsError(name, f"unknown {label}; choose one of {names}")
