"""Start-up time of ``import lesdistill`` and ``lesdistill --help``: two source trees side by side.

    python benchmarks/startup.py [--baseline REV] [--rounds 15]

Each round starts a fresh interpreter for each command with the baseline tree (``git archive REV
src``) and with this checkout's ``src``, in turn, so both see the same machine load. Prints the
median wall time (ms) of each and the ratio current / baseline (below 1: faster now).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "import lesdistill": "import lesdistill",
    "lesdistill --help": (
        "import sys; from lesdistill.cli import main; sys.argv = ['lesdistill', '--help']\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    ),
}


def checkout(rev: str, into: Path) -> Path:
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def wall_ms(src: Path, code: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"baseline": checkout(args.baseline, Path(tmp)), "current": ROOT / "src"}
        samples = {(t, c): [] for t in trees for c in COMMANDS}
        for tree in trees.values():  # warm the file cache and __pycache__
            for code in COMMANDS.values():
                wall_ms(tree, code)
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for cmd, code in COMMANDS.items():
                    samples[(name, cmd)].append(wall_ms(tree, code))
    print(f"median of {args.rounds} rounds, wall ms; baseline {args.baseline}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'command':>18} {'baseline':>9} {'current':>9} {'ratio':>6}")
    for cmd in COMMANDS:
        base = statistics.median(samples[("baseline", cmd)])
        cur = statistics.median(samples[("current", cmd)])
        print(f"{cmd:>18} {base:9.1f} {cur:9.1f} {cur / base:6.2f}")


if __name__ == "__main__":
    main()
