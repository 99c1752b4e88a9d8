"""Rectangle select, lasso select and Move/Scale for image layers.

The selection belongs to the window (``SelectionState``), not to a tool, so it stays on screen
(drawn by the canvas overlay) whatever tool is active, and Copy uses it. The Move tool drags the
active image layer; dragging a corner handle scales it from the opposite corner (Shift keeps
the aspect ratio). A drag shows a fast preview as it goes and ends as one undo step holding the
original layer, so undo gives back the exact pixels.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath, QPolygonF

from .document.errors import DocumentError
from .document.history import ReplaceLayer, SetLayerProps
from .document.layers import ImageLayer
from .document.selection import Selection
from .document.transform import replaced_layer, resized_rgba
from .tools import DragBoxTool, Tool, ToolContext

HANDLE_PX = 8  # corner handles: grab distance and drawn size, in screen pixels


class SelectionState:
    """The current selection of one document, and the internal clipboard."""

    def __init__(self, on_change: Callable[[], None] = lambda: None):
        self.selection: Selection | None = None
        self.document = None
        self.clip = None  # document.selection.Clip: what Copy took
        self._on_change = on_change

    def set(self, document, selection: Selection | None) -> None:
        self.document, self.selection = document, selection
        self._on_change()

    def current(self, document) -> Selection | None:
        """The selection if it was made on ``document`` (a new painting starts with none)."""
        return self.selection if document is not None and document is self.document else None

    def outline(self, document) -> QPainterPath | None:
        sel = self.current(document)
        if sel is None:
            return None
        path = QPainterPath()
        if sel.kind == "all":
            path.addRect(QRectF(0, 0, document.width, document.height))
        elif sel.kind == "rect":
            (x0, y0), (x1, y1) = sel.points
            path.addRect(QRectF(QPointF(round(x0), round(y0)),
                                QPointF(round(x1), round(y1))).normalized())
        else:
            path.addPolygon(QPolygonF([QPointF(x, y) for x, y in sel.points]))
            path.closeSubpath()
        return path


class RectSelectTool(DragBoxTool):
    """Drag a rectangle (Shift: a square); a click without a drag deselects."""

    name = "select_rect"

    def __init__(self, ctx: ToolContext, state: SelectionState):
        super().__init__(ctx)
        self.state = state

    def finish(self, x0, y0, x1, y1) -> None:
        doc = self.ctx.document
        sel = Selection.rect(x0, y0, x1, y1)
        self.state.set(doc, sel if sel.bounds(doc.shape) is not None else None)

    def preview(self) -> QPainterPath | None:
        rect = self.box()
        if rect is None:
            return None
        path = QPainterPath()
        path.addRect(rect)
        return path


class LassoSelectTool(Tool):
    """Draw a freehand outline; releasing closes it. A click without a drag deselects."""

    name = "lasso"

    def __init__(self, ctx: ToolContext, state: SelectionState):
        super().__init__(ctx)
        self.state = state
        self._points: list[tuple[float, float]] | None = None

    def press(self, x, y, modifiers) -> None:
        self._points = [(x, y)]

    def move(self, x, y, modifiers) -> None:
        if self._points is None:
            return
        lx, ly = self._points[-1]
        if (x - lx) ** 2 + (y - ly) ** 2 >= 0.25:  # drop sub-pixel jitter
            self._points.append((x, y))

    def release(self, x, y, modifiers) -> None:
        if self._points is None:
            return
        self.move(x, y, modifiers)
        points, self._points = self._points, None
        doc = self.ctx.document
        sel = None
        if len(points) >= 3:
            sel = Selection.lasso(points[:20000])
            if sel.bounds(doc.shape) is None:
                sel = None
        self.state.set(doc, sel)

    def preview(self) -> QPainterPath | None:
        if not self._points:
            return None
        path = QPainterPath()
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in self._points]))
        return path


class MoveTool(Tool):
    """Drag the active image layer; drag a corner handle to scale it (Shift: keep aspect)."""

    name = "move"

    def __init__(self, ctx: ToolContext, zoom: Callable[[], float] = lambda: 1.0):
        super().__init__(ctx)
        self.zoom = zoom
        self._orig: ImageLayer | None = None
        self._mode = ""
        self._start = (0.0, 0.0)
        self._anchor = (0, 0)
        self._dirs = (1, 1)
        self._rect: tuple[int, int, int, int] | None = None  # x, y, w, h while scaling
        self._origin = (0, 0)

    def _layer(self) -> ImageLayer | None:
        doc = self.ctx.document
        layer = doc.active_layer
        if not isinstance(layer, ImageLayer):
            self.ctx.message("Move works on image layers: select one in the Layers panel")
            return None
        if layer.locked:
            self.ctx.message(f"Layer {layer.name!r} is locked")
            return None
        return layer

    def _corners(self, layer: ImageLayer):
        y0, x0, y1, x1 = layer.bounds
        return [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]

    def press(self, x, y, modifiers) -> None:
        layer = self._layer()
        if layer is None:
            return
        self._orig, self._start, self._mode = layer, (x, y), "move"
        self._origin = (layer.x, layer.y)  # moving sets x, y on this very object
        reach = HANDLE_PX / max(self.zoom(), 1e-6)
        corners = self._corners(layer)
        for i, (cx, cy) in enumerate(corners):
            if abs(x - cx) <= reach and abs(y - cy) <= reach:
                ax, ay = corners[3 - i]  # the opposite corner stays put
                self._mode, self._anchor = "scale", (ax, ay)
                self._dirs = (1 if cx > ax else -1, 1 if cy > ay else -1)
                break

    def move(self, x, y, modifiers) -> None:
        if self._orig is None:
            return
        try:
            if self._mode == "move":
                self._move_to(x, y)
            else:
                self._scale_to(x, y, modifiers, "nearest")
        except DocumentError as exc:
            self.ctx.message(str(exc))

    def release(self, x, y, modifiers) -> None:
        if self._orig is None:
            return
        try:
            if self._mode == "move":
                self._finish_move(x, y)
            else:
                self._finish_scale(x, y, modifiers)
        except DocumentError as exc:
            self.ctx.message(str(exc))
        finally:
            self._orig, self._rect = None, None

    def _finish_move(self, x, y) -> None:
        uid, (ox, oy) = self._orig.uid, self._origin
        self._move_to(x, y)
        now = self.ctx.document.layer(uid)
        if (now.x, now.y) != (ox, oy):
            self.ctx.push(SetLayerProps(uid, {"x": ox, "y": oy}, {"x": now.x, "y": now.y},
                                        "Move layer"))

    def _finish_scale(self, x, y, modifiers) -> None:
        doc, orig = self.ctx.document, self._orig
        rect = self._scale_rect(x, y, modifiers)
        current = doc.layer(orig.uid)
        if rect == (orig.x, orig.y, orig.rgba.shape[1], orig.rgba.shape[0]):
            if current is not orig:  # dragged back to where it started: no step
                doc.apply(ReplaceLayer(current, orig, "Scale layer"))
            return
        rx, ry, rw, rh = rect
        final = replaced_layer(orig, resized_rgba(orig.rgba, rw, rh, "bicubic"), rx, ry)
        doc.apply(ReplaceLayer(current, final, "Scale layer"))
        self.ctx.push(ReplaceLayer(orig, final, "Scale layer"))  # undo restores the original

    def _move_to(self, x, y) -> None:
        (ox, oy), (sx, sy) = self._origin, self._start
        self.ctx.document.set_layer_props(self._orig.uid, x=ox + int(round(x - sx)),
                                          y=oy + int(round(y - sy)))  # one step on release

    def _scale_rect(self, x, y, modifiers) -> tuple[int, int, int, int]:
        orig = self._orig
        oh, ow = orig.rgba.shape[:2]
        (ax, ay), (dx, dy) = self._anchor, self._dirs
        limit = self.ctx.document.MAX_LAYER_SIDE
        w = min(limit, max(1, int(round((x - ax) * dx))))
        h = min(limit, max(1, int(round((y - ay) * dy))))
        if modifiers & Qt.ShiftModifier:
            s = max(w / ow, h / oh)
            s = min(s, limit / max(ow, oh))
            w, h = max(1, int(round(ow * s))), max(1, int(round(oh * s)))
        return (ax if dx > 0 else ax - w), (ay if dy > 0 else ay - h), w, h

    def _scale_to(self, x, y, modifiers, quality: str) -> None:
        rect = self._scale_rect(x, y, modifiers)
        if rect == self._rect:
            return
        self._rect = rect
        doc, orig = self.ctx.document, self._orig
        rx, ry, rw, rh = rect
        preview = replaced_layer(orig, resized_rgba(orig.rgba, rw, rh, quality), rx, ry)
        doc.apply(ReplaceLayer(doc.layer(orig.uid), preview, "Scale layer"))

    def preview(self) -> QPainterPath | None:
        doc = self.ctx.document
        layer = doc.active_layer if doc is not None else None
        if not isinstance(layer, ImageLayer):
            return None
        y0, x0, y1, x1 = layer.bounds
        path = QPainterPath()
        path.addRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        s = HANDLE_PX / 2 / max(self.zoom(), 1e-6)
        for cx, cy in self._corners(layer):
            path.addRect(QRectF(cx - s, cy - s, 2 * s, 2 * s))
        return path
