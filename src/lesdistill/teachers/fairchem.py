"""fairchem UMA / eSEN checkpoints: ``uma:PATH[@task][,compile=true][,refs=FILE]``, ``esen:...``.

Tasks (dataset heads): ``omol`` (molecules, OMol25, wB97M-V/def2-TZVPD), ``omat`` (inorganic
materials, OMat24, PBE/PBE+U), ``oc20`` (catalysis, RPBE), ``odac`` (MOFs, PBE-D3), ``omc``
(molecular crystals, PBE-D3). Without ``@task`` the checkpoint's own dataset is used when it has
only one (an OMol-only eSEN gets ``omol``); a multi-task checkpoint (UMA) needs ``@task``. The
level of theory reported is that of the task actually used.

The ``omol`` head takes the total charge and spin multiplicity: they come from
``atoms.info["total_charge"]`` (e) and ``atoms.info["spin_multiplicity"]`` (2S+1, default 1),
mapped onto fairchem's ``info["charge"]``/``["spin"]``; the other heads refuse charged input.

Energies: when the checkpoint's energy task carries element references, fairchem adds them back
and the energies are total DFT energies; otherwise they are *referenced* energies (total minus
unknown per-element constants, same forces and stress). ``refs=FILE`` (JSON or YAML mapping
element symbol to eV) adds a user's per-element references. Which of the three applies is in
the teacher's ``info.notes``.

``torch.compile`` is off on CPU (87 s per process before the first label, repeated in every
``label --workers`` process); ``compile=true`` turns it on (the default on CUDA). Only a local
file is loaded (it is unpickled by fairchem: load only files you trust); Hugging Face is put in
offline mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lesdistill.errors import UserInputError
from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import ChargeSpinCalculator, TeacherInfo

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

TASKS: dict[str, tuple[str, str]] = {
    # task: (training data, level of theory)
    "omol": ("OMol25", "DFT wB97M-V/def2-TZVPD"),
    "omat": ("OMat24", "DFT PBE / PBE+U (VASP)"),
    "oc20": ("OC20", "DFT RPBE"),
    "odac": ("ODAC23", "DFT PBE-D3"),
    "omc": ("OMC25", "DFT PBE-D3"),
}
CHARGED_TASKS = frozenset({"omol"})
_OPTIONS = {"compile": "torch.compile (default: only on CUDA)",
            "refs": "JSON/YAML file of per-element reference energies (eV) added to the energy"}
INSTALL = "pip install torch==2.13.0 fairchem-core==2.24.0"


def read_references(path: str) -> dict[str, float]:
    """Per-element reference energies (eV) from a JSON or YAML mapping ``{"H": -13.6, ...}``."""
    import json
    from pathlib import Path

    from ase.data import chemical_symbols

    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"fairchem teacher: reference-energy file not found: {file}")
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict) or not data:
        raise UserInputError(f"{file}: expected a mapping element -> reference energy (eV)")
    refs = {}
    for key, value in data.items():
        if key not in chemical_symbols[1:]:
            raise UserInputError(f"{file}: {key!r} is not an element symbol")
        try:
            refs[key] = float(value)
        except (TypeError, ValueError):
            raise UserInputError(
                f"{file}: reference energy of {key} must be a number (eV)"
            ) from None
    return refs


class FairchemAdapter(TeacherAdapter):
    """UMA and eSEN share one loader; the subclasses name the family."""

    family = "fairchem"
    needs_file = True
    formats = ("*.pt: MLIPInferenceCheckpoint (model_config, state dicts, tasks_config), "
               "the format of the released uma-*.pt / esen-*.pt files")
    packages = (Package("fairchem.core", "fairchem-core", "2.24.0", INSTALL, "fairchem"),)
    architecture = ""

    def validate(self, spec: TeacherSpec) -> None:
        spec.check_options(_OPTIONS)
        spec.flag("compile", False)
        if spec.option is not None and spec.option not in TASKS:
            raise UserInputError(f"{self.family}: unknown task {spec.option!r}; use one of "
                             f"{', '.join(TASKS)}")
        if "refs" in spec.options:
            read_references(spec.options["refs"])

    def info(self, spec: TeacherSpec, task: str | None = None, energies: str = "") -> TeacherInfo:
        task = task or spec.option
        if task is None:
            data, level = "the checkpoint's dataset (read when loaded)", \
                "that of the checkpoint's task (read when loaded)"
        else:
            data, level = TASKS.get(task, ("unknown dataset", "unknown"))
            data = f"{data} (task {task})"
        notes = f"checkpoint {spec.path}" + (f"; energies {energies}" if energies else "")
        return TeacherInfo(family=self.family, architecture=self.architecture,
                           training_data=data, level_of_theory=level, elements=None,
                           periodic=True, open=True, extra="fairchem", notes=notes)

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        from fairchem.core import FAIRChemCalculator
        from fairchem.core.units.mlip_unit import load_predict_unit
        from fairchem.core.units.mlip_unit.api.inference import InferenceSettings

        settings = InferenceSettings(
            tf32=False, activation_checkpointing=False, merge_mole=False,
            compile=spec.flag("compile", device.startswith("cuda")), external_graph_gen=False)
        predictor = load_predict_unit(str(self.checkpoint(spec)), inference_settings=settings,
                                      device="cuda" if device.startswith("cuda") else "cpu")
        datasets = list(predictor.dataset_to_tasks)
        task = spec.option
        if task is None:
            if len(datasets) != 1:
                raise UserInputError(
                    f"{self.family}: the checkpoint has tasks {', '.join(datasets)}; "
                    f"choose one, e.g. {spec.key}:{spec.path}@{datasets[0]}"
                )
            task = datasets[0]
        elif task not in datasets:
            raise UserInputError(f"{self.family}: the checkpoint has no task {task!r}; it has "
                             f"{', '.join(datasets)}")
        refs = read_references(spec.options["refs"]) if "refs" in spec.options else None
        energy_tasks = [t for t in predictor.dataset_to_tasks[task] if t.property == "energy"]
        built_in = any(t.element_references is not None for t in energy_tasks)
        base: Any = ChargeSpinCalculator.wrap(FAIRChemCalculator,
                                              takes_charge=task in CHARGED_TASKS)

        class _FairchemTeacherCalculator(base):  # type: ignore[misc, valid-type]
            def calculate(self, atoms=None, properties=None, system_changes=None):  # type: ignore[no-untyped-def]
                super().calculate(atoms, properties, system_changes)
                if refs is not None and atoms is not None:
                    absent = sorted(set(atoms.get_chemical_symbols()) - set(refs))
                    if absent:
                        raise UserInputError(
                            f"reference energies lack element(s) {', '.join(absent)}"
                        )
                    shift = sum(refs[s] for s in atoms.get_chemical_symbols())
                    for key in ("energy", "free_energy"):
                        if key in self.results:
                            self.results[key] = float(self.results[key]) + shift

        calc = _FairchemTeacherCalculator(predictor, task_name=task)
        if refs is not None:
            energies = (
                f"referenced by the checkpoint, plus the references of {spec.options['refs']}"
            )
        elif built_in:
            energies = "total (element references from the checkpoint added back)"
        else:
            energies = ("referenced: the checkpoint has no element references (add refs=FILE for "
                        "total energies; forces and stress are unaffected)")
        calc.lesdistill_task = task
        calc.lesdistill_energies = energies
        return calc

    def loaded_info(self, spec: TeacherSpec, calc: Calculator) -> TeacherInfo:
        return self.info(spec, task=getattr(calc, "lesdistill_task", None),
                         energies=getattr(calc, "lesdistill_energies", ""))


class UMAAdapter(FairchemAdapter):
    family = "uma"
    prefixes = ("uma",)
    architecture = "UMA: mixture-of-linear-experts eSEN, one model with per-task heads"


class ESENAdapter(FairchemAdapter):
    family = "esen"
    prefixes = ("esen",)
    architecture = "eSEN: smooth equivariant message passing (SO(2) convolutions)"


UMA = UMAAdapter()
ESEN = ESENAdapter()
