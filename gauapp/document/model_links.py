"""Which single-image model belongs to which background image of a painting.

A ConSinGAN harmonization (or editing) model is trained on one image. The document remembers,
per background, the model file made for it: the key is ``"<mode>:<fingerprint>"`` where the
fingerprint is a hash of the background's pixels (so it survives renaming or moving the layer,
and a saved and reopened painting finds its model again); the value is the model file's path.
Saved in the project as ``gauapp/model-links.json``.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .errors import OraError

MEMBER = "gauapp/model-links.json"
MODES = ("harmonization", "editing")
MAX_LINKS = 1000


def fingerprint(rgb: np.ndarray) -> str:
    """sha256 of an (h, w, 3) uint8 image's size and pixels (alpha ignored)."""
    rgb = np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., :3])
    h = hashlib.sha256(f"{rgb.shape[0]}x{rgb.shape[1]}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def link_key(mode: str, print_: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    return f"{mode}:{print_}"


def encode(links: dict[str, str]) -> bytes | None:
    """The project member's bytes, or None when there is nothing to save."""
    return json.dumps(dict(sorted(links.items())), indent=1).encode("utf-8") if links else None


def decode(data: bytes) -> dict[str, str]:
    """The links from a project member; raises OraError naming what is wrong."""
    try:
        links = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OraError(f"{MEMBER} is not valid JSON ({exc})") from None
    if not isinstance(links, dict) or len(links) > MAX_LINKS or not all(
            isinstance(k, str) and isinstance(v, str) and k.split(":", 1)[0] in MODES
            for k, v in links.items()):
        raise OraError(f"{MEMBER} must map '<mode>:<fingerprint>' to model file paths")
    return links
