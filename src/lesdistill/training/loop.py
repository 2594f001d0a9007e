"""The training loop: ``train(config, train_files, out_dir=...)`` -> :class:`TrainResult`.

One epoch = one pass over the training frames in a random order that depends only on
(seed, epoch), through ``DistributedSampler`` (also with one process), so runs are reproducible,
resumable mid-epoch, and a DDP run with W ranks takes the same optimizer steps as one process:
``batch_size`` is the global batch, each rank takes ``batch_size / W`` frames of it, and the loss
is normalised by global counts (see :mod:`.losses`). A run may therefore be resumed with a
different number of ranks (e.g. started on 1 GPU, continued on 4).

Per epoch: training steps (Adam/AdamW, gradient clipping, EMA update), validation with the EMA
weights, ReduceLROnPlateau on the validation loss, best/last students, learning-curve CSV, then
the resume state (the commit point). Two-stage schedule: at ``stage_two_epoch`` (or when early
stopping triggers in stage one) the loss weights switch to the energy-weighted set and the best
loss / patience counters restart, so ``best.pt`` is the best stage-two model.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lesdistill import keys
from lesdistill.data.dataset import (
    LabelKeys,
    LabelledFrame,
    elements_of,
    file_digest,
    load_datasets,
    write_frames,
)
from lesdistill.device import check_device
from lesdistill.errors import UserInputError
from lesdistill.model.backbone import trust_backbone as _trust
from lesdistill.paths import check_output_dir
from lesdistill.progress import progress_bar
from lesdistill.training import losses, modelio, outputs
from lesdistill.training.config import TrainConfig
from lesdistill.training.distributed import DistContext, setup
from lesdistill.training.ema import ExponentialMovingAverage
from lesdistill.training.state import (
    describe_mismatch,
    load_state,
    rng_state,
    save_state,
    set_rng_state,
)

PathLike = str | os.PathLike[str]
_NOT_FINGERPRINTED = ("epochs", "checkpoint_interval_s", "early_stopping_patience")


@dataclass
class TrainResult:
    """Outcome of :func:`train`. Metrics in meV units (energy meV/atom, forces meV/Å)."""

    out_dir: Path
    best_path: Path
    last_path: Path
    state_path: Path
    curve_path: Path
    epochs_completed: int
    best_epoch: int
    best_valid_loss: float
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def final(self) -> dict[str, float]:
        """The last learning-curve row."""
        return self.history[-1] if self.history else {}


def _as_list(files: PathLike | Iterable[PathLike] | None) -> list[Path] | None:
    if files is None:
        return None
    if isinstance(files, (str, os.PathLike)):
        return [Path(files)]
    return [Path(f) for f in files]


class _Run:
    """Everything one training run holds; methods are the steps of :func:`train`."""

    model: Any  # the student (StudentModel or a user backbone's model), set by train()
    fingerprint: dict[str, Any]  # config and data hashes a resume must match, set by train()

    def __init__(
        self, config: TrainConfig, ctx: DistContext, device: str, out_dir: Path, progress: bool
    ):
        self.config, self.ctx, self.device, self.out_dir = config, ctx, device, out_dir
        self.dtype = torch.float64 if config.dtype == "float64" else torch.float32
        self.progress = progress and ctx.is_main
        self.paths = outputs.OutputPaths(out_dir)

    # ---------------------------------------------------------------- data
    def prepare(self, train_frames: list[LabelledFrame], valid_frames: list[LabelledFrame],
                test_frames: list[LabelledFrame]) -> None:
        self.train_frames, self.valid_frames, self.test_frames = (
            train_frames,
            valid_frames,
            test_frames,
        )
        cutoff = modelio.cutoff(self.model)
        self.train_parts = modelio.batch_parts([f.atoms for f in train_frames], cutoff)
        self.valid_parts = modelio.batch_parts([f.atoms for f in valid_frames], cutoff)
        self.has_stress = any(f.stress is not None for f in train_frames + valid_frames)
        self.has_bec = any(f.bec is not None for f in train_frames + valid_frames)
        # The global sign of latent charges is arbitrary unless BEC labels or a net charge fix it;
        # students are then saved with the electronegative atoms negative (model.charge_sign).
        charged = any(float(f.atoms.info.get(keys.TOTAL_CHARGE, 0.0)) != 0.0 for f in train_frames)
        self.sign_parts = None if (self.has_bec or charged) else self.train_parts[:8]

    def _batch(self, parts: Sequence[Any], frames: Sequence[LabelledFrame], idx: Sequence[int]):
        batch = modelio.collate([parts[i] for i in idx]).to(self.device, self.dtype)
        targets = losses.Targets.from_frames([frames[i] for i in idx]).to(self.device, self.dtype)
        return batch, targets

    # ---------------------------------------------------------------- optimisation objects
    def build_optim(self) -> None:
        cfg = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, amsgrad=cfg.amsgrad)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="min",
            factor=cfg.scheduler_factor,
            patience=cfg.scheduler_patience,
            min_lr=cfg.min_lr,
        )
        self.ema = ExponentialMovingAverage(self.model, cfg.ema_decay) if cfg.ema_decay else None
        self.net: torch.nn.Module = self.model
        if self.ctx.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [torch.device(self.device).index] if str(self.device).startswith("cuda") else None
            # without the long-range term the charge head gets no gradient: DDP must know
            unused = not getattr(getattr(self.model, "config", None), "long_range", False)
            self.net = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=unused
            )

    def initial_state(self) -> dict[str, Any]:
        return {"epoch": 0, "step": 0, "epoch_sums": {}, "stage": 1, "forced_stage_two": False,
                "best_loss": math.inf, "best_epoch": -1, "bad_epochs": 0, "history": [],
                "finished": False, "stopped_early": False}

    def result(self) -> TrainResult:
        st = self.loop_state
        return TrainResult(
            out_dir=self.out_dir,
            best_path=self.paths.best,
            last_path=self.paths.last,
            state_path=self.paths.state,
            curve_path=self.paths.curve,
            epochs_completed=int(st["epoch"]),
            best_epoch=int(st["best_epoch"]) + 1,
            best_valid_loss=float(st["best_loss"]),
            stopped_early=bool(st["stopped_early"]),
            history=list(st["history"]),
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.loop_state,
            "fingerprint": self.fingerprint,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "rng": rng_state(),
            "student": modelio.describe(self.model),
            "world_size": self.ctx.world_size,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        set_rng_state(state["rng"])
        self.loop_state = {k: state[k] for k in self.initial_state()}

    def save(self) -> None:
        if self.ctx.is_main:
            save_state(self.paths.state, self.snapshot())
        self.last_save = time.monotonic()

    # ---------------------------------------------------------------- one epoch
    def stage_weights(self) -> dict[str, float]:
        weights = self.config.weights(self.loop_state["stage"])
        return {
            k: (w if (k != "stress" or self.has_stress) and (k != "bec" or self.has_bec) else 0.0)
            for k, w in weights.items()
        }

    def _predict(self, net: torch.nn.Module, batch: Any, training: bool,
                 frames: Sequence[LabelledFrame]) -> dict[str, torch.Tensor]:
        """Outputs for the loss; BECs only of the ``frames`` (of this batch) with BEC labels."""
        bec = [f.bec is not None for f in frames] if self.has_bec else False
        return modelio.predict(net, batch, stress=self.has_stress, bec=bec, training=training)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        from torch.utils.data import DistributedSampler

        cfg, ctx, st = self.config, self.ctx, self.loop_state
        indices: Any = range(len(self.train_frames))  # a sized sequence is all the sampler needs
        sampler: DistributedSampler[int] = DistributedSampler(indices, num_replicas=ctx.world_size,
                                     rank=ctx.rank, shuffle=True, seed=cfg.seed, drop_last=False)
        sampler.set_epoch(epoch)
        order = list(sampler)
        local_bs = cfg.batch_size // ctx.world_size
        n_steps = math.ceil(len(order) / local_bs)
        weights = self.stage_weights()
        sums: dict[str, float] = dict(st["epoch_sums"])
        self.model.train()
        bar = None
        if self.progress:
            bar = progress_bar(
                total=n_steps,
                initial=st["step"],
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                leave=False,
                unit="step",
            )
        for step in range(st["step"], n_steps):
            idx = order[step * local_bs:(step + 1) * local_bs]
            batch, targets = self._batch(self.train_parts, self.train_frames, idx)
            pred = self._predict(self.net, batch, training=True,
                                 frames=[self.train_frames[i] for i in idx])
            local = losses.error_sums(pred, targets)
            flat = torch.stack([local[k].detach() for k in losses.SUM_KEYS]).to(torch.float64)
            total = dict(zip(losses.SUM_KEYS, ctx.all_reduce_sum(flat).tolist()))
            loss = losses.weighted_loss(local, weights, counts=total) * ctx.world_size
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm)
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.model)
            losses.accumulate(sums, total)
            st["step"], st["epoch_sums"] = step + 1, dict(sums)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()) / ctx.world_size:.4g}")
            if (
                step + 1 < n_steps
                and time.monotonic() - self.last_save >= cfg.checkpoint_interval_s
            ):
                self.save()
        if bar is not None:
            bar.close()
        return losses.metrics(sums, weights)

    def validate(self) -> dict[str, float] | None:
        if not self.valid_frames:
            return None
        return self.evaluate_frames(self.valid_parts, self.valid_frames)

    def evaluate_frames(
        self, parts: Sequence[Any], frames: Sequence[LabelledFrame]
    ) -> dict[str, float]:
        """Errors of the EMA weights (what best.pt / last.pt hold) on ``frames``, eval mode."""
        ctx = self.ctx
        sums: dict[str, float] = {}
        self.model.eval()
        idx_all = list(range(ctx.rank, len(frames), ctx.world_size))
        bs = max(1, self.config.batch_size)
        ema_ctx = self.ema.average_parameters(self.model) if self.ema is not None else _null()
        with ema_ctx:
            for start in range(0, len(idx_all), bs):
                idx = idx_all[start:start + bs]
                batch, targets = self._batch(parts, frames, idx)
                pred = self._predict(self.model, batch, training=False,
                                     frames=[frames[i] for i in idx])
                losses.accumulate(sums, losses.error_sums(pred, targets))
        flat = torch.tensor([sums.get(k, 0.0) for k in losses.SUM_KEYS], dtype=torch.float64)
        total = dict(zip(losses.SUM_KEYS, ctx.all_reduce_sum(flat).tolist()))
        return losses.metrics(total, self.stage_weights())

    def write_students(self, improved: bool) -> None:
        if not self.ctx.is_main:
            return
        ema_ctx = self.ema.average_parameters(self.model) if self.ema is not None else _null()
        with ema_ctx:
            meta = self.metadata()
            model = modelio.unwrap(self.model)
            if self.sign_parts is None:
                sign = {"convention": "not applied: BEC labels or a net charge fix the sign"}
            else:
                model, sign = modelio.with_charge_sign_convention(model, self.sign_parts)
            meta["training"]["charge_sign"] = sign
            modelio.save(model, self.paths.last, meta)
            if improved:
                modelio.save(model, self.paths.best, meta)

    def metadata(self) -> dict[str, Any]:
        st = self.loop_state
        return {
            "training": {
                "epoch": st["epoch"],
                "stage": st["stage"],
                "best_epoch": st["best_epoch"],
                "best_valid_loss": st["best_loss"],
                "data_sha256": self.fingerprint["data"],
                "n_train_frames": len(self.train_frames),
                "n_valid_frames": len(self.valid_frames),
                "n_test_frames": len(self.test_frames),
                "valid_frame_ids": [f.source for f in self.valid_frames],
                "test_frame_ids": [f.source for f in self.test_frames],
                "config": self.config.to_dict(),
                "teachers": sorted(
                    {
                        str(f.atoms.info[keys.TEACHER])
                        for f in self.train_frames
                        if keys.TEACHER in f.atoms.info
                    }
                ),
            }
        }


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def train(config: TrainConfig, train_files: PathLike | Iterable[PathLike], *,
          valid_files: PathLike | Iterable[PathLike] | None = None, out_dir: PathLike,
          init: PathLike | None = None, allow_new_elements: bool = False, device: str = "cpu",
          progress: bool = True, trust_backbone: bool = False) -> TrainResult:
    """Train (or fine-tune from ``init``) a student on labelled extxyz files; resumable.

    ``trust_backbone``: ``init`` or ``out_dir/state.pt`` may name a custom backbone, whose code
    is then imported and run (only for files you trust; see :mod:`lesdistill.model.backbone`).

    Re-running the same call after a kill continues from ``out_dir/state.pt`` with nothing lost;
    re-running a finished run returns at once (raise ``config.epochs`` to train longer). Under
    ``torchrun`` (WORLD_SIZE > 1) this runs data-parallel; only rank 0 writes files.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    train_list, valid_list = _as_list(train_files), _as_list(valid_files)
    if not train_list:
        raise UserInputError("no training data files given")

    device = check_device(device)
    check_output_dir(out_dir, "training output folder --out")
    ctx, device = setup(device)
    if config.batch_size % ctx.world_size:
        ctx.teardown()
        raise UserInputError(
            f"batch_size {config.batch_size} is not divisible by the {ctx.world_size} DDP "
            "ranks; batch_size is the global batch, use a multiple of the number of ranks"
        )
    try:
        return _train(config, train_list, valid_list, Path(out_dir), init, allow_new_elements,
                      device, progress, ctx, trust_backbone)
    finally:
        ctx.teardown()


def _train(
    config: TrainConfig,
    train_list: list[Path],
    valid_list: list[Path] | None,
    out_dir: Path,
    init: PathLike | None,
    allow_new_elements: bool,
    device: str,
    progress: bool,
    ctx: DistContext,
    trust_backbone: bool = False,
) -> TrainResult:
    label_keys = LabelKeys(config.energy_key, config.forces_key, config.stress_key, config.bec_key,
                           config.total_charge_key)
    custom = config.model.get("backbone")
    if isinstance(custom, str) and custom not in ("painn",):
        _trust(custom)  # the caller chose this backbone: its own state.pt may rebuild it
    train_frames, valid_frames, test_frames = load_datasets(
        train_list,
        valid_list,
        valid_fraction=config.valid_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        label_keys=label_keys,
    )
    if not train_frames:
        raise UserInputError("no training frames left after the validation split; add data")
    run = _Run(config, ctx, device, out_dir, progress)
    cfg_fp = {k: v for k, v in config.to_dict().items() if k not in _NOT_FINGERPRINTED}
    run.fingerprint = {"config": cfg_fp, "data": file_digest(train_list),
                       "valid": file_digest(valid_list) if valid_list else "",
                       "init": file_digest([init]) if init is not None else "",
                       "allow_new_elements": bool(allow_new_elements)}
    saved = load_state(run.paths.state) if run.paths.state.exists() else None
    if saved is not None:
        bad = describe_mismatch(saved.get("fingerprint", {}), run.fingerprint)
        if bad is not None:
            raise UserInputError(
                f"{out_dir} holds a training run with a different {bad}; re-run the "
                "original command, or use a new --out folder"
            )
    torch.manual_seed(config.seed)
    elements = elements_of(train_frames + valid_frames)
    if saved is not None:
        run.model = modelio.rebuild(saved.get("student"), source=str(run.paths.state),
                                    trust_backbone=trust_backbone)
    elif init is not None:
        run.model = modelio.from_init(init, elements, allow_new_elements, train_frames,
                                      trust_backbone=trust_backbone)
    else:
        run.model = modelio.new_student(config, elements, train_frames)
    run.model.to(device=device, dtype=run.dtype)
    run.build_optim()
    run.loop_state = run.initial_state()
    if saved is not None:
        run.restore(saved)
    run.prepare(train_frames, valid_frames, test_frames)
    if (
        ctx.is_main and valid_list is None
    ):  # the frames this run holds out, for `lesdistill evaluate`
        for path, held in (
            (run.paths.valid_frames, valid_frames),
            (run.paths.test_frames, test_frames),
        ):
            if held:
                write_frames(path, held)
    run.last_save = time.monotonic()
    st = run.loop_state
    if st["finished"] and (st["stopped_early"] or st["epoch"] >= config.epochs):
        if not run.paths.final_metrics.is_file():  # killed right after the last epoch
            _write_final_metrics(run)
        return run.result()
    st["finished"] = False
    stage_two = config.stage_two_epoch
    outer = None
    if run.progress:
        outer = progress_bar(
            total=config.epochs, initial=st["epoch"], desc="training", unit="epoch"
        )
    t_start = time.monotonic()
    while st["epoch"] < config.epochs:
        epoch = st["epoch"]
        if (
            st["stage"] == 1
            and stage_two is not None
            and (epoch >= stage_two or st["forced_stage_two"])
        ):
            _enter_stage_two(run)
        train_m = run.train_epoch(epoch)
        valid_m = run.validate()
        select = (valid_m or train_m)["loss"]
        run.scheduler.step(select)
        improved = select < st["best_loss"]
        if improved:
            st["best_loss"], st["best_epoch"], st["bad_epochs"] = select, epoch, 0
        else:
            st["bad_epochs"] += 1
        row = outputs.curve_row(
            epoch,
            st["stage"],
            run.optimizer.param_groups[0]["lr"],
            train_m,
            valid_m,
            run.has_stress,
            run.has_bec,
            time.monotonic() - t_start,
        )
        st["history"] = st["history"] + [row]
        st["epoch"], st["step"], st["epoch_sums"] = epoch + 1, 0, {}
        patience = config.early_stopping_patience
        if patience is not None and st["bad_epochs"] >= patience:
            if st["stage"] == 1 and stage_two is not None and stage_two < config.epochs:
                st["forced_stage_two"] = True
            else:
                st["finished"] = st["stopped_early"] = True
        if st["epoch"] >= config.epochs:
            st["finished"] = True
        run.write_students(improved)
        if ctx.is_main:
            outputs.write_curve(run.paths.curve, st["history"])
        run.save()
        if outer is not None:
            outer.update(1)
            outer.set_postfix(outputs.postfix(row))
        if st["stopped_early"]:
            break
    if outer is not None:
        outer.close()
    if st["finished"]:
        _write_final_metrics(run)
    ctx.barrier()
    return run.result()


def _write_final_metrics(run: _Run) -> None:
    """Training and validation errors of the final EMA weights (``last.pt``), measured alike.

    The learning curve's train columns are running means over each epoch's optimizer steps, with
    the live weights before each update; its valid columns use the EMA weights after the epoch.
    Early in training the running mean lags the end-of-epoch weights and EMA averaging smooths
    the noise of the last steps, so the curve's train errors can sit above the validation ones
    without any difference between the two sets. These numbers compare like with like.
    """
    train_m = run.evaluate_frames(run.train_parts, run.train_frames)
    valid_m = run.validate()
    if run.ctx.is_main:
        outputs.write_final_metrics(run.paths.final_metrics, int(run.loop_state["epoch"]), train_m,
                                    valid_m, has_stress=run.has_stress, has_bec=run.has_bec)


def _enter_stage_two(run: _Run) -> None:
    st = run.loop_state
    st["stage"], st["best_loss"], st["bad_epochs"], st["forced_stage_two"] = 2, math.inf, 0, False
    run.scheduler.best = math.inf
    run.scheduler.num_bad_epochs = 0
    for group in run.optimizer.param_groups:
        group["lr"] = max(group["lr"] * run.config.stage_two_lr_factor, run.config.min_lr)
