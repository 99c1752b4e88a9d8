"""The layered label document: operations return undoable changes, widgets observe signals.

Plain Python + numpy (no Qt) so it can be tested without widgets. Every mutation goes through a
``Change`` (history.py) whose ``apply``/``revert`` call the underscore hooks below; the hooks
are the only code that touches layer arrays, so signals and ``label_revision`` never miss an
edit. Callers must never write into layer arrays themselves.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from models.labelsets import LabelSet

from .errors import DocumentError, LayerLockedError
from .events import Signal
from .history import (Change, Compound, InsertLayer, MergeDown, MoveLayer, PixelPatch,
                      RemoveLayer, ReplaceLayer, SetBackground, SetLabelSet, SetLayerProps)
from .layers import (LABEL_DTYPE, TRANSPARENT, ImageLayer, LabelIds, LabelLayer, Layer,
                     Region, as_rgba, check_opacity, clip_window, composite_images,
                     pseudo_colors, new_uid)

LAYER_PROPS = ("name", "visible", "locked", "opacity", "x", "y")


class Document:
    """Layers (bottom -> top) on a ``width`` x ``height`` canvas with an optional label set."""

    MIN_SIZE = 16
    MAX_SIZE = 2048
    MAX_LAYER_SIDE = 2048  # image layers, like the canvas, are at most this big per side

    def __init__(self, width: int = 512, height: int = 512, labelset: LabelSet | None = None,
                 background_class: int | None = None) -> None:
        for what, v in (("width", width), ("height", height)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or \
                    not self.MIN_SIZE <= v <= self.MAX_SIZE:
                raise DocumentError(f"canvas {what} must be an integer in {self.MIN_SIZE}.."
                                    f"{self.MAX_SIZE} pixels, not {v!r}")
        self._w, self._h = int(width), int(height)
        self._labelset = labelset
        self._ids = LabelIds(labelset)
        self._layers: list[Layer] = []
        self._active: int | None = None
        self._background: int | None = None
        if background_class is not None:
            self._background = self.check_label(background_class, allow_transparent=False)
        self._label_revision = 0
        self._modified = False
        self._cache: dict[str, tuple[int, np.ndarray | bool]] = {}
        # "<mode>:<background fingerprint>" -> single-image model file (model_links.py)
        self.model_links: dict[str, str] = {}
        self.changed = Signal()           # (region | None): pixels of the canvas may differ
        self.layers_changed = Signal()    # (): the stack or a layer's properties changed
        self.active_changed = Signal()    # (uid | None)
        self.modified_changed = Signal()  # (bool)
        self.labelset_changed = Signal()  # (LabelSet | None)

    @classmethod
    def from_layers(cls, width: int, height: int, layers: list[Layer],
                    labelset: LabelSet | None = None, background_class: int | None = None,
                    active_uid: int | None = None) -> "Document":
        """A saved document (no history, not modified), every layer validated."""
        doc = cls(width, height, labelset, background_class)
        if len({layer.uid for layer in layers}) != len(layers):
            raise DocumentError("layer uids must be unique")
        for layer in layers:
            if isinstance(layer, LabelLayer):
                if layer.data.shape != doc.shape:
                    raise DocumentError(f"label layer {layer.name!r} is {layer.data.shape[1]}x"
                                        f"{layer.data.shape[0]}, the canvas {width}x{height}")
                try:
                    doc.check_labels(layer.data)
                except DocumentError as exc:
                    raise DocumentError(f"label layer {layer.name!r}: {exc}") from None
            else:
                doc._check_image_size(layer.rgba)
        doc._layers = list(layers)
        if active_uid is None or all(layer.uid != active_uid for layer in layers):
            active_uid = layers[-1].uid if layers else None
        doc._active = active_uid
        return doc

    # --- state ---
    width = property(lambda self: self._w)
    height = property(lambda self: self._h)
    shape = property(lambda self: (self._h, self._w), doc="(H, W)")
    labelset = property(lambda self: self._labelset)
    background_class = property(lambda self: self._background)
    active_uid = property(lambda self: self._active)
    label_revision = property(lambda self: self._label_revision,
                              doc="Grows whenever composite_labels() may have changed.")
    modified = property(lambda self: self._modified)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Bottom -> top (a snapshot; change the stack through the operations)."""
        return tuple(self._layers)

    @property
    def active_layer(self) -> Layer | None:
        return None if self._active is None else self.layer(self._active)

    @property
    def effective_background(self) -> int:
        """What the label composite holds where no layer covers: ``background_class``, else
        the label set's dontcare id, else its smallest id, else 0."""
        if self._background is not None:
            return self._background
        ls = self._labelset
        if ls is not None and ls.dontcare_id is not None:
            return int(ls.dontcare_id)
        if ls is not None and len(ls):
            return min(c.id for c in ls.classes)
        return 0

    def layer(self, uid: int) -> Layer:
        for layer in self._layers:
            if layer.uid == uid:
                return layer
        raise DocumentError(f"no layer with uid {uid}")

    def index_of(self, uid: int) -> int:
        for i, layer in enumerate(self._layers):
            if layer.uid == uid:
                return i
        raise DocumentError(f"no layer with uid {uid}")

    def set_active(self, uid: int | None) -> None:
        """Select a layer (not an undoable edit)."""
        if uid is not None:
            self.layer(uid)
        self._set_active(uid)

    def mark_saved(self) -> None:
        self.set_modified(False)

    def set_modified(self, flag: bool) -> None:
        """The undo stack may call this when it returns to its clean state."""
        if bool(flag) != self._modified:
            self._modified = bool(flag)
            self.modified_changed.emit(self._modified)

    # --- validation ---
    def check_label(self, value: Any, allow_transparent: bool = True) -> int:
        """``value`` as an int if it is a class of the label set (or TRANSPARENT)."""
        return self._ids.check(value, allow_transparent)

    def check_labels(self, values: np.ndarray) -> np.ndarray:
        """An integer array of class ids / TRANSPARENT as int16; raises naming bad ids."""
        return self._ids.check_array(values)

    def _check_image_size(self, rgba: np.ndarray) -> None:
        h, w = rgba.shape[:2]
        if h > self.MAX_LAYER_SIDE or w > self.MAX_LAYER_SIDE:
            raise DocumentError(f"image layer {w}x{h} is too large (at most "
                                f"{self.MAX_LAYER_SIDE} pixels per side)")

    def _editable(self, uid: int, kind: str | None = None) -> Layer:
        layer = self.layer(uid)
        if kind is not None and layer.kind != kind:
            raise DocumentError(f"layer {layer.name!r} is a {layer.kind} layer, not {kind}")
        if layer.locked:
            raise LayerLockedError(f"layer {layer.name!r} is locked")
        return layer

    # --- operations: each returns an already-applied Change, or None if nothing changed ---
    def _insert_index(self, index: int | None) -> int:
        if index is None:  # just above the active layer, else on top
            return self.index_of(self._active) + 1 if self._active is not None \
                else len(self._layers)
        if not 0 <= index <= len(self._layers):
            raise DocumentError(f"layer index {index} is outside 0..{len(self._layers)}")
        return int(index)

    def add_label_layer(self, name: str | None = None, data: np.ndarray | None = None,
                        index: int | None = None) -> Change:
        """A label layer (all TRANSPARENT unless ``data``), by default above the active one."""
        if data is None:
            data = np.full(self.shape, TRANSPARENT, LABEL_DTYPE)
        else:
            if np.shape(data) != self.shape:
                raise DocumentError(f"label data {np.shape(data)} does not match the canvas "
                                    f"(H, W) = {self.shape}")
            data = self.check_labels(data).copy()
        n = sum(layer.kind == "labels" for layer in self._layers) + 1
        layer = LabelLayer(new_uid(), name or f"Labels {n}", data)
        return self.apply(InsertLayer(layer, self._insert_index(index), self._active,
                                      "Add label layer"))

    def add_image_layer(self, rgba: np.ndarray, name: str | None = None, x: int = 0,
                        y: int = 0, opacity: float = 1.0, index: int | None = None,
                        role: str = "") -> Change:
        """An image layer from (h, w, 4) or (h, w, 3) uint8 pixels with its corner at (x, y);
        ``role`` marks what it is for ("sketch")."""
        rgba = as_rgba(rgba)
        self._check_image_size(rgba)
        n = sum(layer.kind == "image" for layer in self._layers) + 1
        layer = ImageLayer(new_uid(), name or f"Image {n}", rgba.copy(), x, y, opacity,
                           role=role)
        return self.apply(InsertLayer(layer, self._insert_index(index), self._active,
                                      "Add image layer"))

    def remove_layer(self, uid: int) -> Change:
        """Removes a layer; if it was active, the one below (else above) becomes active."""
        i = self.index_of(uid)
        nxt = self._active
        if self._active == uid:
            nxt = self._layers[i - 1].uid if i > 0 else (
                self._layers[i + 1].uid if i + 1 < len(self._layers) else None)
        return self.apply(RemoveLayer(self._layers[i], i, self._active, nxt))

    def duplicate_layer(self, uid: int) -> Change:
        """A copy (new uid, "<name> copy") just above the layer; the copy becomes active."""
        i = self.index_of(uid)
        src = self._layers[i]
        return self.apply(InsertLayer(src.copy(new_uid(), f"{src.name} copy"), i + 1,
                                      self._active, "Duplicate layer"))

    def move_layer(self, uid: int, new_index: int) -> Change | None:
        """Moves a layer to stack index ``new_index`` (0 = bottom)."""
        old = self.index_of(uid)
        if not 0 <= new_index < len(self._layers):
            raise DocumentError(f"layer index {new_index} is outside 0..{len(self._layers) - 1}")
        return None if old == new_index else self.apply(MoveLayer(uid, old, new_index))

    def set_layer_props(self, uid: int, **props: Any) -> Change | None:
        """Sets name, visible, locked (any layer) and opacity, x, y (image layers)."""
        layer = self.layer(uid)
        unknown = set(props) - set(LAYER_PROPS)
        if unknown:
            raise DocumentError(f"unknown layer properties {sorted(unknown)} (known: "
                                f"{', '.join(LAYER_PROPS)})")
        new: dict[str, Any] = {}
        for key, value in props.items():
            if key in ("opacity", "x", "y") and layer.kind != "image":
                raise DocumentError(f"{key} applies to image layers, not {layer.name!r}")
            if key == "name":
                value = str(value)
            elif key in ("visible", "locked"):
                value = bool(value)
            elif key == "opacity":
                value = check_opacity(value)
            else:
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise DocumentError(f"{key} must be an integer pixel position, not {value!r}")
                value = int(value)
            if getattr(layer, key) != value:
                new[key] = value
        if ("x" in new or "y" in new) and new.get("locked", layer.locked):
            raise LayerLockedError(f"layer {layer.name!r} is locked")
        if not new:
            return None
        return self.apply(SetLayerProps(uid, {k: getattr(layer, k) for k in new}, new))

    def set_background_class(self, value: int | None) -> Change | None:
        """The class shown where no label layer covers (None: the label set's unlabeled id)."""
        if value is not None:
            value = self.check_label(value, allow_transparent=False)
        return None if value == self._background else self.apply(
            SetBackground(self._background, value))

    def translate_labels(self, translation) -> Change:
        """Every label layer and the background class in the ids of ``translation.target``
        (``models.labeltranslate``), which becomes the document's label set: one undo step.
        Locked layers are translated too: their classes keep their meaning."""
        if translation.source != self._labelset:
            raise DocumentError(f"the translation is from label set {translation.source.name!r}"
                                f", the document uses {getattr(self._labelset, 'name', None)!r}")
        changes: list[Change] = []
        for layer in self._layers:
            if isinstance(layer, LabelLayer):
                new = LabelLayer(layer.uid, layer.name, translation.apply(layer.data),
                                 layer.visible, layer.locked)
                changes.append(ReplaceLayer(layer, new, "Translate classes"))
        background = self._background
        if background is not None:
            background = int(translation.apply(np.array([background]))[0])
        changes.append(SetBackground(self._background, background))
        changes.append(SetLabelSet(self._labelset, translation.target))
        return self.apply(Compound(changes, f"Classes → {translation.target.name}"))

    def merge_down(self, uid: int) -> Change:
        """Merges a layer into the one below it, which stays (the upper one goes).

        Labels onto labels: the upper layer's non-transparent pixels win. Image onto image: the
        upper layer (with its opacity) is composited over the lower one (with its opacity) into
        a layer covering the union of both rectangles (cropped to the canvas only if that union
        would exceed MAX_LAYER_SIDE), at opacity 1. Visibility is ignored while merging; the
        result keeps the lower layer's name and visibility.
        """
        i = self.index_of(uid)
        if i == 0:
            raise DocumentError(f"layer {self._layers[i].name!r} has no layer below to merge into")
        top, bottom = self._layers[i], self._layers[i - 1]
        if top.kind != bottom.kind:
            raise DocumentError(f"cannot merge {top.kind} layer {top.name!r} into {bottom.kind} "
                                f"layer {bottom.name!r}: both must be label or image layers")
        for layer in (top, bottom):
            if layer.locked:
                raise LayerLockedError(f"layer {layer.name!r} is locked")
        remove = RemoveLayer(top, i, self._active, bottom.uid)
        if isinstance(top, LabelLayer):
            merged = np.where(top.data != TRANSPARENT, top.data, bottom.data)
            patch = PixelPatch.from_arrays(bottom.uid, 0, 0, bottom.data, merged, "Merge down")
            return self.apply(MergeDown([patch, remove]))
        (ty0, tx0, ty1, tx1), (by0, bx0, by1, bx1) = top.bounds, bottom.bounds
        box = (min(ty0, by0), min(tx0, bx0), max(ty1, by1), max(tx1, bx1))
        if box[2] - box[0] > self.MAX_LAYER_SIDE or box[3] - box[1] > self.MAX_LAYER_SIDE:
            box = clip_window(box, self._h, self._w) or (0, 0, 1, 1)
        rgba = composite_images([bottom, top], self._h, self._w, box)
        new = ImageLayer(bottom.uid, bottom.name, rgba, box[1], box[0], 1.0, bottom.visible,
                         role=bottom.role)
        return self.apply(MergeDown([ReplaceLayer(bottom, new, "Merge down"), remove]))

    def paint_labels(self, uid: int, region: tuple[int, int, np.ndarray] | None,
                     value: int) -> Change | None:
        """Sets the pixels of ``region`` = ``(y0, x0, bool_mask)`` (from painting.py; clipped to
        the canvas) to ``value`` (a class id, or TRANSPARENT to erase)."""
        layer = self._editable(uid, "labels")
        value = self.check_label(value)
        if region is None:
            return None
        y0, x0, mask = int(region[0]), int(region[1]), np.asarray(region[2], bool)
        win = clip_window((y0, x0, y0 + mask.shape[0], x0 + mask.shape[1]), self._h, self._w)
        if win is None:
            return None
        wy0, wx0, wy1, wx1 = win
        mask = mask[wy0 - y0:wy1 - y0, wx0 - x0:wx1 - x0]
        before = layer.data[wy0:wy1, wx0:wx1]
        after = before.copy()
        after[mask] = value
        patch = PixelPatch.from_arrays(uid, wy0, wx0, before, after, "Paint")
        return None if patch is None else self.apply(patch)

    def replace_pixels(self, uid: int, y0: int, x0: int, block: np.ndarray,
                       description: str = "Replace pixels") -> Change | None:
        """Writes ``block`` with its top-left corner at canvas pixel ``(y0, x0)``: label ids
        (int, TRANSPARENT allowed) into a label layer, or (h, w, 4|3) uint8 into an image layer.
        What falls outside the layer's array is dropped (image layers do not grow)."""
        layer = self._editable(uid)
        if isinstance(layer, LabelLayer):
            block = np.asarray(block)
            if block.ndim != 2:
                raise DocumentError(f"label block must be 2-D, not {block.shape}")
            block = self.check_labels(block)
            arr, oy, ox = layer.data, int(y0), int(x0)
        else:
            block = as_rgba(block)
            arr, oy, ox = layer.rgba, int(y0) - layer.y, int(x0) - layer.x
        win = clip_window((oy, ox, oy + block.shape[0], ox + block.shape[1]), *arr.shape[:2])
        if win is None:
            return None
        wy0, wx0, wy1, wx1 = win
        patch = PixelPatch.from_arrays(uid, wy0, wx0, arr[wy0:wy1, wx0:wx1],
                                       block[wy0 - oy:wy1 - oy, wx0 - ox:wx1 - ox], description)
        return None if patch is None else self.apply(patch)

    # --- undo / redo ---
    def apply(self, change: Change) -> Change:
        change.apply(self)
        self.set_modified(True)
        return change

    def revert(self, change: Change) -> Change:
        change.revert(self)
        self.set_modified(True)
        return change

    # --- composites ---
    def composite_labels(self) -> np.ndarray:
        """(H, W) int64: the top visible label layer wins, TRANSPARENT shows through, what no
        layer covers is ``effective_background``. Cached per ``label_revision``; read-only."""
        hit = self._cache.get("labels")
        if hit is not None and hit[0] == self._label_revision:
            return hit[1]
        out = np.full(self.shape, self.effective_background, np.int64)
        for layer in self._layers:
            if isinstance(layer, LabelLayer) and layer.visible:
                np.copyto(out, layer.data, where=layer.data != TRANSPARENT)
        out.flags.writeable = False
        self._cache["labels"] = (self._label_revision, out)
        return out

    def has_label_content(self) -> bool:
        """Whether anything was painted for a model to render: a background class, or a class
        in some visible label layer. A photo opened on its own has none, and a model would
        only render the label set's "unlabeled" everywhere. Cached per ``label_revision``."""
        hit = self._cache.get("has_labels")
        if hit is not None and hit[0] == self._label_revision:
            return bool(hit[1])
        painted = self._background is not None or any(
            isinstance(layer, LabelLayer) and layer.visible
            and bool((layer.data != TRANSPARENT).any()) for layer in self._layers)
        self._cache["has_labels"] = (self._label_revision, painted)
        return painted

    def label_colors(self) -> np.ndarray:
        """(H, W, 4) uint8: the label composite in the label set's colours, opaque."""
        hit = self._cache.get("colors")
        if hit is not None and hit[0] == self._label_revision:
            return hit[1]
        labels = self.composite_labels()
        if self._labelset is not None:
            rgb = self._labelset.color_table()
        else:  # no label set: fixed pseudo-random colours per id
            rgb = pseudo_colors(int(labels.max()) + 1)
        table = np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
        out = table[labels]
        out.flags.writeable = False
        self._cache["colors"] = (self._label_revision, out)
        return out

    def composite_image(self) -> np.ndarray:
        """(H, W, 4) uint8: the visible image layers with their opacity over transparent."""
        return composite_images([layer for layer in self._layers
                                 if isinstance(layer, ImageLayer) and layer.visible],
                                self._h, self._w)

    # --- history hooks: the only code that mutates layers; used by history.py ---
    def _layer_array(self, uid: int) -> np.ndarray:
        layer = self.layer(uid)
        return layer.data if isinstance(layer, LabelLayer) else layer.rgba

    def _touched(self, layer: Layer, region: Region | None = None, labels: bool = True) -> None:
        if isinstance(layer, LabelLayer) and labels:
            self._label_revision += 1
        if isinstance(layer, ImageLayer):
            region = clip_window(region or layer.bounds, self._h, self._w)
            if region is None:
                return
        self.changed.emit(region)

    def _insert_layer(self, index: int, layer: Layer) -> None:
        self._layers.insert(index, layer)
        self.layers_changed.emit()
        self._touched(layer, labels=layer.visible)

    def _pop_layer(self, uid: int) -> Layer:
        layer = self._layers.pop(self.index_of(uid))
        self.layers_changed.emit()
        self._touched(layer, labels=layer.visible)
        return layer

    def _move_layer(self, uid: int, index: int) -> None:
        layer = self._layers.pop(self.index_of(uid))
        self._layers.insert(index, layer)
        self.layers_changed.emit()
        self._touched(layer, labels=layer.visible)

    def _replace_layer(self, layer: Layer) -> None:
        i = self.index_of(layer.uid)
        old, self._layers[i] = self._layers[i], layer
        self.layers_changed.emit()
        if isinstance(old, ImageLayer):
            self._touched(old)
        self._touched(layer, labels=old.visible or layer.visible)

    def _set_props(self, uid: int, props: dict) -> None:
        layer = self.layer(uid)
        old_bounds = layer.bounds if isinstance(layer, ImageLayer) else None
        for key, value in props.items():
            setattr(layer, key, value)
        self.layers_changed.emit()
        if set(props) & {"visible", "opacity", "x", "y"}:
            if old_bounds is not None:
                self._touched(layer, old_bounds)
            self._touched(layer, labels="visible" in props)

    def _write_block(self, uid: int, patch: PixelPatch, after: bool) -> None:
        layer = self.layer(uid)
        arr = layer.data if isinstance(layer, LabelLayer) else layer.rgba
        patch.write_into(arr, 0, 0, after)
        y0, x0, y1, x1 = patch.bounds
        if isinstance(layer, LabelLayer):
            self._touched(layer, (y0, x0, y1, x1), labels=layer.visible)
        else:
            self._touched(layer, (y0 + layer.y, x0 + layer.x, y1 + layer.y, x1 + layer.x))

    def _set_active(self, uid: int | None) -> None:
        if uid != self._active:
            self._active = uid
            self.active_changed.emit(uid)

    def _set_labelset(self, labelset: LabelSet | None) -> None:
        self._labelset, self._ids = labelset, LabelIds(labelset)
        self._label_revision += 1
        self.labelset_changed.emit(labelset)
        self.layers_changed.emit()  # thumbnails take the new colours
        self.changed.emit(None)

    def _set_background(self, value: int | None) -> None:
        self._background = value
        self._label_revision += 1
        self.changed.emit(None)
