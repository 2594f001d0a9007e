"""DDP: 2 gloo processes on CPU take the same optimizer steps (same losses) as 1 process."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lesdistill.data.dataset import read_frames
from lesdistill.model import load_student
from lesdistill.training.evaluate import predict
from lesdistill.training.loop import train
from lesdistill.training.outputs import read_curve
from lesdistill.training.state import load_state

from .conftest import tiny_config

# 8 training frames: divisible by the 2 ranks, so DistributedSampler pads nothing
CONFIG = dict(epochs=2, batch_size=4, valid_fraction=1 / 3, test_fraction=0.0, stage_two_start=0.5)


def _worker(rank: int, world: int, init_file: str, data: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        train(tiny_config(**CONFIG), data, out_dir=out, progress=False)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_match_one_process(ionic_xyz, tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available in this build")
    single = train(tiny_config(**CONFIG), ionic_xyz, out_dir=tmp_path / "single", progress=False)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(
            target=_worker, args=(r, 2, str(tmp_path / "pg"), str(ionic_xyz), str(tmp_path / "ddp"))
        )
        for r in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]

    ddp_curve = read_curve(tmp_path / "ddp" / "learning_curve.csv")
    one_curve = read_curve(single.curve_path)
    assert len(ddp_curve) == len(one_curve) == 2
    for a, b in zip(ddp_curve, one_curve):
        for key in a:
            if key != "wall_time_s":
                assert a[key] == pytest.approx(b[key], rel=1e-4), key
    ddp_state, one_state = load_state(tmp_path / "ddp" / "state.pt"), load_state(single.state_path)
    assert ddp_state["world_size"] == 2 and one_state["world_size"] == 1
    # same students: compare what they predict (a parameter with no effect on any output, such as a
    # constant shift of charges removed by the neutrality correction, drifts with rounding noise)
    frames = read_frames(ionic_xyz)
    for path_a, path_b in ((tmp_path / "ddp" / "last.pt", single.last_path),):
        a, b = predict(load_student(path_a), frames), predict(load_student(path_b), frames)
        np.testing.assert_allclose(a.energy_pred, b.energy_pred, rtol=0, atol=1e-5)
        np.testing.assert_allclose(a.forces_pred, b.forces_pred, rtol=0, atol=1e-4)
    # only rank 0 wrote files: no stray temporary files from a second writer
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [
        "best.pt",
        "final_metrics.json",
        "last.pt",
        "learning_curve.csv",
        "state.pt",
        "valid.extxyz",
    ]
