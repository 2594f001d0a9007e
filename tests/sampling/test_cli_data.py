"""CLI: teachers, system, sample, label, merge; bad input gives one stderr line and exit code 2."""

from __future__ import annotations

import pytest
from ase.build import molecule
from ase.io import write

from lesdistill.cli import main
from lesdistill.sampling import read_frames


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_teachers_lists_status(capsys) -> None:
    code, out, _ = _run(["teachers"], capsys)
    assert code == 0
    assert "chgnet" in out and "mace:PATH" in out and "missing:" in out
    code, out, _ = _run(["teachers", "--check", "orb:/nowhere/orb.ckpt", "-v"], capsys)
    assert code == 1 and "checkpoint file /nowhere/orb.ckpt" in out  # unusable: exit 1
    code, out, _ = _run(["teachers", "--check", "analytic-ionic"], capsys)
    assert code == 0 and "yes" in out


def test_system_sample_label_merge(tmp_path, capsys) -> None:
    ions = tmp_path / "ions.xyz"
    code, out, err = _run(["system", "ionic", "--out", str(ions), "--n-pairs", "4",
                           "--number-density-per-A3", "0.02", "--seed", "3"], capsys)
    assert code == 0, err
    frames = tmp_path / "frames.xyz"
    code, _, err = _run(["sample", "--structure", str(ions), "--teacher", "analytic-ionic",
                         "--out", str(frames), "--temperatures", "300", "--n-frames", "3",
                         "--stride", "2", "--equilibration-steps", "2", "--timestep-fs", "1",
                         "--relax", "--no-progress", "--threads", "1"], capsys)
    assert code == 0, err
    assert len(read_frames(frames)) == 3
    shards = []
    for i in range(2):
        shard = tmp_path / f"s{i}.xyz"
        code, _, err = _run(["label", str(frames), "--out", str(shard), "--teacher",
                             "analytic-ionic-half", "--shard", f"{i}/2", "--keep-old",
                             "--no-progress"], capsys)
        assert code == 0, err
        shards.append(str(shard))
    merged = tmp_path / "merged.xyz"
    code, out, err = _run(["merge", *shards, "--out", str(merged)], capsys)
    assert code == 0 and "merged 3 frames" in out
    assert read_frames(merged)[1].info["previous_teacher"] == "analytic-ionic"


@pytest.fixture
def bad_files(tmp_path):
    text = tmp_path / "notes.xyz"
    text.write_text("this is not\na structure file\n")
    mol = tmp_path / "mol.xyz"
    write(mol, molecule("H2O"))
    return {"text": text, "mol": mol, "out": tmp_path / "out.xyz"}


@pytest.mark.parametrize(("args", "message"), [
    (["sample", "--teacher", "gpt-teacher"], "unknown teacher 'gpt-teacher'"),
    (["sample", "--teacher", "mace:{missing}"], "checkpoint file"),
    (["sample", "--teacher", "uma:{missing}@omol"], "checkpoint file"),
    (["sample", "--teacher", "analytic-ionic", "--structure", "{mol}"], "cannot handle element"),
    (["sample", "--teacher", "xtb-gfn1", "--structure", "{text}"], "not a structure file"),
    (["sample", "--teacher", "chgnet", "--structure", "{mol}"], "is not periodic"),
    (["sample", "--teacher", "xtb-gfn1", "--structure", "{missing}"], "not found"),
    (["sample", "--teacher", "xtb-gfn1", "--system", "water", "-p", "n_molecules=2",
      "--thermostat", "berendsen"], "thermostat"),
    (["label", "{text}", "--teacher", "xtb-gfn1"], "not a structure file"),
    (["system", "water", "--bogus", "1"], "unknown parameter 'bogus'"),
    (["system", "ice"], "unknown system"),
])
def test_bad_input_one_line_exit_2(args, message, bad_files, tmp_path, capsys) -> None:
    fill = {"missing": tmp_path / "missing.model", **bad_files}
    argv = [a.format(**fill) for a in args] + ["--out", str(bad_files["out"])]
    code, _, err = _run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lesdistill: error:")
    assert message in lines[0]
    assert not bad_files["out"].exists()
