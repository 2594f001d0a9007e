"""`lesdistill train` killed mid-epoch and re-run continues to the same result; CLI bad inputs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from lesdistill.training.loop import train
from lesdistill.training.outputs import read_curve
from lesdistill.training.state import load_state

from .conftest import tiny_config

CLI = [sys.executable, "-c", "from lesdistill.cli import main; main()"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "LESDISTILL_DEBUG": ""}


def _run(args, **kw):
    return subprocess.run(CLI + args, capture_output=True, text=True, env=_env(), timeout=600, **kw)


def _same_curves(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert set(ra) == set(rb)
        for key in ra:
            if key != "wall_time_s":
                assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-9), key


def test_killed_mid_epoch_then_rerun_equals_uninterrupted_run(ionic_xyz, tmp_path):
    cfg = tiny_config(epochs=3, batch_size=2, stage_two_start=0.67, checkpoint_interval_s=0.0)
    config_path = tmp_path / "train.yaml"
    config_path.write_text(cfg.to_yaml())
    out = tmp_path / "killed"
    args = [
        "train",
        "--data",
        str(ionic_xyz),
        "--out",
        str(out),
        "--config",
        str(config_path),
        "--no-progress",
    ]
    proc = subprocess.Popen(
        CLI + args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "state.pt").exists():
            try:
                state = load_state(out / "state.pt")
            except Exception:  # being replaced right now; the rename is atomic, retry
                continue
            if state["epoch"] >= 1 or state["step"] >= 2:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed_at = (state["epoch"], state["step"])
                break
        time.sleep(0.02)
    assert killed_at is not None, f"training ended or hung before the kill: {proc.stderr.read()!r}"
    state = load_state(out / "state.pt")
    assert not state["finished"] and (state["epoch"], state["step"]) >= killed_at
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())

    rerun = _run(args)
    assert rerun.returncode == 0, rerun.stderr
    assert "best student" in rerun.stdout

    reference = train(cfg, ionic_xyz, out_dir=tmp_path / "reference", progress=False)
    _same_curves(read_curve(out / "learning_curve.csv"), read_curve(reference.curve_path))
    resumed, ref = load_state(out / "state.pt"), load_state(reference.state_path)
    assert resumed["epoch"] == ref["epoch"] == 3
    for key, value in ref["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=1e-5, atol=1e-6)
    for key, value in ref["ema"]["shadow"].items():
        torch.testing.assert_close(resumed["ema"]["shadow"][key], value, rtol=1e-5, atol=1e-6)
    assert resumed["scheduler"] == ref["scheduler"]


def _main(args, capsys):
    """Run the console entry point in this process; return (exit code, stdout, stderr)."""
    from lesdistill.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_evaluate_cli_and_yaml_config(ionic_xyz, tmp_path, capsys):
    cfg_path = tmp_path / "t.yaml"
    cfg_path.write_text(tiny_config(epochs=1, stage_two_start=None).to_yaml())
    code, out, err = _main(
        [
            "train",
            "--data",
            str(ionic_xyz),
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(cfg_path),
            "--epochs",
            "1",
            "--dtype",
            "float64",
            "--no-progress",
        ],
        capsys,
    )
    assert code in (0, None), err
    assert "best student" in out
    saved = load_state(tmp_path / "run" / "state.pt")
    assert saved["fingerprint"]["config"]["dtype"] == "float64" and saved["epoch"] == 1
    code, out, err = _main(
        [
            "evaluate",
            "--model",
            str(tmp_path / "run" / "best.pt"),
            "--data",
            str(ionic_xyz),
            "--out",
            str(tmp_path / "eval"),
        ],
        capsys,
    )
    assert code in (0, None), err
    assert "forces Na" in out and "meV/atom" in out
    assert (tmp_path / "eval" / "parity_forces.png").is_file()


@pytest.mark.parametrize("case", ["missing", "unlabelled", "bad_config", "bad_model"])
def test_bad_inputs_give_one_stderr_line_and_exit_2(case, ionic_xyz, tmp_path, capsys, monkeypatch):
    from ase.io import read, write

    monkeypatch.delenv("LESDISTILL_DEBUG", raising=False)
    if case == "missing":
        args = ["train", "--data", str(tmp_path / "nope.xyz"), "--out", str(tmp_path / "o")]
        expect = "not found"
    elif case == "unlabelled":
        frames = read(ionic_xyz, ":")
        for a in frames:
            a.calc = None
        write(tmp_path / "bare.xyz", frames)
        args = ["train", "--data", str(tmp_path / "bare.xyz"), "--out", str(tmp_path / "o")]
        expect = "no label"
    elif case == "bad_config":
        (tmp_path / "c.yaml").write_text("epochs: -3\n")
        args = [
            "train",
            "--data",
            str(ionic_xyz),
            "--out",
            str(tmp_path / "o"),
            "--config",
            str(tmp_path / "c.yaml"),
        ]
        expect = "epochs"
    else:
        shutil.copy(ionic_xyz, tmp_path / "not_a_model.pt")
        args = ["evaluate", "--model", str(tmp_path / "not_a_model.pt"), "--data", str(ionic_xyz)]
        expect = "not a readable lesdistill student"
    code, _, err = _main(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lesdistill: error:") and expect in lines[0], err
    assert not (tmp_path / "o" / "state.pt").exists()
