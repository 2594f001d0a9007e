"""Atomic output: permissions like any other tool, data flushed to disk before the rename."""

from __future__ import annotations

import os
import stat

import pytest

from lesdistill import fileio
from lesdistill.fileio import atomic_open, atomic_path, current_umask, write_text_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_new_files_honour_the_umask(tmp_path, umask_027):
    assert current_umask() == 0o027
    write_text_atomic(tmp_path / "a.txt", "x")
    with atomic_path(tmp_path / "b.npz") as tmp:
        tmp.write_bytes(b"y")
    with atomic_open(tmp_path / "c.bin", "wb") as handle:
        handle.write(b"z")
    for name in ("a.txt", "b.npz", "c.bin"):
        assert _mode(tmp_path / name) == 0o640, name
    os.umask(0o002)
    write_text_atomic(tmp_path / "d.txt", "x")
    assert _mode(tmp_path / "d.txt") == 0o664


def test_replacing_keeps_the_mode_of_the_old_file(tmp_path, umask_027):
    path = tmp_path / "shared.txt"
    path.write_text("old")
    os.chmod(path, 0o664)
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o664


def test_data_and_folder_are_flushed_before_and_after_the_rename(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src, dst):
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    monkeypatch.setattr(fileio.os, "replace", replace)
    with atomic_path(tmp_path / "state.pt") as tmp:
        tmp.write_bytes(b"weights")
    assert events == ["fsync-file", "rename", "fsync-dir"]
    events.clear()
    write_text_atomic(tmp_path / "curve.csv", "a,b\n")
    assert events == ["fsync-file", "rename", "fsync-dir"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
