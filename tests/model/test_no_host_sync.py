"""An MD step of the student reads no tensor values on the host (no device sync on a GPU).

On CUDA, ``.item()``, ``.tolist()``, ``.cpu()``, ``bool(tensor)``, ``nonzero`` and boolean-mask
indexing wait for the device. Here on the CPU the test spies on those entry points and treats
the CPU as a device (``host_reads_are_free`` patched), then runs what an MD step
runs on a batch kept between steps (same numbers, cell, pbc and count tensors; new positions):
energy + forces, and the dipole current from the kept forward graph. After one warm-up step
(checks and host copies of the fixed tensors happen once) no host read may remain.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.les.response import response_terms
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.model.student import right_handed
from lesdistill.systems import water_box

_READS = (
    "item",
    "tolist",
    "cpu",
    "numpy",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "nonzero",
    "unique",
    "equal",
    "allclose",
)


class _HostReadSpy(TorchFunctionMode):
    """Records every host read that passes through torch's function dispatch (tensor methods and
    torch functions alike). A mode, not patched ``torch.Tensor`` attributes: assigning and then
    deleting ``torch.Tensor.__getitem__`` leaves CPython's sequence slot set, after which
    ``torch.tensor([0-d tensor])`` fails everywhere in the process."""

    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in _READS:
            self.seen.append(f"{name} at {_where()}")
        elif name == "__getitem__" and len(args) > 1:
            parts = args[1] if isinstance(args[1], tuple) else (args[1],)
            if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
                self.seen.append(f"boolean mask index at {_where()}")
        return func(*args, **(kwargs or {}))


def _where() -> str:
    frames = [f for f in traceback.extract_stack()[:-3] if "lesdistill" in f.filename]
    return f"{frames[-1].filename.split('src/')[-1]}:{frames[-1].lineno}" if frames else "?"


@contextlib.contextmanager
def host_reads() -> Iterator[list[str]]:
    """Collect one line (call and the lesdistill frame that made it) per host read."""
    seen: list[str] = []
    with _HostReadSpy(seen):
        yield seen


def _batch_of(atoms_list, cutoff: float) -> AtomicBatch:
    return AtomicBatch.collate([AtomicBatch.from_atoms(a, cutoff) for a in atoms_list])


def _step(
    model: StudentModel,
    batch: AtomicBatch,
    positions: torch.Tensor,
    velocities: torch.Tensor,
    periodic: bool,
    slab: bool = False,
) -> torch.Tensor:
    """Energy + forces with the graph kept, then the dipole current of the first structure."""
    leaf = positions.detach().requires_grad_(True)
    out = model(batch.replace(positions=leaf), compute_forces=True, create_graph=False,
                retain_graph=True)
    n = int(batch.positions.shape[0]) if batch.num_structures == 1 else None
    cell = right_handed(batch.cell[0]) if periodic else None
    if n is None:  # several structures: forces only
        return out[keys.FORCES]
    terms = response_terms(out[keys.LATENT_CHARGES], leaf, cell, eps_inf=1.5, slab=slab)
    return terms.dipole_current(velocities)


@pytest.mark.parametrize(
    ("method", "periodic", "n_structures", "slab"),
    [
        ("ewald", True, 1, False),
        ("pme", True, 1, False),
        ("ewald", False, 1, False),
        ("ewald", True, 2, False),
        ("ewald", True, 1, True),
    ],
)
def test_md_step_reads_nothing_on_the_host(monkeypatch, method, periodic, n_structures, slab):
    config = StudentConfig.from_preset(
        "tiny",
        elements=["H", "O"],
        dtype="float64",
        les_method=method,
        eps_inf=1.5,
        seed=5,
        les_slab_correction="yeh-berkowitz" if slab else "none",
    )
    model = StudentModel(config).eval()
    frames = [water_box(n_molecules=4, seed=s) for s in range(n_structures)]
    if not periodic:
        for frame in frames:
            frame.pbc = False
            frame.cell = np.zeros((3, 3))
    batch = _batch_of(frames, model.cutoff)
    rng = np.random.default_rng(0)
    velocities = torch.tensor(rng.normal(scale=0.01, size=tuple(batch.positions.shape)))
    for module in ("lesdistill.device", "lesdistill.model.repulsion"):
        monkeypatch.setattr(f"{module}.host_reads_are_free", lambda tensor: False)
    first = _step(model, batch, batch.positions, velocities, periodic, slab)  # checks, host copies
    moved = batch.positions + 1e-3
    with host_reads() as reads:
        result = _step(model, batch, moved, velocities, periodic, slab)
    assert reads == [], reads
    assert torch.isfinite(result).all() and not torch.equal(result, first)


def test_the_spy_sees_host_reads():
    """The check can fail: the reads it must catch are caught."""
    x = torch.arange(4.0)
    with host_reads() as reads:
        bool(x.sum() > 1)
        x.tolist()
        x[x > 1]
        torch.nonzero(x)
    assert [r.split(" at ")[0] for r in reads] == [
        "__bool__",
        "tolist",
        "boolean mask index",
        "nonzero",
    ]
    assert torch.tensor([x.sum()]).shape == (1,)  # the spy leaves torch as it found it
