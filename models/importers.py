"""Turn official checkpoints (and our own model files) into ModelBundles.

Detection is by keys and shapes: each registered architecture's ``detect`` is asked in turn.
What the keys cannot tell (SPADE's crop size or upsampling count, a custom label set) comes from
``hints``, named as the official options are.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any

from . import __version__
from .bundle import ModelBundle
from .checkpoint import read_tensors, strip_prefixes
from .errors import CheckpointError, InputError
from .labelsets import LabelSet, load_labelset
from .modelfile import load_model_file
from .registry import get_architecture

# Most specific first: a pix2pixHD local enhancer also has a global part, for example.
DETECTION_ORDER = ("spade", "pix2pixhd_local", "pix2pixhd_global", "pix2pix")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def import_model(path: str | Path, hints: dict[str, Any] | None = None) -> ModelBundle:
    """Any model we can read: our ``.safetensors``, an official ``.pth`` (SPADE G [+ E beside
    it], pix2pix, pix2pixHD) or an official ConSinGAN model folder."""
    path = Path(path)
    hints = dict(hints or {})
    if path.is_dir():
        if (path / "parameters.txt").is_file():
            from .consingan.architecture import import_folder
            return import_folder(path)
        candidates = sorted(path.glob("*_net_G.pth"))
        if not candidates:
            raise CheckpointError(f"{path}: a folder without a model (no parameters.txt for "
                                  "ConSinGAN, no *_net_G.pth)")
        path = candidates[-1] if not (path / "latest_net_G.pth").exists() else path / "latest_net_G.pth"
    if path.suffix == ".safetensors":
        from .modelfile import read_metadata
        if read_metadata(path).get("gauapp.format"):
            return load_model_file(path)
    return import_official_file(path, hints)


def import_official_file(path: Path, hints: dict[str, Any]) -> ModelBundle:
    state = strip_prefixes(read_tensors(path))
    for name in DETECTION_ORDER:
        arch = get_architecture(name)
        options = arch.detect(state)
        if options is None:
            continue
        labelset_name = options.pop("labelset", None)
        labelset_hint = hints.pop("labelset", None)
        license_text = hints.pop("license", "")
        options.update({k: v for k, v in hints.items() if v is not None})
        if name == "spade":
            from .spade.architecture import from_official as spade_from_official
            enc = _sibling_encoder(path) if options.get("use_vae") else None
            new_state = spade_from_official(state, options,
                                            strip_prefixes(read_tensors(enc)) if enc else None)
        else:
            new_state = arch.from_official(state, options)
        labelset = _labelset(labelset_hint or labelset_name)
        if labelset is not None and "label_nc" in options:
            _check_labelset_fits(labelset, options)
        return ModelBundle(
            architecture=name, options=options, state=new_state, labelset=labelset,
            provenance={"source": path.name, "source_sha256": file_sha256(path),
                        "format": f"official {name} checkpoint",
                        "imported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        "importer": f"gauapp {__version__}"},
            license=license_text or "unknown: the licence of the original file applies")
    keys = list(state)[:6]
    raise CheckpointError(f"{path}: a state dict of no known architecture (first keys: {keys}); "
                          "known: SPADE, pix2pix, pix2pixHD, ConSinGAN folders")


def _sibling_encoder(g_path: Path) -> Path:
    e_path = g_path.with_name(g_path.name.replace("_net_G", "_net_E"))
    if e_path == g_path or not e_path.is_file():
        raise CheckpointError(f"{g_path}: a VAE generator needs its encoder, expected at {e_path}")
    return e_path


def _check_labelset_fits(labelset: LabelSet, options: dict[str, Any]) -> None:
    """A label set names the model's input channels: its ids must all be among them (an
    ADE20K model has 151, so the COCO-Stuff set, up to id 181, cannot be its label set)."""
    channels = int(options["label_nc"]) + (1 if options.get("contain_dontcare_label") else 0)
    if labelset.num_ids > channels:
        raise InputError(f"the label set {labelset.name!r} has ids up to {labelset.num_ids - 1}, "
                         f"but the model reads {channels} classes (ids 0–{channels - 1}): "
                         "choose the label set it was trained with")


def _labelset(spec) -> LabelSet | None:
    if spec is None or isinstance(spec, LabelSet):
        return spec
    return load_labelset(spec)
