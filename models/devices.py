"""Device and precision choice: automatic (CUDA when present) or forced; half precision on GPU."""
from __future__ import annotations

import torch

from .errors import InputError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} was asked for, but no CUDA GPU is available here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """fp32 everywhere; fp16/bf16 only on a GPU (on the CPU they are slower and less exact)."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
    if precision != "fp32" and device.type != "cuda":
        raise InputError(f"{precision} runs on a GPU only; use fp32 on {device.type}")
    return PRECISIONS[precision]


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says a device ran out of memory: CUDA's ``OutOfMemoryError``, the older
    ``RuntimeError`` wording, or the CPU allocator's "can't allocate memory"."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def to_uint8_image(x: torch.Tensor) -> "numpy.ndarray":  # noqa: F821
    """(N, 3, H, W) or (3, H, W) in [-1, 1] -> uint8 (…, H, W, 3), truncating as the official
    ``tensor2im`` does."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x.permute(0, 2, 3, 1)
    else:
        x = x.permute(1, 2, 0)
    return ((x.numpy() + 1) / 2 * 255).clip(0, 255).astype("uint8")
