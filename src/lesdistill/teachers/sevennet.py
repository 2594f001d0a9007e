"""SevenNet-0 (weights ship inside the sevenn wheel; needs e3nn >= 0.5).

Extra: ``pip install 'lesdistill[sevennet]'``.
"""

from __future__ import annotations

from lesdistill.teachers.base import Teacher, TeacherInfo, missing_packages, require_package

INFO = TeacherInfo(
    family="sevennet",
    architecture="SevenNet-0 (11Jul2024): NequIP-style E(3)-equivariant message passing, 5 layers",
    training_data="MPtrj (Materials Project relaxation trajectories)",
    level_of_theory="DFT PBE / PBE+U (Materials Project GGA/GGA+U mix)",
    elements=None,  # filled from the checkpoint's type map in info()
    periodic=True,
    open=True,
    extra="sevennet",
    notes="checkpoint 7net-0 from the sevenn wheel; no download; open structures are out of "
          "its training domain (bulk crystals)",
)


def info(arg: str = "") -> TeacherInfo:
    """Metadata; elements = the 89 elements of SevenNet-0 (H..Pu except noble-gas gaps)."""
    from ase.data import chemical_symbols

    # SevenNet-0 covers the MPtrj elements: Z = 1..83 and 89..94 (no Po..Ac)
    zs = [*range(1, 84), *range(89, 95)]
    return TeacherInfo(**{**INFO.__dict__, "elements": frozenset(chemical_symbols[z] for z in zs)})


def missing(arg: str = "") -> list[str]:
    """What is missing to use this teacher here (empty: usable)."""
    return [f"package {p} (pip install 'lesdistill[sevennet]')"
            for p in missing_packages([("sevenn", "sevenn"), ("e3nn", "e3nn")])]


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """SevenNet-0 on ``device`` (ASE calculator: energy, forces, stress)."""
    require_package("sevenn", "sevenn", "sevennet", "the SevenNet teacher")
    require_package("e3nn", "e3nn", "sevennet", "the SevenNet teacher")
    import warnings

    from sevenn.calculator import SevenNetCalculator

    with warnings.catch_warnings():  # "no tensor-product accelerator": expected on CPU
        warnings.simplefilter("ignore", UserWarning)
        calc = SevenNetCalculator(model="7net-0", device=device)
    return Teacher(name=spec, info=info(), calculator=calc, device=device)
