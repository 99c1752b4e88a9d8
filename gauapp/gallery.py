"""Models → Generation gallery…: random samples of a ConSinGAN generation model, at any size
and aspect ratio (every pyramid level scaled by scale_h x scale_w), seeded so a sample can be
made again; "Add as layer" drops the chosen one into the painting (scaled down to fit the
canvas, centred), undoably. Sampling runs in a background job; thumbnails appear as they come.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem,
                               QPushButton, QSpinBox, QVBoxLayout)

from .canvas import rgb_qimage
from .menus import menu_named
from .document.errors import DocumentError
from .document.transform import fit_size, resized_rgba
from .job_indicator import indicator
from .modelstore import list_models

THUMB = 128
SAMPLE_MODES = ("generation", "retarget", "animation")  # modes whose samples are pictures


def generation_models(folder: str | None = None):
    return [m for m in list_models(folder or None)
            if m.ok and m.architecture == "consingan" and m.task in SAMPLE_MODES]


def sample_job(path: Path, seeds: list[int], scale_h: float, scale_w: float, device: str):
    """The job function: loads the model, then reports ``(seed, (h, w, 3) uint8)`` per sample."""
    def work(ctx):
        from models.devices import resolve_device, to_uint8_image
        from models.errors import InputError
        from models.modelfile import load_model_file
        from models.registry import build_networks

        bundle = load_model_file(path)
        if bundle.architecture != "consingan":
            raise InputError(f"{path.name} is a {bundle.architecture} model, not a ConSinGAN "
                             "generation model")
        model = build_networks(bundle, resolve_device(device))["G"]
        model.sample_shapes(scale_h, scale_w)  # a scale that empties a level fails here
        for seed in seeds:
            ctx.check_cancel()
            out = model.sample(generator=int(seed), scale_h=scale_h, scale_w=scale_w)
            ctx.report((int(seed), to_uint8_image(out)[0]))
        return len(seeds)
    return work


def add_sample_layer(window, rgb: np.ndarray, name: str):
    """``rgb`` as a new image layer, scaled down to fit the canvas, centred (one undo step)."""
    doc = window.document
    h, w = rgb.shape[:2]
    fw, fh = fit_size(w, h, doc.width, doc.height)
    rgba = resized_rgba(rgb, fw, fh, "bicubic") if (fw, fh) != (w, h) else rgb
    change = doc.add_image_layer(rgba, name=name, x=(doc.width - fw) // 2,
                                 y=(doc.height - fh) // 2)
    change.description = "Add sample"
    window._push(change)
    return change


class GalleryDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Generation gallery")
        self.setModal(False)
        self.job = None
        self.samples: dict[int, np.ndarray] = {}
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.model_combo = QComboBox()
        # Shown only while there is no generation model: the way to get one.
        self.train_button = QPushButton("Train a generation model…")
        self.train_button.clicked.connect(self._train_one)
        open_button = QPushButton("Open model file…")
        open_button.clicked.connect(self._open_model)
        self.count = QSpinBox()
        self.count.setRange(1, 64)
        self.count.setValue(8)
        self.seed = QSpinBox()
        self.seed.setRange(0, 10 ** 6)
        self.scale_h, self.scale_w = QDoubleSpinBox(), QDoubleSpinBox()
        for spin in (self.scale_h, self.scale_w):
            spin.setRange(0.25, 4.0)
            spin.setSingleStep(0.25)
            spin.setValue(1.0)
            spin.setSuffix(" ×")
        self.generate_button = QPushButton("Generate")
        self.generate_button.clicked.connect(self.generate)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMinimumSize(4 * (THUMB + 16), 2 * (THUMB + 32))
        self.grid.itemDoubleClicked.connect(lambda _: self.add_selected())
        self.add_button = QPushButton("Add as layer")
        self.add_button.clicked.connect(self.add_selected)
        self.grid.currentItemChanged.connect(lambda *_: self._update_buttons())
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(open_button)
        form.addRow("Model:", row)
        form.addRow("Samples:", self.count)
        form.addRow("First seed:", self.seed)
        form.addRow("Height scale:", self.scale_h)
        form.addRow("Width scale:", self.scale_w)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.generate_button)
        box.addWidget(self.grid, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.add_button)
        box.addLayout(buttons)
        self.refresh_models()

    def refresh_models(self) -> None:
        """List the generation models (one may have been trained since), keeping the choice."""
        current = self.model_combo.currentData()
        self.model_combo.clear()
        for info in generation_models(self.window_.settings.models_folder):
            self.model_combo.addItem(info.name, str(info.path))
        if current:
            self.set_model(current)
        if self.model_combo.count() == 0:
            self.status.setText("No generation model yet. Train one on a photo or on your "
                                "painting (a few minutes with the Fast preset), or open a "
                                "model file.")
        elif not self.samples:
            self.status.setText("Generate draws the samples; double-click one to add it as a "
                                "layer")
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_model = self.model_combo.count() > 0
        self.train_button.setVisible(not has_model)
        self.generate_button.setEnabled(has_model)
        self.add_button.setEnabled(self.grid.currentItem() is not None)

    def _train_one(self) -> None:
        from .train_dialog import train_dialog

        dialog = train_dialog(self.window_)
        dialog.mode.setCurrentIndex(dialog.mode.findData("generation"))

    def set_model(self, path: str | Path) -> None:
        path = str(path)
        i = self.model_combo.findData(path)
        if i < 0:
            self.model_combo.addItem(Path(path).stem, path)
            i = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(i)
        self._update_buttons()

    def _open_model(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "ConSinGAN generation model", "",
                                              "gauapp model (*.safetensors)")
        if name:
            self.set_model(name)

    def generate(self):
        """Start sampling (replacing the thumbnails); returns the job, or None."""
        path = self.model_combo.currentData()
        if not path:
            self.status.setText("Choose a ConSinGAN generation model first")
            return None
        if self.job is not None and self.job.is_running:
            self.job.cancel()
        self.grid.clear()
        self.samples.clear()
        first = self.seed.value()
        seeds = list(range(first, first + self.count.value()))
        w = self.window_
        job = self.job = w.jobs.start("Gallery", sample_job(
            Path(path), seeds, self.scale_h.value(), self.scale_w.value(), w.settings.device))
        indicator(w).track(job, "Sampling…")

        def current(slot):  # a replaced job's late reports must not land in the new grid
            return lambda value: slot(value) if job is self.job else None

        job.progress.connect(current(self._add_thumbnail))
        job.finished.connect(current(lambda n: self.status.setText(f"{n} samples")))
        job.failed.connect(current(lambda message: self.status.setText(f"Failed: {message}")))
        job.cancelled.connect(current(lambda _: self.status.setText("Stopped")))
        self.status.setText("Sampling…")
        return job

    def _add_thumbnail(self, item) -> None:
        seed, rgb = item
        self.samples[seed] = rgb
        pixmap = QPixmap.fromImage(rgb_qimage(rgb)).scaled(THUMB, THUMB, Qt.KeepAspectRatio,
                                                           Qt.SmoothTransformation)
        icon = QIcon(pixmap)
        # the selected sample keeps its true colours (Qt tints a selected icon by default); the
        # highlighted caption shows the selection
        icon.addPixmap(pixmap, QIcon.Mode.Selected)
        entry = QListWidgetItem(icon, f"seed {seed}\n{rgb.shape[1]}x{rgb.shape[0]}")
        entry.setData(Qt.UserRole, seed)
        self.grid.addItem(entry)
        if self.grid.currentItem() is None:
            self.grid.setCurrentItem(entry)

    def add_selected(self):
        item = self.grid.currentItem()
        if item is None:
            self.status.setText("Pick a sample first")
            return None
        seed = item.data(Qt.UserRole)
        name = f"{self.model_combo.currentText()} seed {seed}"
        try:
            return add_sample_layer(self.window_, self.samples[seed], name)
        except DocumentError as exc:
            self.status.setText(str(exc))
            return None


def open_gallery(window) -> GalleryDialog:
    """The window's one gallery, shown; with a model and nothing drawn yet, it starts drawing."""
    dialog = getattr(window, "gallery_dialog", None)
    if dialog is None:
        dialog = window.gallery_dialog = GalleryDialog(window)
    else:
        dialog.refresh_models()
    dialog.show()
    dialog.raise_()
    if dialog.model_combo.count() and dialog.grid.count() == 0 and \
            (dialog.job is None or not dialog.job.is_running):
        dialog.generate()
    return dialog


def install(window) -> None:
    action = QAction("Generation &gallery…", window)
    action.setStatusTip("Random samples of a ConSinGAN generation model at any size, to add "
                        "to the painting as layers")
    action.triggered.connect(lambda: open_gallery(window))
    menu_named(window, "&Models").addAction(action)
    window.gallery_action = action
