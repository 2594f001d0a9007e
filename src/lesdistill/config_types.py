"""Typed conversion of plain YAML data into (frozen) dataclasses, and back.

:func:`from_dict` checks every key against the dataclass fields (unknown keys raise
:class:`~lesdistill.errors.UserInputError` naming the dotted key and the allowed ones) and every
value against the field's annotation (bool, int, float, str, ``X | None``, ``tuple[T, ...]``,
``dict``, nested dataclasses). :func:`to_dict` gives the plain-data view (tuples become lists).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from lesdistill.errors import UserInputError

__all__ = ["from_dict", "to_dict"]


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check/convert one YAML value to the annotated type ``tp`` (``where`` names the key)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except UserInputError as exc:
                errors.append(str(exc))
        raise UserInputError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserInputError(f"{where} must be a mapping of keys, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(items))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise UserInputError(f"{where} must be a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise UserInputError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserInputError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserInputError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise UserInputError(f"{where} must be a string, got {value!r}")
        return str(value)
    raise TypeError(f"internal: unsupported config type {tp!r} at {where}")


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Instance of dataclass ``cls`` from ``data`` (``where``: dotted prefix for messages)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            prefix = f"{where}." if where else ""
            raise UserInputError(f"unknown config key '{prefix}{key}'; allowed in "
                                 f"{where or 'the top level'}: {', '.join(sorted(names))}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> Any:
    """Plain-data (YAML/JSON-ready) view of a config dataclass (tuples become lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, list | tuple):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    return cfg
