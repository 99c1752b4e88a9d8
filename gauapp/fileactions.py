"""Menus and the file side of the main window: new, open, save, import, export, recent files.

Every failure reading a file ends in a message naming the file and the problem, and the open
document is left exactly as it was (files are fully read and checked before anything changes).
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QMessageBox,
                               QSpinBox)

from .document.errors import DocumentError
from .document.ora import load_ora, save_ora
from .importing import export_image, export_label_map, read_image_rgba, read_label_map
from .session import Session, new_document
from .settings import add_recent_file, save_settings

log = logging.getLogger(__name__)
PROJECT_FILTER = "OpenRaster project (*.ora)"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"


def _action(window, text, slot, shortcut=None, checkable=False, tip=""):
    action = QAction(text, window, checkable=checkable)
    if shortcut is not None:
        action.setShortcut(shortcut)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    return action


def build_menus(w) -> None:
    """File, Edit, View, Layer, Models, Help; the actions are kept on the window."""
    m = w.menuBar().addMenu("&File")
    m.addAction(_action(w, "&New…", lambda: new_project(w), QKeySequence.New))
    m.addAction(_action(w, "&Open…", lambda: open_project(w), QKeySequence.Open))
    w.recent_menu = m.addMenu("Open &Recent")
    w.recent_menu.aboutToShow.connect(lambda: _fill_recent(w))
    m.addAction(_action(w, "&Save", lambda: save_project(w), QKeySequence.Save))
    m.addAction(_action(w, "Save &As…", lambda: save_project(w, ask=True), QKeySequence.SaveAs))
    m.addSeparator()
    m.addAction(_action(w, "Import &label map…", lambda: import_label_map(w), "Ctrl+Shift+L"))
    m.addAction(_action(w, "Import &image as layer…", lambda: import_image(w), "Ctrl+Shift+I"))
    m.addSeparator()
    m.addAction(_action(w, "&Export generated image…", lambda: export_generated(w), "Ctrl+E"))
    m.addAction(_action(w, "Export label &map…", lambda: export_labels(w), "Ctrl+Shift+E"))
    m.addSeparator()
    m.addAction(_action(w, "&Quit", w.close, QKeySequence.Quit))

    m = w.menuBar().addMenu("&Edit")
    w.undo_action = _action(w, "&Undo", lambda: w.session.undo.undo(), QKeySequence.Undo)
    w.redo_action = _action(w, "&Redo", lambda: w.session.undo.redo(), "Ctrl+Shift+Z")
    m.addAction(w.undo_action)
    m.addAction(w.redo_action)
    m.addSeparator()
    m.addAction(_action(w, "&Settings…", w.open_settings, QKeySequence.Preferences))

    m = w.menuBar().addMenu("&View")
    m.addAction(_action(w, "Zoom &in", lambda: w.transform.zoom_by(1.25), QKeySequence.ZoomIn))
    m.addAction(_action(w, "Zoom &out", lambda: w.transform.zoom_by(0.8), QKeySequence.ZoomOut))
    m.addAction(_action(w, "&Fit", w.fit_view, "Ctrl+0"))
    m.addAction(_action(w, "&Actual size", lambda: w.transform.set_zoom(1.0), "Ctrl+1"))
    w.split_action = _action(w, "Single view with split", w.set_split_mode, "Ctrl+\\", True,
                             "Show the generated image and the painting in one view, split")
    m.addAction(w.split_action)
    m.addSeparator()
    for dock in (w.palette, w.layers, w.history_dock):
        m.addAction(dock.toggleViewAction())

    m = w.menuBar().addMenu("&Layer")
    m.addAction(_action(w, "New &label layer", lambda: _layer_op(w, "add_label_layer"),
                        "Ctrl+Shift+N"))
    m.addAction(_action(w, "&Duplicate layer", lambda: _layer_op(w, "duplicate_layer", True),
                        "Ctrl+J"))
    m.addAction(_action(w, "Merge &down", lambda: _layer_op(w, "merge_down", True), "Ctrl+M"))
    m.addAction(_action(w, "&Delete layer", lambda: _layer_op(w, "remove_layer", True)))

    m = w.menuBar().addMenu("&Models")
    w.models_menu = m.addMenu("&Model")
    w.models_menu.aboutToShow.connect(lambda: _fill_models(w))
    m.addAction(_action(w, "Open model &file…", lambda: open_model_file(w)))
    m.addSeparator()
    w.generate_action = _action(w, "&Generate", w.generate_now, "Ctrl+Return",
                                tip="Generate the image now (Ctrl+Enter)")
    w.live_action = _action(w, "&Live", w.set_live, "Ctrl+L", True,
                            "Generate as you paint")
    w.variation_action = _action(w, "New &variation", w.new_variation, "Ctrl+R")
    w.style_action = _action(w, "&Style image…", lambda: choose_style_image(w))
    for a in (w.generate_action, w.live_action, w.variation_action, w.style_action):
        m.addAction(a)

    m = w.menuBar().addMenu("&Help")
    m.addAction(_action(w, "Open the &harmonization example",
                        lambda: open_example(w, "harmonize-boat.ora")))
    m.addAction(_action(w, "&About gauapp", lambda: QMessageBox.about(
        w, "About gauapp", "gauapp: paint with semantic brushes; SPADE renders the landscape, "
        "on your own machine.")))


def open_example(w, name: str) -> bool:
    """Opens a shipped example project as an untitled painting, so Save asks where to put it
    and the shipped file is never overwritten."""
    from models.labelsets import resources_dir

    path = resources_dir() / "examples" / name
    if not path.is_file():
        _error(w, "Example missing", f"{path} is not installed.")
        return False
    if not open_project(w, path, untitled=True):
        return False
    w.statusBar().showMessage("Example: the boat is selected; press Ctrl+H to harmonize it "
                              "with the painting's model", 15000)
    return True


def _layer_op(w, name: str, on_active: bool = False) -> None:
    doc = w.document
    try:
        change = getattr(doc, name)(doc.active_uid) if on_active else getattr(doc, name)()
    except DocumentError as exc:
        w.statusBar().showMessage(str(exc), 5000)
        return
    w._push(change)


# ----- projects ---------------------------------------------------------------------------------
def confirm_discard(w) -> bool:
    """True when the current painting may be replaced or closed."""
    if w.document is None or not w.document.modified:
        return True
    answer = QMessageBox.question(
        w, "Unsaved changes", f"Save the changes to {w.session.title}?",
        QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
    if answer == QMessageBox.Save:
        return save_project(w)
    return answer == QMessageBox.Discard


class NewCanvasDialog(QDialog):
    def __init__(self, parent, width=512, height=512):
        super().__init__(parent)
        self.setWindowTitle("New painting")
        form = QFormLayout(self)
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin, value in ((self.width_spin, width), (self.height_spin, height)):
            spin.setRange(16, 2048)
            spin.setSingleStep(64)
            spin.setValue(value)
            spin.setSuffix(" px")
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


def new_project(w, size: tuple[int, int] | None = None) -> None:
    if not confirm_discard(w):
        return
    if size is None:
        dialog = NewCanvasDialog(w, w.document.width, w.document.height)
        if dialog.exec() != QDialog.Accepted:
            return
        size = (dialog.width_spin.value(), dialog.height_spin.value())
    w.set_session(Session(new_document(size[0], size[1], w.labelset)))


def open_project(w, path: Path | None = None, untitled: bool = False) -> bool:
    """Opens a painting; ``untitled``: as a new painting with no path (Save asks where)."""
    if path is None:
        name, _ = QFileDialog.getOpenFileName(w, "Open painting", "", PROJECT_FILTER)
        if not name:
            return False
        path = Path(name)
    if not confirm_discard(w):
        return False
    try:
        loaded = load_ora(path)
    except (DocumentError, OSError) as exc:
        _error(w, "Could not open the painting", f"{path.name}: {exc}")
        return False
    w.set_session(Session(loaded.document, None if untitled else path, loaded.generated))
    if not untitled:
        _remember(w, path)
    return True


def write_project(w, path: Path, mark_saved: bool = True) -> None:
    save_ora(w.document, path, generated=w.session.generated)
    if mark_saved:
        w.document.mark_saved()
        w.session.undo.setClean()


def save_project(w, ask: bool = False) -> bool:
    path = w.session.path
    if ask or path is None:
        name, _ = QFileDialog.getSaveFileName(w, "Save painting", str(path or "painting.ora"),
                                              PROJECT_FILTER)
        if not name:
            return False
        path = Path(name) if name.lower().endswith(".ora") else Path(name + ".ora")
    try:
        write_project(w, path)
    except (DocumentError, OSError) as exc:
        _error(w, "Could not save the painting", f"{path}: {exc}")
        return False
    w.session.path = path
    _remember(w, path)
    w._update_title()
    w.statusBar().showMessage(f"Saved {path.name}", 4000)
    return True


def _remember(w, path: Path) -> None:
    add_recent_file(w.settings, path)
    try:
        save_settings(w.settings, w.settings_path)
    except OSError as exc:
        log.warning("could not save settings: %s", exc)


def _fill_recent(w) -> None:
    w.recent_menu.clear()
    for name in w.settings.recent_files:
        w.recent_menu.addAction(name, lambda p=Path(name): open_project(w, p))
    w.recent_menu.setEnabled(bool(w.settings.recent_files))


# ----- import / export --------------------------------------------------------------------------
def import_label_map(w, path: Path | None = None) -> bool:
    if path is None:
        name, _ = QFileDialog.getOpenFileName(w, "Import label map", "", "PNG (*.png)")
        if not name:
            return False
        path = Path(name)
    doc = w.document
    try:
        ids = read_label_map(path, doc.labelset, (doc.height, doc.width))
        w._push(doc.add_label_layer(name=path.stem, data=ids))
    except DocumentError as exc:
        _error(w, "Could not import the label map", str(exc))
        return False
    return True


def import_image(w, path: Path | None = None) -> bool:
    if path is None:
        name, _ = QFileDialog.getOpenFileName(w, "Import image", "", IMAGE_FILTER)
        if not name:
            return False
        path = Path(name)
    try:
        rgba = read_image_rgba(path)
        w._push(w.document.add_image_layer(rgba, name=path.stem))
    except DocumentError as exc:
        _error(w, "Could not import the image", str(exc))
        return False
    return True


def export_generated(w) -> None:
    if w.session.generated is None:
        _error(w, "Nothing to export", "No image has been generated yet.")
        return
    name, _ = QFileDialog.getSaveFileName(w, "Export generated image", "generated.png",
                                          "PNG (*.png);;JPEG (*.jpg);;WebP (*.webp)")
    if name:
        try:
            export_image(w.session.generated, Path(name))
        except (DocumentError, OSError) as exc:
            _error(w, "Could not export", str(exc))


def export_labels(w) -> None:
    name, chosen = QFileDialog.getSaveFileName(
        w, "Export label map", "labels.png",
        "Index PNG, dataset ids (*.png);;Colour PNG, palette colours (*.png)")
    if name:
        try:
            export_label_map(w.document.composite_labels(), w.document.labelset, Path(name),
                             colour=chosen.startswith("Colour"))
        except (DocumentError, OSError) as exc:
            _error(w, "Could not export", str(exc))


def open_dropped(w, path: Path) -> None:
    """A dropped .ora opens; a PNG that reads as a label map imports as labels, else as an
    image layer."""
    if path.suffix.lower() == ".ora":
        open_project(w, path)
        return
    doc = w.document
    if path.suffix.lower() == ".png":
        try:
            read_label_map(path, doc.labelset, (doc.height, doc.width))
        except DocumentError:
            pass
        else:
            import_label_map(w, path)
            return
    import_image(w, path)


# ----- models -----------------------------------------------------------------------------------
def _fill_models(w) -> None:
    from .modelstore import list_models

    w.models_menu.clear()
    models = [m for m in list_models(w.settings.models_folder or None) if m.is_label2image]
    if not models:
        a = w.models_menu.addAction("No models found (see Help)")
        a.setEnabled(False)
    for info in models:
        a = w.models_menu.addAction(f"{info.name}  ({info.labelset or 'custom'})",
                                    lambda i=info: w.set_model(i))
        a.setCheckable(True)
        a.setChecked(w.model is not None and w.model.path == info.path)


def open_model_file(w) -> None:
    from .modelstore import read_model_info

    name, _ = QFileDialog.getOpenFileName(w, "Open model", "", "gauapp model (*.safetensors)")
    if not name:
        return
    info = read_model_info(name)
    if not info.is_label2image:
        _error(w, "Cannot use this model", info.error or
               f"{Path(name).name} is a {info.kind or 'unknown'} model, not label → image")
        return
    w.set_model(info)


def choose_style_image(w) -> None:
    name, _ = QFileDialog.getOpenFileName(w, "Style image", "", IMAGE_FILTER)
    if name:
        w.style_image = Path(name)
        w.scheduler.set_request_options(style=w.style_image)
        w.generate_now()


def _error(w, title: str, text: str) -> None:
    log.info("%s: %s", title, text)
    box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Ok, w)
    box.setObjectName("error-message")
    box.open()  # non-blocking, so tests and drops don't stall
    w.last_error = text
