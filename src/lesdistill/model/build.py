"""Build the backbone a student config names: the built-in ``painn``, an installed
``lesdistill.backbones`` entry point, or ``package.module:Factory`` (see
:mod:`lesdistill.model.backbone` for the interface and the trust rules)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lesdistill.errors import UserInputError
from lesdistill.model.backbone import (
    BUILTIN_BACKBONES,
    ENTRY_POINT_GROUP,
    SPEC_RE,
    Backbone,
    _entry_points,
    check_backbone_name,
)
from lesdistill.model.painn import PaiNN

if TYPE_CHECKING:
    from lesdistill.model.config import StudentConfig

__all__ = ["build_backbone"]


def build_backbone(config: StudentConfig) -> Backbone:
    """Instantiate the backbone named by ``config.backbone``: "painn", an installed
    ``lesdistill.backbones`` entry-point name, or "package.module:Factory".

    This imports and calls the named code; files are checked first with
    :func:`check_backbone_trusted` (see the module docstring)."""
    options: dict[str, Any] = dict(config.backbone_options)
    name = check_backbone_name(config.backbone)
    if name == "painn":
        return PaiNN(config, **options)
    target = name
    if not SPEC_RE.fullmatch(name):
        target = _entry_points().get(name, "")
        if not SPEC_RE.fullmatch(target):
            raise UserInputError(f"unknown backbone {name!r}: not built in "
                                 f"({', '.join(BUILTIN_BACKBONES)}) and no installed "
                                 f"'{ENTRY_POINT_GROUP}' entry point of that name")
    module_name, _, attr = target.partition(":")
    try:
        factory: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            factory = getattr(factory, part)
    except (ImportError, AttributeError) as err:
        raise UserInputError(f"cannot import backbone {name!r}: {err}; install the package "
                             "that provides it or fix the spec") from None
    if not callable(factory):
        raise UserInputError(f"backbone {name!r} is a {type(factory).__name__}, not a callable "
                             "factory; name a Backbone class or a function that returns one")
    backbone = factory(config, **options)
    if not isinstance(backbone, Backbone):
        raise UserInputError(f"backbone factory {name!r} returned {type(backbone).__name__}, "
                             "not a lesdistill.model.Backbone")
    if not isinstance(getattr(backbone, "feature_dim", None), int):
        raise UserInputError(f"backbone {name!r} must set an integer attribute feature_dim")
    return backbone
