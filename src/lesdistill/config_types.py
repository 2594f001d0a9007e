"""Typed conversion of plain YAML data into (frozen) dataclasses, and back.

:func:`from_dict` checks every key against the dataclass fields (unknown keys raise
:class:`~lesdistill.errors.UserInputError` naming the dotted key and the allowed ones) and every
value against the field's annotation (bool, int, float, str, ``X | None``, ``tuple[T, ...]``,
``dict``, nested dataclasses). :func:`to_dict` gives the plain-data view (tuples become lists).
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from typing import Any

from lesdistill.errors import UserInputError

__all__ = ["convert_value", "from_dict", "to_dict"]


def convert_value(value: Any, tp: Any, where: str) -> Any:
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
                return convert_value(value, arg, where)
            except UserInputError as exc:
                errors.append(str(exc))
        raise UserInputError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserInputError(f"{where} must be a mapping of keys, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        many = isinstance(value, list | tuple) or getattr(value, "ndim", 0) > 0  # numpy arrays
        items = list(value) if many else [value]
        return tuple(convert_value(v, item_tp, f"{where}[{i}]") for i, v in enumerate(items))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise UserInputError(f"{where} must be a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not _is_bool(value):
            raise UserInputError(f"{where} must be true or false, got {value!r}")
        return bool(value)
    if tp is int:
        if _is_bool(value) or not isinstance(value, numbers.Integral):
            raise UserInputError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if tp is float:
        if _is_bool(value) or not isinstance(value, numbers.Real):
            raise UserInputError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise UserInputError(f"{where} must be a string, got {value!r}")
        return str(value)
    raise TypeError(f"internal: unsupported config type {tp!r} at {where}")


def _is_bool(value: Any) -> bool:
    """A Python or numpy boolean (numpy is not imported for this)."""
    kind = type(value)
    return isinstance(value, bool) or (
        kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    )


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Instance of dataclass ``cls`` from ``data`` (``where``: dotted prefix for messages)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            prefix = f"{where}." if where else ""
            raise UserInputError(f"unknown config key '{prefix}{key}'; allowed in "
                                 f"{where or 'the top level'}: {', '.join(sorted(names))}")
    kwargs = {
        k: convert_value(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()
    }
    try:
        return cls(**kwargs)
    except UserInputError as exc:
        # stage settings name their field (lesdistill.settings.SettingsError): add the section
        naming = getattr(exc, "naming", None)  # a SettingsError: name the key with its section
        if where and naming is not None:
            raise UserInputError(naming(f"{where}.{exc.field}")) from None
        raise


def to_dict(cfg: Any) -> Any:
    """Plain-data (YAML/JSON-ready) view of a config dataclass (tuples become lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, list | tuple):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    return cfg
