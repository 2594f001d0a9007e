"""Progress reporting: a bar only on a terminal; in logs at most occasional plain lines."""

from __future__ import annotations

import io

import numpy as np

from lesdistill.progress import PlainProgress, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_tqdm_bar_and_a_log_gets_none():
    from tqdm import tqdm

    bar = progress_bar(total=3, desc="x", file=_Terminal())
    assert isinstance(bar, tqdm)
    bar.close()
    log = io.StringIO()
    plain = progress_bar(total=3, desc="x", file=log)
    assert isinstance(plain, PlainProgress)
    for _ in range(3):
        plain.update(1)
    plain.close()
    assert log.getvalue() == ""  # a job shorter than the interval writes nothing


def test_plain_lines_are_rate_limited_and_free_of_escape_sequences(monkeypatch):
    clock = iter(np.arange(0.0, 1000.0, 10.0))  # 10 s per call of time.monotonic
    monkeypatch.setattr("lesdistill.progress.time.monotonic", lambda: float(next(clock)))
    log = io.StringIO()
    bar = PlainProgress(total=20, desc="sampling chgnet", unit="frame", file=log, interval_s=60.0)
    for _ in range(20):
        bar.update(1)
        bar.set_postfix(loss="0.5")
    bar.close()
    lines = log.getvalue().splitlines()
    assert 2 <= len(lines) <= 5  # ~200 s of "work" at one line per 60 s, plus the final line
    assert lines[-1].startswith("sampling chgnet: 20/20 frame (100%)") and "loss=0.5" in lines[-1]
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()


def test_disabled_and_zero_interval_write_nothing(monkeypatch):
    log = io.StringIO()
    bar = progress_bar(total=2, enabled=False, file=_Terminal())
    assert isinstance(bar, PlainProgress)
    bar.update(2)
    bar.close()
    monkeypatch.setenv("LESDISTILL_PROGRESS_INTERVAL_S", "0")
    quiet = progress_bar(total=2, file=log)
    quiet.update(2)
    quiet.close()
    assert log.getvalue() == ""


def test_a_long_job_in_a_log_writes_no_carriage_returns(capsys):
    """BEC of a few frames with progress on and stderr captured (not a terminal): no bar."""
    from ase import Atoms
    from ase.calculators.calculator import Calculator, all_changes

    from lesdistill.spectra.bec import bec_of_frames

    class PointCharges(Calculator):
        implemented_properties = ["born_effective_charges"]

        def calculate(
            self, atoms=None, properties=("born_effective_charges",), system_changes=all_changes
        ):
            super().calculate(atoms, properties, system_changes)
            q = np.where(self.atoms.numbers == 11, 1.0, -1.0)
            self.results["born_effective_charges"] = np.einsum("i,ab->iab", q, np.eye(3))

    frames = [Atoms("NaCl", positions=[[0, 0, 0], [0, 0, 2.5 + 0.1 * k]]) for k in range(3)]
    bec = bec_of_frames(frames, PointCharges(), progress=True)
    assert bec.shape == (3, 2, 3, 3)
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
