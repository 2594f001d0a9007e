"""The fused PaiNN message equals the plain-autograd layer; gradcheck and gradgradcheck."""

from __future__ import annotations

import pytest
import torch

from lesdistill.data.batch import AtomicBatch
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.model.painn import _FusedMessage, _message_reference
from lesdistill.systems import water_box


def _inputs(n: int, e: int, f: int, with_v: bool, seed: int = 0) -> tuple:
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(True)

    i = torch.sort(torch.randint(0, n, (e,), generator=g)).values
    j = torch.randint(0, n, (e,), generator=g)
    unit = torch.nn.functional.normalize(torch.randn(e, 3, generator=g, dtype=torch.float64), dim=1)
    return (
        rand(n, f),
        rand(n, f),
        rand(n, f) if with_v else None,
        rand(e, f),
        rand(e, f),
        rand(e, f) if with_v else None,
        unit.requires_grad_(True),
        rand(n, 3, f) if with_v else None,
        i,
        j,
    )


@pytest.mark.parametrize("with_v", [True, False])
def test_fused_matches_reference_values_and_gradients(with_v):
    args = _inputs(11, 40, 5, with_v)
    fused = _FusedMessage.apply(*args)
    plain = _message_reference(*args)
    for a, b in zip(fused, plain):
        assert torch.allclose(a, b, rtol=0, atol=1e-13)
    tensors = [t for t in args[:8] if t is not None]
    cot = [torch.randn_like(t) for t in plain]
    g_fused = torch.autograd.grad(fused, tensors, cot)
    g_plain = torch.autograd.grad(plain, tensors, cot)
    for a, b in zip(g_fused, g_plain):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("with_v", [True, False])
def test_fused_gradcheck_and_gradgradcheck(with_v):
    args = _inputs(4, 9, 3, with_v, seed=1)
    i, j = args[8], args[9]
    slots = [k for k in range(8) if args[k] is not None]

    def fn(*tensors):
        full = list(args[:8])
        for k, t in zip(slots, tensors):
            full[k] = t
        return _FusedMessage.apply(*full, i, j)

    tensors = tuple(args[k] for k in slots)
    assert torch.autograd.gradcheck(fn, tensors)
    assert torch.autograd.gradgradcheck(fn, tensors)


def test_student_fused_equals_plain_forces_bec_and_training_gradients():
    config = StudentConfig.from_preset(
        "tiny", elements=["H", "O"], dtype="float64", les_method="ewald", seed=3
    )
    model = StudentModel(config)
    batch = AtomicBatch.from_atoms([water_box(n_molecules=6, seed=1)], model.cutoff)
    results = {}
    for fused in (True, False):
        model.backbone.fused = fused
        out = model(batch, compute_forces=True, compute_stress=True, create_graph=True)
        loss = (out["forces"] ** 2).sum() + (out["stress"] ** 2).sum() + out["energy"].sum()
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params)
        x = batch.positions.clone().requires_grad_(True)
        q = model.latent_charges(batch.replace(positions=x))
        jac_t = torch.autograd.grad(q, x, torch.cos(x[:, 0]))[0]
        results[fused] = (out["energy"], out["forces"], out["stress"], *grads, jac_t)
    model.backbone.fused = True
    for a, b in zip(results[True], results[False]):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
