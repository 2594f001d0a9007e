"""Socket teachers (``env:PYTHON@SPEC``): same labels as in-process, clean failures, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.io import write

from lesdistill import keys
from lesdistill.errors import TeacherServerError
from lesdistill.sampling import relabel
from lesdistill.sampling.store import read_frames
from lesdistill.teachers import get_teacher
from lesdistill.teachers.registry import teacher_status

PY = sys.executable


def _gone(pid: int, wait_s: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (absent or a zombie)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def _frames(n: int) -> list[Atoms]:
    frames = []
    for k in range(n):
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
        atoms.rattle(0.05, seed=k)
        atoms.info[keys.FRAME_ID] = k
        frames.append(atoms)
    return frames


def test_socket_labels_equal_in_process_labels() -> None:
    local = get_teacher("analytic-ionic")
    remote = get_teacher(f"env:{PY}@analytic-ionic")
    try:
        assert remote.info.level_of_theory == local.info.level_of_theory
        assert "unix socket" in remote.info.notes
        crystal = _frames(1)[0]
        pair = Atoms("NaCl", positions=[[0, 0, 0], [2.7, 0.1, 0]])  # open: new composition/pbc
        for atoms in (crystal, pair, crystal):
            a, b = local.label(atoms), remote.label(atoms)
            assert b["energy"] == pytest.approx(a["energy"], rel=1e-12, abs=1e-12)
            np.testing.assert_allclose(b["forces"], a["forces"], rtol=1e-10, atol=1e-12)
            assert ("stress" in b) == ("stress" in a)
            if "stress" in a:
                np.testing.assert_allclose(b["stress"], a["stress"], rtol=1e-10, atol=1e-14)
        # the teacher's own input checks come back as one-line ValueErrors naming the teacher
        with pytest.raises(ValueError, match="cannot handle element"):
            remote.label(Atoms("NaK", positions=[[0, 0, 0], [3, 0, 0]]))
    finally:
        pid = remote.calculator.server_pid
        remote.calculator.close()
    assert pid is not None and _gone(pid)


def test_socket_xtb_equal_labels_with_stress() -> None:
    atoms = molecule("H2O")
    atoms.cell = [6.0, 6.0, 6.0]
    atoms.pbc = True
    atoms.center()
    atoms.rattle(0.03, seed=2)
    a = get_teacher("xtb-gfn1").label(atoms)
    remote = get_teacher(f"env:{PY}@xtb-gfn1")
    try:
        b = remote.label(atoms)
    finally:
        remote.calculator.close()
    assert b["energy"] == pytest.approx(a["energy"], rel=1e-10)
    np.testing.assert_allclose(b["forces"], a["forces"], atol=1e-8)
    np.testing.assert_allclose(b["stress"], a["stress"], atol=1e-10)


def test_bad_socket_specs_fail_before_starting(tmp_path) -> None:
    with pytest.raises(ValueError, match="expected 'env:PYTHON@SPEC'"):
        get_teacher("env:/usr/bin/python3")
    with pytest.raises(FileNotFoundError, match="interpreter not found"):
        get_teacher(f"env:{tmp_path}/nopython@analytic-ionic")
    with pytest.raises(ValueError, match="unknown teacher"):
        get_teacher(f"env:{PY}@gpt")
    with pytest.raises(ValueError, match="timeout=SECONDS"):
        get_teacher(f"env:{PY},wait=3@analytic-ionic")
    status = teacher_status(f"env:{PY}@mace:{tmp_path}/absent.model")
    assert not status.usable and "absent.model" in status.reason
    assert teacher_status(f"env:{PY}@analytic-ionic").usable


def test_server_that_fails_to_load_names_the_teacher(tmp_path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"garbage")
    spec = f"env:{PY}@uma:{bad}@omol"
    if teacher_status(f"uma:{bad}").reason.startswith("package"):
        # fairchem absent here: the server's one-line error is reported
        with pytest.raises(TeacherServerError, match=r"teacher 'env:.*uma:.*exited with code 2.*"
                                                     "fairchem-core"):
            get_teacher(spec)


def test_killed_server_gives_clear_error_and_keeps_frames(tmp_path, monkeypatch) -> None:
    src = tmp_path / "frames.xyz"
    write(src, _frames(6), format="extxyz")
    out = tmp_path / "out.xyz"
    teacher = get_teacher(f"env:{PY}@analytic-ionic")
    pid = teacher.calculator.server_pid
    real = relabel.relabel_frame
    calls = {"n": 0}

    def relabel_then_kill(frame, teacher_obj, *args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(pid, signal.SIGKILL)
            _gone(pid)
        return real(frame, teacher_obj, *args)

    monkeypatch.setattr(relabel, "relabel_frame", relabel_then_kill)
    with pytest.raises(TeacherServerError, match=r"teacher 'env:.*analytic-ionic'.*server died"):
        relabel.label(src, out, teacher, progress=False)
    assert [f.info[keys.FRAME_ID] for f in read_frames(out)] == [0, 1]
    monkeypatch.setattr(relabel, "relabel_frame", real)
    relabel.label(src, out, f"env:{PY}@analytic-ionic", progress=False)  # resumes
    assert [f.info[keys.FRAME_ID] for f in read_frames(out)] == list(range(6))


def test_hung_server_times_out_and_is_killed() -> None:
    teacher = get_teacher(f"env:{PY},timeout=3@analytic-ionic")
    pid = teacher.calculator.server_pid
    atoms = _frames(1)[0]
    teacher.label(atoms)
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(TeacherServerError, match=r"no answer within 3 s"):
            teacher.label(_frames(2)[1])
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert _gone(pid)


def test_no_orphan_after_the_driver_is_killed(tmp_path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from ase.build import bulk
        from lesdistill.teachers import get_teacher
        t = get_teacher("env:{PY}@analytic-ionic")
        t.label(bulk("NaCl", "rocksalt", a=5.64, cubic=True))
        print(t.calculator.server_pid, flush=True)
        time.sleep(600)
    """))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    driver = subprocess.Popen([PY, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = driver.stdout.readline()
        server = int(line)
        assert not _gone(server, wait_s=0.5)
        driver.kill()
        driver.wait(10)
        assert _gone(server), "the teacher server outlived its driver"
    finally:
        if driver.poll() is None:
            driver.kill()


def test_label_workers_and_cli_with_socket_teacher(tmp_path) -> None:
    from lesdistill.cli import main

    src = tmp_path / "frames.xyz"
    write(src, _frames(4), format="extxyz")
    local = tmp_path / "local.xyz"
    remote = tmp_path / "remote.xyz"
    relabel.label(src, local, "analytic-ionic", progress=False)
    with pytest.raises(SystemExit) as exc:
        main(["label", str(src), "--out", str(remote), "--teacher", f"env:{PY}@analytic-ionic",
              "--workers", "2", "--no-progress"])
    assert exc.value.code in (0, None)
    for a, b in zip(read_frames(local), read_frames(remote), strict=True):
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), rel=1e-12)
        np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-12)
        assert b.info[keys.TEACHER] == f"env:{PY}@analytic-ionic"


def test_sample_with_socket_teacher_matches_in_process(tmp_path) -> None:
    from lesdistill.sampling import sample

    start = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    kwargs = dict(temperatures_K=[300.0], n_frames=3, stride=2, equilibration_steps=2,
                  seed=1, progress=False)
    local = sample(start, "analytic-ionic", tmp_path / "local.xyz", **kwargs)
    teacher = get_teacher(f"env:{PY}@analytic-ionic")
    try:
        remote = sample(start, teacher, tmp_path / "remote.xyz", **kwargs)
    finally:
        teacher.calculator.close()
    a, b = read_frames(local), read_frames(remote)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(y.positions, x.positions, atol=1e-7)
        assert y.get_potential_energy() == pytest.approx(x.get_potential_energy(), abs=1e-6)
