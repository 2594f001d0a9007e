"""Fine-tuning fraction sweep: a GFN1-xTB student fine-tuned to GFN2-xTB (tblite, offline) on
small water clusters. Nested training sets, one shared test split, the JSON schema, resume
after a kill, fine-tuning lowering the test force error, and bad input (exit 2, nothing
written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesdistill.analysis.finetune_fractions import (
    format_fractions,
    plan_sizes,
    sweep_from_data,
)
from lesdistill.analysis.fraction_settings import FractionSettings, parse_fractions
from lesdistill.cli import main
from lesdistill.errors import UserInputError

from ..training.conftest import tiny_config

pytest.importorskip("tblite")

#: the fine-tuning runs of these tests: a few epochs of a shrunk tiny student
FT = {"epochs": 30, "batch_size": 4, "lr": 5e-3, "stage_two_start": None, "test_fraction": 0.25,
      "valid_fraction": 0.2, "ema_decay": None}


def _clusters(n: int, seed: int, rattle_A: float = 0.03) -> list:
    """``n`` open clusters of 3 H2O: one water trimer relaxed with GFN1-xTB, rattled."""
    from ase.build import molecule
    from ase.optimize import BFGS

    from lesdistill.teachers import get_teacher

    base = molecule("H2O")
    for k, (angle, centre) in enumerate(((1.0, (2.8, 0.0, 0.0)), (2.2, (1.4, 2.4, 0.3)))):
        other = molecule("H2O")
        other.rotate(57.0 * angle, (k, 1.0, 0.5))
        other.translate(centre)
        base += other
    base.calc = get_teacher("xtb-gfn1").calculator
    BFGS(base, logfile=None).run(fmax=0.05, steps=200)
    base.calc = None
    out = []
    for k in range(n):
        atoms = base.copy()
        atoms.rattle(rattle_A, seed=seed + k)
        out.append(atoms)
    return out


def _label(frames: list, spec: str, path: Path) -> Path:
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from lesdistill.teachers import get_teacher

    teacher = get_teacher(spec)
    labelled = []
    for atoms in frames:
        res = teacher.label(atoms)
        atoms = atoms.copy()
        atoms.calc = SinglePointCalculator(atoms, energy=res["energy"], forces=res["forces"])
        labelled.append(atoms)
    write(path, labelled, format="extxyz")
    return path


@pytest.fixture(scope="module")
def water(tmp_path_factory) -> dict[str, Path]:
    """A GFN1-xTB student (24 frames) and 24 GFN2-xTB frames of other geometries."""
    from lesdistill.training import train

    d = tmp_path_factory.mktemp("ft_fractions")
    low = _label(_clusters(24, seed=0), "xtb-gfn1", d / "gfn1.extxyz")
    high = _label(_clusters(24, seed=1000), "xtb-gfn2", d / "gfn2.extxyz")
    result = train(tiny_config(epochs=30, valid_fraction=0.2, test_fraction=0.0), low,
                   out_dir=d / "student", progress=False)
    return {"student": result.best_path, "high": high, "low": low, "dir": d}


def test_settings_and_sizes_are_validated() -> None:
    assert FractionSettings(fractions=[0.1, 1]).fractions == (0.1, 1.0)
    for bad in ((0.0, 0.5), (0.5, 1.5), (0.4, 0.2), (0.2, 0.2), (float("nan"),)):
        with pytest.raises(UserInputError):
            FractionSettings(fractions=bad)
    assert parse_fractions("0.05, 0.1,1") == (0.05, 0.1, 1.0)
    with pytest.raises(UserInputError, match="--fractions"):
        parse_fractions("0.1,x")
    assert plan_sizes(20, (0.1, 0.5, 1.0)) == [2, 10, 20]
    with pytest.raises(UserInputError, match="no frame"):
        plan_sizes(10, (0.01, 1.0))
    with pytest.raises(UserInputError, match="both give"):
        plan_sizes(10, (0.1, 0.12))


def test_sweep_nested_shared_test_resume_and_fine_tuning_helps(water, tmp_path,
                                                               monkeypatch) -> None:
    from ase.io import read

    from lesdistill.training import loop

    cfg = tiny_config(**FT)
    settings = FractionSettings(fractions=(0.25, 0.5, 1.0), scratch=True)
    out = tmp_path / "sweep"
    real_train, calls = loop.train, []

    def killed_after_two(*args, **kwargs):  # the sweep is killed during its third training
        calls.append(kwargs["out_dir"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(loop, "train", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        sweep_from_data(water["student"], water["high"], out, settings, cfg, progress=False,
                        log=lambda s: None)
    first = out / "f_0.25" / "finetune.json"
    kept = first.read_text()
    monkeypatch.setattr(loop, "train", real_train)
    summary = sweep_from_data(water["student"], water["high"], out, settings, cfg,
                              progress=False, log=lambda s: None)
    assert first.read_text() == kept  # finished students are kept, not retrained

    # nesting: every fraction's training set is contained in the next one's
    sets = [
        {tuple(a.positions.round(6).ravel()) for a in read(out / f"f_{f:g}" / "train.extxyz", ":")}
        for f in settings.fractions
    ]
    assert [len(s) for s in sets] == summary["curve"]["n_train"] == [4, 7, 14]
    assert sets[0] < sets[1] < sets[2]
    # one shared test split, disjoint from training and validation frames
    test = {tuple(a.positions.round(6).ravel()) for a in read(out / "split" / "test.extxyz", ":")}
    valid = {tuple(a.positions.round(6).ravel()) for a in read(out / "split" / "valid.extxyz", ":")}
    assert len(test) == summary["n_test"] == 6 and not test & (sets[2] | valid)
    test_path = str(out / "split" / "test.extxyz")
    assert summary["baseline"]["data"] == [test_path]
    for row in summary["rows"]:
        for kind in ("finetune", "scratch"):
            assert row[kind]["data"] == [test_path] and row[kind]["n_frames"] == 6

    # the JSON schema: the curve from the one evaluation schema, the rows, the files
    on_disk = json.loads((out / "fractions.json").read_text())
    assert on_disk["curve"] == summary["curve"]
    c = summary["curve"]
    assert c["fraction"] == [0.25, 0.5, 1.0]
    for kind in ("finetune", "scratch"):
        assert {"forces_rmse_meV_per_A", "forces_mae_meV_per_A",
                "energy_mae_meV_per_atom"} <= set(c[kind])
        assert all(v > 0 for v in c[kind]["forces_rmse_meV_per_A"])
    assert c["finetune"]["forces_rmse_vs_largest"][-1] == pytest.approx(1.0)
    assert (out / "fractions.png").read_bytes()[:4] == b"\x89PNG"
    assert "baseline" in format_fractions(summary)

    # fine-tuning on all the GFN2 frames lowers the GFN2 test force error of the GFN1 student
    base = c["baseline"]["forces_rmse_meV_per_A"]
    assert c["finetune"]["forces_rmse_meV_per_A"][-1] < 0.8 * base, (base, c)

    # a finished sweep re-run trains nothing
    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("retrained"))
    again = sweep_from_data(water["student"], water["high"], out, settings, cfg,
                            progress=False, log=lambda s: None)
    assert again["curve"] == c
    # ... and one with other training settings is refused instead of mixing students
    with pytest.raises(UserInputError, match="another student, split or training config"):
        sweep_from_data(water["student"], water["high"], out, settings,
                        tiny_config(**{**FT, "epochs": 31}), progress=False, log=lambda s: None)


def _without_forces(src: Path, dst: Path) -> Path:
    from ase.io import read, write

    frames = read(src, ":")
    for a in frames:
        a.calc = None
        a.info["energy"] = -1.0
    write(dst, frames, format="extxyz")
    return dst


def _with_sodium(src: Path, dst: Path) -> Path:
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    frames = read(src, ":")
    for a in frames:
        e, f = a.get_potential_energy(), a.get_forces()
        a.symbols[0] = "Na"
        a.calc = SinglePointCalculator(a, energy=e, forces=f)
    write(dst, frames, format="extxyz")
    return dst


@pytest.mark.parametrize("case,phrase", [
    ("zero", "(0, 1]"), ("above one", "(0, 1]"), ("unsorted", "increasing"),
    ("duplicate", "increasing"), ("no forces", "forces"), ("new element", "Na"),
    ("no init", "--init"), ("too fine", "no frame")])
def test_bad_input_exit_2_nothing_written(water, tmp_path, capsys, case, phrase) -> None:
    data, fractions = water["high"], "0.5,1"
    fractions = {"zero": "0,0.5", "above one": "0.5,1.5", "unsorted": "0.5,0.25",
                 "duplicate": "0.5,0.5", "too fine": "0.01,1"}.get(case, fractions)
    if case == "no forces":
        data = _without_forces(water["high"], tmp_path / "noforces.extxyz")
    if case == "new element":
        data = _with_sodium(water["high"], tmp_path / "na.extxyz")
    out = tmp_path / "out"
    argv = ["train", "--data", str(data), "--out", str(out), "--fractions", fractions,
            "--epochs", "1", "--no-progress"]
    if case != "no init":
        argv += ["--init", str(water["student"])]
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1 and phrase in err, err
    assert not out.exists()


def test_new_elements_pass_with_allow_new_elements(water, tmp_path) -> None:
    data = _with_sodium(water["high"], tmp_path / "na.extxyz")
    cfg = tiny_config(**{**FT, "epochs": 1})
    summary = sweep_from_data(water["student"], data, tmp_path / "sweep",
                              FractionSettings(fractions=(1.0,)), cfg, allow_new_elements=True,
                              progress=False, log=lambda s: None)
    assert summary["curve"]["n_train"] == [14]
    assert "Na" in summary["rows"][0]["finetune"]["forces_per_element"]
    # the pretrained student cannot predict Na: no baseline, said so in the table
    assert summary["curve"]["baseline"] == {} and "Na" in summary["baseline"]["skipped"]
    assert "does not know Na" in format_fractions(summary)
