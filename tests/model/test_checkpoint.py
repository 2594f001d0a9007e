"""Single-file checkpoints: exact round trip, weights_only loading, one-line errors, new
elements."""

from __future__ import annotations

import pytest
import torch
from ase.build import molecule

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.model import extend_elements, load_student, read_checkpoint, save_student


def _energy_forces(model, atoms):
    out = model(AtomicBatch.from_atoms([atoms], model.cutoff))
    return out[keys.ENERGY].detach(), out[keys.FORCES].detach()


def test_round_trip(tmp_path, make_model, periodic_atoms):
    model = make_model(neutrality="none", eps_inf=2.5, preset="small")
    meta = {"teacher": "chgnet", "data_sha256": ["ab12", "cd34"], "epochs": 3, "best_valid": 0.5}
    path = save_student(model, tmp_path / "student.pt", meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.pt"]  # no temp file left
    state = torch.load(path, weights_only=True)
    assert state["format"] == "lesdistill-student" and state["units"]["energy"] == "eV"
    assert state["reference_energies"] == model.reference_energies_dict()
    loaded = load_student(path)
    assert loaded.config == model.config and loaded.metadata == meta and not loaded.training
    for got, expected in zip(
        _energy_forces(loaded, periodic_atoms), _energy_forces(model, periodic_atoms)
    ):
        assert torch.equal(got, expected)


def test_bad_files(tmp_path, make_model):
    with pytest.raises(FileNotFoundError, match="student checkpoint not found"):
        load_student(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 definitely not a zip file")
    with pytest.raises(ValueError, match="not a readable lesdistill student checkpoint") as info:
        load_student(garbage)
    assert "\n" not in str(info.value)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a lesdistill student checkpoint"):
        read_checkpoint(foreign)
    truncated = tmp_path / "truncated.pt"
    save_student(make_model(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable"):
        load_student(truncated)
    with pytest.raises(TypeError, match="metadata.when is a object"):
        save_student(make_model(), tmp_path / "x.pt", {"when": object()})


def test_weights_must_match_config(tmp_path, make_model):
    path = save_student(make_model(), tmp_path / "a.pt")
    state = torch.load(path, weights_only=True)
    state["config"]["channels"] = 16
    torch.save(state, path)
    with pytest.raises(ValueError, match="weights do not match its config"):
        load_student(path)


def test_extend_elements_keeps_old_predictions(make_model):
    model = make_model()
    bigger = extend_elements(model, ["Na", "Cl"])
    assert bigger.elements == ("H", "O", "Na", "Cl")
    assert bigger.reference_energies_dict()["Na"] == 0.0
    water = molecule("H2O")
    for got, expected in zip(_energy_forces(bigger, water), _energy_forces(model, water)):
        assert torch.allclose(got, expected, atol=1e-12)
