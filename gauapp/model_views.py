"""Small pieces the model manager's tabs share: how a model's kind and size read, its icon, and
the few questions asked of the user (kept as functions so tests can answer them)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

ICON_SIZE = 64
KIND_LABELS = {"label2image": "label map → image", "image2image": "image → image",
               "single_image": "single-image (ConSinGAN)"}
# A neutral tile per kind (no thumbnail yet): a muted colour and a short glyph.
_KIND_TILES = {"label2image": ("#5b7a99", "L→I"), "image2image": ("#7a6b99", "I→I"),
               "single_image": ("#6b8f6b", "1 img")}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind or "unknown kind")


def human_size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def kind_pixmap(kind: str, size: int = ICON_SIZE) -> QPixmap:
    colour, glyph = _KIND_TILES.get(kind, ("#808080", "?"))
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(Qt.NoPen)
    p.setBrush(QColor(colour))
    p.drawRoundedRect(QRectF(2, 2, size - 4, size - 4), size / 8, size / 8)
    p.setPen(QColor("white"))
    font = QFont()
    font.setPixelSize(max(8, size // 4))
    font.setBold(True)
    p.setFont(font)
    p.drawText(QRectF(0, 0, size, size), Qt.AlignCenter, glyph)
    p.end()
    return pixmap


def model_pixmap(kind: str, thumbnail: Path | None, size: int = ICON_SIZE) -> QPixmap:
    """The model's thumbnail PNG scaled to ``size``, or the neutral tile of its kind."""
    if thumbnail is not None and thumbnail.is_file():
        pixmap = QPixmap(str(thumbnail))
        if not pixmap.isNull():
            return pixmap.scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)
    return kind_pixmap(kind, size)


def model_icon(kind: str, thumbnail: Path | None) -> QIcon:
    return QIcon(model_pixmap(kind, thumbnail))


def confirm(parent: QWidget, title: str, text: str, yes: str = "OK") -> bool:
    box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.Cancel, parent)
    ok = box.addButton(yes, QMessageBox.AcceptRole)
    box.setDefaultButton(QMessageBox.Cancel)
    box.exec()
    return box.clickedButton() is ok


def ask_text(parent: QWidget, title: str, label: str, text: str) -> str | None:
    value, ok = QInputDialog.getText(parent, title, label, QLineEdit.Normal, text)
    return value.strip() if ok and value.strip() else None
