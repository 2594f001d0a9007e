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
