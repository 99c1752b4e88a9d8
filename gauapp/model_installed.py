"""The model manager's Installed tab: bundled models (read-only) and the library's entries with
thumbnails, a details panel, and Use / Rename / Remove / Export / Verify all / Import."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QMenu, QPushButton, QSplitter, QToolButton,
                               QVBoxLayout, QWidget)

from . import model_views
from .model_views import human_size, kind_label, model_icon, model_pixmap

VERIFIED_STATES = {None: "imported from a local file (nothing published to check against)",
                   True: "download checked against the published sha256",
                   False: "unverified download: no sha256 is published, the file could not "
                          "be checked against the original"}


def choose_export_path(parent, suggested: str) -> Path | None:
    name, _ = QFileDialog.getSaveFileName(parent, "Export model", suggested,
                                          "gauapp model (*.safetensors)")
    return Path(name) if name else None


def choose_import_paths(parent, folder: bool) -> list[Path]:
    if folder:
        name = QFileDialog.getExistingDirectory(parent, "Import a model folder")
        return [Path(name)] if name else []
    names, _ = QFileDialog.getOpenFileNames(
        parent, "Import models", "", "Models (*.pth *.pt *.safetensors *.tar.gz *.tgz *.tar "
        "*.zip);;All files (*)")
    return [Path(n) for n in names]


class InstalledTab(QWidget):
    """Bundled models (read-only) and library entries, a details panel and the actions."""

    def __init__(self, manager):
        super().__init__(manager)
        self.manager = manager
        self.items: list[tuple[str, object]] = []    # ("bundled", ModelInfo) | ("library", entry)
        self.list = QListWidget()
        self.list.setIconSize(QSize(model_views.ICON_SIZE, model_views.ICON_SIZE))
        self.list.setSpacing(2)
        self.list.currentRowChanged.connect(lambda _: self.show_details())
        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(128, 128)
        self.thumbnail.setAlignment(Qt.AlignCenter)
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label in (("name", "Name"), ("kind", "Kind"), ("architecture", "Architecture"),
                           ("labelset", "Label set"), ("size", "Size"), ("sha256", "sha256"),
                           ("source", "Source"), ("license", "Licence"), ("added", "Added"),
                           ("verified", "Download"), ("check", "Last check"), ("file", "File")):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.fields[key] = value
            if key == "sha256":
                self.copy_sha = QToolButton()
                self.copy_sha.setText("Copy")
                self.copy_sha.setToolTip("Copy the full sha256 to the clipboard")
                self.copy_sha.clicked.connect(self.copy_sha256)
                row = QHBoxLayout()
                row.addWidget(value, 1)
                row.addWidget(self.copy_sha)
                form.addRow(label + ":", row)
            else:
                form.addRow(label + ":", value)
        self.buttons = {}
        for key, text, slot, tip in (
                ("use", "Use", self.use, "Paint with this model (label map → image models)"),
                ("rename", "Rename…", self.rename, "Change the name shown for the model"),
                ("remove", "Remove…", self.remove, "Delete the model file from the library"),
                ("export", "Export…", self.export, "Copy the model file (checked) elsewhere"),
                ("verify", "Verify all", manager.verify_all,
                 "Re-hash every library file and compare with the manifest")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.buttons[key] = button
        import_button = QPushButton("Import…")
        import_button.setToolTip("Import a model file, folder or archive (or drop it here)")
        menu = QMenu(import_button)
        menu.addAction("File or archive…", lambda: manager.import_paths(
            choose_import_paths(self, folder=False)))
        menu.addAction("Folder…", lambda: manager.import_paths(
            choose_import_paths(self, folder=True)))
        import_button.setMenu(menu)
        self.buttons["import"] = import_button
        details = QWidget()
        dbox = QVBoxLayout(details)
        dbox.addWidget(self.thumbnail)
        dbox.addLayout(form)
        dbox.addStretch(1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.list)
        split.addWidget(details)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([480, 440])
        bar = QHBoxLayout()
        for key in ("use", "rename", "remove", "export", "verify"):
            bar.addWidget(self.buttons[key])
        bar.addStretch(1)
        bar.addWidget(import_button)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(bar)

    # ----- the list -----------------------------------------------------------------------------
    def populate(self, bundled, entries) -> None:
        """``bundled``: ModelInfo of the bundled models; ``entries``: LibraryEntry list."""
        selected = self.selected()
        key = selected[1].path if selected else None
        self.list.clear()
        self.items = []
        for info in bundled:
            self._add(("bundled", info), info.kind, info.path.with_suffix(".png"),
                      f"{info.name}\nbundled (read-only) · {kind_label(info.kind)}")
        for e in entries:
            check = self.manager.check_results.get(e.id)
            mark = "" if check is None else (" · ✔ intact" if check[0] else " · ✗ CHANGED")
            item = self._add(("library", e), e.kind, e.thumbnail,
                             f"{e.name}\n{kind_label(e.kind)} · {human_size(e.size)}{mark}")
            if check is not None and not check[0]:
                item.setForeground(Qt.red)
        rows = [i for i, (_, obj) in enumerate(self.items) if obj.path == key]
        self.list.setCurrentRow(rows[0] if rows else (0 if self.items else -1))
        self.show_details()

    def _add(self, data, kind, thumbnail, text) -> QListWidgetItem:
        item = QListWidgetItem(model_icon(kind, thumbnail), text)
        self.list.addItem(item)
        self.items.append(data)
        return item

    def selected(self):
        row = self.list.currentRow()
        return self.items[row] if 0 <= row < len(self.items) else None

    def show_details(self) -> None:
        sel = self.selected()
        for label in self.fields.values():
            label.setText("")
        self.copy_sha.setEnabled(False)
        if sel is None:
            self.thumbnail.clear()
            for key, button in self.buttons.items():
                button.setEnabled(key in ("import", "verify"))
            return
        where, obj = sel
        f = self.fields
        f["name"].setText(obj.name)
        f["kind"].setText(kind_label(obj.kind))
        f["architecture"].setText(obj.architecture or "—")
        f["labelset"].setText(obj.labelset or "—")
        f["file"].setText(str(obj.path))
        f["license"].setText(obj.license or "not recorded")
        if where == "bundled":
            self.thumbnail.setPixmap(model_pixmap(obj.kind, obj.path.with_suffix(".png"), 128))
            f["size"].setText(human_size(obj.size_bytes))
            f["sha256"].setText("— (bundled with gauapp)")
            f["source"].setText("bundled with gauapp (read-only)")
            f["added"].setText("—")
            f["verified"].setText("—")
            f["check"].setText(obj.error or "—")
        else:
            self.thumbnail.setPixmap(model_pixmap(obj.kind, obj.thumbnail, 128))
            f["size"].setText(f"{human_size(obj.size)} ({obj.size:,} bytes)")
            f["sha256"].setText(obj.sha256[:16] + "…")
            f["sha256"].setToolTip(obj.sha256)
            self.copy_sha.setEnabled(True)
            f["source"].setText(obj.source or "—")
            f["added"].setText(obj.added.replace("T", " ").replace("+00:00", " UTC"))
            f["verified"].setText(VERIFIED_STATES.get(obj.verified, str(obj.verified)))
            check = self.manager.check_results.get(obj.id)
            f["check"].setText("not checked yet (Verify all)" if check is None else
                               f"{'✔ intact' if check[0] else '✗ ' + check[1]} ({check[2]})")
            f["check"].setStyleSheet("color: #b00020;" if check and not check[0] else "")
        usable = obj.kind == "label2image" and (where == "library" or obj.ok)
        self.buttons["use"].setEnabled(usable)
        self.buttons["use"].setToolTip("Paint with this model" if usable else
                                       f"A {kind_label(obj.kind)} model: the painting needs a "
                                       "label map → image model (see the Filters and Models "
                                       "menus for the others)")
        for key in ("rename", "remove", "export"):
            self.buttons[key].setEnabled(where == "library")
        self.buttons["verify"].setEnabled(True)

    # ----- actions ------------------------------------------------------------------------------
    def copy_sha256(self) -> None:
        sel = self.selected()
        if sel is not None and sel[0] == "library":
            QGuiApplication.clipboard().setText(sel[1].sha256)
            self.manager.show_message("sha256 copied to the clipboard")

    def use(self) -> None:
        sel = self.selected()
        if sel is not None:
            self.manager.use_model(sel[1].path)

    def rename(self) -> None:
        sel = self.selected()
        if sel is None or sel[0] != "library":
            return
        entry = sel[1]
        name = model_views.ask_text(self, "Rename model", "Name:", entry.name)
        if name and name != entry.name:
            library = self.manager.library
            self.manager.library_job(f"Rename {entry.name}",
                                     lambda ctx: library.rename(entry.id, name),
                                     f"Renamed {entry.name!r} to {name!r}", track=False)

    def remove(self) -> None:
        sel = self.selected()
        if sel is None or sel[0] != "library":
            return
        entry = sel[1]
        if not model_views.confirm(self, "Remove model", f"Delete {entry.name!r} "
                                   f"({human_size(entry.size)}) from the library? The file "
                                   f"{entry.path.name} is deleted.", "Remove"):
            return
        library = self.manager.library
        self.manager.library_job(f"Remove {entry.name}", lambda ctx: library.remove(entry.id),
                                 f"Removed {entry.name!r}", track=False)

    def export(self) -> None:
        sel = self.selected()
        if sel is None or sel[0] != "library":
            return
        entry = sel[1]
        dest = choose_export_path(self, entry.path.name)
        if dest is None:
            return
        library = self.manager.library
        # The file dialog already asked before replacing an existing file.
        self.manager.library_job(f"Export {entry.name}",
                                 lambda ctx: library.export(entry.id, dest, overwrite=True),
                                 f"Exported {entry.name!r} to {dest}")
