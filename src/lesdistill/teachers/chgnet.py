"""CHGNet 0.3.0 (weights ship inside the chgnet wheel): the embedded default teacher.

Extra: ``pip install 'lesdistill[chgnet]'``. Periodic structures only (CHGNet builds a
crystal graph from a lattice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import TeacherInfo

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

#: Elements H (1) .. Pu (94), the range of CHGNet's atom embedding.
_CHGNET_Z_MAX = 94


class CHGNetAdapter(TeacherAdapter):
    family = "chgnet"
    names = ("chgnet",)
    packages = (Package("chgnet", "chgnet", "0.4.2", "pip install 'lesdistill[chgnet]'", "chgnet"),)

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        from ase.data import chemical_symbols

        return TeacherInfo(
            family="chgnet",
            architecture="CHGNet 0.3.0: crystal-graph GNN with "
            "bond/angle graphs and magnetic moments",
            training_data="MPtrj (Materials Project relaxation trajectories, ~1.58 M frames)",
            level_of_theory="DFT PBE / PBE+U (Materials Project GGA/GGA+U mix)",
            elements=frozenset(chemical_symbols[1 : _CHGNET_Z_MAX + 1]),
            periodic=True,
            open=False,
            extra="chgnet",
            notes="weights chgnet_0.3.0 from the chgnet wheel; no download",
        )

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        """CHGNet 0.3.0 on ``device`` (ASE calculator: energy, forces, stress, magmoms)."""
        import contextlib
        import io
        import warnings

        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        class _QuietCHGNetCalculator(CHGNetCalculator):  # type: ignore[misc]
            """CHGNetCalculator without its per-call torch UserWarning (volume tensor)."""

            def calculate(self, *args: Any, **kwargs: Any) -> None:
                with warnings.catch_warnings():
                    warnings.filterwarnings(
                        "ignore", message="Converting a tensor with requires_grad"
                    )
                    super().calculate(*args, **kwargs)

        with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints banners on load
            model = CHGNet.load(model_name="0.3.0", use_device=device, verbose=False)
            return _QuietCHGNetCalculator(
                model=model, use_device=device, on_isolated_atoms="ignore"
            )


ADAPTER = CHGNetAdapter()
