"""Colorization: a pix2pix L -> ab model colours a photo and the photo keeps its own luminance.

Colour is low-frequency, so the network runs at its working size (longest side ``load_size``,
aspect kept, padded to the generator's grid) and only its ab channels are upsampled; the L
channel stays the original's at full resolution, so no detail is lost (the usual approach of
colorization tools, and what DESIGN §3's Lab convention allows).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .bundle import ModelBundle
from .color import lab_to_srgb, rgb_to_lab
from .devices import resolve_device, resolve_dtype
from .errors import InputError
from .imageio import to_rgb_array
from .registry import build_networks, get_architecture


def is_colorization_bundle(bundle: ModelBundle) -> bool:
    opts = bundle.options
    return (get_architecture(bundle.architecture).kind == "image2image"
            and int(opts.get("input_nc", 3)) == 1 and int(opts.get("output_nc", 3)) == 2)


def working_size(height: int, width: int, longest: int, grid: int) -> tuple[int, int]:
    """(h, w) with the longest side ``longest`` (never below one grid cell), aspect kept."""
    scale = longest / max(height, width)
    return (max(grid, round(height * scale)), max(grid, round(width * scale)))


class Colorizer:
    """``Colorizer(bundle)(image) -> (H, W, 3) uint8``: any RGB or grey image, any size."""

    def __init__(self, bundle: ModelBundle, device="auto", precision: str = "fp32"):
        if not is_colorization_bundle(bundle):
            raise InputError(f"{bundle.architecture} model with input_nc "
                             f"{bundle.options.get('input_nc', 3)} and output_nc "
                             f"{bundle.options.get('output_nc', 3)} is not a colorization "
                             "model (it must map 1 channel, L, to 2 channels, ab)")
        self.bundle = bundle
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.generator = build_networks(bundle, self.device, self.dtype)["G"].eval()
        self.grid = int(getattr(self.generator, "grid", 1))
        self.load_size = int(bundle.options.get("load_size", bundle.options.get("crop_size", 256)))

    @torch.no_grad()
    def ab(self, rgb: np.ndarray, size: tuple[int, int] | None = None,
           check_cancel: Callable[[], None] | None = None) -> np.ndarray:
        """The predicted ab channels (float64, Lab units) at ``rgb``'s size."""
        H, W = rgb.shape[:2]
        h, w = size or working_size(H, W, self.load_size, self.grid)
        small = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BICUBIC))
        L = torch.from_numpy(rgb_to_lab(small)[..., 0].astype(np.float32))[None, None] / 50 - 1
        # Pad (reflect where possible) to the grid: U-Nets need it, crop back after.
        ph, pw = -h % self.grid, -w % self.grid
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            L = F.pad(L, (0, pw, 0, ph), mode=mode)
        if check_cancel is not None:
            check_cancel()
        out = self.generator(L.to(self.device, self.dtype)).float()[:, :, :h, :w]
        if out.shape[1] != 2:
            raise InputError(f"the model produced {out.shape[1]} channels, expected 2 (ab)")
        out = F.interpolate(out, size=(H, W), mode="bilinear", align_corners=False)
        return out[0].permute(1, 2, 0).cpu().double().numpy() * 110.0

    def __call__(self, image, size: tuple[int, int] | None = None,
                 check_cancel: Callable[[], None] | None = None) -> np.ndarray:
        rgb = to_rgb_array(image)
        lab = rgb_to_lab(rgb)
        lab[..., 1:] = self.ab(rgb, size, check_cancel)
        return np.round(lab_to_srgb(lab) * 255).astype(np.uint8)
