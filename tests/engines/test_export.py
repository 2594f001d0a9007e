"""Exported student (torch.export .pt2): loads without lesdistill, same energies and forces."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from lesdistill.calculator import StudentCalculator
from lesdistill.engines.export import META_FILE, example_inputs, export_student
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.systems.water import water_box

#: run in a fresh interpreter in which importing lesdistill fails
STANDALONE = textwrap.dedent("""
    import json, sys
    sys.modules["lesdistill"] = None  # any import of lesdistill raises ImportError
    import numpy as np, torch
    extra = {"lesdistill.json": ""}
    program = torch.export.load(sys.argv[1], extra_files=extra).module()
    meta = json.loads(extra["lesdistill.json"])
    results = {}
    with np.load(sys.argv[2]) as data:
        for name in sorted({k.split("_")[0] for k in data.files}):
            args = [torch.from_numpy(data[f"{name}_{k}"]) for k in ("r", "z", "e", "s")]
            energy, forces, charges = program(*args)
            results[f"{name}_energy"] = energy.numpy()
            results[f"{name}_forces"] = forces.numpy()
            results[f"{name}_charges"] = charges.numpy()
    np.savez(sys.argv[3], **results)
    print(meta["format"], meta["elements"], meta["cutoff_A"])
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64")
    student = StudentModel(config)
    atoms = water_box(8, seed=0)
    path = export_student(student, atoms, tmp_path_factory.mktemp("export") / "student.pt2")
    return student, atoms, path


def test_exported_program_loads_without_lesdistill_and_matches_ase(exported, tmp_path):
    student, atoms, path = exported
    rattled = atoms.copy()
    rattled.rattle(0.05, seed=1)
    fewer = rattled[3:]  # one molecule less, same cell: the atom and pair counts are dynamic
    frames = {"rattled": rattled, "fewer": fewer}
    arrays = {}
    for name, frame in frames.items():
        r, z, e, s = example_inputs(student, frame)
        arrays.update({f"{name}_r": r.numpy(), f"{name}_z": z.numpy(), f"{name}_e": e.numpy(),
                       f"{name}_s": s.numpy()})
    np.savez(tmp_path / "inputs.npz", **arrays)
    run = subprocess.run([sys.executable, "-c", STANDALONE, str(path), str(tmp_path / "inputs.npz"),
                          str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "lesdistill-export/1 ['H', 'O'] 4.5" in run.stdout
    out = np.load(tmp_path / "out.npz")
    for name, frame in frames.items():
        frame = frame.copy()
        frame.calc = StudentCalculator(student)
        energy = frame.get_potential_energy()
        assert float(out[f"{name}_energy"]) == pytest.approx(energy, rel=1e-12, abs=1e-12)
        forces = frame.get_forces()
        assert np.abs(out[f"{name}_forces"] - forces).max() <= 1e-10 * np.abs(forces).max()
        np.testing.assert_allclose(out[f"{name}_charges"], frame.get_charges(), rtol=0, atol=1e-12)


def test_export_metadata_and_bad_input(exported, tmp_path):
    from lesdistill.errors import UserInputError

    student, atoms, path = exported
    extra = {META_FILE: ""}
    torch.export.load(str(path), extra_files=extra)
    meta = json.loads(extra[META_FILE])
    np.testing.assert_allclose(meta["cell_A"], atoms.cell.array)
    assert meta["long_range_method"] == "ewald" and meta["dtype"] == "float64"
    slab = atoms.copy()
    slab.pbc = [True, True, False]
    with pytest.raises(UserInputError, match="periodic in all three directions or in none"):
        export_student(student, slab, tmp_path / "x.pt2")
    salty = atoms.copy()
    salty.symbols[0] = "Na"
    with pytest.raises(UserInputError, match="Na"):
        export_student(student, salty, tmp_path / "x.pt2")
    for option in ({"les_channels": 2}, {"charge_spin_embedding": True}, {"charge_model": "qeq"}):
        other = StudentModel(StudentConfig.from_preset("tiny", elements=["H", "O"], **option))
        with pytest.raises(UserInputError, match="plain latent-charge student only"):
            export_student(other, atoms, tmp_path / "x.pt2")
    assert not (tmp_path / "x.pt2").exists()


def test_pme_student_exports_with_the_direct_sum(tmp_path):
    """A student that runs PME is exported with the direct Ewald sum: the same filtered energy
    up to PME's error."""
    torch.manual_seed(1)
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64",
                                       les_method="pme")
    student = StudentModel(config)
    atoms = water_box(8, seed=2)
    path = export_student(student, atoms, tmp_path / "pme.pt2")
    extra = {META_FILE: ""}
    program = torch.export.load(str(path), extra_files=extra).module()
    assert json.loads(extra[META_FILE])["long_range_method"] == "ewald"
    energy, forces, _ = program(*example_inputs(student, atoms))
    atoms.calc = StudentCalculator(student)
    assert float(energy) == pytest.approx(atoms.get_potential_energy(), rel=1e-5)
    assert np.abs(forces.numpy() - atoms.get_forces()).max() < 1e-3 * np.abs(forces.numpy()).max()
