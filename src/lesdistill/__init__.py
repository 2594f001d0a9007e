"""lesdistill: distil foundation MLIPs into fast students with latent Ewald summation (LES)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
if TYPE_CHECKING:  # the lazy exports below, for type checkers and IDEs
    from lesdistill.calculator import StudentCalculator

__all__ = ["StudentCalculator", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: importing lesdistill stays cheap, and the calculator pulls in the model only on use.
    if name == "StudentCalculator":
        from lesdistill.calculator import StudentCalculator

        return StudentCalculator
    raise AttributeError(f"module 'lesdistill' has no attribute {name!r}")
