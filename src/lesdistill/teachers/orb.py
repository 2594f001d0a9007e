"""Orb checkpoints: ``orb:PATH[@architecture]`` (orb-models).

The architecture is the name of an ``orb_models.forcefield.pretrained`` builder; default
``orb_v3_conservative_inf_omat`` (Orb v3, OMat24 PBE/PBE+U). The weights are read from PATH
(``weights_path``), never downloaded. Extra: ``pip install 'lesdistill[orb]'``.
"""

from __future__ import annotations

from lesdistill.teachers.base import (
    Teacher,
    TeacherInfo,
    checkpoint_missing,
    offline_environment,
    require_file,
    require_package,
    split_option,
)

from lesdistill.errors import UserInputError

DEFAULT_ARCHITECTURE = "orb_v3_conservative_inf_omat"


def _architecture(arg: str) -> str:
    path, arch = split_option(arg)
    if arch:
        return arch.replace("-", "_")
    stem = path.rsplit("/", 1)[-1].lower().replace("-", "_")
    for candidate in ("orb_v3_conservative_inf_omat", "orb_v3_conservative_20_omat",
                      "orb_v3_direct_inf_omat", "orb_v3_direct_20_omat",
                      "orb_v3_conservative_inf_mpa", "orb_v3_direct_inf_mpa",
                      "orb_v3_conservative_omol", "orb_v3_direct_omol"):
        if candidate in stem:
            return candidate
    return DEFAULT_ARCHITECTURE


def info(arg: str = "") -> TeacherInfo:
    """Metadata of ``orb:arg``."""
    arch = _architecture(arg)
    if "omol" in arch:
        data, level = "OMol25", "DFT wB97M-V/def2-TZVPD"
    elif "mpa" in arch:
        data, level = "MPtrj + Alexandria", "DFT PBE / PBE+U"
    else:
        data, level = "OMat24", "DFT PBE / PBE+U"
    return TeacherInfo(
        family="orb",
        architecture=f"Orb v3 ({arch}): graph network simulator, smooth-attention message passing",
        training_data=data,
        level_of_theory=level,
        elements=None,
        periodic=True,
        open=True,
        extra="orb",
        notes=f"checkpoint {arg}",
    )


def missing(arg: str = "") -> list[str]:
    """What is missing to use ``orb:arg`` here (empty: usable)."""
    return checkpoint_missing(arg, "orb_models", "orb-models", "orb")


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """ORBCalculator with weights loaded from the local file."""
    path_str, _ = split_option(arg)
    path = require_file(path_str, "orb teacher")
    require_package("orb_models", "orb-models", "orb", "the Orb teacher")
    offline_environment()
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.calculator import ORBCalculator

    arch = _architecture(arg)
    builder = getattr(pretrained, arch, None)
    if builder is None:
        raise UserInputError(f"orb: unknown architecture {arch!r} in orb_models.forcefield.pretrained")
    model = builder(weights_path=str(path), device=device)
    return Teacher(name=spec, info=info(arg), calculator=ORBCalculator(model, device=device),
                   device=device)
