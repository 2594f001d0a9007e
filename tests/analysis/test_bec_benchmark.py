"""BEC benchmark: constructed cases with known answers, the paper's published numbers, the CLI
end to end on a small student (periodic and open frames) and bad input (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from lesdistill.analysis import bec_benchmark as bb
from lesdistill.analysis.bec_files import parse_compare_spec, run_bec_benchmark
from lesdistill.cli import main

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"


def _water_like(n_mol: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Anisotropic, environment-dependent tensors around H +0.45 / O -0.9 e."""
    rng = np.random.default_rng(seed)
    symbols = ["O", "H", "H"] * n_mol
    base = np.array([{"O": -0.9, "H": 0.45}[s] for s in symbols])
    z = base[:, None, None] * np.eye(3) + 0.2 * rng.normal(size=(len(symbols), 3, 3))
    return z, symbols


def test_sign_and_scale_are_fixed_and_reported() -> None:
    ref, sym = _water_like(20, seed=0)
    s = bb.score(-ref, ref, sym)
    assert s["sign"] == -1 and s["r2"] == pytest.approx(1.0) and s["mae_e"] == pytest.approx(0.0)
    s = bb.score(-1.3 * ref, ref, sym)
    assert s["sign"] == -1 and s["r2"] < 0.99
    assert s["best_scale"] == pytest.approx(1 / 1.3)
    assert s["scaled"]["r2"] == pytest.approx(1.0)
    assert s["scaled"]["rmse_e"] == pytest.approx(0.0, abs=1e-12)
    h = s["per_element"]["H"]
    assert h["trace_pred_e"] == pytest.approx(1.3 * h["trace_ref_e"])
    # without the fix the inverted student is far off
    assert bb.score(-ref, ref, sym, fix_sign=False)["r2"] < -2


def test_known_perturbation_gives_known_errors() -> None:
    ref, sym = _water_like(30, seed=1)
    rng = np.random.default_rng(2)
    eps = 0.07
    pred = ref + eps * rng.choice([-1.0, 1.0], size=ref.shape)
    s = bb.score(pred, ref, sym)
    assert s["sign"] == 1
    assert s["rmse_e"] == pytest.approx(eps) and s["mae_e"] == pytest.approx(eps)
    var = np.sum((ref - ref.mean(axis=0)) ** 2)
    assert s["r2"] == pytest.approx(1 - eps ** 2 * ref.size / var)
    # 9-column input is the same as (N, 3, 3)
    assert bb.score(pred.reshape(-1, 9), ref.reshape(-1, 9), sym)["rmse_e"] == pytest.approx(eps)


def test_isotropic_constant_and_yardstick() -> None:
    ref, sym = _water_like(40, seed=3)
    const, values = bb.isotropic_constant(ref, sym)
    tr = np.trace(ref, axis1=1, axis2=2) / 3
    h = np.array(sym) == "H"
    assert values["H"] == pytest.approx(tr[h].mean())
    assert values["O"] == pytest.approx(tr[~h].mean())
    # the constant is the least-squares optimum among isotropic per-element models
    for dc in (-0.01, 0.01):
        worse = const.copy()
        worse[h] += dc * np.eye(3)
        assert np.sum((worse - ref) ** 2) > np.sum((const - ref) ** 2)
    rng = np.random.default_rng(4)
    good = ref + 0.01 * rng.normal(size=ref.shape)
    result = bb.benchmark({"good": good, "constant-like": const + 0.001}, ref, sym)
    assert result["students"]["good"]["yardstick"]["passed"] is True
    assert result["students"]["constant-like"]["yardstick"]["passed"] is False
    assert result["students"]["good"]["yardstick"]["threshold_mae_e"] == pytest.approx(
        0.5 * result["constant"]["mae_e"])
    table = bb.format_benchmark(result)
    assert "PASS" in table and "FAIL" in table


@pytest.mark.skipif(not (REFERENCE / "water_dft_bec_3frames.extxyz").is_file(),
                    reason=f"paper benchmark data not found at {REFERENCE} (shared/ beside "
                           "the repository)")
def test_paper_students_reproduce_published_numbers() -> None:
    """The paper's students on its DFT frames (README of shared/reference): same code, same
    numbers."""
    result = run_bec_benchmark(
        REFERENCE / "water_dft_bec_3frames.extxyz",
        compare=[f"UMA-M={REFERENCE / 'water_bec_student_UMA-M_3frames.extxyz'}:MACE_BEC:"
                 "sqrt(1.78)",
                 f"MP0L={REFERENCE / 'water_bec_student_MACE-MP0L_3frames.extxyz'}:MACE_BEC:"
                 "sqrt(1.78)"])
    got = {k: (round(s["r2"], 3), round(s["rmse_e"], 3), round(s["mae_e"], 3))
           for k, s in result["students"].items()}
    assert got == {"UMA-M": (0.983, 0.052, 0.038), "MP0L": (0.932, 0.103, 0.072)}
    assert result["students"]["MP0L"]["sign"] == -1 and result["students"]["UMA-M"]["sign"] == 1
    c = result["constant"]
    assert (round(c["r2"], 3), round(c["rmse_e"], 3), round(c["mae_e"], 3)) == (0.862, 0.147, 0.111)
    assert result["reference_trace_e"]["H"] == pytest.approx(0.450, abs=5e-4)
    assert result["reference_trace_e"]["O"] == pytest.approx(-0.899, abs=5e-4)
    assert result["students"]["UMA-M"]["yardstick"]["passed"]  # 0.038 <= 0.111 / 2
    assert not result["students"]["MP0L"]["yardstick"]["passed"]


def test_compare_spec_parsing() -> None:
    assert parse_compare_spec("a/b.extxyz:MACE_BEC:sqrt(4)") == ("b", Path("a/b.extxyz"),
                                                                 "MACE_BEC", 2.0)
    assert parse_compare_spec("X=b.xyz:Z") == ("X", Path("b.xyz"), "Z", 1.0)
    for bad in ("b.xyz", "b.xyz:Z:zero", "b.xyz:Z:0", ":Z"):
        with pytest.raises(ValueError):
            parse_compare_spec(bad)


# ---- the student path and the CLI -------------------------------------------------------

@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    from lesdistill.model import StudentConfig, StudentModel, save_student

    model = StudentModel(StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64",
                                                   les_method="ewald", eps_inf=1.5, seed=3))
    model.set_reference_energies({"H": -1.0, "O": -2.0})
    path = tmp_path_factory.mktemp("student") / "student.pt"
    save_student(model.eval(), path)
    return path


def _frames(seed: int) -> list[Atoms]:
    from lesdistill.systems import water

    box = water.water_box(n_molecules=4, seed=seed)
    cluster = box.copy()
    cluster.pbc = False
    cluster.cell = np.zeros((3, 3))
    return [box, cluster]


def _run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    cap = capsys.readouterr()
    return int(info.value.code or 0), cap.out, cap.err


def test_cli_student_equal_to_reference_up_to_sign(student, tmp_path, capsys) -> None:
    from lesdistill.analysis.bec_files import student_becs
    from lesdistill.calculator import StudentCalculator

    frames = _frames(seed=1)
    calc = StudentCalculator(student)
    for atoms in frames:  # reference = the student's own BECs with the opposite sign
        atoms.arrays["BEC"] = -student_becs(calc, [atoms]).reshape(len(atoms), 9)
        atoms.arrays["Zother"] = 2.0 * atoms.arrays["BEC"]
    ref = tmp_path / "ref.extxyz"
    write(ref, frames, format="extxyz")
    code, out, err = _run(["bec-benchmark", "--model", student, "--reference", ref, "--out",
                           tmp_path / "out", "--compare-file", f"double={ref}:Zother:0.5"], capsys)
    assert code == 0, err
    import json

    result = json.loads((tmp_path / "out" / "bec_benchmark.json").read_text())
    s = result["students"]["student"]
    assert s["sign"] == -1 and s["r2"] == pytest.approx(1.0) and s["mae_e"] < 1e-6
    assert result["students"]["double"]["r2"] == pytest.approx(1.0)
    assert result["reference"]["periodic"] == [True, False]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "bec_benchmark.json", "bec_benchmark.txt", "bec_parity.png"]
    assert "PASS" in out


def _bad_reference(tmp_path: Path, kind: str) -> tuple[Path, list[str]]:
    frames = _frames(seed=2)
    extra: list[str] = []
    for atoms in frames:
        atoms.arrays["BEC"] = np.tile(np.eye(3).reshape(9), (len(atoms), 1))
    if kind == "no array":
        for atoms in frames:
            del atoms.arrays["BEC"]
    elif kind == "wrong shape":
        for atoms in frames:
            atoms.arrays["BEC"] = atoms.arrays["BEC"][:, :6].copy()
    elif kind == "elements":
        frames[0].symbols[0] = "Na"
    elif kind == "frame sizes":  # a prediction file whose frames differ from the reference
        other = [frames[0][:-3], frames[1]]
        write(tmp_path / "other.extxyz", other, format="extxyz")
        extra = ["--compare-file", f"{tmp_path / 'other.extxyz'}:BEC"]
    path = tmp_path / f"{kind.replace(' ', '_')}.extxyz"
    write(path, frames, format="extxyz")
    return path, extra


@pytest.mark.parametrize("kind,phrase", [("no array", "no per-atom array 'BEC'"),
                                         ("wrong shape", "expected"),
                                         ("elements", "does not know"),
                                         ("frame sizes", "same frames")])
def test_bad_input_one_line_exit_2_nothing_written(student, tmp_path, capsys, kind, phrase) -> None:
    ref, extra = _bad_reference(tmp_path, kind)
    out = tmp_path / "out"
    code, _, err = _run(["bec-benchmark", "--model", student, "--reference", ref, "--out", out,
                         *extra], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and phrase in err, err
    assert not out.exists()


def test_finite_difference_reference_of_xtb(student, tmp_path, capsys) -> None:
    """Reference = finite differences of the GFN1-xTB dipole on frames without a BEC array."""
    pytest.importorskip("tblite")
    from ase.build import molecule

    water = molecule("H2O")
    write(tmp_path / "frames.extxyz", [water], format="extxyz")
    code, out, err = _run(["bec-benchmark", "--model", student, "--reference",
                           tmp_path / "frames.extxyz", "--fd-teacher", "xtb-gfn1",
                           "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    import json

    result = json.loads((tmp_path / "out" / "bec_benchmark.json").read_text())
    assert "xtb-gfn1" in result["reference"]["array"]
    ref = result["reference_trace_e"]
    assert ref["H"] > 0 > ref["O"] and ref["H"] == pytest.approx(-ref["O"] / 2, abs=0.02)  # neutral
    # the written reference scores itself perfectly through the file path
    code, _, err = _run(["bec-benchmark", "--reference", tmp_path / "out" / "reference_fd.extxyz",
                         "--compare-file", f"self={tmp_path / 'out' / 'reference_fd.extxyz'}:BEC",
                         "--out", tmp_path / "out2"], capsys)
    assert code == 0, err
    again = json.loads((tmp_path / "out2" / "bec_benchmark.json").read_text())
    assert again["students"]["self"]["r2"] == pytest.approx(1.0)
