"""BEC benchmark on files: reference frames, a student's and other models' predictions, outputs.

:func:`run_bec_benchmark` reads reference Born effective charges (per-atom extxyz array, 9 columns
row-major Z_ab = dP_a/dr_b in e, default name ``BEC``), computes a student's BECs on the same
frames (periodic or open, through :class:`~lesdistill.calculator.StudentCalculator`), optionally
reads other models' predictions stored on the same frames (e.g. the paper's students:
``water_bec_student_UMA-M_3frames.extxyz:MACE_BEC:sqrt(1.78)``), scores all of them with
:func:`lesdistill.analysis.bec_benchmark.benchmark` and writes ``bec_benchmark.json``,
``bec_benchmark.txt`` and ``bec_parity.png`` into the output folder. Every input is validated
before the first BEC is computed; nothing is written when an input is bad.

Reference frames are evaluation data: nothing here trains on them.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill import keys
from lesdistill.analysis import bec_benchmark
from lesdistill.compare.reference import calculator_gives_dipole, finite_difference_bec
from lesdistill.data.frames import read_frames, write_frames
from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.systems.io import validate_structure
from lesdistill.teachers import get_teacher

PathLike = str | os.PathLike[str]

#: Default name of the per-atom reference array (as in the paper's benchmark files).
DEFAULT_ARRAY = "BEC"
#: Positions of a prediction file must match the reference frames to this tolerance (Å).
POSITION_TOLERANCE_A = 1e-4

__all__ = ["ReferenceSet", "read_reference", "finite_difference_reference", "read_predictions",
           "parse_compare_spec",
           "resolve_compare_spec",
           "student_becs", "check_elements", "write_parity_plot", "run_bec_benchmark"]


@dataclass(frozen=True)
class ReferenceSet:
    """Reference frames (ase.Atoms, labels untouched), their BECs (sum N, 3, 3) in e, the
    per-atom symbols (sum N) and the file/array they came from."""

    frames: list[Any]
    becs: np.ndarray
    symbols: list[str]
    path: str
    array: str

    @property
    def elements(self) -> list[str]:
        return sorted(set(self.symbols))


def _read_frames(path: PathLike, what: str) -> list[Any]:
    return read_frames(path, what=f"{what} file", format="extxyz")


def _per_atom_array(atoms: Any, array: str, where: str) -> np.ndarray:
    if array not in atoms.arrays:
        have = sorted(k for k in atoms.arrays if k not in ("numbers", "positions"))
        raise UserInputError(f"{where} has no per-atom array '{array}' (it has: "
                             f"{', '.join(have) or 'none'}); pass its name with --array "
                             "(config: evaluate.bec_array)")
    arr = np.asarray(atoms.arrays[array], dtype=float)
    if arr.shape != (len(atoms), 9):
        raise UserInputError(f"{where}: array '{array}' has shape {arr.shape}, expected "
                             f"({len(atoms)}, 9) (row-major Z_ab = dP_a/dr_b per atom, e)")
    if not np.all(np.isfinite(arr)):
        raise UserInputError(f"{where}: array '{array}' contains NaN or inf")
    return arr.reshape(len(atoms), 3, 3)


def read_reference(path: PathLike, array: str = DEFAULT_ARRAY) -> ReferenceSet:
    """Reference BECs from the per-atom array ``array`` of every frame of an extxyz file.

    Raises FileNotFoundError or :class:`UserInputError` (one line) on a missing file, no frames,
    a missing array, a wrong shape, NaN, or invalid structures."""
    frames = _read_frames(path, "reference")
    becs, symbols = [], []
    for k, atoms in enumerate(frames):
        where = f"reference {path} frame {k}"
        validate_structure(atoms, source=where)
        becs.append(_per_atom_array(atoms, array, where))
        symbols += atoms.get_chemical_symbols()
    return ReferenceSet(frames, np.concatenate(becs), symbols, str(path), array)


def finite_difference_reference(path: PathLike, teacher: str, *, displacement_A: float = 0.01,
                                device: str = "cpu", progress: bool = False) -> ReferenceSet:
    """Reference BECs of a dipole-giving teacher (xTB) on the frames of ``path``: central finite
    differences of its dipole (:func:`lesdistill.compare.reference.finite_difference_bec`,
    6 N teacher calls per frame). The frames need no BEC array."""
    frames = _read_frames(path, "reference")
    for k, atoms in enumerate(frames):
        validate_structure(atoms, source=f"reference {path} frame {k}")
    if not displacement_A > 0:
        raise UserInputError(f"displacement must be > 0 Å, got {displacement_A}")
    calc = get_teacher(teacher, device=device).calculator
    if not calculator_gives_dipole(calc):
        raise UserInputError(f"teacher {teacher!r} gives no dipole; a finite-difference "
                             "reference needs one (xtb-gfn1, xtb-gfn2)")
    becs = [finite_difference_bec(a, calc, displacement_A=displacement_A, progress=progress)
            for a in frames]
    symbols = [s for a in frames for s in a.get_chemical_symbols()]
    return ReferenceSet(frames, np.concatenate(becs), symbols, str(path),
                        f"finite differences of the {teacher} dipole ({displacement_A} Å)")


def read_predictions(path: PathLike, array: str, reference: ReferenceSet, *,
                     scale: float = 1.0) -> np.ndarray:
    """Another model's BECs (sum N, 3, 3) in e: ``scale`` x the per-atom array ``array`` of an
    extxyz file holding the reference frames (same order, elements and positions)."""
    frames = _read_frames(path, "prediction")
    if len(frames) != len(reference.frames):
        raise UserInputError(f"{path} has {len(frames)} frames but the reference "
                             f"{reference.path} has {len(reference.frames)}; both must hold the "
                             "same frames in the same order")
    out = []
    for k, (atoms, ref) in enumerate(zip(frames, reference.frames, strict=True)):
        where = f"{path} frame {k}"
        if atoms.get_chemical_symbols() != ref.get_chemical_symbols():
            raise UserInputError(f"{where} has other atoms ({len(atoms)}) than reference frame "
                                 f"{k} ({len(ref)}); both files must hold the same frames")
        shift = float(np.max(np.abs(atoms.positions - ref.positions)))
        if shift > POSITION_TOLERANCE_A:
            raise UserInputError(f"{where}: positions differ from reference frame {k} by up to "
                                 f"{shift:.3g} Å; both files must hold the same frames")
        out.append(_per_atom_array(atoms, array, where))
    return scale * np.concatenate(out)


_SQRT = re.compile(r"^sqrt\((.+)\)$")


def _parse_scale(text: str) -> float:
    text = text.strip()
    m = _SQRT.match(text)
    try:
        value = math.sqrt(float(m.group(1))) if m else float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value == 0.0:
        raise UserInputError(f"bad scale {text!r}: give a non-zero number or sqrt(NUMBER), "
                             "e.g. sqrt(1.78) for eps_inf = 1.78")
    return value


def parse_compare_spec(spec: str) -> tuple[str, Path, str, float]:
    """``[NAME=]FILE:ARRAY[:SCALE]`` -> (name, path, array, scale). SCALE is a number or
    ``sqrt(X)`` (default 1); NAME defaults to the file name without extension."""
    name, sep, rest = spec.partition("=")
    if not sep or ":" in name or "/" in name:
        name, rest = "", spec
    usage = (f"bad --compare-file {spec!r}: use [NAME=]FILE:ARRAY[:SCALE], "
             "e.g. student.extxyz:MACE_BEC:sqrt(1.78)")
    parts = rest.rsplit(":", 2)
    if len(parts) == 3:
        file, array, scale = parts[0], parts[1], _parse_scale(parts[2])
    elif len(parts) == 2:
        file, array, scale = parts[0], parts[1], 1.0
    else:
        raise UserInputError(usage)
    if not file or not array:
        raise UserInputError(usage)
    path = Path(file)
    return (name or path.name.split(".")[0]), path, array, scale


def resolve_compare_spec(spec: str, folder: Path) -> str:
    """``spec`` with a relative FILE made absolute against ``folder`` (for YAML configs)."""
    name, path, array, scale = parse_compare_spec(spec)
    if not path.expanduser().is_absolute():
        path = (folder / path.expanduser()).resolve()
    return f"{name}={path}:{array}:{scale!r}"


def check_elements(model_elements: Sequence[str], reference: ReferenceSet) -> None:
    """UserInputError if the reference holds elements the student was not trained on."""
    unseen = sorted(set(reference.elements) - set(model_elements))
    if unseen:
        raise UserInputError(f"reference {reference.path} holds elements {unseen} the student "
                             f"does not know (it knows {sorted(model_elements)}); benchmark it "
                             "on frames of its own elements")


def student_becs(calculator: Any, frames: Sequence[Any]) -> np.ndarray:
    """BECs (sum N, 3, 3) in e of an ASE calculator with ``born_effective_charges`` (a
    StudentCalculator) on each frame (copied; the frames keep their labels)."""
    out = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = calculator
        out.append(np.asarray(calculator.get_property(keys.BEC, work), dtype=float))
    return np.concatenate(out)


def write_parity_plot(preds: Mapping[str, np.ndarray], result: Mapping[str, Any],
                      reference: ReferenceSet, path: PathLike) -> Path:
    """One parity panel per model (its sign applied) and one for the isotropic constant: all
    9 components, diagonal and off-diagonal in two colours. Written atomically (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    const, _ = bec_benchmark.isotropic_constant(reference.becs, reference.symbols)
    panels = [(name, result["students"][name]["sign"] * p, result["students"][name])
              for name, p in preds.items()]
    panels.append(("isotropic constant (oracle)", const, result["constant"]))
    diag = np.broadcast_to(np.eye(3, dtype=bool), reference.becs.shape)
    ref = reference.becs
    lo, hi = float(ref.min()), float(ref.max())
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.7), dpi=120,
                             squeeze=False)
    for ax, (name, p, s) in zip(axes[0], panels, strict=True):
        ax.scatter(ref[~diag], p[~diag], s=3, alpha=0.4, linewidths=0, label="off-diagonal")
        ax.scatter(ref[diag], p[diag], s=3, alpha=0.4, linewidths=0, label="diagonal")
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.set_xlabel(f"reference Z ({reference.array}), e")
        ax.set_ylabel("prediction Z, e")
        ax.set_title(f"{name[:30]}\nR² {s['r2']:.3f}, RMSE {s['rmse_e']:.3f}, "
                     f"MAE {s['mae_e']:.3f} e", fontsize=8)
    axes[0][0].legend(fontsize=7, markerscale=3, loc="upper left")
    fig.tight_layout()
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return target


def run_bec_benchmark(reference: PathLike, *, model: PathLike | None = None,
                      array: str = DEFAULT_ARRAY, compare: Sequence[str] = (),
                      out_dir: PathLike | None = None, device: str = "cpu",
                      name: str = "student", fd_teacher: str | None = None,
                      displacement_A: float = 0.01, progress: bool = False) -> dict[str, Any]:
    """Score a student (``model``, a checkpoint) and/or other models' prediction files
    (``compare``: ``[NAME=]FILE:ARRAY[:SCALE]`` specs) against reference BECs, with one code.
    The reference is the per-atom ``array`` of the ``reference`` frames or, with ``fd_teacher``
    (e.g. ``xtb-gfn1``), finite differences of that teacher's dipole on them (then also written
    to ``out_dir/reference_fd.extxyz`` with an array ``BEC``, to reuse).

    Returns the JSON-ready result (see :func:`lesdistill.analysis.bec_benchmark.benchmark`, plus
    ``reference``, ``model``, ``compare`` and, with ``out_dir``, ``files``)."""
    if model is None and not compare:
        raise UserInputError("nothing to benchmark: give --model and/or --compare-file")
    if model is not None and not Path(model).expanduser().is_file():
        raise FileNotFoundError(f"student checkpoint not found: {model}")
    if fd_teacher is not None:  # frames only: validated (with placeholder tensors) first
        frames = _read_frames(reference, "reference")
        ref = ReferenceSet(frames, np.zeros((sum(len(a) for a in frames), 3, 3)),
                           [s for a in frames for s in a.get_chemical_symbols()],
                           str(reference), "")
    else:
        ref = read_reference(reference, array)
    specs = [parse_compare_spec(s) for s in compare]
    names = ([name] if model is not None else []) + [s[0] for s in specs]
    if len(set(names)) != len(names):
        raise UserInputError(f"model names must be unique, got {names}; use NAME=FILE:ARRAY")
    compared = {label: read_predictions(path, arr, ref, scale=scale)
                for label, path, arr, scale in specs}
    calc = None
    model_info: dict[str, Any] | None = None
    if model is not None:
        from lesdistill.calculator import StudentCalculator

        calc = StudentCalculator(Path(model).expanduser(), device=device)
        check_elements(list(calc.model.elements), ref)
        model_info = {"path": str(model), "name": name, "eps_inf": float(calc.eps_inf)}
    if fd_teacher is not None:
        ref = finite_difference_reference(reference, fd_teacher, displacement_A=displacement_A,
                                          device=device, progress=progress)
    preds = ({name: student_becs(calc, ref.frames)} if calc is not None else {}) | compared
    result = bec_benchmark.benchmark(preds, ref.becs, ref.symbols)
    result["reference"] = {"path": ref.path, "array": ref.array, "n_frames": len(ref.frames),
                           "n_atoms": len(ref.symbols),
                           "periodic": [bool(a.pbc.any()) for a in ref.frames]}
    result["model"] = model_info
    result["compare"] = [{"name": s[0], "path": str(s[1]), "array": s[2], "scale": s[3]}
                         for s in specs]
    if out_dir is not None:
        out = Path(out_dir)
        files = {"json": str(out / "bec_benchmark.json"), "table": str(out / "bec_benchmark.txt"),
                 "parity": str(write_parity_plot(preds, result, ref, out / "bec_parity.png"))}
        if fd_teacher is not None:
            frames, offset = [], 0
            for atoms in ref.frames:
                work = atoms.copy()
                work.arrays["BEC"] = ref.becs[offset:offset + len(atoms)].reshape(-1, 9)
                offset += len(atoms)
                frames.append(work)
            write_frames(out / "reference_fd.extxyz", frames)
            files["reference"] = str(out / "reference_fd.extxyz")
        result["files"] = files
        write_text_atomic(out / "bec_benchmark.txt", bec_benchmark.format_benchmark(result) + "\n")
        write_text_atomic(out / "bec_benchmark.json",
                          json.dumps(result, indent=2, allow_nan=True) + "\n")
    return result
