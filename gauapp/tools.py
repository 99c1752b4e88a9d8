"""Painting tools: mouse input in canvas coordinates -> document operations -> undo steps.

A tool never touches pixels itself: it asks ``painting`` for a mask and the document to paint it.
A whole drag is one undo step: during the drag each dab is painted at once (so the user sees it),
and on release the changed bounding box becomes a single ``PixelPatch``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath

from .document import painting
from .document.errors import DocumentError
from .document.history import PixelPatch
from .document.layers import TRANSPARENT

BRUSH_MIN, BRUSH_MAX = 1, 512


@dataclass
class ToolContext:
    """What tools need from the window, without knowing it."""

    document: object
    push: Callable  # push(change): onto the undo stack (already applied)
    current_class: Callable[[], int | None]
    pick_class: Callable[[int], None]  # the eyedropper's result
    message: Callable[[str], None]  # a short note in the status bar
    brush_size: int = 24
    fill_composite: bool = False  # fill the region of the visible composite, not the layer


class Tool:
    name = "tool"
    uses_brush = False

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def press(self, x: float, y: float, modifiers) -> None: ...
    def move(self, x: float, y: float, modifiers) -> None: ...
    def release(self, x: float, y: float, modifiers) -> None: ...

    def preview(self) -> QPainterPath | None:
        return None

    # ----- helpers ----------------------------------------------------------------------------
    def _label_layer(self):
        """The active layer if it can take labels; else say why and return None."""
        return self._editable_layer("labels", "Select a label layer to paint on "
                                              "(Layers → New label layer)")

    def _editable_layer(self, kind: str, wrong_kind_hint: str):
        """The active layer if it is of ``kind``, unlocked and visible; else say why, None."""
        layer = self.ctx.document.active_layer
        if layer is None or layer.kind != kind:
            self.ctx.message(wrong_kind_hint)
            return None
        if layer.locked:
            self.ctx.message(f"Layer {layer.name!r} is locked")
            return None
        if not layer.visible:
            self.ctx.message(f"Layer {layer.name!r} is hidden")
            return None
        return layer

    def _value(self) -> int | None:
        value = self.ctx.current_class()
        if value is None:
            self.ctx.message("Pick a class in the palette first")
        return value


class BrushTool(Tool):
    """Round brush; Shift-click draws a straight line from the last point."""

    name = "brush"
    uses_brush = True

    def __init__(self, ctx: ToolContext):
        super().__init__(ctx)
        self._layer = None
        self._before: np.ndarray | None = None
        self._bbox: list[int] | None = None
        self._last: tuple[float, float] | None = None
        self._last_end: tuple[float, float] | None = None  # for Shift-click lines

    def value(self) -> int | None:
        return self._value()

    def press(self, x, y, modifiers) -> None:
        layer = self._label_layer()
        value = self.value() if layer is not None else None
        if layer is None or value is None:
            return
        self._layer, self._paint_value = layer, value
        self._before = layer.data.copy()  # dropped at release; history keeps only the bbox
        self._bbox = None
        start = (x, y)
        if modifiers & Qt.ShiftModifier and self._last_end is not None:
            start = self._last_end
        self._last = start
        self._dab([start, (x, y)])

    def move(self, x, y, modifiers) -> None:
        if self._layer is None:
            return
        self._dab([self._last, (x, y)])
        self._last = (x, y)

    def release(self, x, y, modifiers) -> None:
        if self._layer is None:
            return
        self._last_end = (x, y)
        layer, before, bbox = self._layer, self._before, self._bbox
        self._layer = self._before = None
        if bbox is None:
            return
        y0, x0, y1, x1 = bbox
        patch = PixelPatch.from_arrays(layer.uid, y0, x0, before[y0:y1, x0:x1],
                                       layer.data[y0:y1, x0:x1], description=self.describe())
        if patch is not None:
            self.ctx.push(patch)

    def describe(self) -> str:
        return "Brush stroke"

    def _dab(self, points) -> None:
        doc = self.ctx.document
        region = painting.stroke_mask((doc.height, doc.width), points, self.ctx.brush_size / 2)
        if region is None:
            return
        y0, x0, mask = region
        if mask.size == 0:
            return
        try:
            doc.paint_labels(self._layer.uid, region, self._paint_value)
        except DocumentError as exc:
            self.ctx.message(str(exc))
            return
        y1, x1 = y0 + mask.shape[0], x0 + mask.shape[1]
        if self._bbox is None:
            self._bbox = [y0, x0, y1, x1]
        else:
            b = self._bbox
            self._bbox = [min(b[0], y0), min(b[1], x0), max(b[2], y1), max(b[3], x1)]


class EraserTool(BrushTool):
    """The brush, painting transparency."""

    name = "eraser"

    def value(self) -> int:
        return TRANSPARENT

    def describe(self) -> str:
        return "Erase"


class FillTool(Tool):
    """Fill the contiguous region under the cursor (of the layer, or of the visible composite)."""

    name = "fill"

    def press(self, x, y, modifiers) -> None:
        doc = self.ctx.document
        layer = self._label_layer()
        value = self._value() if layer is not None else None
        if layer is None or value is None:
            return
        ix, iy = int(x), int(y)
        if not (0 <= ix < doc.width and 0 <= iy < doc.height):
            return
        source = doc.composite_labels() if self.ctx.fill_composite else layer.data
        region = painting.flood_fill_mask(source, ix, iy)
        if region is None:
            return
        change = doc.paint_labels(layer.uid, region, value)
        if change is not None:
            change.description = "Fill"
            self.ctx.push(change)


class DragBoxTool(Tool):
    """A box dragged from corner to corner (Shift: a square); ``finish`` gets its corners."""

    def __init__(self, ctx: ToolContext):
        super().__init__(ctx)
        self._start: tuple[float, float] | None = None
        self._end: tuple[float, float] | None = None

    def can_start(self) -> bool:
        return True

    def finish(self, x0: float, y0: float, x1: float, y1: float) -> None:
        raise NotImplementedError

    def press(self, x, y, modifiers) -> None:
        if self.can_start():
            self._start = self._end = (x, y)

    def move(self, x, y, modifiers) -> None:
        if self._start is not None:
            self._end = self._constrained(x, y, modifiers)

    def release(self, x, y, modifiers) -> None:
        if self._start is None:
            return
        (x0, y0), (x1, y1) = self._start, self._constrained(x, y, modifiers)
        self._start = self._end = None
        self.finish(x0, y0, x1, y1)

    def _constrained(self, x, y, modifiers):
        if modifiers & Qt.ShiftModifier and self._start is not None:
            sx, sy = self._start
            side = max(abs(x - sx), abs(y - sy))
            return sx + (side if x >= sx else -side), sy + (side if y >= sy else -side)
        return x, y

    def box(self) -> QRectF | None:
        """The box being dragged (for previews), or None."""
        if self._start is None or self._end is None:
            return None
        return QRectF(QPointF(*self._start), QPointF(*self._end)).normalized()


class ShapeTool(DragBoxTool):
    """Filled rectangle or ellipse, dragged from corner to corner (Shift: square/circle)."""

    def __init__(self, ctx: ToolContext, shape: str):
        super().__init__(ctx)
        self.shape = shape
        self.name = shape

    def can_start(self) -> bool:
        return self._label_layer() is not None and self._value() is not None

    def finish(self, x0, y0, x1, y1) -> None:
        layer, value = self._label_layer(), self._value()
        if layer is None or value is None:
            return
        doc = self.ctx.document
        make = painting.rect_mask if self.shape == "rectangle" else painting.ellipse_mask
        region = make((doc.height, doc.width), x0, y0, x1, y1)
        if region is None or region[2].size == 0:
            return
        change = doc.paint_labels(layer.uid, region, value)
        if change is not None:
            change.description = self.shape.capitalize()
            self.ctx.push(change)

    def preview(self) -> QPainterPath | None:
        rect = self.box()
        if rect is None:
            return None
        path = QPainterPath()
        if self.shape == "rectangle":
            path.addRect(rect)
        else:
            path.addEllipse(rect)
        return path


class EyedropperTool(Tool):
    """Pick the class under the cursor from what the model sees (the visible composite)."""

    name = "eyedropper"

    def press(self, x, y, modifiers) -> None:
        self.pick(x, y)

    def move(self, x, y, modifiers) -> None:
        self.pick(x, y)

    def pick(self, x: float, y: float) -> None:
        doc = self.ctx.document
        ix, iy = int(x), int(y)
        if not (0 <= ix < doc.width and 0 <= iy < doc.height):
            return
        value = painted_class_at(doc, ix, iy)
        if value is None:
            self.ctx.message("Nothing painted here")
        else:
            self.ctx.pick_class(value)


def painted_class_at(doc, ix: int, iy: int) -> int | None:
    """The class the top visible label layer has at a pixel (None where all are transparent)."""
    for layer in reversed(doc.layers):
        if layer.visible and layer.kind == "labels":
            value = int(layer.data[iy, ix])
            if value != TRANSPARENT:
                return value
    return None
