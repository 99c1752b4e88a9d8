"""Inference pipelines: label map -> image (SPADE, pix2pixHD) and image -> image (pix2pix).

They own the official preprocessing (NEAREST resize of label maps, bicubic resize of images,
[-1, 1] normalisation) and validation, so callers hand over plain numpy arrays or files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .bundle import ModelBundle
from .devices import resolve_device, resolve_dtype, to_uint8_image
from .errors import InputError
from .imageio import read_index_png, to_rgb_array
from .labelmaps import as_label_tensor, instance_edges, semantic_input
from .registry import build_networks, get_architecture
from .spade.fast import FastSPADE


def resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """NEAREST resize as the official loaders do (aspect ratio not kept)."""
    if labels.shape == (height, width):
        return labels
    img = Image.fromarray(labels.astype(np.int32), mode="I")
    return np.asarray(img.resize((width, height), Image.NEAREST)).astype(np.int64)


class LabelToImage:
    """Render label maps with a SPADE (fast path by default) or pix2pixHD generator."""

    def __init__(self, bundle: ModelBundle, device="auto", precision: str = "fp32",
                 fast: bool = True):
        arch = get_architecture(bundle.architecture)
        if arch.kind != "label2image":
            raise InputError(f"{bundle.architecture} is not a label-to-image model")
        self.bundle = bundle
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.nets = build_networks(bundle, self.device, self.dtype)
        self.generator = self.nets["G"]
        opts = bundle.options
        self.is_spade = bundle.architecture == "spade"
        if self.is_spade:
            o = self.generator.options
            self.label_channels, self.use_edges = o.label_channels, not o.no_instance
            self.native_size, self.grid = o.native_size, o.grid
        else:  # pix2pixHD: label_nc channels (+ edges), fully convolutional
            self.label_channels = int(opts["label_nc"]) + (1 if opts.get("contain_dontcare_label") else 0)
            self.use_edges = not opts.get("no_instance", False)
            self.native_size = tuple(opts.get("native_size", (256, 512)))
            self.grid = 2 ** (int(opts.get("n_downsample_global", 4))
                              + int(opts.get("n_local_enhancers", 0)))
        self.fast = FastSPADE(self.generator) if (fast and self.is_spade) else None

    @property
    def has_encoder(self) -> bool:
        return "E" in self.nets

    @property
    def uses_z(self) -> bool:
        return self.is_spade and self.generator.options.use_vae

    def load_label_png(self, path) -> np.ndarray:
        """A dataset index PNG -> model-space ids, in the model's label-set convention."""
        values = read_index_png(path)
        if self.bundle.labelset is not None:
            return self.bundle.labelset.png_to_model(values)
        return values

    def prepare(self, labels, size: tuple[int, int] | None = None,
                instances: np.ndarray | None = None):
        """Validate, resize (NEAREST) to ``size`` (H, W; default the native size) and move to the
        device. Returns (labels, edges)."""
        if isinstance(labels, (str, Path)):
            labels = self.load_label_png(labels)
        h, w = size or self.native_size
        if h % self.grid or w % self.grid:
            raise InputError(f"output size {w}x{h} is not a multiple of this model's grid "
                             f"({self.grid} px)")
        t = as_label_tensor(labels, self.label_channels)
        if t.shape[1:] != (h, w):
            t = torch.from_numpy(np.stack([resize_labels(m.numpy(), h, w) for m in t]))
        edges = None
        if self.use_edges:
            inst = t
            if instances is not None:
                inst = torch.as_tensor(np.asarray(instances)).long()
                inst = inst[None] if inst.dim() == 2 else inst
                if inst.shape[1:] != (h, w):
                    inst = torch.from_numpy(np.stack([resize_labels(m.numpy(), h, w) for m in inst]))
            edges = instance_edges(inst)
        return t.to(self.device), None if edges is None else edges.to(self.device)

    @torch.no_grad()
    def encode_style(self, image) -> tuple[torch.Tensor, torch.Tensor]:
        """Style image (path, PIL, array) -> (mu, logvar) with the model's encoder."""
        if not self.has_encoder:
            raise InputError("this model has no style encoder (it was not trained with a VAE)")
        rgb = to_rgb_array(image)
        x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None]  # a writable copy
        x = x.to(self.device, self.dtype) / 255
        return self.nets["E"]((x - 0.5) / 0.5)

    @torch.no_grad()
    def generate_tensor(self, labels, size=None, instances=None, z=None, seed: int | None = None):
        t, edges = self.prepare(labels, size, instances)
        gen = None
        if self.uses_z and z is None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(0 if seed is None else int(seed))
            z = torch.randn(t.shape[0], self.generator.options.z_dim, generator=gen,
                            device=self.device).to(self.dtype)
        if self.fast is not None:
            return self.fast(t, edges, z=z, dtype=self.dtype)
        seg = semantic_input(t, self.label_channels, self.use_edges, dtype=self.dtype)
        if edges is not None:
            seg[:, -1] = edges.to(self.dtype)
        if self.is_spade:
            return self.generator(seg, z=z)
        return self.generator(seg)

    def __call__(self, labels, size=None, instances=None, z=None, seed=None) -> np.ndarray:
        """-> uint8 (H, W, 3) for one map, (N, H, W, 3) for a batch."""
        out = to_uint8_image(self.generate_tensor(labels, size, instances, z, seed))
        return out[0] if out.shape[0] == 1 else out


class ImageToImage:
    """pix2pix: RGB image -> RGB image at the model's resolution, or fully convolutional."""

    def __init__(self, bundle: ModelBundle, device="auto", precision: str = "fp32",
                 mode: str = "eval"):
        arch = get_architecture(bundle.architecture)
        if arch.kind != "image2image":
            raise InputError(f"{bundle.architecture} is not an image-to-image model")
        self.bundle = bundle
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.generator = build_networks(bundle, self.device, self.dtype)["G"]
        self.mode = mode
        self._set_mode()
        self.load_size = int(bundle.options.get("load_size", 256))

    def _set_mode(self, seed: int | None = None) -> None:
        from .pix2pix import set_test_mode

        set_test_mode(self.generator, self.mode, seed=seed)

    @torch.no_grad()
    def __call__(self, image, size: tuple[int, int] | None = None, seed: int | None = None):
        rgb = to_rgb_array(image)
        h, w = size or (self.load_size, self.load_size)
        if rgb.shape[:2] != (h, w):
            rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BICUBIC))
        x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float().div(255).sub(0.5).div(0.5)
        in_nc = int(self.bundle.options.get("input_nc", 3))
        if in_nc == 1:
            x = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        # "official" mode draws dropout masks: a seed makes them repeatable without touching
        # torch's global RNG.
        self._set_mode(seed)
        y = self.generator(x.to(self.device, self.dtype))
        if y.shape[1] == 1:
            y = y.repeat(1, 3, 1, 1)
        return to_uint8_image(y)[0]
