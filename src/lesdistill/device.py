"""Torch device names, checked before any work starts.

:func:`check_device` turns ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` (or a
``torch.device``) into a canonical name and raises :class:`~lesdistill.errors.UserInputError`
with the fix when the name is malformed or the device is not there (a CUDA request on a CPU-only
torch build, a GPU index beyond the visible ones), instead of failing deep inside the first
tensor operation.
"""

from __future__ import annotations

import re
from typing import Any

from lesdistill.errors import UserInputError

DEVICE_RE = re.compile(r"cpu|cuda(?::[0-9]+)?|mps")


def check_device(device: Any, where: str = "device") -> str:
    """Canonical device name; ``UserInputError`` naming ``where`` and the fix otherwise."""
    import torch

    name = str(device).strip() if isinstance(device, (str, torch.device)) else None
    if name is None or not DEVICE_RE.fullmatch(name):
        raise UserInputError(f"{where} {device!r} is not a torch device; use cpu, cuda, cuda:N "
                             "or mps")
    if name.startswith("cuda"):
        if torch.version.cuda is None:
            raise UserInputError(
                f"{where} {name!r} asks for a GPU, but this torch {torch.__version__} is a "
                "CPU-only build; use cpu (--device cpu, or device: cpu in the config) or "
                "install a CUDA build of torch")
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= count:
            seen = f"{count} GPU(s) visible" if count else "no GPU visible"
            raise UserInputError(f"{where} {name!r}: {seen} (CUDA_VISIBLE_DEVICES, driver); "
                                 "use cpu or a visible cuda:N")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UserInputError(f"{where} 'mps' is not available here; use cpu")
    return name



#: small tensors whose host copies are kept (cells, pbc flags, atom counts of the batches in use)
_HOST_COPIES_MAX = 64
_host_copies: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...]]] = {}


def host_reads_are_free(tensor: Any) -> bool:
    """Reading a CPU tensor's values is no device sync (code may branch on them); CPU tensors
    may also share memory with numpy arrays, whose writes the version counter does not see:
    no memo for them."""
    return tensor.device.type == "cpu"


def memory_key(tensor: Any) -> tuple[Any, ...] | None:
    """A key that changes whenever ``tensor``'s values may have changed, without reading them:
    its memory (address, shape, strides, dtype, device) and autograd's version counter, which
    every in-place write bumps (writes through ``tensor.data`` do not). Valid while the tensor
    is alive (hold a reference with the key). None for CPU tensors (reading them costs no
    sync) and inference-mode tensors (no version counter): do not memoise those."""
    if host_reads_are_free(tensor):
        return None
    try:
        return (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype,
                tensor.device, tensor._version)
    except Exception:  # inference-mode tensors; tensors without storage while tracing
        return None


def _frozen(values: Any) -> Any:
    return tuple(_frozen(v) for v in values) if isinstance(values, list) else values


def host_values(tensor: Any) -> Any:
    """``tensor.tolist()`` as nested tuples for a small tensor (a cell, pbc flags, atom
    counts), copied from the device once and then reused while the tensor is unchanged
    (:func:`memory_key`; the entry holds the tensor, so its address is not reused meanwhile).

    A calculator that keeps its batch tensors between MD steps (fixed cell) thereby reads them
    without a device-to-host copy, so a step does not wait for the device. A new tensor (e.g. a
    strained cell for the stress) is copied once.
    """
    key = memory_key(tensor)
    hit = None if key is None else _host_copies.get(key)
    if hit is not None:
        return hit[1]
    values = _frozen(tensor.detach().tolist())
    if key is not None:
        if len(_host_copies) >= _HOST_COPIES_MAX:
            _host_copies.pop(next(iter(_host_copies)))
        _host_copies[key] = (tensor.detach(), values)
    return values
