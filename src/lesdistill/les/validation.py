"""Input checks shared by the LES functions.

Every check raises :class:`TypeError` (not a tensor, wrong dtype) or :class:`ValueError`
(wrong shape, non-finite values, singular or left-handed cell, non-positive parameter) with a
one-line message that names the argument, the bad value and how to fix it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lesdistill.device import host_values

_FLOAT_DTYPES = (torch.float32, torch.float64)


def _describe(t: torch.Tensor) -> str:
    return f"tensor of shape {tuple(t.shape)} and dtype {t.dtype}"


def check_positions(
    positions: object, name: str = "positions", *, finite: bool = True
) -> torch.Tensor:
    """Check a ``[N, 3]`` floating tensor of finite positions (Å) (``finite=False``: shape and
    dtype only, without reading the values, i.e. without a device sync)."""
    if not isinstance(positions, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape [N, 3], got {type(positions).__name__}"
        )
    if positions.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {_describe(positions)}")
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"{name} must have shape [N, 3], got {_describe(positions)}")
    if finite and not bool(torch.isfinite(positions).all()):
        bad = torch.nonzero(~torch.isfinite(positions))[0].tolist()
        raise ValueError(
            f"{name} contains non-finite values (first at index {bad}: "
            f"{positions[bad[0], bad[1]].item()}); remove NaN/inf coordinates"
        )
    return positions


def check_charges(charges: object, positions: torch.Tensor, name: str = "charges", *,
                  finite: bool = True) -> torch.Tensor:
    """Check a ``[N]`` floating tensor of finite charges (e) matching ``positions``
    (``finite=False``: without reading the values)."""
    if not isinstance(charges, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N], got {type(charges).__name__}")
    if charges.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {_describe(charges)}")
    if charges.ndim != 1 or charges.shape[0] != positions.shape[0]:
        raise ValueError(
            f"{name} must have shape [N] with N = {positions.shape[0]} (number of positions), "
            f"got {_describe(charges)}"
        )
    if charges.dtype != positions.dtype:
        raise TypeError(
            f"{name} dtype {charges.dtype} differs from positions dtype {positions.dtype}"
        )
    if charges.device != positions.device:
        raise ValueError(f"{name} is on {charges.device} but positions are on {positions.device}")
    if finite and not bool(torch.isfinite(charges).all()):
        bad = int(torch.nonzero(~torch.isfinite(charges))[0, 0])
        raise ValueError(f"{name} contains non-finite values (index {bad}: {charges[bad].item()})")
    return charges


def check_cell(cell: object, positions: torch.Tensor, name: str = "cell") -> torch.Tensor | None:
    """Check a periodic cell: ``None`` (open boundary) or a ``[3, 3]`` tensor, rows = lattice
    vectors (Å).

    The cell must be finite, non-singular and right-handed (``det(cell) > 0``). Its values are
    read through :func:`lesdistill.device.host_values` (one device-to-host copy per cell tensor).
    """
    if cell is None:
        return None
    if not isinstance(cell, torch.Tensor):
        raise TypeError(
            f"{name} must be None (open boundary) or a "
            f"torch.Tensor [3, 3], got {type(cell).__name__}"
        )
    if cell.dtype != positions.dtype:
        raise TypeError(f"{name} dtype {cell.dtype} differs from positions dtype {positions.dtype}")
    if cell.shape != (3, 3):
        raise ValueError(
            f"{name} must have shape [3, 3] (rows are lattice vectors), got {_describe(cell)}"
        )
    if cell.device != positions.device:
        raise ValueError(f"{name} is on {cell.device} but positions are on {positions.device}")
    values = np.array(host_values(cell), dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains non-finite values: {values.tolist()}")
    det = float(np.linalg.det(values))
    scale = float(np.linalg.norm(values, axis=1).prod())
    if scale == 0.0 or abs(det) <= 1e-10 * scale:
        raise ValueError(
            f"{name} is singular (det = {det:.3g} Å^3): {values.tolist()}; "
            "pass three linearly independent lattice vectors, or cell=None for an open system"
        )
    if det < 0.0:
        raise ValueError(
            f"{name} is left-handed (det = {det:.6g} Å^3 < 0); swap two lattice vectors "
            "to make it right-handed"
        )
    return cell


def check_positive(value: object, name: str) -> float:
    """Check a finite, strictly positive real parameter (e.g. ``sigma``, ``dl`` in Å)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a positive real number, got {value!r} ({type(value).__name__})"
        )
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def check_vectors_like(vectors: object, positions: torch.Tensor, name: str) -> torch.Tensor:
    """Check a per-atom ``[N, 3]`` tensor (e.g. velocities in Å/fs) matching ``positions``."""
    vectors = check_positions(vectors, name)
    if vectors.shape != positions.shape:
        raise ValueError(
            f"{name} must have shape {tuple(positions.shape)} "
            f"like positions, got {_describe(vectors)}"
        )
    if vectors.dtype != positions.dtype:
        raise TypeError(
            f"{name} dtype {vectors.dtype} differs from positions dtype {positions.dtype}"
        )
    if vectors.device != positions.device:
        raise ValueError(f"{name} is on {vectors.device} but positions are on {positions.device}")
    return vectors
