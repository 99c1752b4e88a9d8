"""Importing into the model library from the manager: read the file in a job, show what was
detected (``ImportPreview``) and ask for a name, then convert in a job.

Dropped or chosen paths wait in a queue and are handled one at a time, so that two previews
never stack up. Nothing is written to the library before the user accepts the preview.
"""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QGroupBox, QLabel, QLineEdit, QSpinBox,
                               QVBoxLayout)

from .model_views import human_size, kind_label


def inspect_choosing(library, path: Path, member: str | None, hints: dict | None = None):
    """``library.inspect``; a folder or archive holding several models previews the first
    (``preview.choices`` lists them all, the dialog lets the user pick another)."""
    from models.archives import ModelChoiceError

    try:
        return library.inspect(path, hints=hints, member=member)
    except ModelChoiceError as exc:
        if member is not None or len(exc.choices) < 2:
            raise
        return library.inspect(path, hints=hints, member=exc.choices[0])


NO_LABELSET, OTHER_LABELSET = "none (class numbers)", "Other label set file…"


class AdjustableOptions(QGroupBox):
    """Editors for what the weights cannot tell (``ImportPreview.adjustable``): the label set
    and SPADE's size options. A change emits the hints to read the model again with."""

    changed = Signal(dict)

    def __init__(self, parent=None):
        super().__init__("What the weights do not tell (correct it if the model differs)", parent)
        self.form = QFormLayout(self)
        self.editors: dict[str, QComboBox | QSpinBox | QDoubleSpinBox] = {}
        self.hints: dict = {}

    def set_preview(self, preview) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        self.hints = dict(preview.hints)
        adjustable = preview.adjustable
        self.setVisible(bool(adjustable))
        if "labelset" in adjustable:
            from models.labelsets import BUILTIN_LABELSETS

            box = QComboBox()
            current = adjustable["labelset"] or NO_LABELSET
            names = list(BUILTIN_LABELSETS)
            hinted = self.hints.get("labelset")
            if hinted and str(hinted) not in names:  # a JSON file the user chose
                names.append(str(hinted))
                current = str(hinted)
            box.addItems([NO_LABELSET, *names, OTHER_LABELSET])
            box.setCurrentText(current)
            box.setToolTip("The classes the model was trained with: they name the palette")
            box.activated.connect(lambda _: self._labelset_chosen())
            self._add("labelset", "Label set:", box)
        if "crop_size" in adjustable:
            spin = QSpinBox()
            spin.setRange(16, 4096)
            spin.setValue(int(adjustable["crop_size"]))
            spin.setSuffix(" px")
            spin.setToolTip("crop_size: the width it was trained at (its native output size)")
            spin.editingFinished.connect(lambda: self._emit("crop_size", spin.value()))
            self._add("crop_size", "Trained width (crop_size):", spin)
        if "aspect_ratio" in adjustable:
            ratio = QDoubleSpinBox()
            ratio.setRange(0.25, 4.0)
            ratio.setDecimals(3)
            ratio.setSingleStep(0.25)
            ratio.setValue(float(adjustable["aspect_ratio"]))
            ratio.setToolTip("aspect_ratio: width / height of its training images")
            ratio.editingFinished.connect(lambda: self._emit("aspect_ratio", ratio.value()))
            self._add("aspect_ratio", "Width / height (aspect_ratio):", ratio)
        if "num_upsampling_layers" in adjustable:
            ups = QComboBox()
            ups.addItems(["normal", "more", "most"])
            ups.setCurrentText(str(adjustable["num_upsampling_layers"]))
            ups.setToolTip("num_upsampling_layers: 'more' for 512 px models such as Cityscapes")
            ups.activated.connect(lambda _: self._emit("num_upsampling_layers",
                                                       ups.currentText()))
            self._add("num_upsampling_layers", "Upsampling (num_upsampling_layers):", ups)

    def _add(self, key: str, label: str, editor) -> None:
        self.editors[key] = editor
        self.form.addRow(label, editor)

    def _labelset_chosen(self) -> None:
        box = self.editors["labelset"]
        text = box.currentText()
        if text == OTHER_LABELSET:
            path, _ = QFileDialog.getOpenFileName(self, "Label set of the model", "",
                                                  "Label sets (*.json)")
            if not path:
                box.setCurrentText(self.hints.get("labelset") or NO_LABELSET)
                return
            text = path
        self._emit("labelset", None if text == NO_LABELSET else text)

    def _emit(self, key: str, value) -> None:
        if self.hints.get(key) == value:
            return
        self.changed.emit({**self.hints, key: value})


class ImportPreviewDialog(QDialog):
    """What the import detected, its warnings, the model to take from an archive, the name."""

    member_chosen = Signal(str)
    hints_chosen = Signal(dict)    # read the same model again with these import options

    def __init__(self, preview, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Import a model")
        self.setObjectName("import-preview")
        self.setMinimumWidth(520)
        self.preview = preview
        self.member = QComboBox()
        self.member.setToolTip("This folder or archive holds several models: pick one")
        self.member.activated.connect(lambda _: self._member_changed())
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.RichText)
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.warnings = QLabel()
        self.warnings.setObjectName("import-warnings")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #a05a00;")
        self.adjust = AdjustableOptions()
        self.adjust.changed.connect(self._hints_changed)
        self.name = QLineEdit()
        self.name.setMaxLength(200)
        self.name.textChanged.connect(lambda _: self._update_ok())
        self.allow_duplicate = QCheckBox("Import it again anyway (a second copy)")
        self.allow_duplicate.toggled.connect(lambda _: self._update_ok())
        self.busy = QLabel("Reading the model…")
        self.busy.setWordWrap(True)
        self.reading = False
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.member_label = QLabel("Model in the archive:")
        form = QFormLayout()
        form.addRow(self.member_label, self.member)
        form.addRow("Name in the library:", self.name)
        layout = QVBoxLayout(self)
        layout.addWidget(self.facts)
        layout.addWidget(self.warnings)
        layout.addWidget(self.adjust)
        layout.addLayout(form)
        layout.addWidget(self.allow_duplicate)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)
        self.set_preview(preview)

    def set_preview(self, preview) -> None:
        self.preview = preview
        self.reading = False
        self.busy.hide()
        self.member.setEnabled(True)
        self.member.clear()
        self.member.addItems(preview.choices)
        self.member.setCurrentIndex(max(0, self.member.findText(preview.member)))
        self.member.setVisible(len(preview.choices) > 1)
        self.member_label.setVisible(len(preview.choices) > 1)
        self.facts.setText(_facts_html(preview))
        self.warnings.setText("\n".join(f"⚠ {w}" for w in preview.warnings))
        self.warnings.setVisible(bool(preview.warnings))
        self.adjust.set_preview(preview)
        self.adjust.setEnabled(True)
        if not self.name.isModified():  # a name the user typed survives a re-read
            self.name.setText(preview.suggested_name)
        self.allow_duplicate.setChecked(False)
        self.allow_duplicate.setVisible(preview.duplicate_of is not None)
        self._update_ok()

    def show_busy(self, text: str) -> None:
        self.reading = True
        self.busy.setText(text)
        self.busy.setStyleSheet("")
        self.busy.show()
        self.member.setEnabled(False)
        self.adjust.setEnabled(False)
        self.import_button.setEnabled(False)

    def show_error(self, text: str) -> None:
        """Reading another member failed: the previous preview stays, with the error."""
        self.set_preview(self.preview)
        self.busy.setText(text)
        self.busy.setStyleSheet("color: #b00020;")
        self.busy.show()

    def _member_changed(self) -> None:
        chosen = self.member.currentText()
        if chosen and chosen != self.preview.member:
            self.show_busy(f"Reading {chosen}…")
            self.member_chosen.emit(chosen)

    def _hints_changed(self, hints: dict) -> None:
        self.show_busy("Reading the model again with these settings…")
        self.hints_chosen.emit(hints)

    def _update_ok(self) -> None:
        duplicate_ok = self.preview.duplicate_of is None or self.allow_duplicate.isChecked()
        self.import_button.setEnabled(bool(self.name.text().strip()) and duplicate_ok
                                      and not self.reading)


def _facts_html(p) -> str:
    from html import escape

    where = p.path.name + (f" → {p.member}" if p.member else "")
    options = ", ".join(f"{k} {json.dumps(v)}" for k, v in sorted(p.options.items())
                        if not isinstance(v, (dict, list)))
    rows = [("From", where), ("Detected", f"{p.source_format} ({p.container})"),
            ("Kind", kind_label(p.kind)), ("Architecture", p.architecture),
            ("Label set", p.labelset or "none"),
            ("Parameters", f"{p.parameters:,} ({human_size(p.parameters * 4)} as fp32)"),
            ("Licence", p.license), ("Files read", ", ".join(p.files)),
            ("Options", options or "—")]
    body = "".join(f"<tr><td><b>{escape(k)}</b>&nbsp;&nbsp;</td><td>{escape(str(v))}</td></tr>"
                   for k, v in rows)
    return f"<table>{body}</table>"


class ImportFlow(QObject):
    """Inspect (job) → preview → import (job) for each queued path in turn."""

    imported = Signal(object)        # the new LibraryEntry
    message = Signal(str, bool)      # one line for the user; True when it is an error

    def __init__(self, manager):
        super().__init__(manager)
        self.manager = manager
        self.queue: list[Path] = []
        self.dialog: ImportPreviewDialog | None = None
        self.busy = False

    def add(self, paths) -> None:
        self.queue.extend(Path(p) for p in paths)
        if not self.busy:
            self._next()

    def _next(self) -> None:
        self.busy = bool(self.queue)
        if self.queue:
            self._inspect(self.queue.pop(0), None)

    def _inspect(self, path: Path, member: str | None, hints: dict | None = None) -> None:
        library = self.manager.library
        job = self.manager.start_job(f"Read {path.name}",
                                     lambda ctx: inspect_choosing(library, path, member, hints))
        job.finished.connect(lambda preview: self._show(preview))
        job.failed.connect(lambda text: self._failed(f"Cannot import {path.name}: {text}"))
        job.cancelled.connect(lambda _: self._failed(f"Reading {path.name} was cancelled"))

    def _failed(self, text: str) -> None:
        if self.dialog is not None:  # reading another member failed: keep the shown one
            self.dialog.show_error(text)
            return
        self.message.emit(text, True)
        self._next()

    def _show(self, preview) -> None:
        if self.dialog is not None:
            self.dialog.set_preview(preview)
            return
        self.dialog = ImportPreviewDialog(preview, self.manager)
        self.dialog.member_chosen.connect(lambda m: self._inspect(self.dialog.preview.path, m))
        self.dialog.hints_chosen.connect(lambda hints: self._inspect(
            self.dialog.preview.path, self.dialog.preview.member or None, hints))
        self.dialog.finished.connect(self._closed)
        self.dialog.open()

    def _closed(self, result: int) -> None:
        dialog, self.dialog = self.dialog, None
        dialog.deleteLater()
        if result != QDialog.Accepted:
            self._next()
            return
        p = dialog.preview
        name, allow = dialog.name.text().strip(), dialog.allow_duplicate.isChecked()
        member, hints = p.member or None, dict(p.hints)
        library = self.manager.library
        job = self.manager.start_job(
            f"Import {name}", lambda ctx: library.import_(p.path, name=name, member=member,
                                                         hints=hints, allow_duplicate=allow))
        self.message.emit(f"Converting {p.path.name} into the library as {name!r}…", False)

        def done(entry) -> None:
            self.message.emit(f"Imported {entry.name!r} ({kind_label(entry.kind)})", False)
            self.imported.emit(entry)

        job.finished.connect(done)
        # import_ cannot stop half-way: a cancel that came too late still added the model.
        job.cancelled.connect(lambda entry: done(entry) if entry is not None else None)
        job.failed.connect(lambda text: self.message.emit(f"Import of {name!r} failed: {text}",
                                                          True))
        job.ended.connect(self._next)
