"""Image → image with an installed pix2pix / pix2pixHD generator, without Qt.

What the Filters menu runs in a background job: which model files can translate images (and a
clear reason for those that cannot), the model's own preprocessing (bicubic resize, [-1, 1],
luminance for one-channel inputs, DESIGN §3) and two ways to handle sizes:

- ``"model"``: at the model's resolution (pix2pix: ``load_size`` square, as the official test
  does; pix2pixHD: width scaled to its native width, height to the nearest grid multiple), then
  resized back to the source size (bicubic);
- ``"full"``: fully convolutional at the source resolution. U-Nets need sides that are multiples
  of ``2 ** num_downs`` (256 for unet_256), ResNets of 4: the image is padded (reflected) to the
  next multiple and the result cropped back, so odd sizes come out exactly as they went in.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models.devices import is_out_of_memory
from models.errors import InputError

SIZE_MODES = ("model", "full")
TEST_MODES = ("deterministic", "official", "eval")  # models.pix2pix.TEST_MODES, app order
PIX2PIXHD = ("pix2pixhd_global", "pix2pixhd_local")
CPU_FALLBACK_NOTE = "GPU out of memory: this image was made on the CPU"


def unusable_reason(architecture: str, options: dict) -> str:
    """Why a model of this architecture/options cannot translate an RGB image ("" if it can)."""
    from models.errors import UnknownArchitectureError
    from models.registry import get_architecture

    try:
        kind = get_architecture(architecture).kind
    except UnknownArchitectureError as exc:
        return str(exc)
    if architecture in PIX2PIXHD:
        if int(options.get("label_nc", 35)) > 0:
            return (f"it is a pix2pixHD model for label maps ({options.get('label_nc', 35)} "
                    "classes), not images: choose it in Models → Model to paint with it")
    elif kind == "label2image":
        return (f"it is a label → image model ({architecture}): it renders label maps, not "
                "images; choose it in Models → Model to paint with it")
    elif kind == "single_image":
        return (f"it is a single-image model ({architecture}), not an image → image "
                "translator")
    elif kind != "image2image":
        return f"it is a {kind or 'unknown'} model, not an image → image translator"
    in_nc, out_nc = int(options.get("input_nc", 3)), int(options.get("output_nc", 3))
    if in_nc == 1 and out_nc == 2:
        return "it is a colorization model (L → ab): use Filters → Colorize"
    if in_nc not in (1, 3) or out_nc not in (1, 3):
        return (f"it maps {in_nc} channel(s) to {out_nc}; image → image needs 1 or 3 "
                "channels in and out")
    return ""


def model_file_problem(path: str | Path) -> str:
    """Why a model file cannot be used for image → image ("" when it can), from its metadata."""
    from models.modelfile import FORMAT_VERSION, read_metadata

    try:
        meta = read_metadata(path)
    except Exception as exc:  # any unreadable file: say so, never raise into the menu
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if meta.get("gauapp.format") != FORMAT_VERSION:
        return "not a gauapp model file (convert it with `gauapp-train convert`)"
    try:
        options = json.loads(meta.get("gauapp.options") or "{}")
    except json.JSONDecodeError as exc:
        return f"model file metadata is malformed ({exc})"
    return unusable_reason(meta.get("gauapp.architecture", ""), options)


def image_models(models) -> list:
    """The usable image → image models among ``modelstore.ModelInfo`` entries."""
    return [m for m in models if m.ok and m.kind in ("image2image", "label2image")
            and not model_file_problem(m.path)]


def resolve(device: str, precision: str) -> tuple[torch.device, torch.dtype, str]:
    """The app's device/precision settings as torch objects, and a note when fp16/bf16 was
    asked for on the CPU (where it runs in fp32, as the live engine does)."""
    from models.devices import resolve_device, resolve_dtype

    dev = resolve_device(device)
    note = ""
    if dev.type == "cpu" and precision != "fp32":
        note, precision = f"{precision} runs on a GPU only: using fp32 on the CPU", "fp32"
    return dev, resolve_dtype(precision, dev), note


@dataclass
class ImageModel:
    """A loaded generator and what its preprocessing needs."""

    name: str
    architecture: str
    generator: torch.nn.Module
    device: torch.device
    dtype: torch.dtype
    input_nc: int
    grid: int
    load_size: int
    native_size: tuple[int, int] | None  # pix2pixHD (H, W)

    def model_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) the model works at for a ``height`` x ``width`` source in "model" mode."""
        if self.native_size is None:  # pix2pix: resize to load_size square (aspect not kept)
            return self.load_size, self.load_size
        nw = self.native_size[1]  # pix2pixHD: scale_width, sides made multiples of the grid
        nh = max(self.grid, int(round(height * nw / width / self.grid)) * self.grid)
        return nh, max(self.grid, int(round(nw / self.grid)) * self.grid)


def load_image_model(path: str | Path, device="cpu", dtype=torch.float32,
                     test_mode: str = "deterministic", seed: int = 0) -> ImageModel:
    """Read a model file and build its generator; InputError names a model of the wrong kind."""
    from models.modelfile import load_model_file
    from models.pix2pix import set_test_mode
    from models.registry import build_networks

    if test_mode not in TEST_MODES:
        raise InputError(f"unknown test mode {test_mode!r} (one of {', '.join(TEST_MODES)})")
    bundle = load_model_file(path)
    opts = dict(bundle.options)
    problem = unusable_reason(bundle.architecture, opts)
    if problem:
        raise InputError(f"{Path(path).name} cannot translate images: {problem}")
    if bundle.architecture == "pix2pix":  # derived fields: load_size follows the U-Net depth
        from models.pix2pix import normalize_options

        opts = normalize_options(opts)
    gen = build_networks(bundle, device, dtype)["G"]
    set_test_mode(gen, test_mode, seed=seed)
    native = opts.get("native_size") if bundle.architecture in PIX2PIXHD else None
    name = str(bundle.provenance.get("name") or Path(path).stem)
    return ImageModel(name, bundle.architecture, gen, torch.device(device), dtype,
                      int(opts.get("input_nc", 3)), int(getattr(gen, "grid", 1)),
                      int(opts.get("load_size", 256)),
                      (int(native[0]), int(native[1])) if native is not None else None)


def padded_size(height: int, width: int, grid: int) -> tuple[int, int]:
    """The smallest (H, W) >= the input whose sides are multiples of ``grid``."""
    return -(-height // grid) * grid, -(-width // grid) * grid


def _to_input(rgb: np.ndarray, input_nc: int) -> torch.Tensor:
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float()  # a writable copy
    x = x.div(255).sub(0.5).div(0.5)
    if input_nc == 1:  # the official grayscale conversion (PIL "L" weights)
        x = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    return x


def _resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BICUBIC))


def translate(model: ImageModel, rgb: np.ndarray, size_mode: str = "model",
              check_cancel: Callable[[], None] | None = None) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 through the model; the result has the same size."""
    if size_mode not in SIZE_MODES:
        raise InputError(f"unknown size mode {size_mode!r} (one of {', '.join(SIZE_MODES)})")
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise InputError(f"image must be an (H, W, 3) uint8 array, not {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    work_h, work_w = model.model_size(h, w) if size_mode == "model" else (h, w)
    x = _to_input(_resize(rgb, work_h, work_w), model.input_nc)
    ph, pw = (s - t for s, t in zip(padded_size(work_h, work_w, model.grid), (work_h, work_w)))
    if ph or pw:  # reflection needs the pad smaller than the side; else repeat the border
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < work_h and pw < work_w
                  else "replicate")
    hooks = []
    if check_cancel is not None:  # stop between layers, not only between images
        check_cancel()
        hooks = [m.register_forward_pre_hook(lambda *_: check_cancel())
                 for m in model.generator.modules()]
    try:
        with torch.no_grad():
            y = model.generator(x.to(model.device, model.dtype))
    finally:
        for hook in hooks:
            hook.remove()
    y = y[:, :, :work_h, :work_w].float().cpu()
    if y.shape[1] == 1:
        y = y.repeat(1, 3, 1, 1)
    # [-1, 1] -> uint8 truncating, as the official tensor2im (models.devices.to_uint8_image).
    out = ((y[0].permute(1, 2, 0).numpy() + 1) / 2 * 255).clip(0, 255).astype(np.uint8)
    return _resize(out, h, w)


def run_translation(path: str | Path, rgb: np.ndarray, device: str = "auto",
                    precision: str = "fp32", size_mode: str = "model",
                    test_mode: str = "deterministic", seed: int = 0,
                    check_cancel: Callable[[], None] | None = None) -> tuple[np.ndarray, list[str]]:
    """Load, translate, and on a GPU out-of-memory error retry on the CPU. Returns the image
    and notes for the status bar."""
    dev, dtype, note = resolve(device, precision)
    notes = [note] if note else []
    try:
        model = load_image_model(path, dev, dtype, test_mode, seed)
        return translate(model, rgb, size_mode, check_cancel), notes
    except Exception as exc:
        if dev.type == "cpu" or not is_out_of_memory(exc):
            raise
    torch.cuda.empty_cache()
    model = load_image_model(path, torch.device("cpu"), torch.float32, test_mode, seed)
    return translate(model, rgb, size_mode, check_cancel), notes + [CPU_FALLBACK_NOTE]
