"""Training checkpoints: everything a resumed run needs to continue bit for bit.

A checkpoint is one ``torch.save`` file of plain containers and tensors only (RNG states included),
so it loads with ``torch.load(weights_only=True)``: opening a checkpoint never runs code. Files are
written to a temporary name and renamed, so a crash or Ctrl+C mid-write never leaves a torn file.
"""
from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import travel
from .errors import TrainingError
from .trainer import Trainer

FORMAT = 1
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")


# ----------------------------------------------------------------------------- RNG states
def capture_rng() -> dict[str, Any]:
    """torch (CPU and every CUDA device), numpy and python RNG states as tensors and lists."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(np_state[0]),
                  "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                  "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_version),
                   "internal": torch.tensor(py_internal, dtype=torch.int64),
                   "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["internal"].tolist()), p["gauss"]))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


# ----------------------------------------------------------------------------- save / load
def atomic_torch_save(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def trainer_state(trainer: Trainer) -> dict[str, Any]:
    return {
        "family": trainer.family,
        "options": plain(trainer.options),
        "modules": {n: m.state_dict() for n, m in trainer.modules.items()},
        "optimizers": {n: o.state_dict() for n, o in trainer.optimizers.items()},
        "schedulers": {n: s.state_dict() for n, s in trainer.schedulers.items()},
        "scalers": {n: s.state_dict() for n, s in trainer.runtime.scalers.items()},
        "ema": {n: m.state_dict() for n, m in trainer.ema.items()},
        "extra": trainer.extra_state(),
    }


def save_checkpoint(path: Path, trainer: Trainer, step: int, epoch: int, position: int,
                    run: dict[str, Any], rng_per_rank: list | None = None,
                    travel_from: travel.Snapshot | None = None) -> Path:
    """``position``: batches of ``epoch`` already trained on (the next one to run);
    ``rng_per_rank``: every process's RNG states under DDP (each resumes with its own);
    ``travel_from``: the run's initial weights, to write a small travel checkpoint (see
    ``training.travel``) instead of a full one."""
    state = (trainer_state(trainer) if travel_from is None
             else travel.trainer_state(trainer, travel_from))
    obj = {"format": FORMAT, "step": step, "epoch": epoch, "position": position,
           "rng": capture_rng(), "rng_per_rank": rng_per_rank, "run": plain(run),
           "options": plain(trainer.options), **state}
    return atomic_torch_save(obj, path)


def read_checkpoint_file(path: Path, fmt: str, what: str) -> dict[str, Any]:
    """A checkpoint dict of format ``fmt`` loaded weights-only on the CPU; TrainingError naming
    ``what`` (e.g. "training checkpoint") for a missing, unreadable or foreign file."""
    if not path.is_file():
        raise TrainingError(f"{path}: no such {what}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise TrainingError(f"{path}: not a readable {what} "
                            f"({type(exc).__name__}: {first})") from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise TrainingError(f"{path}: not a gauapp {what}")
    return obj


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    return read_checkpoint_file(Path(path), FORMAT, "training checkpoint")


def apply_checkpoint(trainer: Trainer, ckpt: dict[str, Any],
                     initial: travel.Snapshot | None = None) -> None:
    """Load weights, trainer extras, optimizers, schedulers, scalers and EMA into ``trainer``
    (already built and attached). RNG states are restored by the loop at the right moment.
    A travel checkpoint also needs ``initial``, the freshly built networks' snapshot."""
    if ckpt.get("family") != trainer.family:
        raise TrainingError(f"the checkpoint is from a {ckpt.get('family')} run, not "
                            f"{trainer.family}")
    device = trainer.runtime.device
    travelled = bool(ckpt.get("travel"))
    if travelled:
        travel.check(ckpt, initial)

    def weights(name: str, saved: dict[str, Any]) -> dict[str, Any]:
        return travel.unpack(saved, initial[name]) if travelled else saved

    try:
        for name, net in trainer.modules.items():
            net.load_state_dict(weights(name, ckpt["modules"][name]))
        trainer.load_extra_state(ckpt.get("extra", {}))
        if not travelled:  # a travel checkpoint has no optimizer moments: they restart
            for name, opt in trainer.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
        for name, sched in trainer.schedulers.items():
            sched.load_state_dict(ckpt["schedulers"][name])
        for name, scaler in trainer.runtime.scalers.items():
            if name in ckpt.get("scalers", {}):
                scaler.load_state_dict(ckpt["scalers"][name])
        for name, shadow in trainer.ema.items():
            if name in ckpt.get("ema", {}):
                shadow.load_state_dict(weights(name, ckpt["ema"][name]))
            else:  # EMA switched on at resume: start it from the current weights
                shadow.load_state_dict(trainer.modules[name].state_dict())
    except (KeyError, RuntimeError, ValueError) as exc:
        raise TrainingError(f"the checkpoint does not match this run's networks/options "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:300]})") from None
    for opt in trainer.optimizers.values():
        for state in opt.state.values():
            for k, v in state.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    state[k] = v.to(device)


# ----------------------------------------------------------------------------- files
def checkpoint_path(out_dir: Path, step: int) -> Path:
    return out_dir / "checkpoints" / f"ckpt_{step:08d}.pt"


def list_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    folder = out_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def resolve_resume(resume: str | Path | None, out_dir: Path) -> Path | None:
    """``"auto"``: the newest checkpoint in ``out_dir`` if any; a path: that file (or the newest
    checkpoint in that run folder)."""
    if resume is None or resume == "":
        return None
    if str(resume) == "auto":
        found = list_checkpoints(out_dir)
        return found[-1][1] if found else None
    path = Path(resume)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise TrainingError(f"{path}: no checkpoints (checkpoints/ckpt_*.pt) in this folder")
        return found[-1][1]
    if not path.is_file():
        raise TrainingError(f"{path}: no such checkpoint to resume from")
    return path


def prune_checkpoints(out_dir: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints (0 or less: keep all)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(out_dir)[:-keep]:
        path.unlink(missing_ok=True)


def plain(value: Any) -> Any:
    """Options as weights_only-loadable containers (paths and other objects become strings)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    return str(value)
