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

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.les.response import response_terms
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.model.student import right_handed
from lesdistill.systems import water_box

_READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__", "nonzero", "unique")


@contextlib.contextmanager
def host_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Collect one line (call and the lesdistill frame that made it) per host read."""
    seen: list[str] = []

    def where() -> str:
        frames = [f for f in traceback.extract_stack()[:-2] if "lesdistill" in f.filename]
        return f"{frames[-1].filename.split('src/')[-1]}:{frames[-1].lineno}" if frames else "?"

    def spy(name: str, original):
        def wrapper(*args, **kwargs):
            seen.append(f"{name} at {where()}")
            return original(*args, **kwargs)
        return wrapper

    for name in _READS:
        monkeypatch.setattr(torch.Tensor, name, spy(name, getattr(torch.Tensor, name)))
    for name in ("nonzero", "equal", "allclose", "unique"):
        monkeypatch.setattr(torch, name, spy(f"torch.{name}", getattr(torch, name)))
    getitem = torch.Tensor.__getitem__

    def masked_getitem(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            seen.append(f"boolean mask index at {where()}")
        return getitem(self, index)

    monkeypatch.setattr(torch.Tensor, "__getitem__", masked_getitem)
    yield seen


def _batch_of(atoms_list, cutoff: float) -> AtomicBatch:
    return AtomicBatch.collate([AtomicBatch.from_atoms(a, cutoff) for a in atoms_list])


def _step(model: StudentModel, batch: AtomicBatch, positions: torch.Tensor, velocities: torch.Tensor,
          periodic: bool) -> torch.Tensor:
    """Energy + forces with the graph kept, then the dipole current of the first structure."""
    leaf = positions.detach().requires_grad_(True)
    out = model(batch.replace(positions=leaf), compute_forces=True, create_graph=False,
                retain_graph=True)
    n = int(batch.positions.shape[0]) if batch.num_structures == 1 else None
    cell = right_handed(batch.cell[0]) if periodic else None
    if n is None:  # several structures: forces only
        return out[keys.FORCES]
    terms = response_terms(out[keys.LATENT_CHARGES], leaf, cell, eps_inf=1.5)
    return terms.dipole_current(velocities)


@pytest.mark.parametrize(("method", "periodic", "n_structures"), [
    ("ewald", True, 1), ("pme", True, 1), ("ewald", False, 1), ("ewald", True, 2)])
def test_md_step_reads_nothing_on_the_host(monkeypatch, method, periodic, n_structures):
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64", les_method=method,
                                       eps_inf=1.5, seed=5)
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
    first = _step(model, batch, batch.positions, velocities, periodic)  # checks, host copies
    moved = batch.positions + 1e-3
    with host_reads(monkeypatch) as reads:
        result = _step(model, batch, moved, velocities, periodic)
    assert reads == [], reads
    assert torch.isfinite(result).all() and not torch.equal(result, first)


def test_the_spy_sees_host_reads(monkeypatch):
    """The check can fail: the reads it must catch are caught."""
    x = torch.arange(4.0)
    with host_reads(monkeypatch) as reads:
        bool(x.sum() > 1)
        x.tolist()
        x[x > 1]
        torch.nonzero(x)
    assert [r.split(" at ")[0] for r in reads] == ["__bool__", "tolist", "boolean mask index", "torch.nonzero"]
