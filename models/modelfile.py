"""Our model file: one ``.safetensors`` whose metadata says everything needed to rebuild it.

Metadata (all strings, as safetensors requires):

- ``gauapp.format``: format version (``"1"``);
- ``gauapp.architecture``: a name from ``models.registry``;
- ``gauapp.options``: JSON of the architecture's options;
- ``gauapp.labelset``: JSON of the label set (names, ids, colours, groups) or empty;
- ``gauapp.provenance``: JSON (source file, its sha256, who converted/trained it and when);
- ``gauapp.license``: licence text or SPDX id.

Tensors are the bundle's state, ``"<network>.<parameter>"``, optionally stored in fp16.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch

from .bundle import ModelBundle
from .errors import CheckpointError, LabelSetError, ModelFileError
from .labelsets import LabelSet
from .registry import get_architecture

FORMAT_VERSION = "1"
SUFFIX = ".safetensors"


def save_model_file(bundle: ModelBundle, path: str | Path, half: bool = False) -> Path:
    """Write ``bundle`` atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    get_architecture(bundle.architecture)  # refuse to write what we could not read back
    path = Path(path)
    tensors = OrderedDict()
    for key, value in bundle.state.items():
        value = value.detach().cpu()
        if half and value.dtype == torch.float32 and not _keep_fp32(key):
            value = value.half()
        tensors[key] = value.contiguous()
    meta = {
        "gauapp.format": FORMAT_VERSION,
        "gauapp.architecture": bundle.architecture,
        "gauapp.options": json.dumps(bundle.options, sort_keys=True),
        "gauapp.labelset": bundle.labelset.to_json() if bundle.labelset else "",
        "gauapp.provenance": json.dumps(bundle.provenance, sort_keys=True),
        "gauapp.license": bundle.license or "",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _keep_fp32(key: str) -> bool:
    # Batch-norm statistics lose too much in fp16 (variances near 0 become 0).
    return key.endswith(("running_var", "running_mean"))


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None


def load_model_file(path: str | Path) -> ModelBundle:
    """Read a model file back into a bundle; ``registry.build_networks`` makes the networks."""
    from .checkpoint import read_tensors

    path = Path(path)
    meta = read_metadata(path)
    if meta.get("gauapp.format") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: not a gauapp model file (no gauapp.format metadata; "
                             "import official checkpoints with `gauapp-train convert`)")
    try:
        arch = meta["gauapp.architecture"]
        options = json.loads(meta["gauapp.options"])
        provenance = json.loads(meta.get("gauapp.provenance") or "{}")
        labelset = (LabelSet.from_json(meta["gauapp.labelset"])
                    if meta.get("gauapp.labelset") else None)
    except (KeyError, json.JSONDecodeError, LabelSetError) as exc:
        raise ModelFileError(f"{path}: model file metadata is malformed ({exc})") from None
    get_architecture(arch)
    state = read_tensors(path)
    return ModelBundle(arch, options, OrderedDict(state), labelset, provenance,
                       meta.get("gauapp.license", ""))
