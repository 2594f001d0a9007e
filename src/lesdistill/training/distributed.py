"""Data-parallel training through ``torch.distributed`` (DDP), launched with ``torchrun``.

``torchrun --nproc_per_node=4 --no-python lesdistill train ...`` sets RANK / WORLD_SIZE /
LOCAL_RANK;
:func:`setup` then opens the process group (``nccl`` for CUDA devices, ``gloo`` on CPU) and gives
every rank its GPU (``cuda:LOCAL_RANK``). A process group opened by the caller (e.g. tests using
``torch.multiprocessing.spawn``) is used as is. Without either, everything runs in one process.

Only rank 0 writes files; every rank reads the same resume state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class DistContext:
    """Rank information of this process; ``owns_group``: we opened it, so we close it."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks in place (no-op in one process); returns it."""
        if self.enabled:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def teardown(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def setup(device: str) -> tuple[DistContext, str]:
    """Return the rank context and the device of this rank (``cuda`` -> ``cuda:LOCAL_RANK``)."""
    import torch.distributed as dist

    owns = False
    if not dist.is_available():
        return DistContext(), device
    if not dist.is_initialized():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return DistContext(), device
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
        owns = True
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if str(device).startswith("cuda") and world > 1:
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu")
        device = f"cuda:{local_rank % max(1, torch.cuda.device_count())}"
        torch.cuda.set_device(device)
    return DistContext(rank, world, local_rank, owns), device


def is_main_process() -> bool:
    """True unless this process is a non-zero rank of a torchrun launch (for printing)."""
    return int(os.environ.get("RANK", "0")) == 0
