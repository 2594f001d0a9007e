"""Benchmark structures (seeded builders) and validated loading of users' structure files.

    build(name, *, seed=0, **params) -> ase.Atoms

Names: ``water`` (:func:`water_box`), ``hcl`` (:func:`hcl_solution`), ``tio2-water``
(:func:`tio2_water_interface`), ``ionic`` (:func:`random_ionic_box`, for the analytic teachers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lesdistill.errors import UserInputError

if TYPE_CHECKING:  # Atoms for annotations; the lazy exports below, for type checkers and IDEs
    from ase import Atoms

    from lesdistill.systems.hcl import hcl_solution
    from lesdistill.systems.io import load_structure
    from lesdistill.systems.ionic import random_ionic_box
    from lesdistill.systems.tio2 import tio2_water_interface
    from lesdistill.systems.water import water_box

__all__ = ["BUILDERS", "build", "hcl_solution", "load_structure", "random_ionic_box",
           "tio2_water_interface", "water_box"]

#: builder name -> "module:function" (imported on use)
BUILDERS: dict[str, str] = {
    "water": "lesdistill.systems.water:water_box",
    "hcl": "lesdistill.systems.hcl:hcl_solution",
    "tio2-water": "lesdistill.systems.tio2:tio2_water_interface",
    "ionic": "lesdistill.systems.ionic:random_ionic_box",
}


def _resolve(target: str) -> Any:
    import importlib

    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def build(name: str, *, seed: int = 0, **params: Any) -> Atoms:
    """Build the benchmark structure ``name`` (see :data:`BUILDERS`) with a seeded generator."""
    if name not in BUILDERS:
        raise UserInputError(f"unknown system {name!r}; known: {', '.join(BUILDERS)}")
    return _resolve(BUILDERS[name])(seed=seed, **params)


def __getattr__(name: str) -> Any:
    targets = {t.split(":")[1]: t for t in BUILDERS.values()}
    targets["load_structure"] = "lesdistill.systems.io:load_structure"
    if name in targets:
        return _resolve(targets[name])
    raise AttributeError(f"module 'lesdistill.systems' has no attribute {name!r}")
