"""Label maps -> the tensors label-to-image networks take (one-hot + instance edges).

The official convention (SPADE, pix2pixHD): one channel per model-space id, then — when the model
uses instances — one channel that is 1 where a pixel's instance id differs from any 4-neighbour's.
For a painting, the instance map is the label map itself.
"""
from __future__ import annotations

import numpy as np
import torch

from .errors import InputError


def as_label_tensor(labels, num_ids: int, name: str = "label map") -> torch.Tensor:
    """Validate and convert an integer label map (H, W) / (N, H, W) to a long tensor (N, H, W).

    Float maps are accepted only when every value is a whole number (some loaders hand out
    floats); anything else is an InputError that says what is wrong.
    """
    if isinstance(labels, np.ndarray):
        if labels.dtype == np.bool_ or labels.dtype.kind not in "iuf":
            raise InputError(f"{name} must hold integer class ids, got dtype {labels.dtype}")
        if labels.ndim == 3 and labels.shape[2] in (3, 4) and labels.shape[0] > 4:
            raise InputError(f"{name} must be H x W class ids; shape {labels.shape} looks like "
                             "a colour image (match it to the palette first)")
        t = torch.from_numpy(np.ascontiguousarray(labels))
    elif isinstance(labels, torch.Tensor):
        t = labels
    else:
        raise InputError(f"{name} must be a numpy array or a tensor, got {type(labels).__name__}")
    if t.dim() == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3:
        raise InputError(f"{name} must be H x W (or N x H x W) class ids, got shape "
                         f"{tuple(t.shape)}; a colour image must first be matched to a palette")
    if t.numel() == 0:
        raise InputError(f"{name} is empty ({tuple(t.shape)})")
    if t.is_floating_point():
        if not torch.equal(t, t.round()):
            raise InputError(f"{name} holds non-integer values: it must hold class ids")
    elif t.dtype == torch.bool:
        raise InputError(f"{name} must hold integer class ids, got booleans")
    t = t.long()
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= num_ids:
        bad = torch.unique(t[(t < 0) | (t >= num_ids)])[:10].tolist()
        raise InputError(f"{name} holds id(s) {bad} outside this model's range 0..{num_ids - 1}")
    return t


def instance_edges(instances: torch.Tensor) -> torch.Tensor:
    """(N, H, W) ids -> (N, H, W) bool: True where a 4-neighbour has another id (both sides)."""
    e = torch.zeros_like(instances, dtype=torch.bool)
    dx = instances[:, :, 1:] != instances[:, :, :-1]
    dy = instances[:, 1:, :] != instances[:, :-1, :]
    e[:, :, 1:] |= dx
    e[:, :, :-1] |= dx
    e[:, 1:, :] |= dy
    e[:, :-1, :] |= dy
    return e


def one_hot(labels: torch.Tensor, channels: int, dtype=torch.float32) -> torch.Tensor:
    """(N, H, W) long -> (N, channels, H, W)."""
    n, h, w = labels.shape
    out = torch.zeros(n, channels, h, w, dtype=dtype, device=labels.device)
    return out.scatter_(1, labels[:, None], 1.0)


def semantic_input(labels: torch.Tensor, label_channels: int, use_edges: bool,
                   instances: torch.Tensor | None = None, dtype=torch.float32) -> torch.Tensor:
    """The generator input: one-hot over ``label_channels`` (+ the edge channel last)."""
    x = one_hot(labels, label_channels, dtype)
    if use_edges:
        inst = labels if instances is None else instances
        if inst.shape != labels.shape:
            raise InputError(f"instance map {tuple(inst.shape)} does not match the label map "
                             f"{tuple(labels.shape)}")
        x = torch.cat([x, instance_edges(inst.to(labels.device))[:, None].to(dtype)], 1)
    return x
