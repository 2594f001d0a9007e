"""Socket teachers: a teacher whose package cannot live beside lesdistill, run in its own Python.

Spec: ``env:PYTHON@SPEC``, e.g. ``env:/opt/mace-env/bin/python@mace:/models/mace-mp-0.model``.
PYTHON is the interpreter of the teacher's environment (a venv's ``bin/python``; it needs numpy,
ASE and the teacher's package, not lesdistill); SPEC is any teacher spec, interpreted there by the
same adapters. The first ``@`` ends PYTHON. Works wherever a spec is taken (``sample``,
``label --workers N``: one server per worker, ``compare``, configs).

:class:`SocketTeacherCalculator` (this process, the i-PI *driver*) listens on a private unix socket
and starts ``PYTHON -m lesdistill.teachers.serve SPEC --unixsocket NAME`` (the i-PI *client*, see
:mod:`lesdistill.teachers.serve`) with the lesdistill source first on its ``PYTHONPATH``. Each
structure of a new composition, periodicity, total charge or spin multiplicity is sent once as
the i-PI init string; positions and cell then go as ``POSDATA``. Lifetime: the server is in its
own process group, receives SIGKILL when this process dies (Linux parent-death signal), exits when
the socket closes, and is stopped by :meth:`SocketTeacherCalculator.close`, at interpreter exit
and when the calculator is garbage-collected. A server that dies, or does not answer within the
timeout (per call: ``timeout=S`` after the spec's PYTHON, ``env:PYTHON,timeout=60@SPEC``, or
``LESDISTILL_TEACHER_TIMEOUT_S``, default 600 s; start-up, i.e. imports and model loading: at least
600 s), raises
:class:`lesdistill.errors.TeacherServerError` naming the teacher; frames labelled before are kept
by the stores that call it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

import lesdistill
from lesdistill import keys
from lesdistill.errors import TeacherServerError, UserInputError
from lesdistill.teachers.adapter import TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import SPIN_MULTIPLICITY, ChargeSpinState, TeacherInfo

if TYPE_CHECKING:
    from ase import Atoms

DEFAULT_TIMEOUT_S = 600.0
_STATUS_TIMEOUT_S = 120.0


def split_env(arg: str) -> tuple[str, dict[str, str], str]:
    """``"/venv/bin/python,timeout=60@mace:/m.model"`` -> (python, {"timeout": "60"}, inner
    spec)."""
    head, sep, inner = arg.partition("@")
    if not sep or not head or not inner:
        raise UserInputError(
            f"socket teacher: expected 'env:PYTHON@SPEC' "
            f"(e.g. env:/opt/mace-env/bin/python@mace:/models/mace.model), got 'env:{arg}'"
        )
    python, *items = head.split(",")
    options: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if key != "timeout" or not eq:
            raise UserInputError(f"socket teacher: unknown option {item!r} after PYTHON; "
                             "the only one is timeout=SECONDS")
        options[key] = value
    return python, options, inner


def _timeout(options: dict[str, str]) -> float:
    text = options.get("timeout", os.environ.get("LESDISTILL_TEACHER_TIMEOUT_S", ""))
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise UserInputError(
            f"socket teacher: timeout must be a number of seconds, got {text!r}"
        ) from None
    if not value > 0:
        raise UserInputError(f"socket teacher: timeout must be > 0 s, got {value}")
    return value


def _source_path() -> Path:
    """A folder holding only a link to this lesdistill package (the server's PYTHONPATH)."""
    package = Path(lesdistill.__file__).resolve().parent
    digest = hashlib.sha1(str(package).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"lesdistill-src-{os.getuid()}-{digest}"
    link = folder / "lesdistill"
    if not (link.exists() and link.resolve() == package):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".lesdistill-{uuid.uuid4().hex}"
        tmp.symlink_to(package, target_is_directory=True)
        os.replace(tmp, link)
    return folder


def server_environment() -> dict[str, str]:
    """Environment of the server process: ours, with the lesdistill source first on PYTHONPATH.

    ``PYTHONHOME``/``VIRTUAL_ENV`` are dropped so the interpreter finds its own environment; a
    user's ``PYTHONPATH`` follows (e.g. the module of an ``ase:`` factory)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME",
                                                            "VIRTUAL_ENV")}
    user = os.environ.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_source_path()), user) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _system_key(atoms: Atoms) -> tuple[Any, ...]:
    charge = float(atoms.info.get(keys.TOTAL_CHARGE, 0.0))
    spin = int(atoms.info.get(SPIN_MULTIPLICITY, 1))
    return tuple(int(z) for z in atoms.numbers), tuple(bool(p) for p in atoms.pbc), charge, spin


def _stop(proc: subprocess.Popen[bytes] | None, sock: socket.socket | None,
          conn: socket.socket | None, path: str | None, log: Path | None = None,
          grace_s: float = 5.0) -> None:
    """Stop a server: EXIT over the socket, then SIGTERM/SIGKILL to its process group."""
    import signal

    if conn is not None:
        try:
            conn.settimeout(1.0)
            conn.sendall(b"EXIT".ljust(12))
        except OSError:
            pass
    for s in (conn, sock):
        if s is not None:
            try:
                s.close()
            except OSError:
                pass
    if proc is not None and proc.poll() is None:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    proc.wait(timeout=grace_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
    if proc is not None:
        try:  # the server's own children (e.g. compile workers) share its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for leftover in (path, log):
        if leftover is not None:
            try:
                os.unlink(leftover)
            except OSError:
                pass


class SocketTeacherCalculator(ChargeSpinState, Calculator):
    """ASE calculator that forwards every calculation to a teacher server in another Python.

    ``name`` is the full spec (used in errors), ``python`` the server's interpreter, ``inner``
    the spec the server builds. Energies in eV, forces eV/Å, stress eV/Å^3 (periodic cells).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, name: str, python: str, inner: str, *, device: str = "cpu",
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.teacher_name = name
        self.python = python
        self.inner = inner
        self.device = device
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.server_pid: int | None = None  # pid of the last server started (kept after close)
        self._sock: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._protocol: Any = None
        self._path: str | None = None
        self._log: Path | None = None
        self._system: tuple[Any, ...] | None = None
        self._finalizer: weakref.finalize | None = None

    # ---- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the server and wait until it has loaded the teacher and connected."""
        from ase.calculators.socketio import IPIProtocol, actualunixsocketname

        if self.proc is not None:
            return
        name = f"lesdistill-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._path = actualunixsocketname(name)
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.bind(self._path)
        self._sock.listen(1)
        self._sock.settimeout(1.0)
        log_fd, log_name = tempfile.mkstemp(prefix="lesdistill-teacher-", suffix=".log")
        self._log = Path(log_name)
        cmd = [self.python, "-m", "lesdistill.teachers.serve", self.inner, "--unixsocket", name,
               "--device", self.device, "--parent-pid", str(os.getpid())]
        try:
            self.proc = subprocess.Popen(cmd, env=server_environment(), stdin=subprocess.DEVNULL,
                                         stdout=log_fd, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        except OSError as exc:
            self.close()
            raise TeacherServerError(f"teacher {self.teacher_name!r}: cannot start "
                                     f"{self.python}: {exc}") from None
        finally:
            os.close(log_fd)
        self.server_pid = self.proc.pid
        # also runs at interpreter exit (weakref.finalize's atexit flag)
        self._finalizer = weakref.finalize(self, _stop, self.proc, self._sock, None, self._path,
                                           self._log)
        startup_s = max(self.timeout_s, DEFAULT_TIMEOUT_S)  # imports + model loading
        deadline = time.monotonic() + startup_s
        while self._conn is None:
            try:
                self._conn, _ = self._sock.accept()
            except TimeoutError:
                if self.proc.poll() is not None:
                    self._fail(f"the server exited with code {self.proc.returncode} while "
                               "loading the teacher")
                if time.monotonic() > deadline:
                    self._fail(f"the server did not connect within {startup_s:g} s")
        self._conn.settimeout(self.timeout_s)
        self._protocol = IPIProtocol(self._conn)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop, self.proc, self._sock, self._conn,
                                           self._path, self._log)

    def close(self) -> None:
        """Stop the server (EXIT, then signals to its process group) and remove the socket."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        else:
            _stop(self.proc, self._sock, self._conn, self._path)
        self._conn = self._sock = self._protocol = None
        self.proc = None
        self._system = None
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    def _log_tail(self) -> str:
        """Last non-empty line the server printed (its one-line error, if it failed)."""
        if self._log is None or not self._log.exists():
            return ""
        lines = [ln.strip() for ln in self._log.read_text(errors="replace").splitlines()
                 if ln.strip()]
        return lines[-1] if lines else ""

    def _fail(self, what: str) -> None:
        tail = self._log_tail()
        self.close()  # a later call starts a fresh server
        raise TeacherServerError(
            f"teacher {self.teacher_name!r}: {what}" + (f"; server said: {tail}" if tail else "")
        )

    def _exit_code(self, wait_s: float) -> int | None:
        """The server's exit code if it has exited or exits within ``wait_s`` seconds, else None."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None

    # ---- ASE ---------------------------------------------------------------------------------
    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        from ase.calculators.socketio import SocketClosed
        from ase.stress import full_3x3_to_voigt_6_stress

        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        if self.proc is None:
            self.start()
        try:
            key = _system_key(self.atoms)
            if key != self._system:
                self._init(key)
            cell = np.asarray(self.atoms.cell, dtype=np.float64)
            result = self._protocol.calculate(self.atoms.positions, cell)
        except TimeoutError:
            self._fail(f"no answer within {self.timeout_s:g} s (hung server)")
        except (SocketClosed, OSError, AssertionError) as exc:
            code = self._exit_code(
                wait_s=2.0
            )  # a killed server closes its socket before it is reaped
            what = f"the server died (exit code {code})" if code is not None else \
                f"connection to the server lost ({type(exc).__name__})"
            self._fail(what)
        extra = json.loads(bytes(np.asarray(result["morebytes"], dtype=np.byte)).decode() or "{}")
        if extra.get("error"):
            message = f"teacher {self.teacher_name!r}: {extra['error']}"
            if extra.get("kind") == "input":
                raise UserInputError(message)
            raise TeacherServerError(message)
        energy = float(result["energy"])
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": np.asarray(result["forces"], dtype=np.float64)}
        if self.atoms.pbc.all() and self.atoms.cell.rank == 3:
            self.results["stress"] = -full_3x3_to_voigt_6_stress(result["virial"]) \
                / self.atoms.get_volume()

    def _init(self, key: tuple[Any, ...]) -> None:
        """Send the system (i-PI INIT string: JSON numbers, pbc, charge, multiplicity)."""
        numbers, pbc, charge, spin = key
        payload = json.dumps(
            {
                "numbers": list(numbers),
                "pbc": list(pbc),
                "info": {keys.TOTAL_CHARGE: charge, SPIN_MULTIPLICITY: spin},
            }
        ).encode()
        proto = self._protocol
        proto.sendmsg("INIT")
        proto.send(np.array([0]), np.int32)  # bead index
        proto.send(np.array([len(payload)]), np.int32)
        proto.send(np.frombuffer(payload, dtype=np.byte), np.byte)
        self._system = key


class SocketAdapter(TeacherAdapter):
    """``env:PYTHON@SPEC``: the teacher SPEC served by PYTHON's environment over a unix socket."""

    family = "socket"
    prefixes = ("env",)
    formats = "those of the inner SPEC, read by the teacher's environment"
    notes = "for teachers that cannot share lesdistill's environment (e.g. mace-torch)"

    def example(self) -> str:
        return "env:PYTHON@SPEC"

    def _parts(self, spec: TeacherSpec) -> tuple[str, dict[str, str], str]:
        python, options, inner = split_env(spec.arg)
        if inner.startswith("env:"):
            raise UserInputError(
                f"socket teacher {spec.text!r}: the inner spec cannot be env: again"
            )
        return python, options, inner

    def validate(self, spec: TeacherSpec) -> None:
        python, options, inner = self._parts(spec)
        _timeout(options)
        from lesdistill.teachers.registry import resolve

        resolve(inner)  # the inner spec must at least parse
        if not shutil.which(python) and not Path(python).is_file():
            raise FileNotFoundError(f"socket teacher {spec.text!r}: Python interpreter not found: "
                                    f"{python}")

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        """The inner teacher's metadata (computed here: metadata needs no package)."""
        from dataclasses import replace

        from lesdistill.teachers.registry import resolve

        if not spec.arg:
            return TeacherInfo(family="socket", architecture="any teacher, in its own Python",
                               training_data="that of the inner teacher",
                               level_of_theory="that of the inner teacher")
        python, _, inner = self._parts(spec)
        adapter, inner_spec = resolve(inner)
        info = adapter.info(inner_spec)
        note = f"served by {python} over a unix socket (i-PI)"
        return replace(info, notes=f"{info.notes}; {note}" if info.notes else note)

    def missing(self, spec: TeacherSpec) -> list[str]:
        """The interpreter, then what the teacher's environment reports missing for SPEC."""
        if not spec.arg:
            return []
        try:
            python, _, inner = self._parts(spec)
        except ValueError as exc:
            return [str(exc)]
        if not shutil.which(python) and not Path(python).is_file():
            return [f"Python interpreter {python}"]
        try:
            out = subprocess.run([python, "-m", "lesdistill.teachers.serve", inner, "--status"],
                                 env=server_environment(), capture_output=True, text=True,
                                 timeout=_STATUS_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [f"a working Python at {python} ({type(exc).__name__})"]
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            return [f"numpy and ASE in {python}'s environment ({last})"]
        row = json.loads(out.stdout.strip().splitlines()[-1])
        return [] if row["usable"] else [f"in {python}: {row['reason']}"]

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        python, options, inner = self._parts(spec)
        calc = SocketTeacherCalculator(spec.text, python, inner, device=device,
                                       timeout_s=_timeout(options))
        calc.start()  # load now: errors surface before any frame is labelled
        return calc


ADAPTER = SocketAdapter()
