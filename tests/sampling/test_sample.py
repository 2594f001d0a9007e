"""Teacher MD sampling: labels, resume == uninterrupted (also after a real kill), guards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import all_changes

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.sampling import SamplingAborted, read_frames, sample
from lesdistill.sampling import md as md_module
from lesdistill.sampling.guards import check_md_state
from lesdistill.sampling.store import state_path
from lesdistill.teachers import Teacher, get_teacher
from lesdistill.teachers.analytic import AnalyticIonicCalculator

SETTINGS = dict(
    temperatures_K=(300.0, 500.0),
    n_frames=6,
    stride=4,
    timestep_fs=2.0,
    equilibration_steps=4,
    seed=7,
    progress=False,
    settle_window=0,
)  # the settle check: test_equilibration.py


def _run(atoms: Atoms, out: Path, **overrides) -> Path:
    return sample(atoms, "analytic-ionic", out, **{**SETTINGS, **overrides})


def test_frames_and_labels(nacl: Atoms, tmp_path) -> None:
    out = _run(nacl, tmp_path / "a.xyz", strains=(0.0, 0.02))
    frames = read_frames(out)
    assert [f.info[keys.FRAME_ID] for f in frames] == list(range(6))
    # 2 temperatures x 2 strains = 4 segments, frames split 2/2/1/1
    assert [f.info[keys.TEMPERATURE_K] for f in frames] == [300, 300, 300, 300, 500, 500]
    assert [f.info["strain"] for f in frames] == [0, 0, 0.02, 0.02, 0, 0.02]
    assert all(f.info[keys.TEACHER] == "analytic-ionic" for f in frames)
    teacher = get_teacher("analytic-ionic")
    for frame in (frames[1], frames[-1]):
        labels = teacher.label(frame)
        assert frame.get_potential_energy() == pytest.approx(labels["energy"], abs=1e-6)
        np.testing.assert_allclose(frame.get_forces(), labels["forces"], atol=1e-6)
        np.testing.assert_allclose(frame.get_stress(), labels["stress"], atol=1e-8)
    assert frames[-1].get_volume() == pytest.approx(nacl.get_volume() * 1.02**3)


def test_rerun_after_completion_is_a_no_op(nacl: Atoms, tmp_path) -> None:
    out = _run(nacl, tmp_path / "a.xyz", n_frames=2)
    before = out.read_bytes()
    _run(nacl, out, n_frames=2)
    assert out.read_bytes() == before
    with pytest.raises(UserInputError, match="different settings"):
        _run(nacl, out, n_frames=3)
    other = tmp_path / "foreign.xyz"
    other.write_bytes(before)
    with pytest.raises(UserInputError, match="no resume state"):
        _run(nacl, other, n_frames=2)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("thermostat", ["langevin", "bussi", "nose-hoover"])
@pytest.mark.parametrize("when", ["before_append", "after_append", "partial_frame"])
def test_interrupted_then_resumed_equals_uninterrupted(nacl, tmp_path, monkeypatch,
                                                       thermostat: str, when: str) -> None:
    reference = _run(nacl, tmp_path / "ref.xyz", thermostat=thermostat).read_bytes()
    out = tmp_path / "run.xyz"
    real_append = md_module.append_frames
    calls = {"n": 0}

    def dying_append(path, frames):
        calls["n"] += 1
        if calls["n"] == 4:  # "killed" while handling the 4th frame (segment 2)
            if when == "after_append":
                real_append(path, frames)
            elif when == "partial_frame":
                with open(path, "a") as handle:
                    handle.write(frames[0][: len(frames[0]) // 2])
            raise _Killed
        real_append(path, frames)

    monkeypatch.setattr(md_module, "append_frames", dying_append)
    with pytest.raises(_Killed):
        _run(nacl, out, thermostat=thermostat)
    monkeypatch.setattr(md_module, "append_frames", real_append)
    _run(nacl, out, thermostat=thermostat)
    assert out.read_bytes() == reference


_CHILD = """
import sys
import torch
from ase.build import bulk
from lesdistill.sampling import sample
torch.set_num_threads(1)
sample(bulk("NaCl", "rocksalt", a=5.64, cubic=True), "analytic-ionic", sys.argv[1],
       temperatures_K=(300.0, 500.0), n_frames=int(sys.argv[2]), stride=4, timestep_fs=2.0,
       equilibration_steps=4, seed=7, progress=False, settle_window=0)
"""


def test_killed_subprocess_resumes_identically(nacl, tmp_path) -> None:
    n_frames = 40
    out = tmp_path / "killed.xyz"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), str(n_frames)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"frame_id=") >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"child ended before it could be killed: {proc.stderr.read()!r}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_killed = len(read_frames(out))
    assert 3 <= n_killed < n_frames
    assert state_path(out).exists()
    _run(nacl, out, n_frames=n_frames)
    reference = _run(nacl, tmp_path / "ref.xyz", n_frames=n_frames)
    assert out.read_bytes() == reference.read_bytes()


class _BlowsUpLater(AnalyticIonicCalculator):
    """The analytic teacher, but forces x 1e3 after ``good_calls`` evaluations."""

    def __init__(self, good_calls: int) -> None:
        super().__init__()
        self.calls = 0
        self.good_calls = good_calls

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls > self.good_calls:
            self.results["forces"] = self.results["forces"] * 1e3


def test_explosion_stops_and_keeps_labelled_frames(nacl, tmp_path) -> None:
    base = get_teacher("analytic-ionic")
    # 4 equilibration + 3 x 4 steps (+ the first force call) stay physical, then forces explode
    teacher = Teacher(name="exploding", info=base.info, calculator=_BlowsUpLater(17))
    out = tmp_path / "boom.xyz"
    with pytest.raises(SamplingAborted, match="3 labelled frames kept"):
        sample(nacl, teacher, out, **{**SETTINGS, "temperatures_K": (300.0,), "n_frames": 6})
    assert len(read_frames(out)) == 3


def test_guards_name_the_problem() -> None:
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [3, 0, 0]], cell=[9, 9, 9], pbc=True)
    atoms.set_momenta(np.zeros((2, 3)))
    check_md_state(atoms, 300.0, 1, check_overlap=True)
    hot = atoms.copy()
    hot.set_momenta([[300.0, 0, 0], [-300.0, 0, 0]])
    with pytest.raises(SamplingAborted, match="far above the target"):
        check_md_state(hot, 300.0, 5)
    close = atoms.copy()
    close.positions[1] = [0.2, 0, 0]
    with pytest.raises(SamplingAborted, match="overlap"):
        check_md_state(close, 300.0, 5, check_overlap=True)
    nan = atoms.copy()
    nan.positions[0, 0] = np.nan
    with pytest.raises(SamplingAborted, match="NaN"):
        check_md_state(nan, 300.0, 5)


def test_bad_settings(nacl, tmp_path) -> None:
    with pytest.raises(ValueError, match="thermostat"):
        _run(nacl, tmp_path / "x.xyz", thermostat="berendsen")
    with pytest.raises(ValueError, match="temperatures_K"):
        _run(nacl, tmp_path / "x.xyz", temperatures_K=(-5.0,))
    water = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    with pytest.raises(ValueError, match="cannot handle element"):
        _run(water, tmp_path / "x.xyz")
