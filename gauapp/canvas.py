"""The two canvas views (the painting and the generated image) and the zoom/pan they share.

Both views show the same canvas rectangle. A `ViewTransform` holds the zoom and the canvas point
at the centre of the view, not pixel offsets, so that two views of different widget sizes stay in
sync. The painting view forwards mouse input in canvas coordinates to the active tool; panning
(middle button, or Space + drag) and wheel zoom work the same in both.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QTransform
from PySide6.QtWidgets import QWidget

ZOOM_MIN, ZOOM_MAX = 1 / 16, 32.0
ZOOM_STEP = 1.25


class ViewTransform(QObject):
    """Zoom factor and the canvas point shown at the centre of every view that shares it."""

    changed = Signal()

    def __init__(self, width: int = 512, height: int = 512):
        super().__init__()
        self.zoom = 1.0
        self.center = QPointF(width / 2, height / 2)
        self.canvas_size = (width, height)

    def set_canvas_size(self, width: int, height: int) -> None:
        self.canvas_size = (width, height)
        self.center = QPointF(width / 2, height / 2)
        self.changed.emit()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom, keeping the canvas point ``anchor`` where it is on screen."""
        zoom = min(ZOOM_MAX, max(ZOOM_MIN, zoom))
        if anchor is not None:
            ratio = self.zoom / zoom
            self.center = anchor + (self.center - anchor) * ratio
        self.zoom = zoom
        self.changed.emit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom * factor, anchor)

    def pan_by(self, dx_widget: float, dy_widget: float) -> None:
        self.center -= QPointF(dx_widget, dy_widget) / self.zoom
        self.changed.emit()

    def fit(self, widget_width: int, widget_height: int, margin: int = 16) -> None:
        w, h = self.canvas_size
        zoom = min((widget_width - margin) / w, (widget_height - margin) / h)
        self.center = QPointF(w / 2, h / 2)
        self.set_zoom(zoom)

    def to_widget(self, widget: QWidget) -> QTransform:
        """canvas -> widget coordinates for a widget of that size."""
        t = QTransform()
        t.translate(widget.width() / 2, widget.height() / 2)
        t.scale(self.zoom, self.zoom)
        t.translate(-self.center.x(), -self.center.y())
        return t


def _checker(size: int = 8) -> QImage:
    img = QImage(size * 2, size * 2, QImage.Format_RGB32)
    img.fill(QColor(204, 204, 204))
    p = QPainter(img)
    for x, y in ((0, 0), (size, size)):
        p.fillRect(x, y, size, size, QColor(255, 255, 255))
    p.end()
    return img


class CanvasView(QWidget):
    """Draws one canvas-sized image (optionally a second one left of a split line) with the
    shared transform; pans and zooms; reports canvas-coordinate mouse input to ``tool``."""

    cursor_moved = Signal(float, float)  # canvas coordinates, for the status bar

    def __init__(self, transform: ViewTransform, placeholder: str = "", parent=None):
        super().__init__(parent)
        self.transform = transform
        transform.changed.connect(self.update)
        self.image: QImage | None = None
        self.split_image: QImage | None = None  # shown left of ``split`` (single-view mode)
        self.split = 0.5
        self.placeholder = placeholder
        self.tool = None  # a gauapp.tools.Tool, for the painting view only
        self.overlay = None  # callable -> QPainterPath | None: the selection, whatever the tool
        self.brush_radius = 0.0  # canvas px; > 0 draws the brush outline
        self._mouse_canvas: QPointF | None = None
        self._pan_from: QPointF | None = None
        self._space_down = False
        self._checker = _checker()
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumSize(160, 160)
        self.setAttribute(Qt.WA_OpaquePaintEvent)

    # ----- content ----------------------------------------------------------------------------
    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self.update()

    def update_canvas_rect(self, y0: int, x0: int, y1: int, x1: int) -> None:
        """Repaint only the widget area that shows that canvas region."""
        rect = self.transform.to_widget(self).mapRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.update(rect.toAlignedRect().adjusted(-2, -2, 2, 2))

    def canvas_point(self, widget_pos: QPointF) -> QPointF:
        inverse, _ = self.transform.to_widget(self).inverted()
        return inverse.map(widget_pos)

    # ----- painting ---------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(event.rect(), QColor(48, 48, 52))
        w, h = self.transform.canvas_size
        p.setTransform(self.transform.to_widget(self))
        canvas_rect = QRectF(0, 0, w, h)
        p.save()
        p.setBrushOrigin(0, 0)
        p.resetTransform()
        frame = self.transform.to_widget(self).mapRect(canvas_rect)
        if self.image is not None:  # transparency shows as a checkerboard
            p.setClipRect(frame)
            p.fillRect(self.rect(), self._checker)
        else:  # no image yet: the frame only, so that the placeholder text stays readable
            p.setPen(QPen(QColor(110, 110, 118), 0, Qt.DashLine))
            p.drawRect(frame.adjusted(0, 0, -1, -1))
        p.restore()
        smooth = self.transform.zoom < 1
        p.setRenderHint(QPainter.SmoothPixmapTransform, smooth)
        if self.image is not None:
            p.drawImage(canvas_rect, self.image)
        if self.split_image is not None:
            left = QRectF(0, 0, w * self.split, h)
            p.save()
            p.setClipRect(left)
            p.drawImage(canvas_rect, self.split_image)
            p.restore()
            p.setPen(QPen(QColor(255, 255, 255), 0))
            p.drawLine(QPointF(w * self.split, 0), QPointF(w * self.split, h))
        if self.image is None and self.placeholder:
            p.resetTransform()
            p.setPen(QColor(220, 220, 220))
            p.drawText(self.rect().adjusted(24, 24, -24, -24), Qt.AlignCenter | Qt.TextWordWrap,
                       self.placeholder)
            p.setTransform(self.transform.to_widget(self))
        preview = self.tool.preview() if self.tool is not None else None
        if preview is not None:
            p.setPen(QPen(QColor(255, 255, 255), 0, Qt.DashLine))
            p.drawPath(preview)
        outline = self.overlay() if self.overlay is not None else None
        if outline is not None:  # "marching ants": black under white dashes, visible anywhere
            p.setPen(QPen(QColor(0, 0, 0), 0))
            p.drawPath(outline)
            p.setPen(QPen(QColor(255, 255, 255), 0, Qt.DashLine))
            p.drawPath(outline)
        if self._mouse_canvas is not None and self.brush_radius > 0 and self._pan_from is None:
            p.setRenderHint(QPainter.Antialiasing)
            r = max(self.brush_radius, 0.5)
            for color, width in ((QColor(0, 0, 0, 160), 3), (QColor(255, 255, 255), 1)):
                pen = QPen(color, width)
                pen.setCosmetic(True)
                p.setPen(pen)
                p.drawEllipse(self._mouse_canvas, r, r)
        p.end()

    # ----- input ------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.setCursor(Qt.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.unsetCursor()
            return
        super().keyReleaseEvent(event)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            anchor = self.canvas_point(event.position())
            self.transform.zoom_by(ZOOM_STEP ** steps, anchor)

    def mousePressEvent(self, event) -> None:
        self.setFocus()
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton
                                                 and self._space_down):
            self._pan_from = event.position()
            self.setCursor(Qt.ClosedHandCursor)
            return
        if event.button() == Qt.LeftButton and self.tool is not None:
            pos = self.canvas_point(event.position())
            self.tool.press(pos.x(), pos.y(), event.modifiers())
            self.update()

    def mouseMoveEvent(self, event) -> None:
        pos = self.canvas_point(event.position())
        old = self._mouse_canvas
        self._mouse_canvas = pos
        self.cursor_moved.emit(pos.x(), pos.y())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.transform.pan_by(delta.x(), delta.y())
            return
        if event.buttons() & Qt.LeftButton and self.tool is not None:
            self.tool.move(pos.x(), pos.y(), event.modifiers())
        if self.brush_radius > 0 or (self.tool is not None and self.tool.preview() is not None):
            self._update_cursor_area(old, pos)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan_from = None
            self.setCursor(Qt.OpenHandCursor if self._space_down else Qt.ArrowCursor)
            return
        if event.button() == Qt.LeftButton and self.tool is not None:
            pos = self.canvas_point(event.position())
            self.tool.release(pos.x(), pos.y(), event.modifiers())
            self.update()

    def leaveEvent(self, event) -> None:
        self._mouse_canvas = None
        self.update()

    def _update_cursor_area(self, old: QPointF | None, new: QPointF) -> None:
        if self.tool is not None and self.tool.preview() is not None:
            self.update()
            return
        r = self.brush_radius + 2 / self.transform.zoom
        for c in (old, new):
            if c is not None:
                self.update_canvas_rect(int(c.y() - r) - 1, int(c.x() - r) - 1,
                                        int(c.y() + r) + 2, int(c.x() + r) + 2)


def rgba_qimage(rgba: np.ndarray) -> QImage:
    """A QImage that views (not copies) a C-contiguous (H, W, 4) uint8 array; keep the array
    alive as long as the image."""
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, rgba.strides[0], QImage.Format_RGBA8888)


def rgb_qimage(rgb: np.ndarray) -> QImage:
    """A QImage copy of an (H, W, 3) uint8 array."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format_RGB888).copy()
