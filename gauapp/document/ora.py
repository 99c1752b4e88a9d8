"""OpenRaster (.ora) files: the project format, readable by GIMP, Krita and MyPaint.

Layout (a zip): ``mimetype`` (first, stored), ``stack.xml``, one PNG per layer under ``data/``,
``mergedimage.png`` (label colours with the image layers on top: what the user sees),
``Thumbnails/thumbnail.png`` (at most 256 px). gauapp's own data uses the XML namespace
``urn:x-gauapp:ora`` (prefix ``gauapp:``) and the ``gauapp/`` folder:

- label layers are indexed ("P") PNGs whose palette index is the class id, coloured with the
  label set's colours, with an unused index (``gauapp:transparent-index``, 255 when the ids are
  below 255) transparent through tRNS, so other apps show ordinary coloured layers
  (``gauapp:encoding="indexed"``). Ids that do not fit 0..254 are stored as a 16-bit grayscale
  PNG, value = id and 65535 = transparent (``gauapp:encoding="gray16"``);
- ``gauapp:kind`` ("labels" | "image"), ``gauapp:locked``, ``gauapp:role`` (an image layer's
  purpose, e.g. "sketch"); ``selected="true"`` marks the
  active layer (as Krita does); ``gauapp:background-class`` on ``<image>``;
- ``gauapp/labelset.json``: the whole label set; ``gauapp/generated.png``: the last generated
  image, a file rather than a hidden layer so that other apps' layer stacks stay what the
  user painted; ``gauapp/model-links.json``: which harmonization/editing model belongs to
  which background image (model_links.py).

Loading never builds a partial document: everything is decoded and checked first, and every
problem (not a zip, missing or bad stack.xml, missing/corrupt/oversized PNGs, zip bombs, unsafe
member names) is an ``OraError`` naming it.
"""
from __future__ import annotations

import io
import math
import os
import re
import secrets
import stat
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.errors import LabelSetError
from models.labelsets import LabelSet

from . import model_links
from .document import Document
from .errors import DocumentError, OraError
from .layers import (LABEL_DTYPE, MAX_LABEL_ID, TRANSPARENT, ImageLayer, LabelLayer, Layer,
                     new_uid, pseudo_colors)

NS = "urn:x-gauapp:ora"
ET.register_namespace("gauapp", NS)
MIMETYPE = b"image/openraster"
LABELSET_MEMBER = "gauapp/labelset.json"
GENERATED_MEMBER = "gauapp/generated.png"
MAX_SIDE = 2048                      # layers, canvas and generated image, per side
MAX_LAYERS = 256
MAX_PNG_BYTES = 64 << 20             # a 2048x2048 16-bit RGBA PNG stored raw is ~32 MiB
MAX_TEXT_BYTES = 4 << 20             # stack.xml, labelset.json
MAX_TOTAL_BYTES = 1 << 30
MAX_OFFSET = 1 << 20
THUMBNAIL_SIDE = 256


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot hold (control codes) become U+FFFD, so the file stays valid."""
    return _NOT_XML.sub("\ufffd", text)


@dataclass
class LoadedProject:
    document: Document
    generated: np.ndarray | None = None  # (h, w, 3|4) uint8, as saved


# ---------------------------------------------------------------- saving

def _png(img: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **params)
    return buf.getvalue()


def _label_encoding(ids: list[int]) -> tuple[str, int]:
    """("indexed", free palette index) when every id fits a byte beside a free index."""
    used = set(ids)
    if max(used, default=-1) <= 255:
        free = [i for i in range(255, -1, -1) if i not in used]
        if free:
            return "indexed", free[0]
    return "gray16", 65535


def _palette(labelset: LabelSet | None) -> bytes:
    """Palette index = class id, in the label set's colours (the display colours without)."""
    if labelset is None:
        return pseudo_colors(256).tobytes()
    pal = np.zeros((256, 3), np.uint8)
    for c in labelset.classes:
        if c.id < 256:
            pal[c.id] = c.color
    return pal.tobytes()


def _encode_labels(layer: LabelLayer, labelset: LabelSet | None) -> tuple[bytes, dict]:
    if labelset is not None:
        ids = [c.id for c in labelset.classes]
    else:  # the ids present (bincount: much faster than np.unique on a big canvas)
        counts = np.bincount(layer.data.ravel().astype(np.int32) + 1)
        ids = (np.flatnonzero(counts[1:])).tolist()
    encoding, t = _label_encoding(ids)
    h, w = layer.data.shape
    if encoding == "indexed":
        arr = np.where(layer.data == TRANSPARENT, t, layer.data).astype(np.uint8)
        img = Image.frombytes("P", (w, h), arr.tobytes())
        img.putpalette(_palette(labelset))
        data = _png(img, transparency=t)
    else:
        arr = np.where(layer.data == TRANSPARENT, t, layer.data).astype(np.uint16)
        data = _png(Image.frombytes("I;16", (w, h), arr.astype("<u2").tobytes()),
                    transparency=t)
    return data, {_q("encoding"): encoding, _q("transparent-index"): str(t)}


def merged_image(doc: Document) -> np.ndarray:
    """(H, W, 4) uint8: what the user sees -- the label colours (when there are label layers)
    with the visible image layers on top."""
    images = doc.composite_image()
    if not any(layer.kind == "labels" for layer in doc.layers):
        return images
    out = np.array(doc.label_colors())
    sel = images[..., 3] > 0
    if sel.any():  # "over" an opaque background, only where the images cover
        a = images[..., 3][sel][:, None].astype(np.float32) / 255.0
        blend = out[sel, :3] * (1.0 - a) + images[sel, :3] * a
        out[sel, :3] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    return out


def _check_generated(generated: np.ndarray) -> np.ndarray:
    g = np.asarray(generated)
    if g.dtype != np.uint8 or g.ndim != 3 or g.shape[2] not in (3, 4) or \
            not (1 <= g.shape[0] <= MAX_SIDE and 1 <= g.shape[1] <= MAX_SIDE):
        raise OraError(f"the generated image must be (h, w, 3|4) uint8 of at most {MAX_SIDE} "
                       f"pixels per side, not {g.dtype} {g.shape}")
    return np.ascontiguousarray(g)


def save_ora(doc: Document, path: str | os.PathLike,
             generated: np.ndarray | None = None) -> None:
    """Writes ``doc`` (and the last generated image) atomically: a temporary file in the same
    folder is written, fsynced and renamed over ``path``, so a crash never leaves half a file."""
    path = Path(path)
    if generated is not None:
        generated = _check_generated(generated)
    root = ET.Element("image", {"version": "0.0.5", "w": str(doc.width), "h": str(doc.height),
                                _q("version"): "1"})
    if doc.background_class is not None:
        root.set(_q("background-class"), str(doc.background_class))
    stack = ET.SubElement(root, "stack")
    members: list[tuple[str, bytes]] = []
    layers = doc.layers
    for index in range(len(layers) - 1, -1, -1):  # ORA lists the top layer first
        layer = layers[index]
        src = f"data/layer{index:03d}.png"
        attrs = {"name": _xml_text(layer.name), "src": src, "visibility":
                 "visible" if layer.visible else "hidden", "composite-op": "svg:src-over",
                 _q("kind"): layer.kind, _q("locked"): "true" if layer.locked else "false"}
        if isinstance(layer, LabelLayer):
            data, extra = _encode_labels(layer, doc.labelset)
            attrs.update(extra, x="0", y="0", opacity="1.0")
        else:
            data = _png(Image.fromarray(layer.rgba))
            attrs.update(x=str(layer.x), y=str(layer.y), opacity=repr(float(layer.opacity)))
            if layer.role:
                attrs[_q("role")] = _xml_text(layer.role)
        if layer.uid == doc.active_uid:
            attrs["selected"] = "true"
        ET.SubElement(stack, "layer", attrs)
        members.append((src, data))
    merged = Image.fromarray(merged_image(doc))
    thumb = merged.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    members += [("mergedimage.png", _png(merged)), ("Thumbnails/thumbnail.png", _png(thumb))]
    if doc.labelset is not None:
        members.append((LABELSET_MEMBER, doc.labelset.to_json().encode("utf-8")))
    if generated is not None:
        members.append((GENERATED_MEMBER, _png(Image.fromarray(generated))))
    if model_links.encode(doc.model_links) is not None:
        members.append((model_links.MEMBER, model_links.encode(doc.model_links)))
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def write(f: BinaryIO) -> None:
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("mimetype", MIMETYPE, compress_type=zipfile.ZIP_STORED)
            z.writestr("stack.xml", xml, compress_type=zipfile.ZIP_DEFLATED)
            for name, data in members:
                kind = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
                z.writestr(name, data, compress_type=kind)

    _atomic_write(path, write)


def _atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    folder = path.parent
    tmp: Path | None = None
    try:
        if not folder.is_dir():
            raise OraError(f"cannot save {path}: folder {folder} does not exist")
        fd = -1
        for _ in range(100):
            tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                             0o666)
                break
            except FileExistsError:
                continue
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:  # keep the permissions of the file being replaced
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except OSError:
            pass
        os.replace(tmp, path)
        tmp = None
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            except OSError:
                pass
            finally:
                os.close(dfd)
    except OSError as exc:
        raise OraError(f"cannot save {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# ---------------------------------------------------------------- loading

class _Reader:
    """Reads members of one archive within the size limits."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.total = 0
        names = zf.namelist()
        if len(set(names)) != len(names):
            raise OraError("the archive holds two members with the same name")
        for name in names:
            _check_name(name, "archive member")

    def read(self, name: str, limit: int) -> bytes | None:
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            return None
        if info.file_size > limit:
            raise OraError(f"{name} declares {info.file_size} bytes uncompressed (at most {limit} "
                           "are accepted): refused as a possible zip bomb")
        self.total += info.file_size
        if self.total > MAX_TOTAL_BYTES:
            raise OraError(f"the archive unpacks to more than {MAX_TOTAL_BYTES} bytes: refused")
        with self.zf.open(info) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OraError(f"{name} unpacks to more than {limit} bytes: refused")
        return data


def _check_name(name: str, what: str) -> None:
    parts = name.split("/")
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or \
            ":" in parts[0] or any(p in ("..", ".") for p in parts):
        raise OraError(f"{what} {name!r} is not a safe path inside the archive")


def _open_png(data: bytes, what: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=["PNG"])
    except UnidentifiedImageError:
        raise OraError(f"{what} is not a PNG image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise OraError(f"{what} is not a readable PNG image ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise OraError(f"{what} is larger than {MAX_SIDE}x{MAX_SIDE} pixels ({exc}): "
                       "refused") from None
    w, h = img.size
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise OraError(f"{what} is {w}x{h} pixels: images larger than {MAX_SIDE}x{MAX_SIDE} "
                       "are refused")
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise OraError(f"{what} is a corrupt PNG ({exc})") from None
    return img


def _to_rgba(img: Image.Image) -> np.ndarray:
    """Any PNG mode -> (h, w, 4) uint8; 16-bit and float grayscale is scaled to 8 bits."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    return np.array(img if img.mode == "RGBA" else img.convert("RGBA"), dtype=np.uint8)


def _number(elem: ET.Element, key: str, default: str, what: str) -> float:
    raw = elem.get(key, default)
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise OraError(f"{what}: attribute {key}={raw!r} is not a number")
    return v


def _offset(elem: ET.Element, key: str, what: str) -> int:
    v = _number(elem, key, "0", what)
    if v != int(v) or abs(v) > MAX_OFFSET:
        raise OraError(f"{what}: attribute {key}={elem.get(key)!r} is not a pixel position")
    return int(v)


def _walk(stack: ET.Element, visible: bool, opacity: float, x: int, y: int, depth: int,
          out: list) -> None:
    """Flattens nested stacks (groups): their visibility, opacity and offset are folded into
    each layer (an approximation of group compositing)."""
    if depth > 16:
        raise OraError("stack.xml nests groups more than 16 deep")
    for child in stack:
        hidden = child.get("visibility", "visible") == "hidden"
        what = f"layer {child.get('name', '')!r}"
        if child.tag == "layer":
            out.append((child, visible, opacity, x, y))
            if len(out) > MAX_LAYERS:
                raise OraError(f"more than {MAX_LAYERS} layers: refused")
        elif child.tag == "stack":
            _walk(child, visible and not hidden, opacity * _number(child, "opacity", "1", what),
                  x + _offset(child, "x", what), y + _offset(child, "y", what), depth + 1, out)


def _decode_labels(img: Image.Image, elem: ET.Element, labelset: LabelSet | None,
                   what: str) -> np.ndarray:
    """The ids of a label layer: as we wrote it (indexed or 16-bit) or as another app resaved
    it in RGB(A): then colours map back to classes (alpha < 128 is transparent)."""
    t_raw = elem.get(_q("transparent-index"))
    if img.mode == "P" or img.mode.startswith("I"):
        arr = np.asarray(img).astype(np.int64)
        if t_raw is not None:
            t = int(_number(elem, _q("transparent-index"), "", what))
        elif img.mode == "P" and isinstance(img.info.get("transparency"), int):
            t = img.info["transparency"]
        else:
            t = 255 if img.mode == "P" else 65535
        arr[arr == t] = TRANSPARENT
    else:
        if labelset is None:
            raise OraError(f"{what} is stored in colour but the file has no label set to map "
                           "the colours back to classes")
        rgba = _to_rgba(img)
        key = (rgba[..., 0].astype(np.int64) << 16) | (rgba[..., 1].astype(np.int64) << 8) | \
            rgba[..., 2]
        table: dict[int, int] = {}
        for c in labelset.classes:
            k = (c.color[0] << 16) | (c.color[1] << 8) | c.color[2]
            table[k] = -2 if k in table else c.id
        arr = np.full(key.shape, TRANSPARENT, np.int64)
        opaque = rgba[..., 3] >= 128
        colours, inverse = np.unique(key[opaque], return_inverse=True)
        ids = np.array([table.get(int(k), -3) for k in colours], np.int64)
        bad = colours[ids < 0]
        if bad.size:
            k = int(bad[0])
            how = "shared by several" if table.get(k) == -2 else "not one of the"
            raise OraError(f"{what}: colour #{k:06x} is {how} classes of label set "
                           f"{labelset.name!r}")
        arr[opaque] = ids[inverse.reshape(-1)]
    if arr.size and (arr.min() < TRANSPARENT or arr.max() > MAX_LABEL_ID):
        raise OraError(f"{what} holds values outside the label id range 0..{MAX_LABEL_ID}")
    return arr.astype(LABEL_DTYPE)


def load_ora(path: str | os.PathLike, default_labelset: LabelSet | None = None) -> LoadedProject:
    """Reads an OpenRaster file written by gauapp (bit-exactly) or another app (its layers
    become image layers). ``default_labelset`` is used when the file carries none."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _load(_Reader(zf), default_labelset)
    except OraError as exc:
        raise OraError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise OraError(f"{path}: no such file") from None
    except zipfile.BadZipFile as exc:
        raise OraError(f"{path}: not an OpenRaster file (not a valid zip archive: {exc})") from None
    except (DocumentError, LabelSetError) as exc:
        raise OraError(f"{path}: {exc}") from None
    except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise OraError(f"{path}: unreadable OpenRaster file ({type(exc).__name__}: "
                       f"{exc})") from None


def _load(reader: _Reader, default_labelset: LabelSet | None) -> LoadedProject:
    mime = reader.read("mimetype", 1024)
    if mime is not None and mime.strip() != MIMETYPE:
        raise OraError(f"mimetype is {mime[:60]!r}, not {MIMETYPE.decode()}")
    xml = reader.read("stack.xml", MAX_TEXT_BYTES)
    if xml is None:
        raise OraError("no stack.xml: not an OpenRaster file")
    if b"<!DOCTYPE" in xml.upper() or b"<!ENTITY" in xml.upper():
        raise OraError("stack.xml declares a DTD or entities: refused")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise OraError(f"stack.xml is not valid XML ({exc})") from None
    stack = root.find("stack")
    if root.tag != "image" or stack is None:
        raise OraError("stack.xml has no <image><stack> root")
    w = _offset(root, "w", "<image>") if root.get("w") else 0
    h = _offset(root, "h", "<image>") if root.get("h") else 0
    if not (Document.MIN_SIZE <= w <= Document.MAX_SIZE and
            Document.MIN_SIZE <= h <= Document.MAX_SIZE):
        raise OraError(f"the canvas is {w}x{h}: gauapp opens canvases of {Document.MIN_SIZE}.."
                       f"{Document.MAX_SIZE} pixels per side")
    text = reader.read(LABELSET_MEMBER, MAX_TEXT_BYTES)
    try:
        labelset = LabelSet.from_json(text.decode("utf-8", "replace")) if text is not None \
            else default_labelset
    except LabelSetError as exc:
        raise OraError(f"{LABELSET_MEMBER}: {exc}") from None
    bg_raw = root.get(_q("background-class"))
    background = None if bg_raw in (None, "") else _offset(root, _q("background-class"),
                                                           "<image>")
    entries: list = []
    _walk(stack, True, 1.0, 0, 0, 0, entries)
    layers: list[Layer] = []
    active = None
    for elem, g_visible, g_opacity, gx, gy in reversed(entries):  # bottom first
        name = elem.get("name", "") or f"Layer {len(layers) + 1}"
        what = f"layer {name!r}"
        src = elem.get("src")
        if not src:
            raise OraError(f"{what} has no src attribute")
        _check_name(src, f"{what}: src")
        data = reader.read(src, MAX_PNG_BYTES)
        if data is None:
            raise OraError(f"{what}: {src} is missing from the archive")
        img = _open_png(data, f"{what} ({src})")
        visible = g_visible and elem.get("visibility", "visible") != "hidden"
        locked = elem.get(_q("locked"), "false") == "true"
        x, y = gx + _offset(elem, "x", what), gy + _offset(elem, "y", what)
        uid = new_uid()
        if elem.get(_q("kind")) == "labels":
            if img.size != (w, h) or (x, y) != (0, 0):
                raise OraError(f"{what} is {img.size[0]}x{img.size[1]} at ({x}, {y}); a label "
                               f"layer must cover the {w}x{h} canvas exactly")
            layers.append(LabelLayer(uid, name, _decode_labels(img, elem, labelset, what),
                                     visible, locked))
        else:
            opacity = min(max(_number(elem, "opacity", "1", what) * g_opacity, 0.0), 1.0)
            layers.append(ImageLayer(uid, name, _to_rgba(img), x, y, opacity, visible, locked,
                                     elem.get(_q("role"), "")))
        if elem.get("selected") == "true":
            active = uid
    generated = None
    gdata = reader.read(GENERATED_MEMBER, MAX_PNG_BYTES)
    if gdata is not None:
        gimg = _open_png(gdata, GENERATED_MEMBER)
        generated = np.array(gimg if gimg.mode in ("RGB", "RGBA") else gimg.convert("RGBA"),
                             dtype=np.uint8)
    doc = Document.from_layers(w, h, layers, labelset, background, active)
    links = reader.read(model_links.MEMBER, MAX_TEXT_BYTES)
    doc.model_links = model_links.decode(links) if links is not None else {}
    return LoadedProject(doc, generated)
