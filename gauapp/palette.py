"""The "Classes" dock: the brushes' semantic classes, grouped, searchable, with recent picks.

A label set can hold 180 classes, so the dock is built for finding one fast: the landscape classes
people paint most come first for COCO-Stuff ids, a search box filters as you type (typing anywhere
in the list goes there), arrow keys walk the rows, and the last eight picks stay one click away.
Without a model the landscape palette is still offered, because painting does not need a model.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QKeyEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QStyle, QStyledItemDelegate, QStyleOptionViewItem,
                               QToolButton, QVBoxLayout, QWidget)

from models.labelsets import LabelClass, LabelSet, load_labelset

ROLE_KIND = Qt.UserRole + 1      # "class" | "group" | "section"
ROLE_ID = Qt.UserRole + 2        # class id (class rows)
ROLE_COLOR = Qt.UserRole + 3     # QColor (class rows)

MAX_RECENT = 8
SWATCH = 20
LANDSCAPE_GROUPS = ("sky", "water", "ground", "plants", "structures")
COCO_ID_SETS = ("coco-stuff", "landscape")   # label sets whose ids are COCO-Stuff ids
NO_MODEL_TEXT = ("No model: load one from Models → Open model… to paint with its classes. "
                 "Meanwhile you can paint with the landscape palette.")
RECENT_SETTLE_MS = 600   # arrow-key browsing adds to Recent only where it stops

_landscape: LabelSet | None = None


def landscape_labelset() -> LabelSet:
    """The built-in landscape palette (read once)."""
    global _landscape
    if _landscape is None:
        _landscape = load_labelset("landscape")
    return _landscape


def _title(group: str) -> str:
    return group[:1].upper() + group[1:]


def swatch_icon(color: tuple[int, int, int] | QColor, size: int = SWATCH) -> QIcon:
    """A rounded colour square with a thin darker rim (so white and sky blue stay visible)."""
    c = QColor(color) if isinstance(color, QColor) else QColor(*color)
    pix = QPixmap(size, size)
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(QPen(c.darker(160), 1))
    p.setBrush(c)
    p.drawRoundedRect(0.5, 0.5, size - 1, size - 1, 4, 4)
    p.end()
    return QIcon(pix)


class _RowDelegate(QStyledItemDelegate):
    """Draws class rows (swatch, name, grey id on the right) and group/section headers."""

    def sizeHint(self, option, index) -> QSize:
        kind = index.data(ROLE_KIND)
        return QSize(160, {"section": 34, "group": 26}.get(kind, 30))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        kind = index.data(ROLE_KIND)
        r: QRect = option.rect
        pal = option.palette
        painter.save()
        if kind in ("group", "section"):
            font = QFont(option.font)
            font.setBold(True)
            if kind == "section":
                font.setPointSizeF(font.pointSizeF() * 1.1)
            painter.setFont(font)
            # header rows are disabled items: take the active colours, not the greyed ones
            active = pal.ColorGroup.Active
            painter.setPen(pal.color(active, pal.ColorRole.Text) if kind == "section"
                           else pal.color(active, pal.ColorRole.PlaceholderText))
            text_rect = r.adjusted(8, 0, -8, -2)
            painter.drawText(text_rect, Qt.AlignLeft | Qt.AlignBottom, index.data(Qt.DisplayRole))
            if kind == "section":
                painter.setPen(QPen(pal.color(active, pal.ColorRole.Mid), 1))
                painter.drawLine(r.left() + 8, r.bottom(), r.right() - 8, r.bottom())
            painter.restore()
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = QIcon()
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawPrimitive(QStyle.PE_PanelItemViewItem, opt, painter, opt.widget)
        color: QColor = index.data(ROLE_COLOR)
        sw = QRect(r.left() + 10, r.top() + (r.height() - SWATCH) // 2, SWATCH, SWATCH)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QPen(color.darker(160), 1))
        painter.setBrush(color)
        painter.drawRoundedRect(sw.adjusted(0, 0, -1, -1), 4, 4)
        selected = bool(option.state & QStyle.State_Selected)
        id_text = str(index.data(ROLE_ID))
        fm = option.fontMetrics
        id_w = fm.horizontalAdvance(id_text) + 4
        id_rect = QRect(r.right() - 10 - id_w, r.top(), id_w, r.height())
        name_rect = QRect(sw.right() + 10, r.top(), id_rect.left() - sw.right() - 16, r.height())
        painter.setPen(pal.color(pal.ColorRole.HighlightedText if selected else pal.ColorRole.Text))
        name = fm.elidedText(index.data(Qt.DisplayRole), Qt.ElideRight, name_rect.width())
        painter.drawText(name_rect, Qt.AlignLeft | Qt.AlignVCenter, name)
        grey = pal.color(pal.ColorRole.HighlightedText) if selected else QColor(140, 140, 140)
        painter.setPen(grey)
        painter.drawText(id_rect, Qt.AlignRight | Qt.AlignVCenter, id_text)
        painter.restore()


class PaletteDock(QDockWidget):
    """Pick the class the brushes paint. ``class_chosen(id)`` fires whenever the current class
    changes: a click, Enter, arrow keys, a Recent button, or ``set_current_class``."""

    class_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Classes", parent)
        self.setObjectName("PaletteDock")
        self._labelset: LabelSet | None = None
        self._shown: LabelSet = landscape_labelset()
        self._current: int | None = None
        self._recent: list[int] = []

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self.notice = QLabel(NO_MODEL_TEXT)
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: palette(placeholder-text); padding: 2px;")
        layout.addWidget(self.notice)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search classes…  (type to filter, Esc clears)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        layout.addWidget(self.search)

        recent_row = QHBoxLayout()
        recent_row.setSpacing(2)
        recent_label = QLabel("Recent")
        recent_label.setStyleSheet("color: palette(placeholder-text);")
        recent_row.addWidget(recent_label)
        self._recent_buttons: list[QToolButton] = []
        for _ in range(MAX_RECENT):
            b = QToolButton()
            b.setAutoRaise(True)
            b.setIconSize(QSize(SWATCH + 2, SWATCH + 2))
            b.clicked.connect(self._recent_clicked)
            b.hide()
            recent_row.addWidget(b)
            self._recent_buttons.append(b)
        self._recent_empty = QLabel("classes you pick appear here")
        self._recent_empty.setStyleSheet("color: palette(placeholder-text); font-style: italic;")
        recent_row.addWidget(self._recent_empty)
        recent_row.addStretch(1)
        layout.addLayout(recent_row)

        self.list = QListWidget()
        self.list.setItemDelegate(_RowDelegate(self.list))
        self.list.setSelectionMode(QListWidget.SingleSelection)
        self.list.setUniformItemSizes(False)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.itemClicked.connect(lambda item: self._choose_item(item, commit=True))
        self.list.itemActivated.connect(lambda item: self._choose_item(item, commit=True))
        layout.addWidget(self.list, 1)
        self.setWidget(body)
        self.setMinimumWidth(240)

        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(RECENT_SETTLE_MS)
        self._settle.timeout.connect(self._settled)
        self.search.installEventFilter(self)
        self.list.installEventFilter(self)
        self.set_labelset(None)

    # --- public API ---
    def labelset(self) -> LabelSet | None:
        """The model's label set, or None when no model is loaded (the landscape set is shown)."""
        return self._labelset

    def shown_labelset(self) -> LabelSet:
        """The set whose classes the dock offers: the model's, or the landscape palette."""
        return self._shown

    def set_labelset(self, labelset: LabelSet | None) -> None:
        """Show ``labelset``'s classes (None: no model, offer the landscape palette). The current
        class and recent picks survive when the new set has them."""
        self._labelset = labelset
        self._shown = labelset if labelset is not None else landscape_labelset()
        self.notice.setVisible(labelset is None)
        self._recent = [i for i in self._recent if i in self._shown]
        if self._current is not None and self._current not in self._shown:
            self._current = None
        self._rebuild()
        self._refresh_recent()

    def set_picks(self, current: int | None, recent: list[int]) -> None:
        """The current class and Recent (most recent first), e.g. carried into a new label
        set; ids the shown set lacks are dropped."""
        self._recent = [i for i in dict.fromkeys(recent) if i in self._shown][:MAX_RECENT]
        if current is not None and current in self._shown:
            self._select(current, commit=True)
        self._refresh_recent()

    def current_class(self) -> int | None:
        return self._current

    def recent_classes(self) -> list[int]:
        """Recently chosen class ids, most recent first (at most 8)."""
        return list(self._recent)

    def set_current_class(self, class_id: int) -> bool:
        """Select ``class_id`` (the eyedropper's pick) and put it first in Recent. Returns False,
        changing nothing, when the shown label set has no such class."""
        class_id = int(class_id)
        if class_id not in self._shown:
            return False
        self._select(class_id, commit=True)
        return True

    def visible_class_ids(self) -> list[int]:
        """Ids of the class rows now shown, top to bottom (after the search filter)."""
        return [it.data(ROLE_ID) for it in self._rows() if it.data(ROLE_KIND) == "class"
                and not it.isHidden()]

    def headers(self) -> list[str]:
        """Titles of the group/section headers now shown, top to bottom."""
        return [it.text() for it in self._rows() if it.data(ROLE_KIND) != "class"
                and not it.isHidden()]

    # --- building the list ---
    def _rows(self) -> list[QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())]

    def _rebuild(self) -> None:
        self.list.clear()
        shown = self._shown
        if shown.name in COCO_ID_SETS and shown.name != "landscape":
            land = landscape_labelset()
            for group in LANDSCAPE_GROUPS:
                ids = [c.id for c in land.classes if c.group == group and c.id in shown]
                if ids:
                    self._add_header(_title(group), "group")
                    for i in ids:
                        self._add_class(shown.get(i))
            self._add_header("All classes", "section")
        for group, classes in shown.groups().items():
            self._add_header(_title(group), "group")
            for c in classes:
                self._add_class(c)
        self._apply_filter(self.search.text())
        if self._current is not None:
            item = self._item_for(self._current)
            if item is not None:
                self.list.setCurrentItem(item)

    def _add_header(self, text: str, kind: str) -> None:
        item = QListWidgetItem(text)
        item.setData(ROLE_KIND, kind)
        item.setFlags(Qt.NoItemFlags)
        self.list.addItem(item)

    def _add_class(self, c: LabelClass) -> None:
        item = QListWidgetItem(c.name)
        item.setData(ROLE_KIND, "class")
        item.setData(ROLE_ID, c.id)
        item.setData(ROLE_COLOR, QColor(*c.color))
        item.setToolTip(f"{c.name} (id {c.id}{', ' + c.group if c.group else ''})")
        self.list.addItem(item)

    def _apply_filter(self, text: str) -> None:
        """Hide class rows whose name lacks ``text`` (or whose id differs, for a number); while
        filtering, a class listed twice (landscape + All classes) is shown once; headers with
        nothing under them are hidden."""
        query = text.strip().lower()
        seen: set[int] = set()
        group_header: QListWidgetItem | None = None
        section_header: QListWidgetItem | None = None
        for item in self._rows():
            kind = item.data(ROLE_KIND)
            if kind == "section":
                section_header = item
                item.setHidden(True)
            elif kind == "group":
                group_header = item
                item.setHidden(True)
            else:
                cid = item.data(ROLE_ID)
                match = (not query or query in item.text().lower()
                         or (query.isdigit() and int(query) == cid))
                if query and cid in seen:
                    match = False
                item.setHidden(not match)
                if match:
                    seen.add(cid)
                    for header in (group_header, section_header):
                        if header is not None:
                            header.setHidden(False)
        current = self.list.currentItem()
        if current is not None and not current.isHidden():
            self.list.scrollToItem(current)

    def _item_for(self, class_id: int) -> QListWidgetItem | None:
        """The first visible row of ``class_id`` (else the first row at all)."""
        rows = [it for it in self._rows()
                if it.data(ROLE_KIND) == "class" and it.data(ROLE_ID) == class_id]
        visible = [it for it in rows if not it.isHidden()]
        return (visible or rows or [None])[0]

    # --- choosing ---
    def _choose_item(self, item: QListWidgetItem | None, commit: bool) -> None:
        if item is None or item.data(ROLE_KIND) != "class":
            return
        self._select(item.data(ROLE_ID), commit=commit, item=item)

    def _select(self, class_id: int, commit: bool, item: QListWidgetItem | None = None) -> None:
        item = item or self._item_for(class_id)
        if item is not None:
            if item.isHidden():   # picked elsewhere (eyedropper, Recent) while a search hides it
                self.search.clear()
            self.list.setCurrentItem(item)
            self.list.scrollToItem(item)
        changed = class_id != self._current
        self._current = class_id
        if commit:
            self._settle.stop()
            self._push_recent(class_id)
        else:
            self._settle.start()
        if changed:
            self.class_chosen.emit(class_id)

    def _settled(self) -> None:
        if self._current is not None:
            self._push_recent(self._current)

    def _push_recent(self, class_id: int) -> None:
        self._recent = [class_id] + [i for i in self._recent if i != class_id]
        del self._recent[MAX_RECENT:]
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self._recent_empty.setVisible(not self._recent)
        for i, button in enumerate(self._recent_buttons):
            if i < len(self._recent):
                c = self._shown.get(self._recent[i])
                button.setIcon(swatch_icon(c.color, SWATCH + 2))
                button.setToolTip(f"{c.name} (id {c.id})")
                button.setProperty("class_id", c.id)
                button.show()
            else:
                button.hide()

    def _recent_clicked(self) -> None:
        class_id = self.sender().property("class_id")
        if class_id is not None:
            self.set_current_class(int(class_id))

    # --- keyboard: arrows walk the rows from the search box, typing in the list searches ---
    def _step(self, delta: int) -> None:
        rows = [it for it in self._rows() if it.data(ROLE_KIND) == "class" and not it.isHidden()]
        if not rows:
            return
        current = self.list.currentItem()
        pos = rows.index(current) if current in rows else (-1 if delta > 0 else len(rows))
        pos = max(0, min(len(rows) - 1, pos + delta))
        self._choose_item(rows[pos], commit=False)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.KeyPress or obj not in (self.search, self.list):
            return super().eventFilter(obj, event)
        key = event.key()
        steps = {Qt.Key_Up: -1, Qt.Key_Down: 1, Qt.Key_PageUp: -10, Qt.Key_PageDown: 10}
        if key in steps:
            self._step(steps[key])
            return True
        if key in (Qt.Key_Return, Qt.Key_Enter):
            item = self.list.currentItem()
            if item is None or item.isHidden():
                visible = [it for it in self._rows()
                           if it.data(ROLE_KIND) == "class" and not it.isHidden()]
                item = visible[0] if visible else None
            self._choose_item(item, commit=True)
            return True
        if key == Qt.Key_Escape and self.search.text():
            self.search.clear()
            return True
        if obj is self.list and self._is_typing(event):
            self.search.setFocus()
            if key == Qt.Key_Backspace:
                self.search.backspace()
            else:
                self.search.insert(event.text())
            return True
        return super().eventFilter(obj, event)

    @staticmethod
    def _is_typing(event: QKeyEvent) -> bool:
        if event.modifiers() & (Qt.ControlModifier | Qt.AltModifier | Qt.MetaModifier):
            return False
        return event.key() == Qt.Key_Backspace or (bool(event.text())
                                                   and event.text().isprintable())
