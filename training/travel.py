"""Travel checkpoints: a run's state small enough to carry to a lent GPU and back.

A lent GPU runs one command for at most 10 minutes and takes files of a few tens of MB, so a long
run goes in chunks that resume from a small file. A full checkpoint of the landscape recipe is
255 MB (G, its EMA, D, Adam moments, all fp32); a travel checkpoint is the same run in ~45 MB:

* weights and EMA in fp16;
* of each weight, only the input-channel slices training changed. The others still hold their
  seeded initial values (a one-hot label map's absent classes never get a gradient: most of
  SPADE's 183 label channels) and are rebuilt on resume, where the run seeds and builds its
  networks the same way; a digest of the initial weights checks that they really are the same;
* no optimizer moments. SPADE's and pix2pixHD's Adam (betas 0 and 0.9) forgets them within about
  20 steps; the resumed optimizer restarts them. So unlike a full checkpoint, resuming is close
  to, not bit-identical with, an uninterrupted run.

Schedulers, loss scalers, step, epoch, position and RNG states are kept as in a full checkpoint.
"""
from __future__ import annotations

import hashlib
from typing import Any

import torch

from .errors import TrainingError
from .trainer import Trainer

Snapshot = dict[str, dict[str, torch.Tensor]]


def initial_snapshot(trainer: Trainer) -> Snapshot:
    """The freshly built networks' tensors (call right after ``build``)."""
    return {name: {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            for name, net in trainer.modules.items()}


def digest(initial: Snapshot) -> str:
    h = hashlib.sha256()
    for name in sorted(initial):
        for key in sorted(initial[name]):
            h.update(f"{name}.{key}".encode())
            h.update(initial[name][key].contiguous().numpy().tobytes())
    return h.hexdigest()


def _changed_columns(value: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Indices along dim 1 (a weight's input channels) where ``value`` differs from ``start``."""
    differs = (value != start).transpose(0, 1).reshape(value.shape[1], -1).any(1)
    return differs.nonzero().flatten()


def pack(state: dict[str, torch.Tensor], initial: dict[str, torch.Tensor]) -> dict[str, Any]:
    packed: dict[str, Any] = {}
    for key, value in state.items():
        value = value.detach().cpu()
        start = initial.get(key)
        if not value.is_floating_point():
            packed[key] = value
        elif (start is not None and value.dim() >= 2 and start.shape == value.shape):
            columns = _changed_columns(value, start)
            if len(columns) < value.shape[1]:
                packed[key] = {"columns": columns, "values": value[:, columns].half()}
            else:
                packed[key] = value.half()
        else:
            packed[key] = value.half()
    return packed


def unpack(packed: dict[str, Any], initial: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for key, item in packed.items():
        if isinstance(item, dict):
            if key not in initial:
                raise TrainingError(f"travel checkpoint: {key} has no initial weights here")
            full = initial[key].clone()
            full[:, item["columns"]] = item["values"].to(full.dtype)
            state[key] = full
        else:
            start = initial.get(key)
            state[key] = item.to(start.dtype) if start is not None else item
    return state


def trainer_state(trainer: Trainer, initial: Snapshot) -> dict[str, Any]:
    return {
        "travel": True,
        "initial_digest": digest(initial),
        "family": trainer.family,
        "modules": {n: pack(m.state_dict(), initial[n]) for n, m in trainer.modules.items()},
        "ema": {n: pack(m.state_dict(), initial[n]) for n, m in trainer.ema.items()},
        "schedulers": {n: s.state_dict() for n, s in trainer.schedulers.items()},
        "scalers": {n: s.state_dict() for n, s in trainer.runtime.scalers.items()},
        "extra": trainer.extra_state(),
    }


def check(ckpt: dict[str, Any], initial: Snapshot | None) -> None:
    """A travel checkpoint loads only into networks built exactly as its run's were: ``initial``
    is the freshly built networks' snapshot, taken before any weights were loaded."""
    if initial is None:
        raise TrainingError("a travel checkpoint resumes only into a freshly built run")
    if ckpt.get("initial_digest") != digest(initial):
        raise TrainingError(
            "this travel checkpoint was written by a run whose networks started from other "
            "initial weights (another seed, other network options or another torch version): "
            "resume it with the same options and seed, or from a full checkpoint")
