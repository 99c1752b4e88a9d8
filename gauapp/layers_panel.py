"""The "Layers" dock: the document's layer stack, top first, edited only through undoable changes.

The dock never touches a layer itself: every button, toggle, rename, drop and opacity move calls
a Document operation, which returns an already-applied Change, and hands it to ``push`` (the app's
undo stack). It redraws from the document's own signals, so undo/redo and edits made elsewhere
show up here the same way.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QBrush, QColor, QImage, QKeySequence, QPainter, QPainterPath,
                           QPen, QPixmap)
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QSlider, QSpinBox, QStyle,
                               QStyledItemDelegate, QStyleOptionViewItem, QToolButton, QVBoxLayout,
                               QWidget)

from .document.errors import DocumentError
from .document.history import Compound
from .document.layers import TRANSPARENT

ROLE_UID, ROLE_VISIBLE, ROLE_LOCKED, ROLE_KIND, ROLE_THUMB = (Qt.UserRole + i for i in range(1, 6))
THUMB = 40
ROW_H = 50
THUMB_DEBOUNCE_MS = 200
GREY = QColor(140, 140, 140)
Push = Callable[[object], None]


def _zones(r: QRect) -> dict[str, QRect]:
    """Where each part of a row is drawn (and clicked)."""
    eye = QRect(r.left() + 4, r.top() + (r.height() - 24) // 2, 24, 24)
    lock = QRect(eye.right() + 2, eye.top(), 24, 24)
    thumb = QRect(lock.right() + 6, r.top() + (r.height() - THUMB) // 2, THUMB, THUMB)
    name = QRect(thumb.right() + 8, r.top(), r.right() - thumb.right() - 12, r.height())
    return {"eye": eye, "lock": lock, "thumb": thumb, "name": name}


def _draw_eye(p: QPainter, r: QRect, on: bool, color: QColor) -> None:
    c = QRectF(r).adjusted(3, 7, -3, -7)
    path = QPainterPath()
    path.moveTo(c.left(), c.center().y())
    path.quadTo(c.center().x(), c.top() - 5, c.right(), c.center().y())
    path.quadTo(c.center().x(), c.bottom() + 5, c.left(), c.center().y())
    p.setPen(QPen(color if on else QColor(160, 160, 160), 1.5))
    p.setBrush(Qt.NoBrush)
    p.drawPath(path)
    if on:
        p.setBrush(color)
        p.drawEllipse(c.center(), 2.5, 2.5)
    else:
        slash = QRectF(r).adjusted(5, 5, -5, -5)
        p.drawLine(slash.bottomLeft(), slash.topRight())


def _draw_lock(p: QPainter, r: QRect, on: bool, color: QColor) -> None:
    col = color if on else QColor(185, 185, 185)
    body = QRectF(r.left() + 7, r.top() + 11, 10, 8)
    p.setPen(QPen(col, 1.5))
    p.setBrush(col if on else Qt.NoBrush)
    p.drawRoundedRect(body, 1.5, 1.5)
    shackle = QRectF(body.left() + 1.5, r.top() + 5, 7, 10).translated(0 if on else 4,
                                                                       0 if on else -1.5)
    p.drawArc(shackle, 0, 180 * 16)
    p.drawLine(shackle.left(), shackle.center().y(), shackle.left(), body.top())
    if on:
        p.drawLine(shackle.right(), shackle.center().y(), shackle.right(), body.top())


class _RowDelegate(QStyledItemDelegate):
    """Draws a layer row (eye, lock, thumbnail, name, kind) and turns clicks on the eye and lock
    into document changes; the name is edited inline."""

    def __init__(self, dock: "LayersDock"):
        super().__init__(dock.list)
        self.dock = dock
        tile = QImage(2, 2, QImage.Format_RGB32)
        for x, y, v in ((0, 0, 204), (1, 1, 204), (0, 1, 236), (1, 0, 236)):
            tile.setPixelColor(x, y, QColor(v, v, v))
        self.checker = QBrush(QPixmap.fromImage(tile.scaled(10, 10)))

    def sizeHint(self, option, index) -> QSize:
        return QSize(200, ROW_H)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        if opt.widget is not None:
            opt.widget.style().drawPrimitive(QStyle.PE_PanelItemViewItem, opt, painter, opt.widget)
        z = _zones(option.rect)
        selected = bool(option.state & QStyle.State_Selected)
        pal = option.palette
        fg = pal.color(pal.ColorRole.HighlightedText if selected else pal.ColorRole.Text)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        _draw_eye(painter, z["eye"], bool(index.data(ROLE_VISIBLE)), fg)
        _draw_lock(painter, z["lock"], bool(index.data(ROLE_LOCKED)), fg)
        painter.setRenderHint(QPainter.Antialiasing, False)
        painter.setBrushOrigin(z["thumb"].topLeft())
        painter.fillRect(z["thumb"], self.checker)
        thumb = index.data(ROLE_THUMB)
        if isinstance(thumb, QPixmap) and not thumb.isNull():
            tr = QRect(0, 0, thumb.width(), thumb.height())
            tr.moveCenter(z["thumb"].center())
            painter.drawPixmap(tr, thumb)
        painter.setPen(QPen(QColor(120, 120, 120), 1))
        painter.setBrush(Qt.NoBrush)
        painter.drawRect(z["thumb"].adjusted(0, 0, -1, -1))
        name_r = z["name"].adjusted(0, 6, 0, -ROW_H // 2 + 2)
        painter.setPen(fg)
        painter.drawText(name_r, Qt.AlignLeft | Qt.AlignBottom, option.fontMetrics.elidedText(
            index.data(Qt.DisplayRole), Qt.ElideRight, name_r.width()))
        painter.setPen(fg if selected else GREY)
        painter.drawText(z["name"].adjusted(0, ROW_H // 2, 0, -4), Qt.AlignLeft | Qt.AlignTop,
                         str(index.data(ROLE_KIND)))
        painter.restore()

    def editorEvent(self, event, model, option, index) -> bool:
        if event.type() in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease,
                            QEvent.MouseButtonDblClick):
            z, pos = _zones(option.rect), event.position().toPoint()
            for zone, prop in (("eye", "visible"), ("lock", "locked")):
                if z[zone].contains(pos):
                    if event.type() == QEvent.MouseButtonRelease:
                        self.dock.toggle(index.data(ROLE_UID), prop)
                    return True   # a click on a toggle neither selects nor starts a drag
        return super().editorEvent(event, model, option, index)

    def createEditor(self, parent, option, index) -> QWidget:
        return QLineEdit(parent)

    def updateEditorGeometry(self, editor, option, index) -> None:
        r = _zones(option.rect)["name"]
        editor.setGeometry(r.left(), r.top() + 8, r.width(), 26)

    def setEditorData(self, editor, index) -> None:
        editor.setText(index.data(Qt.DisplayRole))
        editor.selectAll()

    def setModelData(self, editor, model, index) -> None:
        uid, text = index.data(ROLE_UID), editor.text().strip()
        # once the editor has closed: the rename refreshes the rows
        QTimer.singleShot(0, lambda: self.dock.rename(uid, text))


class _LayerList(QListWidget):
    """A list whose drops become ``doc.move_layer`` instead of moving its items itself."""

    def __init__(self, dock: "LayersDock"):
        super().__init__()
        self.dock = dock
        self.setDragDropMode(QAbstractItemView.InternalMove)
        self.setDefaultDropAction(Qt.MoveAction)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)

    def dropEvent(self, event) -> None:
        source = self.currentItem()
        if event.source() is not self or source is None:
            event.ignore()
            return
        pos = event.position().toPoint()
        index = self.indexAt(pos)
        row = self.count() if not index.isValid() else \
            index.row() + (pos.y() > self.visualRect(index).center().y())
        src = self.row(source)
        event.setDropAction(Qt.IgnoreAction)   # the document moves the layer, not the view
        event.accept()
        self.dock.move_to_row(source.data(ROLE_UID), row if row <= src else row - 1)


class LayersDock(QDockWidget):
    """The layer stack of one Document, top layer first. ``message(text)`` reports an operation
    the document refused (for the status bar)."""

    message = Signal(str)
    act_new: QAction
    act_duplicate: QAction
    act_delete: QAction
    act_merge_down: QAction
    act_move_up: QAction
    act_move_down: QAction

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Layers", parent)
        self.setObjectName("LayersDock")
        self.doc = None
        self._push: Push | None = None
        self._syncing = False
        self._opacity_gesture: list = []

        self.list = _LayerList(self)
        self.list.setItemDelegate(_RowDelegate(self))
        self.list.currentItemChanged.connect(self._row_selected)

        buttons = QHBoxLayout()
        buttons.setSpacing(0)
        for attr, text, tip, slot in (
                ("act_new", "New", "New label layer above the selected one", self.new_layer),
                ("act_duplicate", "Duplicate", "Duplicate the selected layer", self.duplicate),
                ("act_delete", "Delete", "Delete the selected layer", self.delete),
                ("act_merge_down", "Merge", "Merge the selected layer into the one below",
                 self.merge_down),
                ("act_move_up", "▲", "Move the layer up", lambda: self.move_by(1)),
                ("act_move_down", "▼", "Move the layer down", lambda: self.move_by(-1))):
            if attr == "act_move_up":
                buttons.addStretch(1)
            setattr(self, attr, self._action(buttons, text, tip, slot))
        for action, keys in ((self.act_delete, QKeySequence.Delete),
                             (self.act_new, QKeySequence("Ctrl+Shift+N"))):
            action.setShortcut(keys)
            action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
            self.addAction(action)   # active while the focus is in the dock

        self.opacity_slider = QSlider(Qt.Horizontal)
        self.opacity_spin = QSpinBox()
        self.opacity_spin.setSuffix(" %")
        for w in (self.opacity_slider, self.opacity_spin):
            w.setRange(0, 100)
            w.valueChanged.connect(self._opacity_edited)
        self.opacity_slider.sliderPressed.connect(self._opacity_gesture.clear)
        self.opacity_slider.sliderReleased.connect(self._opacity_end)
        self.opacity_row = QWidget()
        row = QHBoxLayout(self.opacity_row)
        row.setContentsMargins(4, 0, 4, 0)
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity_slider, 1)
        row.addWidget(self.opacity_spin)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.opacity_row)
        self.setWidget(body)
        self.setMinimumWidth(260)

        self._thumb_timer = QTimer(self, singleShot=True, interval=THUMB_DEBOUNCE_MS)
        self._thumb_timer.timeout.connect(self.refresh_thumbnails)
        self._refresh()

    def _action(self, row: QHBoxLayout, text: str, tip: str, slot) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.setProperty("base_tip", tip)
        action.triggered.connect(slot)
        button = QToolButton()
        button.setDefaultAction(action)
        button.setAutoRaise(True)
        row.addWidget(button)
        return action

    # --- binding ---
    def set_document(self, doc, push: Push | None) -> None:
        """Show ``doc`` (None: nothing); ``push(change)`` records each change for undo."""
        if self.doc is not None:
            self.doc.layers_changed.disconnect(self._refresh)
            self.doc.active_changed.disconnect(self._refresh)
            self.doc.changed.disconnect(self._doc_changed)
        self._syncing = True   # clearing moves the current row: not a selection by the user
        self.list.clear()
        self._syncing = False
        self.doc, self._push = doc, push
        if doc is not None:
            doc.layers_changed.connect(self._refresh)
            doc.active_changed.connect(self._refresh)
            doc.changed.connect(self._doc_changed)
        self._refresh()

    def _run(self, operation: Callable[[], object]) -> None:
        """Run a document operation and push its change; a refusal is reported by ``message``."""
        if self.doc is None:
            return
        try:
            change = operation()
        except DocumentError as exc:
            self.message.emit(str(exc))
            return
        if change is not None and self._push is not None:
            self._push(change)

    def selected_uid(self) -> int | None:
        """The document's active layer, if it is (still) in the stack."""
        doc = self.doc
        return doc.active_uid if doc is not None and any(
            la.uid == doc.active_uid for la in doc.layers) else None

    # --- operations (all through the document) ---
    def new_layer(self) -> None:
        self._run(lambda: self.doc.add_label_layer())

    def duplicate(self) -> None:
        if (uid := self.selected_uid()) is not None:
            self._run(lambda: self.doc.duplicate_layer(uid))

    def delete(self) -> None:
        if (uid := self.selected_uid()) is not None and len(self.doc.layers) > 1:
            self._run(lambda: self.doc.remove_layer(uid))

    def merge_down(self) -> None:
        if (uid := self.selected_uid()) is not None and self._merge_problem(uid) is None:
            self._run(lambda: self.doc.merge_down(uid))

    def move_by(self, delta: int) -> None:
        """Move the selected layer ``delta`` places up (+) or down (-) the stack."""
        if (uid := self.selected_uid()) is not None:
            new = self.doc.index_of(uid) + delta
            if 0 <= new < len(self.doc.layers):
                self._run(lambda: self.doc.move_layer(uid, new))

    def move_to_row(self, uid: int, row: int) -> None:
        """Move a layer to list row ``row`` (0 = top of the stack), as a drop does."""
        if self.doc is not None:
            n = len(self.doc.layers)
            self._run(lambda: self.doc.move_layer(uid, n - 1 - max(0, min(n - 1, row))))

    def toggle(self, uid: int, prop: str) -> None:
        """Flip a layer's ``visible`` or ``locked``."""
        if self.doc is not None:
            value = not getattr(self.doc.layer(uid), prop)
            self._run(lambda: self.doc.set_layer_props(uid, **{prop: value}))

    def rename(self, uid: int, name: str) -> None:
        if self.doc is not None and name and any(la.uid == uid for la in self.doc.layers):
            self._run(lambda: self.doc.set_layer_props(uid, name=name))

    # --- opacity: a whole slider drag is one undo step ---
    def _opacity_edited(self, value: int) -> None:
        if self._syncing:
            return
        self._syncing = True
        self.opacity_slider.setValue(value)
        self.opacity_spin.setValue(value)
        self._syncing = False
        uid = self.selected_uid()
        if uid is None or self.doc.layer(uid).kind != "image":
            return
        if not self.opacity_slider.isSliderDown():
            self._run(lambda: self.doc.set_layer_props(uid, opacity=value / 100.0))
            return
        change = self.doc.set_layer_props(uid, opacity=value / 100.0)
        if change is not None:
            self._opacity_gesture.append(change)

    def _opacity_end(self) -> None:
        parts = list(self._opacity_gesture)
        self._opacity_gesture.clear()
        if parts and self._push is not None:
            self._push(parts[0] if len(parts) == 1 else Compound(parts, "Layer opacity"))

    # --- reflecting the document ---
    def _row_selected(self, current: QListWidgetItem | None, _previous=None) -> None:
        if self._syncing or self.doc is None or current is None:
            return
        uid = current.data(ROLE_UID)
        if uid != self.doc.active_uid and any(la.uid == uid for la in self.doc.layers):
            self.doc.set_active(uid)

    def _doc_changed(self, _region=None) -> None:
        self._thumb_timer.start()

    def _refresh(self, _uid=None) -> None:
        """Rebuild the rows from the document (in place when the order did not change, so an
        open name editor survives)."""
        doc = self.doc
        layers = list(reversed(doc.layers)) if doc is not None else []
        self._syncing = True
        try:
            if [self.list.item(i).data(ROLE_UID) for i in range(self.list.count())] != \
                    [la.uid for la in layers]:
                self.list.clear()
                for layer in layers:
                    item = QListWidgetItem()
                    item.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled | Qt.ItemIsEditable
                                  | Qt.ItemIsDragEnabled)
                    item.setData(ROLE_UID, layer.uid)
                    item.setData(ROLE_THUMB, self._thumbnail(layer))
                    self.list.addItem(item)
            active = self.selected_uid()
            for i, layer in enumerate(layers):
                item = self.list.item(i)
                item.setText(layer.name)
                item.setData(ROLE_VISIBLE, layer.visible)
                item.setData(ROLE_LOCKED, layer.locked)
                item.setData(ROLE_KIND, layer.kind)
                item.setToolTip(f"{layer.name} ({layer.kind} layer"
                                f"{', hidden' if not layer.visible else ''}"
                                f"{', locked' if layer.locked else ''}); double-click to rename")
                if layer.uid == active:
                    self.list.setCurrentItem(item)
            if active is None:
                self.list.setCurrentItem(None)
            self._update_controls(active)
        finally:
            self._syncing = False

    def _merge_problem(self, uid: int) -> str | None:
        i = self.doc.index_of(uid)
        if i == 0:
            return "the bottom layer has no layer below to merge into"
        top, bottom = self.doc.layers[i], self.doc.layers[i - 1]
        if top.kind != bottom.kind:
            names = {"labels": "a label layer", "image": "an image layer"}
            return f"cannot merge {names[top.kind]} into {names[bottom.kind]}"
        if top.locked or bottom.locked:
            return "unlock both layers to merge them"
        return None

    def _update_controls(self, uid: int | None) -> None:
        """Enable what applies to the selected layer; a disabled action's tooltip says why."""
        doc = self.doc
        n = len(doc.layers) if doc is not None else 0
        i = doc.index_of(uid) if uid is not None else -1
        pick = "select a layer"
        why = {self.act_new: None if doc is not None else "no document",
               self.act_duplicate: None if uid is not None else pick,
               self.act_delete: pick if uid is None else
               (None if n > 1 else "a document keeps at least one layer"),
               self.act_merge_down: pick if uid is None else self._merge_problem(uid),
               self.act_move_up: pick if uid is None else
               (None if i < n - 1 else "already the top layer"),
               self.act_move_down: pick if uid is None else
               (None if i > 0 else "already the bottom layer")}
        for action, reason in why.items():
            action.setEnabled(reason is None)
            action.setToolTip(action.property("base_tip") + (f" ({reason})" if reason else ""))
        layer = doc.layer(uid) if uid is not None else None
        is_image = layer is not None and layer.kind == "image"
        for w in (self.opacity_slider, self.opacity_spin):
            w.setEnabled(is_image)
            w.setValue(round(layer.opacity * 100) if is_image else 100)
        self.opacity_row.setToolTip("" if is_image else "Opacity applies to image layers")

    # --- thumbnails ---
    def refresh_thumbnails(self) -> None:
        """Redraw every row's thumbnail (debounced after ``doc.changed``)."""
        if self.doc is None:
            return
        present = {la.uid: la for la in self.doc.layers}
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(ROLE_UID) in present:
                item.setData(ROLE_THUMB, self._thumbnail(present[item.data(ROLE_UID)]))

    def _thumbnail(self, layer) -> QPixmap:
        """The layer where the canvas shows it, shrunk to fit THUMB x THUMB (nearest pixel)."""
        h, w = self.doc.shape
        th, tw = max(1, round(h * THUMB / max(h, w))), max(1, round(w * THUMB / max(h, w)))
        ys, xs = (np.arange(th) * h) // th, (np.arange(tw) * w) // tw
        rgba = np.zeros((th, tw, 4), np.uint8)
        if layer.kind == "labels":
            ids = layer.data[np.ix_(ys, xs)].astype(np.int64)
            table = self._colors()
            ok = (ids != TRANSPARENT) & (ids >= 0) & (ids < len(table))
            rgba[ok, :3] = table[ids[ok]]
            rgba[ok, 3] = 255
        else:
            ly, lx = ys - layer.y, xs - layer.x
            iy = (ly >= 0) & (ly < layer.rgba.shape[0])
            ix = (lx >= 0) & (lx < layer.rgba.shape[1])
            rgba[np.ix_(iy, ix)] = layer.rgba[np.ix_(ly[iy], lx[ix])]
            rgba[..., 3] = (rgba[..., 3] * layer.opacity).astype(np.uint8)
        image = QImage(rgba.data, tw, th, 4 * tw, QImage.Format_RGBA8888).copy()
        return QPixmap.fromImage(image)

    def _colors(self) -> np.ndarray:
        ls = self.doc.labelset
        if ls is None:
            from .palette import landscape_labelset   # what the palette offers without a model
            ls = landscape_labelset()
        return ls.color_table()
