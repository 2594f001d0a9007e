"""CLI options derived from a stage's settings dataclass (one flag per field, no re-declaration).

:func:`settings_options` adds one option per field of a settings dataclass (see
:mod:`lesdistill.settings`) to a typer command: the flag is ``--field-name`` (or the field's
``cli`` metadata), the help text and the shown default come from the field, tuple fields take
comma-separated numbers. The command receives the options the user gave as one dict (keyword
``overrides``), to apply on top of the library defaults or a preset with :func:`build`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Optional

import typer

from lesdistill.errors import UserInputError
from lesdistill.settings import SettingsError

__all__ = ["build", "flag_of", "settings_options"]


def flag_of(f: dataclasses.Field[Any]) -> str:
    """The CLI flag of settings field ``f`` (``--n-frames``; ``--relax/--no-relax`` for bools)."""
    return str(f.metadata.get("cli") or "--" + f.name.lower().replace("_", "-"))


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _option(f: dataclasses.Field[Any], tp: Any) -> tuple[Any, Any]:
    """(annotation, typer.Option) of one settings field; the option's default is None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):  # X | None: the flag gives X
        tp = next(arg for arg in typing.get_args(tp) if arg is not type(None))
    help_text = str(f.metadata.get("help", ""))
    default = f"(default: {_show(f.default)})"
    flag = flag_of(f)
    if typing.get_origin(tp) is tuple:
        # Optional[...] below: a runtime type handed to typer
        return Optional[str], typer.Option(  # noqa: UP045
            None, flag, help=f"{help_text}, comma-separated {default}"
        )
    help_text = f"{help_text} {default}"
    if tp not in (bool, int, float, str):
        raise TypeError(f"internal: no CLI option for settings type {tp!r} ({f.name})")
    # bool: "--x/--no-x"
    return Optional[tp], typer.Option(None, flag, help=help_text)  # noqa: UP045


def _parse_tuple(text: str, flag: str, item: Any) -> tuple[Any, ...]:
    try:
        values = tuple(item(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise UserInputError(f"{flag} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserInputError(f"{flag} is empty; give comma-separated numbers")
    return values


def settings_options(cls: type, *, exclude: Iterable[str] = ()) -> Callable[[Callable[..., Any]],
                                                                           Callable[..., Any]]:
    """Decorator: expose the fields of settings class ``cls`` as options of a typer command.

    The decorated function must take a keyword ``overrides: dict`` (hidden from the CLI); it
    receives ``{field: value}`` of the options given on the command line (converted; tuples
    parsed from ``1,2,3``).
    """
    skip = set(exclude)
    hints = typing.get_type_hints(cls)
    chosen = [f for f in dataclasses.fields(cls) if f.name not in skip]

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func, eval_str=True)
        own = [p for name, p in sig.parameters.items() if name != "overrides"]
        added = []
        for f in chosen:
            annotation, option = _option(f, hints[f.name])
            added.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                           default=option, annotation=annotation))

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            overrides: dict[str, Any] = {}
            for f in chosen:
                value = kwargs.pop(f.name)
                if value is None:
                    continue
                tp = hints[f.name]
                if typing.get_origin(tp) is tuple:
                    value = _parse_tuple(value, flag_of(f), typing.get_args(tp)[0])
                overrides[f.name] = value
            return func(overrides=overrides, **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params
                                   if p.annotation is not inspect.Parameter.empty}
        del command.__wrapped__  # typer must see the new signature, not the wrapped one
        return command

    return wrap


def build(cls: type, base: Any, overrides: dict[str, Any]) -> Any:
    """``base`` (an instance of settings class ``cls``, or None for its defaults) with
    ``overrides``; a bad value is reported with the CLI flag that set it."""
    flags = {f.name: flag_of(f).split("/", 1)[0] for f in dataclasses.fields(cls)}
    try:
        start = cls() if base is None else base
        return dataclasses.replace(start, **overrides)
    except SettingsError as exc:
        flag = flags.get(exc.field)
        if flag is None or exc.field not in overrides:
            raise
        raise UserInputError(exc.naming(flag)) from None
