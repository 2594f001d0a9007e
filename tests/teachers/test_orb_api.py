"""The orb-models 0.7 code path, against a stand-in package with 0.7.0's public signatures.

orb-models 0.7.0 needs Python >= 3.12, so it cannot be installed beside lesdistill's Python 3.11
here. Its public API as published in the 0.7.0 wheel: builders in
``orb_models.forcefield.pretrained`` (listed in ``ORB_PRETRAINED_MODELS``) take
``weights_path, device, precision, compile, train, ...`` and return ``(model, atoms_adapter)``;
the calculator is ``orb_models.forcefield.inference.calculator.ORBCalculator(model,
atoms_adapter, edge_method=None, max_num_neighbors=None, half_supercell=None, device=None,
directory=".")``, and orbmol heads read ``atoms.info["charge"]``/``["spin"]``. The stand-in
below has exactly those signatures; the real 0.5.5 package is tested in
tests/teachers/families/test_orb.py.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import numpy as np
import pytest

from lesdistill import keys
from lesdistill.teachers import get_teacher
from lesdistill.teachers.base import SPIN_MULTIPLICITY

PRETRAINED = '''
CALLS = []


class ForcefieldAtomsAdapter:
    def __init__(self, radius, max_num_neighbors):
        self.radius, self.max_num_neighbors = radius, max_num_neighbors


class Model:
    properties = ["energy"]


def _builder(name, radius, neighbors):
    def build(weights_path="https://example.invalid/x.ckpt", device=None,
              precision="float32-high", compile=None, train=False,
              train_reference_energies=False, loss_weights=None):
        CALLS.append({"name": name, "weights_path": weights_path, "device": device,
                      "precision": precision, "compile": compile})
        return Model(), ForcefieldAtomsAdapter(radius=radius, max_num_neighbors=neighbors)
    return build


orb_v3_conservative_inf_omat = _builder("orb-v3-conservative-inf-omat", 6.0, 120)
orbmol_v2 = _builder("orbmol-v2", 6.0, 120)
ORB_PRETRAINED_MODELS = {"orb-v3-conservative-inf-omat": orb_v3_conservative_inf_omat,
                         "orbmol-v2": orbmol_v2}
'''

CALCULATOR = '''
import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class ORBCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model, atoms_adapter, edge_method=None, max_num_neighbors=None,
                 half_supercell=None, device=None, directory="."):
        super().__init__(directory=directory)
        self.model, self.adapter, self.device = model, atoms_adapter, device

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = self.atoms.positions
        d = pos[:, None, :] - pos[None, :, :]
        e = 0.5 * 0.5 * float((d ** 2).sum()) / len(pos)
        e += 0.1 * self.atoms.info.get("charge", 0) + 0.01 * self.atoms.info.get("spin", 1)
        forces = -2 * 0.5 * (len(pos) * pos - pos.sum(0)) / len(pos)
        self.results = {"energy": e, "free_energy": e, "forces": forces, "stress": np.zeros(6)}
'''


@pytest.fixture
def orb070(tmp_path, monkeypatch):
    if importlib.util.find_spec("orb_models") is not None:
        pytest.skip("a real orb_models is installed here")
    root = tmp_path / "site"
    ff = root / "orb_models" / "forcefield"
    (ff / "inference").mkdir(parents=True)
    for init in (root / "orb_models", ff, ff / "inference"):
        (init / "__init__.py").write_text("")
    (ff / "pretrained.py").write_text(textwrap.dedent(PRETRAINED))
    (ff / "inference" / "calculator.py").write_text(textwrap.dedent(CALCULATOR))
    monkeypatch.syspath_prepend(str(root))
    yield importlib.import_module("orb_models.forcefield.pretrained")
    for name in [m for m in sys.modules if m == "orb_models" or m.startswith("orb_models.")]:
        del sys.modules[name]


def test_orb_070_builders_and_calculator(orb070, tmp_path) -> None:
    ckpt = tmp_path / "orb-v3-conservative-inf-omat-20250404.ckpt"
    ckpt.write_bytes(b"weights")
    teacher = get_teacher(f"orb:{ckpt}")
    call = orb070.CALLS[-1]
    assert call == {"name": "orb-v3-conservative-inf-omat", "weights_path": str(ckpt),
                    "device": "cpu", "precision": "float32-high", "compile": False}
    assert teacher.calculator.adapter.max_num_neighbors == 120  # the builder's own adapter
    get_teacher(f"orb:{ckpt}@orb-v3-conservative-inf-omat,compile=true,precision=float64")
    assert orb070.CALLS[-1]["compile"] is True and orb070.CALLS[-1]["precision"] == "float64"


def test_orb_070_orbmol_gets_charge_and_spin(orb070, tmp_path) -> None:
    from ase import Atoms

    ckpt = tmp_path / "weights.ckpt"
    ckpt.write_bytes(b"weights")
    teacher = get_teacher(f"orb:{ckpt}@orbmol-v2")
    assert teacher.info.level_of_theory == "DFT wB97M-V/def2-TZVPD"
    atoms = Atoms("OH", positions=[[0, 0, 0], [0.97, 0, 0]])
    neutral = teacher.label(atoms)["energy"]
    atoms.info[keys.TOTAL_CHARGE] = -1
    atoms.info[SPIN_MULTIPLICITY] = 1
    anion = teacher.label(atoms)["energy"]
    assert anion - neutral == pytest.approx(-0.1, abs=1e-12)
    assert "charge" not in atoms.info
    assert np.isfinite(neutral)
