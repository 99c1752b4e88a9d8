"""The generic training loop: ``run(trainer, dataset, RunOptions(...))``.

It owns everything that is not "what one step does": the seeded (distributed) data order,
checkpoints and exact resume, Ctrl+C, progress, logs, sample grids, AMP, EMA, DDP and the final
model file. A run interrupted at step k and resumed gives the same weights, bit for bit, as one
that never stopped (same device, same number of processes).
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import signal
import threading
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, default_collate

from models import __version__ as models_version
from models.devices import resolve_device
from models.errors import InputError
from models.modelfile import save_model_file

from . import checkpoint as ckpt
from . import distributed as ddp
from . import travel
from .progress import ProgressBar, RunLog, sample_grid, write_png
from .errors import TrainingError
from .trainer import Runtime, Trainer

log = logging.getLogger("gauapp.training")
EMA_CALIBRATION_SAMPLES = 64  # training samples that re-estimate the EMA copy's batch norm


@dataclass
class RunOptions:
    """How long, where and how to run; the trainer's own options are separate.

    ``steps`` (batches) or ``epochs``; ``save_every`` / ``sample_every`` / ``log_every`` count
    steps (0: only at the end / never / never); ``amp`` is honoured on CUDA only; ``ema`` is the
    decay of the generator's moving average (None: off); ``resume`` a checkpoint file, a run
    folder or ``"auto"`` (the newest checkpoint in ``out_dir``, a fresh start if none).
    """

    out_dir: Path = Path("runs/run")
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 1
    num_workers: int = 0
    seed: int = 0
    save_every: int = 1000
    sample_every: int = 500
    log_every: int = 10
    amp: bool = False
    ema: float | None = None
    device: str = "auto"
    resume: str | Path | None = None
    keep_checkpoints: int = 2
    num_samples: int = 4
    model_name: str = "model.safetensors"
    license: str = ""
    dataset_path: str = ""
    half: bool = False
    travel: bool = False
    progress: bool = True
    tensorboard: bool = True
    handle_sigint: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class RunResult:
    step: int
    epoch: int
    interrupted: bool
    checkpoint: Path | None = None
    model_file: Path | None = None
    losses: dict[str, float] = field(default_factory=dict)


class _Stop:
    """Set by the SIGINT handler; the loop finishes the step, saves and stops."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def _sigint_guard(enabled: bool) -> Iterator[_Stop]:
    stop = _Stop()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):  # noqa: ARG001 - signal signature
        if stop.requested:  # a second Ctrl+C: stop now, without the checkpoint
            raise KeyboardInterrupt
        stop.requested = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
            for k, v in batch.items()}


def _fixed_batch(dataset: Dataset, n: int) -> dict[str, Any]:
    """The first ``n`` samples of epoch 0: the same pictures in every grid of the run."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(0)
    with torch.random.fork_rng(devices=[]):
        return default_collate([dataset[i] for i in range(min(n, len(dataset)))])


def _gather_rng(ctx: ddp.DistContext) -> list[dict[str, Any]]:
    state = ckpt.capture_rng()
    if not ctx.enabled:
        return [state]
    states: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(states, state)
    return states


def _restore_rng(saved: dict[str, Any], ctx: ddp.DistContext) -> None:
    states = saved.get("rng_per_rank") or [saved["rng"]]
    if len(states) == ctx.world_size:
        ckpt.restore_rng(states[ctx.rank])
    else:  # another process count: exactness is impossible anyway; keep ranks apart
        ckpt.restore_rng(states[0])
        if ctx.rank:
            torch.manual_seed(int(saved["step"]) * 1000 + ctx.rank)


def run(trainer: Trainer, dataset: Dataset, options: RunOptions) -> RunResult:
    """Train ``trainer`` on ``dataset``; see the module docstring. Raises TrainingError for
    problems a user can fix (bad checkpoint, dataset smaller than a batch...)."""
    try:
        device = resolve_device(options.device)
    except InputError as exc:
        raise TrainingError(str(exc)) from None
    ctx = ddp.setup(device)
    try:
        return _Run(trainer, dataset, options, ctx, ddp.local_device(device, ctx)).run()
    finally:
        ddp.cleanup(ctx)


class _Run:
    def __init__(self, trainer: Trainer, dataset: Dataset, options: RunOptions,
                 ctx: ddp.DistContext, device: torch.device):
        self.trainer, self.dataset, self.opt, self.ctx = trainer, dataset, options, ctx
        self.device = device
        self.out_dir = Path(options.out_dir)
        self.main = ctx.is_main
        self.step = self.epoch = self.position = 0

    # ------------------------------------------------------------------ setup
    def _setup(self) -> tuple[ddp.ResumableSampler, int, int]:
        opt, trainer = self.opt, self.trainer
        if opt.batch_size < 1:
            raise TrainingError(f"batch size must be at least 1, got {opt.batch_size}")
        amp = opt.amp and self.device.type == "cuda"
        if opt.amp and not amp:
            warnings.warn("mixed precision (amp) runs on CUDA only; training in fp32",
                          stacklevel=3)
        seed_everything(opt.seed)
        if not trainer.modules:
            trainer.build(trainer.options)
        # the initial weights, which travel checkpoints leave out (a copy of every weight: only
        # taken when needed)
        self.initial = travel.initial_snapshot(trainer) if opt.travel else None
        if self.ctx.rank:  # same initial weights (DDP broadcasts them too), other dropout masks
            seed_everything(opt.seed + 7919 * self.ctx.rank)
        runtime = Runtime(device=self.device, amp=amp, rank=self.ctx.rank,
                          world_size=self.ctx.world_size,
                          wrap=ddp.wrapper(self.ctx, self.device))
        trainer.attach(runtime, opt.ema)
        sampler = ddp.ResumableSampler(self.dataset, self.ctx, opt.seed)
        per_epoch = sampler.per_epoch // opt.batch_size
        if per_epoch == 0:
            raise TrainingError(
                f"the dataset has {len(self.dataset)} sample(s) ({sampler.per_epoch} per process)"
                f", fewer than one batch of {opt.batch_size}")
        if opt.steps:
            total = int(opt.steps)
        elif opt.epochs:
            total = int(opt.epochs) * per_epoch
        else:
            raise TrainingError("give the run length: steps or epochs")
        return sampler, per_epoch, total

    def _resume(self) -> None:
        path = ckpt.resolve_resume(self.opt.resume, self.out_dir)
        if path is None:
            if self.main and ckpt.list_checkpoints(self.out_dir):
                log.warning("%s already holds checkpoints; starting afresh (resume with "
                            "--continue_train)", self.out_dir)
            return
        saved = ckpt.load_checkpoint(path)
        if saved.get("travel") and self.initial is None:  # still freshly built here
            self.initial = travel.initial_snapshot(self.trainer)
        ckpt.apply_checkpoint(self.trainer, saved, self.initial)
        self.step, self.epoch, self.position = (int(saved["step"]), int(saved["epoch"]),
                                                int(saved["position"]))
        _restore_rng(saved, self.ctx)
        if self.main:
            log.info("resumed from %s at step %d (epoch %d, batch %d)", path, self.step,
                     self.epoch, self.position)

    # ------------------------------------------------------------------ the loop
    def run(self) -> RunResult:
        sampler, per_epoch, total = self._setup()
        self._resume()
        opt, trainer = self.opt, self.trainer
        if self.position >= per_epoch:  # the dataset shrank since the checkpoint
            self.epoch, self.position = self.epoch + 1, 0
        runlog = fixed = None
        if self.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "run.json").write_text(json.dumps(
                {"family": trainer.family, "options": ckpt.plain(trainer.options),
                 "run": opt.to_dict(), "world_size": self.ctx.world_size}, indent=2))
            runlog = RunLog(self.out_dir, opt.log_every, opt.tensorboard)
            if opt.sample_every > 0:
                fixed = _fixed_batch(self.dataset, opt.num_samples)
        bar = ProgressBar(total, self.step, log_every=opt.log_every,
                          enabled=self.main and opt.progress)
        result = RunResult(self.step, self.epoch, False)
        last_ckpt: Path | None = None
        means: dict[str, float] = {}
        try:
            with _sigint_guard(opt.handle_sigint) as stop:
                while self.step < total:
                    trainer.on_epoch_start(self.epoch)
                    loader = self._loader(sampler)
                    first = True
                    for batch in loader:
                        if first:
                            trainer.check_batch(batch)
                        first = False
                        trainer.train_mode(True)
                        losses = trainer.train_step(_to_device(batch, self.device))
                        if opt.ema is not None:
                            trainer.update_ema(opt.ema, self.step)
                        self.step += 1
                        self.position += 1
                        epoch_done = self.position >= per_epoch
                        if epoch_done:
                            trainer.on_epoch_end(self.epoch)
                            self.epoch, self.position = self.epoch + 1, 0
                        if runlog is not None:
                            means = runlog.add(self.step, self.epoch, losses, self._lrs()) or means
                        bar.update(self.step, means)
                        if fixed is not None and (self.step % opt.sample_every == 0
                                                  or self.step == total):
                            self._write_samples(fixed, runlog)
                        interrupted = ddp.any_rank(stop.requested, self.ctx, self.device)
                        due = opt.save_every > 0 and self.step % opt.save_every == 0
                        if due or interrupted or self.step >= total:
                            last_ckpt = self._save_checkpoint()
                        if interrupted:
                            result.interrupted = True
                            bar.message(f"interrupted: checkpoint {last_ckpt} written; resume "
                                        f"with --resume {last_ckpt or self.out_dir}")
                            return self._finish(result, last_ckpt, means)
                        if self.step >= total or epoch_done:
                            break
        finally:
            bar.close()
            if runlog is not None:
                runlog.close()
        return self._finish(result, last_ckpt, means)

    def _loader(self, sampler: ddp.ResumableSampler) -> DataLoader:
        opt = self.opt
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.epoch)
        sampler.set_epoch(self.epoch, self.position * opt.batch_size)
        # An explicit generator: creating the loader must not draw from the global RNG (that
        # would shift every later random number and break exact resume).
        gen = torch.Generator().manual_seed(opt.seed * 100_003 + self.epoch)
        return DataLoader(self.dataset, batch_size=opt.batch_size, sampler=sampler,
                          num_workers=opt.num_workers, drop_last=True, generator=gen,
                          pin_memory=self.device.type == "cuda")

    def _lrs(self) -> dict[str, float]:
        return {n: float(o.param_groups[0]["lr"]) for n, o in self.trainer.optimizers.items()}

    def _write_samples(self, fixed: dict[str, Any], runlog: RunLog | None) -> None:
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            columns = self.trainer.sample(_to_device(fixed, self.device))
        self.trainer.train_mode(True)
        grid = sample_grid(list(columns))
        write_png(grid, self.out_dir / "samples" / f"step_{self.step:08d}.png")
        if runlog is not None:
            runlog.add_image("samples", grid, self.step)

    def _save_checkpoint(self) -> Path | None:
        states = _gather_rng(self.ctx)
        if not self.main:
            return None
        path = ckpt.checkpoint_path(self.out_dir, self.step)
        ckpt.save_checkpoint(path, self.trainer, self.step, self.epoch, self.position,
                             self.opt.to_dict(), states if len(states) > 1 else None,
                             travel_from=self.initial if self.opt.travel else None)
        ckpt.prune_checkpoints(self.out_dir, self.opt.keep_checkpoints)
        return path

    def _finish(self, result: RunResult, last_ckpt: Path | None,
                means: dict[str, float]) -> RunResult:
        if self.opt.ema is not None and self.trainer.ema:
            # Every rank, the same batches: SyncBatchNorm copies average across ranks.
            self._recalibrate_ema()
        ddp.broadcast_buffers({**self.trainer.modules,
                               **{f"ema_{k}": v for k, v in self.trainer.ema.items()}}, self.ctx)
        result.step, result.epoch, result.checkpoint, result.losses = (
            self.step, self.epoch, last_ckpt, dict(means))
        if self.main:
            result.model_file = self._write_model(result.interrupted)
        ddp.barrier(self.ctx)
        return result

    def _recalibrate_ema(self) -> None:
        """The exported EMA generator gets batch-norm statistics of its own (see
        ``Trainer.recalibrate_ema``), from the first ``EMA_CALIBRATION_SAMPLES`` samples."""
        samples = _fixed_batch(self.dataset, EMA_CALIBRATION_SAMPLES)
        n = len(next(v for v in samples.values() if isinstance(v, torch.Tensor)))
        # Batches at least as large as in training (batch norm on 1 sample may have nothing to
        # normalise): the remainder joins the batches before it.
        bounds = np.linspace(0, n, max(1, n // max(1, self.opt.batch_size)) + 1).astype(int)
        batches = ({k: (v[a:b] if isinstance(v, (torch.Tensor, list)) else v)
                    for k, v in samples.items()} for a, b in zip(bounds[:-1], bounds[1:]))
        self.trainer.recalibrate_ema(_to_device(b, self.device) for b in batches)

    def _write_model(self, interrupted: bool) -> Path:
        bundle = self.trainer.export_bundle()
        bundle.provenance = {
            **bundle.provenance,
            "trained_with": "gauapp-train", "tool": f"gauapp-train {self.trainer.family}",
            "version": models_version, "dataset": self.opt.dataset_path,
            "options": ckpt.plain(self.trainer.options), "run": self.opt.to_dict(),
            "steps": self.step, "epochs": self.epoch, "complete": not interrupted,
            "world_size": self.ctx.world_size, "ema": self.opt.ema,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        bundle.license = self.opt.license or bundle.license
        return save_model_file(bundle, self.out_dir / self.opt.model_name, half=self.opt.half)
