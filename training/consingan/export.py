"""A trained ConSinGAN as our model file or as an official model folder, and the inputs the
trainer accepts (images, models to fine-tune).

The model file is ``models.consingan.architecture.bundle_from_model`` (the generator with its
fixed noise, reals and noise amplitudes under ``G.*``) plus the last stage's critic under ``D.*``:
inference builds only ``G`` and ignores it; fine-tuning starts from it, as the official
fine-tuning starts from the last stage's ``netD.pth``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from models import __version__ as models_version
from models.checkpoint import sub_state
from models.consingan.architecture import bundle_from_model
from models.consingan.model import ConSinGANModel
from models.consingan.network import Discriminator
from models.errors import InputError
from models.imageio import open_image, to_rgb_array
from models.modelfile import save_model_file

TRAINER = f"gauapp ConSinGAN trainer {models_version}"


def image_fingerprint(rgb: np.ndarray) -> str:
    """sha256 of an (h, w, 3) uint8 image's size and pixels (the app's background fingerprint)."""
    rgb = np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., :3])
    h = hashlib.sha256(f"{rgb.shape[0]}x{rgb.shape[1]}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def read_rgb(image, what: str = "training image") -> tuple[np.ndarray, str]:
    """``(H x W x 3 uint8, description)`` from a path or a uint8 array. Alpha is dropped, as the
    official reader does (it keeps channels 0-2); grey is repeated to RGB."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise InputError(f"{what} {path}: no such file")
        img = open_image(path)
        if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
            arr = np.asarray(img.convert("RGBA"))[..., :3].copy()
        else:
            arr = to_rgb_array(img)
        return arr, str(path)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise InputError(f"{what}: expected a uint8 array, got {image.dtype}")
        if image.ndim == 2:
            image = image[..., None].repeat(3, 2)
        if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
            raise InputError(f"{what}: expected an H x W x 3 (or x 4) image, got shape "
                             f"{image.shape}")
        return np.ascontiguousarray(image[..., :3]), "array"
    raise InputError(f"{what}: expected a file path or an H x W x 3 uint8 array, got "
                     f"{type(image).__name__}")


def model_file(path: str | Path, model: ConSinGANModel, D: Discriminator | None,
               provenance: Mapping[str, Any], license: str = "") -> Path:
    bundle = bundle_from_model(model, provenance=dict(provenance), license=license)
    if D is not None:
        for k, v in D.state_dict().items():
            bundle.state["D." + k] = v.detach().cpu().clone()
    return save_model_file(bundle, Path(path))


def provenance(name: str, source: str, fingerprint: str, settings: dict, seed: int,
               iterations: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name, "source": source, "background_sha256": fingerprint,
        "format": "trained with gauapp", "trainer": TRAINER,
        "trained": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "train_mode": settings.get("train_mode"), "settings": dict(settings), "seed": int(seed),
        "iterations": int(iterations), **dict(extra or {}),
    }


def official_parameters(settings: dict, input_name: str, seed: int) -> dict[str, Any]:
    """parameters.txt entries with the official names for an export."""
    params = {k: v for k, v in settings.items()
              if k not in ("official_g_steps", "checkpoint_every", "preview_every", "log_every",
                           "preset", "noise_scaling")}
    params.update(input_name=input_name, manualSeed=int(seed), noise_amp_init=settings["noise_amp"],
                  not_cuda=True, start_scale=0, scale_factor=0.75, gpu=0, naive_img="",
                  fine_tune=0, model_dir="")
    return params


def critic_from(source, options: Mapping[str, Any]) -> Discriminator | None:
    """The critic saved with a model: ``D.*`` tensors of our model file, or the last stage's
    ``netD.pth`` of an official folder; None when there is none."""
    from models.consingan.official import load_stage_networks, stage_dirs
    from models.modelfile import load_model_file

    path = Path(source)
    if path.is_dir():
        stages = stage_dirs(path)
        if stages and (path / str(stages[-1]) / "netD.pth").is_file():
            return load_stage_networks(path, stages[-1], options)[1]
        return None
    state = sub_state(load_model_file(path).state, "D")
    if not state:
        return None
    D = Discriminator(**discriminator_args(options))
    D.load_state_dict(OrderedDict(state))
    return D


def discriminator_args(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: options[k] for k in ("nfc", "num_layer", "ker_size", "padd_size", "nc_im",
                                    "activation", "lrelu_alpha")}


def load_model(source) -> tuple[ConSinGANModel, Discriminator | None, str, dict]:
    """``(model, critic or None, description, provenance)`` from a ConSinGANModel, our model
    file or an official folder."""
    if isinstance(source, ConSinGANModel):
        return source, None, "model", {}
    if isinstance(source, (str, Path)):
        from models.consingan.official import load_folder
        from models.modelfile import load_model_file
        from models.registry import build_networks

        path = Path(source)
        prov: dict = {}
        if path.is_dir():
            model = load_folder(path)
        elif path.is_file():
            bundle = load_model_file(path)
            if bundle.architecture != "consingan":
                raise InputError(f"{path}: a {bundle.architecture} model, not ConSinGAN")
            model, prov = build_networks(bundle)["G"], dict(bundle.provenance or {})
        else:
            raise InputError(f"{path}: no such model file or folder")
        return model, critic_from(path, model.options), str(path), prov
    raise InputError(f"expected a ConSinGANModel, a model file or an official folder, got "
                     f"{type(source).__name__}")


def cpu_state(module: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((k, v.detach().cpu().clone()) for k, v in module.state_dict().items())
