"""Drive the real main window the way a person does: choose classes, drag the mouse.

Used by the smoke test, the screenshot script and the latency benchmark, so that all three paint
through the same widgets, events and tools as a user (not by writing into the document).
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

# A landscape as a person paints it, in fractions of the canvas: (class name, tool, geometry).
LANDSCAPE = (
    ("mountain", "ellipse", (-0.15, 0.30, 0.70, 0.85)),
    ("mountain", "ellipse", (0.40, 0.22, 1.20, 0.85)),
    ("sea", "rectangle", (0.0, 0.58, 1.0, 0.80)),
    ("grass", "rectangle", (0.0, 0.78, 1.0, 1.0)),
    ("tree", "brush", ((0.12, 0.60), (0.14, 0.72), (0.18, 0.80))),
    ("clouds", "brush", ((0.55, 0.12), (0.65, 0.10), (0.75, 0.13))),
)


def send_mouse(view, kind: QEvent.Type, canvas_xy, button=Qt.LeftButton,
               buttons=Qt.LeftButton, modifiers=Qt.NoModifier) -> None:
    pos = view.transform.to_widget(view).map(QPointF(*canvas_xy))
    global_pos = view.mapToGlobal(pos)
    event = QMouseEvent(kind, pos, global_pos, button, buttons, modifiers)
    QApplication.sendEvent(view, event)


def drag(view, points, steps_between: int = 4) -> None:
    """Press at the first point, move through the others (with intermediate events, as a mouse
    sends them), release at the last."""
    send_mouse(view, QEvent.MouseButtonPress, points[0])
    last = points[0]
    for p in points[1:]:
        for i in range(1, steps_between + 1):
            t = i / steps_between
            send_mouse(view, QEvent.MouseMove, (last[0] + (p[0] - last[0]) * t,
                                                last[1] + (p[1] - last[1]) * t),
                       button=Qt.NoButton)
            QApplication.processEvents()
        last = p
    send_mouse(view, QEvent.MouseButtonRelease, last, buttons=Qt.NoButton)
    QApplication.processEvents()


def paint_landscape(window, brush_size: int | None = None) -> None:
    """Paint LANDSCAPE on the window's active label layer (over its sky background)."""
    doc = window.document
    w, h = doc.width, doc.height
    labelset = doc.labelset
    for name, tool, geometry in LANDSCAPE:
        window.palette.set_current_class(labelset.by_name(_class_name(labelset, name)).id)
        window.select_tool(tool)
        if tool == "brush":
            window.size_spin.setValue(brush_size or max(4, w // 12))
            drag(window.paint_view, [(x * w, y * h) for x, y in geometry])
        else:
            x0, y0, x1, y1 = geometry
            drag(window.paint_view, [(x0 * w, y0 * h), (x1 * w, y1 * h)])
    window.select_tool("brush")


def _class_name(labelset, name: str) -> str:
    """The COCO-Stuff-style names of the landscape palette, or the closest other names."""
    aliases = {"mountain": ("mountain", "hill"), "sea": ("sea", "water-other", "water"),
               "grass": ("grass", "field"), "tree": ("tree", "plant-other"),
               "clouds": ("clouds", "sky-other", "sky")}
    for candidate in aliases.get(name, (name,)):
        try:
            labelset.by_name(candidate)
            return candidate
        except Exception:
            continue
    raise KeyError(f"label set {labelset.name} has no class like {name!r}")
