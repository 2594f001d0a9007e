"""Orb checkpoints: ``orb:PATH[@ARCHITECTURE][,compile=true][,precision=...]`` (orb-models).

The architecture is the name of an orb-models pretrained builder (``orb-v3-conservative-inf-omat``,
``orb-v3-direct-20-mpa``, ``orbmol-v2``, ...; underscores or dashes). Orb checkpoints are plain
state dicts loaded strictly into the builder's fixed architecture, so the builder must be the
right one: it is taken from ``@ARCHITECTURE``, or else from the file name only when the file name
contains a builder's full name (the released files do, e.g.
``orb-v3-conservative-20-mpa-20250404.ckpt``); otherwise the teacher asks for ``@ARCHITECTURE``.

Both orb-models APIs are supported: 0.5.x (builders return the model, calculator in
``orb_models.forcefield.calculator``) and 0.7.x (builders return ``(model, atoms_adapter)``,
calculator ``orb_models.forcefield.inference.calculator.ORBCalculator(model, atoms_adapter)``;
needs Python >= 3.12). ``torch.compile`` is off on CPU (minutes of compilation per process and
slower than eager there); ``compile=true`` turns it on. OMol-trained heads (orbmol) get the total
charge and spin multiplicity from ``info["total_charge"]`` / ``info["spin_multiplicity"]``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lesdistill.errors import UserInputError
from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import ChargeSpinCalculator, TeacherInfo, has_module

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

#: builder names of orb-models 0.5.5 and 0.7.0 (``ORB_PRETRAINED_MODELS`` keys)
ARCHITECTURES = (
    "orb-v3-conservative-20-omat", "orb-v3-conservative-inf-omat", "orb-v3-direct-20-omat",
    "orb-v3-direct-inf-omat", "orb-v3-conservative-20-mpa", "orb-v3-conservative-inf-mpa",
    "orb-v3-direct-20-mpa", "orb-v3-direct-inf-mpa", "orb-v3-conservative-omol",
    "orb-v3-direct-omol", "orbmol-v1-conservative", "orbmol-v1-direct", "orbmol-v2",
    "orb-v2", "orb-d3-v2", "orb-d3-sm-v2", "orb-d3-xs-v2", "orb-mptraj-only-v2",
)
_OPTIONS = {"compile": "torch.compile the model (default: only on CUDA)",
            "precision": "orb precision string, e.g. float32-high (default), float32-highest, "
                         "float64"}
_NEW_CALCULATOR = "orb_models.forcefield.inference.calculator"
_OLD_CALCULATOR = "orb_models.forcefield.calculator"


def architecture(spec: TeacherSpec) -> str | None:
    """The builder name (dashed) from ``@ARCH`` or from a file name containing one; else None."""
    if spec.option:
        return spec.option.replace("_", "-").lower()
    stem = spec.path.rsplit("/", 1)[-1].lower().replace("_", "-")
    found = [a for a in ARCHITECTURES if a in stem]
    return max(found, key=len) if found else None


def _data_and_level(arch: str) -> tuple[str, str]:
    if "omol" in arch or arch.startswith("orbmol"):
        return "OMol25", "DFT wB97M-V/def2-TZVPD"
    if "mpa" in arch or arch.endswith("-v2") and "mptraj" not in arch:
        return "MPtrj + Alexandria", "DFT PBE / PBE+U"
    if "mptraj" in arch:
        return "MPtrj", "DFT PBE / PBE+U"
    return "OMat24", "DFT PBE / PBE+U"


class OrbAdapter(TeacherAdapter):
    family = "orb"
    prefixes = ("orb",)
    needs_file = True
    formats = ("*.ckpt: state dict of a pretrained builder's architecture (named by @ARCH or the "
               "released file name)")
    packages = (Package("orb_models", "orb-models", "0.5.5",
                        "pip install torch==2.13.0 orb-models==0.5.5 (0.7.x needs Python >= 3.12)",
                        "orb"),)

    def validate(self, spec: TeacherSpec) -> None:
        spec.check_options(_OPTIONS)
        spec.flag("compile", False)
        arch = architecture(spec)
        if arch is not None and arch not in ARCHITECTURES:
            raise UserInputError(f"orb: unknown architecture {arch!r}; "
                             f"use one of {', '.join(ARCHITECTURES)}")

    def missing(self, spec: TeacherSpec) -> list[str]:
        reasons = super().missing(spec)
        if spec.path and architecture(spec) is None:
            reasons.append("the architecture (add @ARCH to the spec, e.g. "
                           "orb:PATH@orb-v3-conservative-inf-omat)")
        return reasons

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        arch = architecture(spec) or "architecture not given (add @ARCH)"
        data, level = _data_and_level(arch)
        return TeacherInfo(
            family="orb",
            architecture=f"Orb ({arch}): graph network simulator, smooth-attention message passing",
            training_data=data,
            level_of_theory=level,
            elements=None,
            periodic=True,
            open=True,
            extra="orb",
            notes=f"checkpoint {spec.path}",
        )

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        from orb_models.forcefield import pretrained

        arch = architecture(spec)
        if arch is None:
            raise UserInputError(
                f"orb: cannot tell the architecture from the file name {spec.path!r}; "
                f"add it as orb:PATH@ARCH with ARCH one of {', '.join(ARCHITECTURES)}"
            )
        table: dict[str, Any] = getattr(pretrained, "ORB_PRETRAINED_MODELS", {})
        builder = table.get(arch) or getattr(pretrained, arch.replace("-", "_"), None)
        if builder is None:
            raise UserInputError(f"orb: the installed orb-models has no builder {arch!r}; "
                             f"it has {', '.join(sorted(table))}")
        kwargs: dict[str, Any] = {"weights_path": str(self.checkpoint(spec)), "device": device,
                                  "compile": spec.flag("compile", device.startswith("cuda"))}
        if "precision" in spec.options:
            kwargs["precision"] = spec.options["precision"]
        try:
            built = builder(**kwargs)
        except RuntimeError as exc:
            if "state_dict" not in str(exc):
                raise
            raise UserInputError(f"orb: {spec.path} does not fit the architecture {arch!r} (strict "
                             "load failed: missing/unexpected weights); pass the architecture the "
                             "checkpoint was trained with as orb:PATH@ARCH") from None
        if isinstance(built, tuple):  # orb-models >= 0.7: (model, atoms_adapter)
            model, atoms_adapter = built
            calc_class = importlib.import_module(_NEW_CALCULATOR).ORBCalculator
            return ChargeSpinCalculator.wrap(calc_class)(model, atoms_adapter=atoms_adapter,
                                                         device=device)
        module = _NEW_CALCULATOR if has_module(_NEW_CALCULATOR) else _OLD_CALCULATOR
        calc_class = importlib.import_module(module).ORBCalculator
        return calc_class(built, device=device)


ADAPTER = OrbAdapter()
