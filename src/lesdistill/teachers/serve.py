"""The teacher end of a socket teacher: answer energy/forces/stress requests over the i-PI protocol.

    python -m lesdistill.teachers.serve SPEC --unixsocket NAME [--device cpu] [--threads 1]
    lesdistill teacher-serve SPEC --unixsocket NAME          (same, where lesdistill is installed)

This module needs only the standard library, numpy, ASE and the teacher's own package: the
driver (:mod:`lesdistill.teachers.socket`) starts it with the *teacher's* Python and puts a folder
holding nothing but the ``lesdistill`` source package on its ``PYTHONPATH``, so the teacher's
environment needs none of lesdistill's other dependencies (typer, torch-pme, vesin, ...), and its
own versions of torch/e3nn/numpy are used. The teacher is built by the same adapters as in-process
teachers (``get_teacher(SPEC)``), so a spec means the same thing on both sides.

Protocol (i-PI, as spoken by ``ase.calculators.socketio``): the driver listens on the unix socket
``/tmp/ipi_NAME``, this process connects as the client (the role of ``ase.calculators.socketio
.SocketClient``), answers ``STATUS`` with ``NEEDINIT``/``READY``/``HAVEDATA``, and on ``INIT`` reads
the system as JSON (``numbers``, ``pbc``, ``info`` with the total charge and spin multiplicity;
the i-PI init string) so one server labels structures of any composition. ``POSDATA`` carries the
cell and positions (Bohr), ``GETFORCE`` returns energy (Ha), forces (Ha/Bohr), the virial (Ha;
zero for open structures) and, in the extra bytes, a JSON object that is empty or holds the
error the teacher raised (``{"error": ..., "kind": "input"|"internal"}``) so the driver can report
it. The process exits on ``EXIT``, when the driver closes the socket, and when the driver process
dies (Linux parent-death signal, plus a parent-pid check).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from typing import Any

import numpy as np

#: info keys sent with each system (total charge in e, spin multiplicity 2S+1)
SYSTEM_INFO_KEYS = ("total_charge", "spin_multiplicity")


def die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to kill this process when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if parent_pid is not None and os.getppid() != parent_pid:
        raise SystemExit(0)  # the driver died before we got here


def _system_atoms(payload: bytes) -> Any:
    from ase import Atoms

    system = json.loads(payload.decode("utf-8"))
    atoms = Atoms(numbers=system["numbers"], pbc=system["pbc"])
    atoms.info.update(system.get("info", {}))
    return atoms


def _answer(teacher: Any, atoms: Any) -> tuple[float, np.ndarray, np.ndarray, bytes]:
    """Energy (eV), forces (eV/Å), virial (eV) and the JSON extra bytes for one request."""
    try:
        labels = teacher.label(atoms)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        extra = {"error": str(exc).strip().splitlines()[0] if str(exc).strip()
                 else type(exc).__name__, "kind": "input"}
        return 0.0, np.zeros((len(atoms), 3)), np.zeros((3, 3)), json.dumps(extra).encode()
    except Exception as exc:  # noqa: BLE001 - reported to the driver, which raises it
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        extra = {"error": f"{type(exc).__name__}: {text}", "kind": "internal"}
        return 0.0, np.zeros((len(atoms), 3)), np.zeros((3, 3)), json.dumps(extra).encode()
    virial = np.zeros((3, 3))
    if "stress" in labels:
        from ase.stress import voigt_6_to_full_3x3_stress

        virial = -atoms.get_volume() * voigt_6_to_full_3x3_stress(np.asarray(labels["stress"]))
    forces = np.ascontiguousarray(labels["forces"], dtype=np.float64)
    return float(labels["energy"]), forces, virial, b"{}"


def serve(spec: str, unixsocket: str, *, device: str = "cpu", timeout_s: float | None = None,
          log: Any = None) -> None:
    """Build the teacher ``spec`` and answer the driver on ``unixsocket`` until it says EXIT."""
    from ase.calculators.socketio import IPIProtocol, SocketClosed, actualunixsocketname

    from lesdistill.teachers import get_teacher

    teacher = get_teacher(spec, device=device)
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(actualunixsocketname(unixsocket))
    sock.settimeout(timeout_s)
    protocol = IPIProtocol(sock, txt=log)
    atoms = None
    state = "NEEDINIT"
    answer: tuple[float, np.ndarray, np.ndarray, bytes] | None = None
    try:
        while True:
            try:
                msg = protocol.recvmsg()
            except (SocketClosed, ConnectionError):
                return  # the driver went away
            if msg == "EXIT":
                return
            if msg == "STATUS":
                protocol.sendmsg(state)
            elif msg == "INIT":
                _, initbytes = protocol.recvinit()
                atoms = _system_atoms(bytes(np.asarray(initbytes, dtype=np.byte)))
                state = "READY"
            elif msg == "POSDATA":
                cell, _, positions = protocol.recvposdata()
                if atoms is None or len(positions) != len(atoms):
                    raise RuntimeError("driver sent positions before the system (INIT)")
                atoms.cell[:] = cell
                atoms.positions[:] = positions
                answer = _answer(teacher, atoms)
                state = "HAVEDATA"
            elif msg == "GETFORCE":
                if answer is None:
                    raise RuntimeError("driver asked for forces before sending positions")
                energy, forces, virial, extra = answer
                protocol.sendforce(energy, forces, virial,
                                   morebytes=np.frombuffer(extra, dtype=np.byte))
                answer = None
                state = "READY"
            else:
                raise RuntimeError(f"unexpected i-PI message {msg!r}")
    finally:
        sock.close()


def status(spec: str) -> dict[str, Any]:
    """What is missing to use ``spec`` in this environment (for the driver's status check)."""
    from lesdistill.teachers.registry import teacher_status

    row = teacher_status(spec)
    return {"usable": row.usable, "reason": row.reason,
            "python": sys.version.split()[0], "executable": sys.executable}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lesdistill.teachers.serve",
        description="Serve a lesdistill teacher over the i-PI protocol on a unix socket.")
    parser.add_argument("spec", help="teacher spec, e.g. mace:/models/mace-mp-0.model")
    parser.add_argument("--unixsocket", help="socket NAME (the file is /tmp/ipi_NAME)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait for the driver's next message (default: forever)")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process (the driver) dies")
    parser.add_argument("--status", action="store_true",
                        help="print what is missing to use SPEC here as JSON and exit")
    args = parser.parse_args(argv)
    if args.status:
        print(json.dumps(status(args.spec)))
        return
    if not args.unixsocket:
        parser.error("--unixsocket NAME is required")
    die_with_parent(args.parent_pid)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    try:
        serve(args.spec, args.unixsocket, device=args.device, timeout_s=args.timeout)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        # one line the driver shows (the last line of this process's log)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {text}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
