"""Undoable changes. Each holds only what it needs to go both ways.

Pixel edits keep the changed bounding box of one layer (before and after), as napari's labels
layer does for a brush stroke: a 50x50 dab on a 2048x2048 canvas costs 2*50*50*2 bytes, not the
image. Structural edits keep layer objects. ``Document.apply``/``revert`` run them; they talk to
the document only through its underscore "history hooks", which emit the signals.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from .layers import Layer

if TYPE_CHECKING:  # pragma: no cover
    from .document import Document


class Change:
    """Base class: ``apply(doc)``, ``revert(doc)``, ``description``, ``nbytes``."""

    description: str = ""

    def apply(self, doc: "Document") -> None:
        raise NotImplementedError

    def revert(self, doc: "Document") -> None:
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        """Memory (array bytes) this change keeps alive; used to bound the undo stack."""
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description!r} {self.nbytes} B>"


def _changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(r0, c0, r1, c1)`` of the pixels that differ, end exclusive, or None."""
    diff = before != after
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


class PixelPatch(Change):
    """Pixels of one layer in the box at array position ``(y0, x0)``: before and after.

    Coordinates index the layer's own array (for an image layer: relative to its top-left
    corner, not the canvas). Dense form: ``before``/``after`` are the whole box. Sparse form
    (``index`` given): ``index`` holds the flat int32 positions of the changed pixels inside a
    box of ``shape``, and ``before``/``after`` only their values -- a thin diagonal line across
    the canvas then costs a few bytes per pixel instead of its whole bounding box.
    ``from_arrays`` crops to the pixels that really changed and picks the smaller form.
    """

    def __init__(self, uid: int, y0: int, x0: int, before: np.ndarray, after: np.ndarray,
                 description: str = "Paint", index: np.ndarray | None = None,
                 shape: tuple[int, int] | None = None) -> None:
        if before.shape != after.shape or before.dtype != after.dtype:
            raise ValueError("before and after must have the same shape and dtype")
        if (index is None) != (shape is None):
            raise ValueError("a sparse patch needs both index and shape")
        self.uid, self.y0, self.x0 = int(uid), int(y0), int(x0)
        self.before, self.after = before, after
        self.index = index
        self.shape: tuple[int, int] = tuple(shape) if shape is not None else before.shape[:2]
        self.description = description

    @classmethod
    def from_arrays(cls, uid: int, y0: int, x0: int, before: np.ndarray, after: np.ndarray,
                    description: str = "Paint") -> "PixelPatch | None":
        """A patch of the pixels where ``before`` and ``after`` differ (copies, cropped to
        their box), or None when nothing differs."""
        box = _changed_box(before, after)
        if box is None:
            return None
        r0, c0, r1, c1 = box
        b, a = before[r0:r1, c0:c1], after[r0:r1, c0:c1]
        diff = b != a
        changed = diff.any(axis=2) if diff.ndim == 3 else diff
        n = int(np.count_nonzero(changed))
        pixel = b[:1, :1].nbytes
        if n * (4 + 2 * pixel) * 2 <= changed.size * 2 * pixel:  # sparse is half the size
            flat = np.flatnonzero(changed).astype(np.int32)
            rows, cols = np.divmod(flat, changed.shape[1])
            return cls(uid, y0 + r0, x0 + c0, b[rows, cols], a[rows, cols], description,
                       flat, changed.shape)
        return cls(uid, y0 + r0, x0 + c0, b.copy(), a.copy(), description)

    @property
    def sparse(self) -> bool:
        return self.index is not None

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """``(y0, x0, y1, x1)`` in the layer's array, end exclusive."""
        h, w = self.shape
        return self.y0, self.x0, self.y0 + h, self.x0 + w

    def write_into(self, box: np.ndarray, oy: int, ox: int, after: bool = False) -> None:
        """Writes the before (or after) pixels into ``box``, whose origin is ``(oy, ox)``."""
        values = self.after if after else self.before
        dy, dx = self.y0 - oy, self.x0 - ox
        if self.index is None:
            h, w = self.shape
            box[dy:dy + h, dx:dx + w] = values
        else:
            rows, cols = np.divmod(self.index, self.shape[1])
            box[rows + dy, cols + dx] = values

    def apply(self, doc: "Document") -> None:
        doc._write_block(self.uid, self, after=True)

    def revert(self, doc: "Document") -> None:
        doc._write_block(self.uid, self, after=False)

    @property
    def nbytes(self) -> int:
        extra = 0 if self.index is None else self.index.nbytes
        return int(self.before.nbytes + self.after.nbytes + extra)


class InsertLayer(Change):
    """A new layer at ``index``; it becomes the active layer."""

    def __init__(self, layer: Layer, index: int, previous_active: int | None,
                 description: str = "Add layer") -> None:
        self.layer, self.index, self.previous_active = layer, int(index), previous_active
        self.description = description

    def apply(self, doc: "Document") -> None:
        doc._insert_layer(self.index, self.layer)
        doc._set_active(self.layer.uid)

    def revert(self, doc: "Document") -> None:
        doc._pop_layer(self.layer.uid)
        doc._set_active(self.previous_active)

    @property
    def nbytes(self) -> int:
        return self.layer.nbytes


class RemoveLayer(Change):
    """Takes a layer out (keeping the object for undo); the active layer becomes
    ``next_active`` and is restored on revert."""

    def __init__(self, layer: Layer, index: int, previous_active: int | None,
                 next_active: int | None, description: str = "Remove layer") -> None:
        self.layer, self.index = layer, int(index)
        self.previous_active, self.next_active = previous_active, next_active
        self.description = description

    def apply(self, doc: "Document") -> None:
        doc._pop_layer(self.layer.uid)
        doc._set_active(self.next_active)

    def revert(self, doc: "Document") -> None:
        doc._insert_layer(self.index, self.layer)
        doc._set_active(self.previous_active)

    @property
    def nbytes(self) -> int:
        return self.layer.nbytes


class MoveLayer(Change):
    """Moves a layer from one stack index (0 = bottom) to another."""

    def __init__(self, uid: int, old_index: int, new_index: int,
                 description: str = "Move layer") -> None:
        self.uid, self.old_index, self.new_index = int(uid), int(old_index), int(new_index)
        self.description = description

    def apply(self, doc: "Document") -> None:
        doc._move_layer(self.uid, self.new_index)

    def revert(self, doc: "Document") -> None:
        doc._move_layer(self.uid, self.old_index)


class SetLayerProps(Change):
    """Layer properties (name, visible, locked, opacity, x, y): old and new values."""

    def __init__(self, uid: int, before: dict, after: dict,
                 description: str = "Layer properties") -> None:
        self.uid, self.before, self.after = int(uid), dict(before), dict(after)
        self.description = description

    def apply(self, doc: "Document") -> None:
        doc._set_props(self.uid, self.after)

    def revert(self, doc: "Document") -> None:
        doc._set_props(self.uid, self.before)


class ReplaceLayer(Change):
    """Swaps one layer object for another with the same uid at the same index (used by image
    merges, whose result covers a new rectangle)."""

    def __init__(self, old: Layer, new: Layer, description: str = "Replace layer") -> None:
        if old.uid != new.uid:
            raise ValueError("a replacement layer keeps the uid of the layer it replaces")
        self.old, self.new, self.description = old, new, description

    def apply(self, doc: "Document") -> None:
        doc._replace_layer(self.new)

    def revert(self, doc: "Document") -> None:
        doc._replace_layer(self.old)

    @property
    def nbytes(self) -> int:
        return self.old.nbytes + self.new.nbytes


class SetBackground(Change):
    """The document's background class (None = the label set's unlabeled id)."""

    def __init__(self, before: int | None, after: int | None,
                 description: str = "Background class") -> None:
        self.before, self.after, self.description = before, after, description

    def apply(self, doc: "Document") -> None:
        doc._set_background(self.after)

    def revert(self, doc: "Document") -> None:
        doc._set_background(self.before)


class SetLabelSet(Change):
    """The document's label set (the layers' ids are changed by the ReplaceLayer changes
    beside it in one Compound)."""

    def __init__(self, before, after, description: str = "Label set") -> None:
        self.before, self.after, self.description = before, after, description

    def apply(self, doc: "Document") -> None:
        doc._set_labelset(self.after)

    def revert(self, doc: "Document") -> None:
        doc._set_labelset(self.before)


class Compound(Change):
    """Several changes as one undo step: applied in order, reverted in reverse order."""

    def __init__(self, changes: Iterable[Change], description: str = "Edit") -> None:
        self.changes: list[Change] = [c for c in changes if c is not None]
        self.description = description

    def apply(self, doc: "Document") -> None:
        for c in self.changes:
            c.apply(doc)

    def revert(self, doc: "Document") -> None:
        for c in reversed(self.changes):
            c.revert(doc)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.changes)


class MergeDown(Compound):
    """A layer merged into the one below: the lower layer's new pixels, then the removal."""

    def __init__(self, changes: Iterable[Change], description: str = "Merge down") -> None:
        super().__init__(changes, description)


def coalesce(doc: "Document", changes: Sequence[Change], description: str = "Paint",
             max_growth: float = 2.0, small: int = 256 << 10) -> Change | None:
    """One undo step for a stroke made of several already-applied changes (None if the
    stroke changed nothing in the end).

    Pixel patches of a single layer become one patch over their union box (cropped to what
    changed) when that box holds at most ``small`` bytes or ``max_growth`` times the bytes of
    the parts; a long, thin diagonal stroke, or any other mix, stays a Compound of its parts.
    """
    parts = [c for c in changes if c is not None]
    if not parts:
        return None
    if len(parts) == 1:
        parts[0].description = description
        return parts[0]
    if not all(isinstance(c, PixelPatch) for c in parts) or len({c.uid for c in parts}) != 1:
        return Compound(parts, description)
    patches: list[PixelPatch] = parts  # type: ignore[assignment]
    y0 = min(p.y0 for p in patches)
    x0 = min(p.x0 for p in patches)
    y1 = max(p.bounds[2] for p in patches)
    x1 = max(p.bounds[3] for p in patches)
    layer_array = doc._layer_array(patches[0].uid)
    pixel = layer_array[:1, :1].nbytes
    union_bytes = (y1 - y0) * (x1 - x0) * pixel * 2
    if union_bytes > max(small, max_growth * sum(p.nbytes for p in patches)):
        return Compound(patches, description)
    after = layer_array[y0:y1, x0:x1].copy()
    before = after.copy()
    for p in reversed(patches):
        p.write_into(before, y0, x0)
    merged = PixelPatch.from_arrays(patches[0].uid, y0, x0, before, after, description)
    return merged  # None: the stroke ended where it began (painted, then painted back)
