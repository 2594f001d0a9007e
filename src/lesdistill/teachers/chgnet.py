"""CHGNet 0.3.0 (weights ship inside the chgnet wheel): the embedded default teacher.

Extra: ``pip install 'lesdistill[chgnet]'``. Periodic structures only (CHGNet builds a
crystal graph from a lattice).
"""

from __future__ import annotations

from typing import Any

from lesdistill.teachers.base import Teacher, TeacherInfo, missing_packages, require_package

#: Elements H (1) .. Pu (94), the range of CHGNet's atom embedding.
_CHGNET_Z_MAX = 94

INFO = TeacherInfo(
    family="chgnet",
    architecture="CHGNet 0.3.0: crystal-graph GNN with bond/angle graphs and magnetic moments",
    training_data="MPtrj (Materials Project relaxation trajectories, ~1.58 M frames)",
    level_of_theory="DFT PBE / PBE+U (Materials Project GGA/GGA+U mix)",
    elements=None,
    periodic=True,
    open=False,
    extra="chgnet",
    notes="weights chgnet_0.3.0 from the chgnet wheel; no download",
)


def info(arg: str = "") -> TeacherInfo:
    """Metadata (``arg`` unused)."""
    from ase.data import chemical_symbols

    return TeacherInfo(**{**INFO.__dict__,
                          "elements": frozenset(chemical_symbols[1:_CHGNET_Z_MAX + 1])})


def missing(arg: str = "") -> list[str]:
    """What is missing to use this teacher here (empty: usable)."""
    found = missing_packages([("chgnet", "chgnet")])
    return [f"package chgnet (pip install 'lesdistill[chgnet]')" for _ in found]


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """CHGNet 0.3.0 on ``device`` (ASE calculator: energy, forces, stress, magmoms)."""
    require_package("chgnet", "chgnet", "chgnet", "the CHGNet teacher")
    import contextlib
    import io
    import warnings

    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    class _QuietCHGNetCalculator(CHGNetCalculator):  # type: ignore[misc]
        """CHGNetCalculator without its per-call torch UserWarning (volume tensor)."""

        def calculate(self, *args: Any, **kwargs: Any) -> None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
                super().calculate(*args, **kwargs)

    with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints banners on load
        model = CHGNet.load(model_name="0.3.0", use_device=device, verbose=False)
        calc = _QuietCHGNetCalculator(model=model, use_device=device, on_isolated_atoms="ignore")
    return Teacher(name=spec, info=info(), calculator=calc, device=device)
