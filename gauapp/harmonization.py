"""Harmonize / Make consistent, the numerical side (no Qt): what goes into a ConSinGAN model
and how its low-resolution answer goes back into a full-resolution painting.

- The *pasted* layer is the object; its alpha is the mask.
- The *background* is the topmost visible plain image layer below it (not itself a pasted layer
  or a result), else the last generated image scaled to the canvas; it is what a harmonization
  model is trained on, and its pixels' fingerprint finds that model again (model_links.py).
- The *naive composite* is the background with the visible image layers between it and the
  pasted layer, and the pasted layer, drawn over it, in the background's own frame.
- The model answers at its training resolution (at most 250 px); ``result_patch`` scales the
  answer and the model's soft mask (dilated and blurred as the official evaluation does) to the
  frame and keeps only the masked region: a layer with alpha = soft mask, so everything outside
  keeps the background's full detail.

Layer roles: a pasted layer is ``"pasted <key>"``; its results are ``"harmonized <key>"`` or
``"consistent <key>"`` (editing), so the app can find the pasted layer again from a result.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .document.errors import DocumentError
from .document.layers import ImageLayer, composite_images, intersect
from .document.model_links import fingerprint, link_key
from .document.selection import Clip, mask_bounds
from .document.transform import resized_rgba

PASTED = "pasted"
RESULT_KIND = {"harmonization": "harmonized", "editing": "consistent"}
VERB = {"harmonization": "Harmonize", "editing": "Make consistent"}
ROLE_KINDS = (PASTED, *RESULT_KIND.values())


class HarmonizeError(DocumentError):
    """Harmonizing cannot start or finish; the message says why and what to do."""


def new_role(kind: str, key: str | None = None) -> str:
    return f"{kind} {key or secrets.token_hex(4)}"


def parse_role(role: str) -> tuple[str, str]:
    """``("pasted", key)``, ``("harmonized", key)``... or ``(role, "")`` for any other role."""
    kind, _, key = (role or "").partition(" ")
    return (kind, key) if kind in ROLE_KINDS and key else (role or "", "")


@dataclass
class HarmonizeTask:
    """Everything the background job needs (copies: the user may edit on meanwhile)."""

    mode: str                 # "harmonization" | "editing"
    pasted_uid: int
    pasted_name: str
    key: str                  # the pasted layer's role key (its results carry it too)
    background_name: str
    background: np.ndarray    # (h, w, 3) uint8: the image a model for it is trained on
    naive: np.ndarray         # (h, w, 3) uint8: the naive composite in the background's frame
    mask: np.ndarray          # (h, w) uint8: the pasted layer's alpha in that frame
    origin: tuple[int, int]   # the frame's top-left corner on the canvas (x, y)
    _fingerprint: str = field(default="", repr=False)

    @property
    def fingerprint(self) -> str:
        if not self._fingerprint:  # sha256 of up to 12 MB: once
            self._fingerprint = fingerprint(self.background)
        return self._fingerprint

    @property
    def link(self) -> str:
        return link_key(self.mode, self.fingerprint)


def pasted_layer(doc, uid: int | None) -> ImageLayer:
    """The pasted layer to work on: the layer itself, or the pasted layer a result came from."""
    if uid is None:
        raise HarmonizeError("No layer is selected: select the pasted layer (Edit → Paste makes "
                             "one)")
    layer = doc.layer(uid)
    kind, key = parse_role(getattr(layer, "role", ""))
    if kind in RESULT_KIND.values():
        for other in doc.layers:
            if parse_role(getattr(other, "role", "")) == (PASTED, key):
                return other
        raise HarmonizeError(f"the pasted layer that {layer.name!r} was made from is gone; "
                             "select a pasted layer")
    if not isinstance(layer, ImageLayer):
        raise HarmonizeError(f"{layer.name!r} is a label layer: select the pasted image layer "
                             "(copy a region and paste it with Edit → Paste)")
    return layer


def plan(doc, uid: int | None, generated: np.ndarray | None,
         mode: str = "harmonization") -> HarmonizeTask:
    """The inputs for harmonizing (or, ``mode="editing"``, making consistent) a pasted layer."""
    if mode not in RESULT_KIND:
        raise HarmonizeError(f"unknown mode {mode!r} (harmonization or editing)")
    pasted = pasted_layer(doc, uid)
    layers = doc.layers
    i = doc.index_of(pasted.uid)
    below = [la for la in layers[:i] if isinstance(la, ImageLayer) and la.visible]
    plain = [la for la in below if parse_role(getattr(la, "role", ""))[0] not in ROLE_KINDS]
    if plain:
        base = plain[-1]
        between = below[below.index(base) + 1:]
        name = base.name
    elif generated is not None:
        rgb = np.asarray(generated, np.uint8)[..., :3]
        rgba = resized_rgba(rgb, doc.width, doc.height, "bicubic")
        base = ImageLayer(0, "generated image", rgba)
        between = below
        name = "the generated image"
    else:
        raise HarmonizeError(
            f"{VERB[mode]} needs a background image below {pasted.name!r}: import a photo "
            "(File → Import image as layer), or generate an image and use Layer → New layer "
            "from generated image")
    box = base.bounds
    naive, mask = _naive_and_mask(base, between, pasted)
    if not mask.any():
        raise HarmonizeError(f"{pasted.name!r} does not overlap {name!r}: move it onto the "
                             "background first")
    key = parse_role(getattr(pasted, "role", ""))[1]
    return HarmonizeTask(mode=mode, pasted_uid=pasted.uid, pasted_name=pasted.name, key=key,
                         background_name=name, background=np.ascontiguousarray(base.rgba[..., :3]),
                         naive=np.ascontiguousarray(naive[..., :3]), mask=mask,
                         origin=(box[1], box[0]))


def _naive_and_mask(base: ImageLayer, between: list, pasted: ImageLayer):
    """The naive composite (RGB) and the pasted layer's alpha, in the base's frame. Float
    compositing covers only the part the upper layers touch: on a 2048 px background a small
    paste costs milliseconds, not a second (this runs on the GUI thread)."""
    frame = base.bounds
    naive = np.array(base.rgba[..., :3])  # the base at opacity 1, as a model is trained on it
    over = [la for la in (*between, pasted) if intersect(la.bounds, frame) is not None]
    if over:
        y0 = min(intersect(la.bounds, frame)[0] for la in over)
        x0 = min(intersect(la.bounds, frame)[1] for la in over)
        y1 = max(intersect(la.bounds, frame)[2] for la in over)
        x1 = max(intersect(la.bounds, frame)[3] for la in over)
        opaque = ImageLayer(0, "", base.rgba, base.x, base.y)
        part = composite_images([opaque, *over], 0, 0, (y0, x0, y1, x1))
        naive[y0 - frame[0]:y1 - frame[0], x0 - frame[1]:x1 - frame[1]] = part[..., :3]
    mask = np.zeros(naive.shape[:2], np.uint8)
    win = intersect(pasted.bounds, frame)
    if win is not None:
        y0, x0, y1, x1 = win
        alpha = pasted.rgba[y0 - pasted.y:y1 - pasted.y, x0 - pasted.x:x1 - pasted.x, 3]
        if pasted.opacity < 1:
            alpha = np.rint(alpha * np.float32(pasted.opacity)).astype(np.uint8)
        mask[y0 - frame[0]:y1 - frame[0], x0 - frame[1]:x1 - frame[1]] = alpha
    return naive, mask


# ----- models ---------------------------------------------------------------------------------
def check_model_file(path: str | Path, mode: str) -> Path:
    """``path`` if it is a ConSinGAN model file trained in ``mode`` (read from its metadata
    only); HarmonizeError naming what it is otherwise."""
    from models.modelfile import read_metadata

    path = Path(path)
    meta = read_metadata(path)
    arch = meta.get("gauapp.architecture", "")
    if arch != "consingan":
        raise HarmonizeError(f"{path.name} is a{'n' if arch[:1] in 'aeiou' else ''} "
                             f"{arch or 'unknown'} model; {VERB[mode]} needs a ConSinGAN model "
                             "trained on the background")
    try:
        trained = json.loads(meta.get("gauapp.options") or "{}").get("train_mode", "")
    except (json.JSONDecodeError, AttributeError):
        trained = ""
    if trained != mode:
        raise HarmonizeError(f"{path.name} was trained for {trained or 'an unknown mode'}; "
                             f"{VERB[mode]} needs a ConSinGAN model trained in {mode} mode")
    return path


def load_model(path: str | Path, mode: str, device="cpu"):
    """A ConSinGAN model file trained in ``mode``, on ``device``; HarmonizeError otherwise."""
    from models.modelfile import load_model_file
    from models.registry import build_networks

    return build_networks(load_model_file(check_model_file(path, mode)), device)["G"]


def model_record(path: str | Path) -> tuple[str, str, str]:
    """``(train_mode, background fingerprint, source)`` of a ConSinGAN model file, from its
    metadata ("" for what it does not record, or for any other file)."""
    from models.modelfile import read_metadata

    try:
        meta = read_metadata(path)
        options = json.loads(meta.get("gauapp.options") or "{}")
        provenance = json.loads(meta.get("gauapp.provenance") or "{}")
    except Exception:  # unreadable files are simply not candidates
        return "", "", ""
    if meta.get("gauapp.architecture") != "consingan" or not isinstance(provenance, dict) \
            or not isinstance(options, dict):
        return "", "", ""
    return (str(options.get("train_mode", "")), str(provenance.get("background_sha256", "")),
            str(provenance.get("source", "")))


def _image_fingerprint(path: str) -> str:
    """The fingerprint of the training image a model records as its source, if still there
    (training runs keep it as a lossless PNG)."""
    try:
        if not path or not Path(path).is_file():
            return ""
        with Image.open(path) as im:
            return fingerprint(np.asarray(im.convert("RGB")))
    except Exception:  # a moved, foreign or damaged source just does not match
        return ""


def find_model(links: dict[str, str], folders, task: HarmonizeTask) -> Path | None:
    """The model file for the task's background: the document's link, else a model in
    ``folders`` that records the background's fingerprint or was trained on an image with the
    same pixels."""
    linked = links.get(task.link)
    if linked and Path(linked).is_file() and model_record(linked)[0] == task.mode:
        return Path(linked)
    want = task.fingerprint
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.safetensors")):
            mode, recorded, source = model_record(path)
            if mode == task.mode and (recorded == want or (
                    not recorded and _image_fingerprint(source) == want)):
                return path
    return None


# ----- running ----------------------------------------------------------------------------------
def run_model(model, task: HarmonizeTask, seed: int = 0):
    """The model's ``EditResult`` for the task (harmonize, or edit with a seeded noise)."""
    if task.mode == "harmonization":
        return model.harmonize(task.naive, task.mask)
    return model.edit(task.naive, task.mask, generator=int(seed))


def keep_detail(naive: np.ndarray, raw) -> np.ndarray:
    """The model's change rather than its pixels, at the frame's size: ``naive + up(raw -
    down(naive))``. ConSinGAN works at <= 250 px, so upscaling its output would blur what the
    user pasted; adding its low-frequency change keeps the object's own detail and takes the
    model's colour, tone and light."""
    import torch
    import torch.nn.functional as F

    fh, fw = naive.shape[:2]
    h, w = int(raw.shape[2]), int(raw.shape[3])
    full = torch.from_numpy(np.ascontiguousarray(naive)).permute(2, 0, 1)[None].float() / 127.5 - 1
    small = F.interpolate(full, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
    change = raw.detach().float().cpu() - small
    up = F.interpolate(change, size=(fh, fw), mode="bicubic", align_corners=False)
    out = ((full + up).clamp(-1, 1) + 1) * 127.5
    return out[0].permute(1, 2, 0).round().to(torch.uint8).numpy()


def frame_mask(task: HarmonizeTask) -> np.ndarray:
    """The official soft mask (the pasted alpha dilated by the mode's disk, blurred, normalised)
    made at the frame's own resolution, as uint8 alpha. The model's mask, upscaled from its
    <= 250 px, would spread its ring of regenerated background over e.g. 45 px of a 1024 px
    painting: a visible glow round the object."""
    from models.consingan.masks import DILATION_RADIUS, soft_mask

    fh, fw = task.naive.shape[:2]
    soft = soft_mask(task.mask, (fh, fw), None, DILATION_RADIUS[task.mode])
    return np.clip(np.rint(soft[0, 0].numpy() * 255.0), 0, 255).astype(np.uint8)


def result_patch(task: HarmonizeTask, raw, soft, detail: bool = True) -> Clip:
    """The new layer's pixels and canvas position from the model's raw output and soft mask
    (``1x3xhxw`` tensors at the model's resolution) at the frame's size, cropped to where the
    mask is non-zero. With ``detail`` the naive composite's full-resolution detail is kept
    (``keep_detail``) and the alpha is the official mask made at the frame's resolution
    (``frame_mask``); without, the output and its mask are simply upscaled."""
    from models.devices import to_uint8_image

    fh, fw = task.naive.shape[:2]
    if detail:
        up, alpha = keep_detail(task.naive, raw), frame_mask(task)
    else:
        rgb = to_uint8_image(raw)[0]
        up = np.asarray(Image.fromarray(rgb).resize((fw, fh), Image.BICUBIC))
        m = soft[0, 0].detach().float().cpu().numpy().astype(np.float32)
        m_up = np.asarray(Image.fromarray(m, "F").resize((fw, fh), Image.BILINEAR))
        alpha = np.clip(np.rint(np.clip(m_up, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)
    box = mask_bounds(alpha > 0)
    if box is None:
        raise HarmonizeError("the model's mask is empty at the painting's size")
    y0, x0, y1, x1 = box
    rgba = np.concatenate([up[y0:y1, x0:x1], alpha[y0:y1, x0:x1, None]], axis=2)
    return Clip(np.ascontiguousarray(rgba), task.origin[0] + x0, task.origin[1] + y0)


def harmonize(model, task: HarmonizeTask, seed: int = 0, detail: bool = True) -> Clip:
    result = run_model(model, task, seed)
    return result_patch(task, result.raw, result.mask, detail)
