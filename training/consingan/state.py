"""The trainer's checkpoint: one ``torch.save`` file of plain containers and tensors, written
atomically, read with ``torch.load(weights_only=True)`` (opening it never runs code).

It holds the settings, seed, the pyramid of reals, the model so far (options + state), the
critic, both Adam states when a stage is under way, the three generators' states, the per-stage
generator/critic weights (for an official-folder export) and, for fine-tuning, the naive image
at the coarsest level. The fixed noise is part of the model state.
"""
from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from models.consingan.model import ConSinGANModel
from models.consingan.network import Discriminator
from models.errors import InputError

from ..checkpoint import atomic_torch_save, plain, read_checkpoint_file
from ..errors import TrainingError
from .export import discriminator_args
from .generator import official_init
from .settings import TrainSettings

FORMAT = "gauapp.consingan.checkpoint"
VERSION = 1
FILE = "consingan_checkpoint.pt"


def path_in(folder) -> Path:
    return Path(folder) / FILE


def save(trainer) -> Path:
    run = trainer.stage_run
    payload: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "kind": trainer.kind,
        "settings": trainer.settings.to_dict(), "seed": trainer.seed,
        "source": trainer.source, "fingerprint": trainer.fingerprint,
        "extra": plain(trainer.extra),
        "reals": [r.detach().cpu() for r in trainer.reals],
        "naive0": None if trainer.naive0 is None else trainer.naive0.detach().cpu(),
        "stage": trainer.stage, "iteration": trainer.iteration,
        "model_options": plain(trainer.model.options),
        "model": trainer.model.state_dict(),
        "D": trainer.D.state_dict(),
        "optim": run.state_dict() if run is not None else None,
        "rng": {"init": trainer.gen_init.get_state(), "noise": trainer.gen_noise.get_state(),
                "aug": trainer.gen_aug.get_state(), "noise_device": trainer.device.type},
        "stage_G": list(trainer.stage_G), "stage_D": list(trainer.stage_D),
    }
    return atomic_torch_save(payload, path_in(trainer.checkpoint_dir))


def load(folder) -> dict[str, Any]:
    """The checkpoint in ``folder`` (or the file itself)."""
    path = Path(folder)
    if path.is_dir() or not path.exists():
        path = path_in(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no ConSinGAN checkpoint here (nothing to resume)")
    payload = read_checkpoint_file(path, FORMAT, "ConSinGAN checkpoint")
    if payload.get("version") != VERSION:
        raise TrainingError(f"{path}: checkpoint version {payload.get('version')} is not "
                            f"supported (this version reads {VERSION})")
    return payload


def restore(trainer, payload: dict[str, Any]) -> None:
    """Put ``payload`` into a trainer made by ``_init_common``."""
    dev = trainer.device
    trainer.source, trainer.fingerprint = payload["source"], payload["fingerprint"]
    trainer.extra = dict(payload.get("extra") or {})
    trainer.reals = [r.to(dev) for r in payload["reals"]]
    trainer.naive0 = None if payload["naive0"] is None else payload["naive0"].to(dev)
    rng = payload["rng"]
    trainer.gen_init.set_state(rng["init"])
    trainer.gen_aug.set_state(rng["aug"])
    if rng["noise_device"] == dev.type:
        trainer.gen_noise.set_state(rng["noise"])
    else:  # another kind of device has another generator: go on with a derived seed
        trainer.gen_noise.manual_seed(trainer.seed + 1 + 7919 * (payload["stage"] + 2)
                                      + payload["iteration"])
        trainer.extra["resumed_on_other_device"] = True
    try:
        model = ConSinGANModel(payload["model_options"])
        model.load_state_dict(payload["model"])
        trainer.model = model.to(dev)
        D = Discriminator(**discriminator_args(model.options))
        D.load_state_dict(payload["D"])
        trainer.D = D.to(dev)
        trainer.stage, trainer.iteration = int(payload["stage"]), int(payload["iteration"])
        trainer.stage_G, trainer.stage_D = list(payload["stage_G"]), list(payload["stage_D"])
        if payload["optim"] is not None:
            trainer.stage_run = trainer._make_stage_run()
            trainer.stage_run.load_state_dict(payload["optim"])
    except (KeyError, RuntimeError, ValueError, InputError) as exc:
        raise TrainingError(f"the checkpoint does not fit its own settings ({type(exc).__name__}:"
                            f" {str(exc).splitlines()[0][:300]})") from None
    trainer._saved_at = (trainer.stage, trainer.iteration)


_MODEL_KEYS = ("nfc", "num_layer", "ker_size", "padd_size", "activation", "lrelu_alpha",
               "batch_norm", "train_mode", "min_size", "max_size", "train_depth", "lr_scale")


def settings_for_model(options: dict[str, Any], iterations: int) -> TrainSettings:
    """Fine-tuning settings: the model's own training parameters (as the official fine-tuning
    reloads parameters.txt) with ``niter = iterations``."""
    params = dict(options.get("official_parameters") or {})
    known = {f.name for f in fields(TrainSettings)}
    values = {k: v for k, v in params.items() if k in known and v not in (None, "")}
    values.update({k: options[k] for k in _MODEL_KEYS if k in options})
    values["noise_amp"] = options.get("noise_amp_init", values.get("noise_amp", 0.1))
    values.update(train_stages=len(options["reals_shapes"]), niter=int(iterations),
                  preset="finetune")
    return TrainSettings().with_overrides(**values)


def critic_module(source, options: dict[str, Any], gen: torch.Generator):
    """``(Discriminator, fresh?)`` from a module, a state dict or None (a fresh official init)."""
    if source is None:
        return official_init(Discriminator(**discriminator_args(options)), gen), True
    if isinstance(source, Discriminator):
        return copy.deepcopy(source).cpu(), False
    if isinstance(source, dict):
        D = Discriminator(**discriminator_args(options))
        try:
            D.load_state_dict(source)
        except RuntimeError as exc:
            raise InputError(f"the discriminator state does not fit this model "
                             f"({str(exc).splitlines()[0][:200]})") from None
        return D, False
    raise InputError(f"discriminator must be a Discriminator or a state dict, got "
                     f"{type(source).__name__}")
