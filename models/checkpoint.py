"""Reading official checkpoints safely and fitting them into our networks.

Only ``torch.load(weights_only=True)`` and safetensors are used: a file that needs code to load is
refused, never unpickled.
"""
from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Mapping

import torch
from torch import nn

from .errors import ArchitectureMismatchError, CheckpointError, UnsafeCheckpointError

WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Containers some training scripts save the state dict inside.
_NESTED_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net_G", "netG")


def read_tensors(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """Read a flat name -> tensor mapping from a ``.pth``/``.pt`` or ``.safetensors`` file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    obj = load_torch_object(path)
    return _as_state_dict(obj, path)


def load_torch_object(path: str | Path):
    """``torch.load`` with ``weights_only=True`` and errors that say what is wrong with the file."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text or "Unsupported operand" in text or "GLOBAL" in text:
            raise UnsafeCheckpointError(
                f"{path}: the file is a pickle that needs code to load ({_first_line(text)}); "
                "it was not loaded. Only plain state dicts (weights) can be imported.") from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({_first_line(text)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError,
            IndexError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or another kind of file: "
            f"{type(exc).__name__}: {_first_line(str(exc))})") from None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:300]


def _read_safetensors(path: Path) -> "OrderedDict[str, torch.Tensor]":
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return OrderedDict(load_file(str(path), device="cpu"))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({_first_line(str(exc))})") from None


def _as_state_dict(obj, path: Path) -> "OrderedDict[str, torch.Tensor]":
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return OrderedDict((str(k), v) for k, v in obj.items())
        for key in _NESTED_STATE_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(
                    isinstance(v, torch.Tensor) for v in inner.values()):
                return OrderedDict((str(k), v) for k, v in inner.items())
    raise CheckpointError(
        f"{path}: loaded, but it is not a state dict (a mapping of names to tensors); "
        f"found {type(obj).__name__}")


def strip_prefixes(state: Mapping[str, torch.Tensor],
                   prefixes: Iterable[str] = WRAPPER_PREFIXES) -> "OrderedDict[str, torch.Tensor]":
    """Remove the wrappers that DataParallel (``module.``) and torch.compile (``_orig_mod.``) add."""
    prefixes = tuple(prefixes)
    out = OrderedDict()
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key = key[len(prefix):]
                    changed = True
        out[key] = value
    return out


def sub_state(state: Mapping[str, torch.Tensor], prefix: str) -> "OrderedDict[str, torch.Tensor]":
    """The entries under ``prefix.`` with the prefix removed."""
    p = prefix + "."
    return OrderedDict((k[len(p):], v) for k, v in state.items() if k.startswith(p))


def compare_keys(module: nn.Module, state: Mapping[str, torch.Tensor]):
    """(missing, unexpected, shape mismatches) of ``state`` against ``module.state_dict()``."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    return missing, unexpected, shapes


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    """Copy ``state`` into ``module``; every key must exist with the same shape, or a typed error
    lists the differences."""
    missing, unexpected, shapes = compare_keys(module, state)
    if missing or unexpected or shapes:
        raise ArchitectureMismatchError(what, missing, unexpected, shapes)
    expected = module.state_dict()
    converted = OrderedDict(
        (k, v.to(expected[k].dtype) if v.is_floating_point() and expected[k].is_floating_point()
         else v) for k, v in state.items())
    module.load_state_dict(converted, strict=True)
    return module
