"""The lazy ``__getattr__`` exports of the packages: every name in ``__all__`` resolves, and the
``if TYPE_CHECKING:`` block that type checkers read imports each lazy name from the module the
runtime lookup returns it from (so the two tables cannot drift apart)."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

LAZY_PACKAGES = ["lesdistill", "lesdistill.compare", "lesdistill.sampling", "lesdistill.spectra",
                 "lesdistill.systems", "lesdistill.teachers", "lesdistill.training"]


def _type_checking_imports(module) -> dict[str, str]:
    """name -> module of every ``from X import name`` under ``if TYPE_CHECKING:``."""
    tree = ast.parse(inspect.getsource(module))
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for sub in node.body:
                if isinstance(sub, ast.ImportFrom):
                    out.update({a.asname or a.name: sub.module for a in sub.names})
    return out


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_lazy_exports_are_declared_for_type_checkers(name: str) -> None:
    package = importlib.import_module(name)
    declared = _type_checking_imports(package)
    source_names = set(ast.literal_eval(
        next(n.value for n in ast.parse(inspect.getsource(package)).body
             if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "__all__")))
    assert source_names == set(package.__all__), "__all__ must be a literal list"
    for export in package.__all__:
        value = getattr(package, export)  # resolves (lazily or not)
        if export in declared:
            origin = importlib.import_module(declared[export])
            assert getattr(origin, export) is value, f"{name}.{export} is not {declared[export]}"
        else:
            assert export in vars(package), f"{name}.{export} is lazy but not declared"
