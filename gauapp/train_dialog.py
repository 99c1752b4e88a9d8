"""Models → Train on one image…: a non-modal dialog that trains a ConSinGAN in the background.

Pick the image (a file, the generated image or the visible canvas), the mode, a preset (Fast,
Standard, or Custom with the official option names) and the device; the dialog shows the
stage and iteration, the time left (measured, "estimating…" until measured), the latest losses
and live samples. Stop keeps the checkpoint (``train_job``), Resume goes on later, and a
finished model lands in the model library with a thumbnail. The app stays usable meanwhile:
the work runs in ``window.jobs``, the dialog only shows what the job reports.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QRadioButton,
                               QSpinBox, QVBoxLayout)

from . import train_job
from .canvas import rgb_qimage
from .settings import DEVICES, _cuda_available

PRESET_TEXT = {"fast": "Fast (3 stages, ~500 iterations, at most 160 px, batch norm)",
               "standard": "Standard (the official defaults: slow on a CPU)",
               "custom": "Custom"}
FIELD_LABELS = {"train_stages": "Stages (train_stages)", "niter": "Iterations per stage (niter)",
                "max_size": "Max size (max_size)", "min_size": "Min size (min_size)",
                "lr_g": "Generator learning rate (lr_g)",
                "lr_d": "Discriminator learning rate (lr_d)",
                "lrelu_alpha": "Leaky ReLU slope (lrelu_alpha)",
                "batch_norm": "Batch norm (batch_norm)", "nfc": "Channels (nfc)"}
PREVIEW_SIDE = 192


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


def _field_widget(kind: type):
    if kind is bool:
        return QCheckBox()
    if kind is int:
        spin = QSpinBox()
        spin.setRange(1, 100000)
        return spin
    spin = QDoubleSpinBox()
    spin.setDecimals(6)
    spin.setRange(0.0, 10.0)
    spin.setSingleStep(0.0001)
    return spin


class TrainDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Train on one image")
        self.setModal(False)
        self.job = None
        self.run_: train_job.TrainingRun | None = None
        self.installed: Path | None = None
        self._reports = 0
        self.last_progress = None
        self._file_image: tuple[str, np.ndarray | str] = ("", "")  # (path, image or error)
        self._auto_name = ""

        # --- image ---
        self.source_file, self.source_generated, self.source_canvas = (
            QRadioButton("File"), QRadioButton("Generated image"),
            QRadioButton("Visible canvas"))
        self.source_group = QButtonGroup(self)
        for b in (self.source_file, self.source_generated, self.source_canvas):
            self.source_group.addButton(b)
            b.toggled.connect(self._image_changed)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("an image file")
        self.file_edit.editingFinished.connect(self._image_changed)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        self.image_info = QLabel()
        image_box = QGroupBox("Image")
        grid = QGridLayout(image_box)
        grid.addWidget(self.source_file, 0, 0)
        grid.addWidget(self.file_edit, 0, 1)
        grid.addWidget(browse, 0, 2)
        grid.addWidget(self.source_generated, 1, 0)
        grid.addWidget(self.source_canvas, 1, 1)
        grid.addWidget(self.image_info, 2, 0, 1, 3)

        # --- settings ---
        self.mode = QComboBox()
        for m in train_job.MODES:
            self.mode.addItem(m.capitalize(), m)
        self.preset = QComboBox()
        for p in train_job.PRESETS:
            self.preset.addItem(PRESET_TEXT[p], p)
        self.mode.currentIndexChanged.connect(self._preset_changed)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self.fields = {name: _field_widget(kind) for name, kind in train_job.FIELDS}
        self.fields["max_size"].valueChanged.connect(self._image_changed)
        self.device = QComboBox()
        cuda = _cuda_available()
        for d in DEVICES:
            self.device.addItem({"auto": "Automatic (GPU if available)", "cpu": "CPU",
                                 "cuda": "GPU (CUDA)"}[d], d)
        if not cuda:
            self.device.model().item(DEVICES.index("cuda")).setEnabled(False)
        current = window.settings.device if (cuda or window.settings.device != "cuda") else "auto"
        self.device.setCurrentIndex(DEVICES.index(current))
        self.name = QLineEdit()
        self.name.setPlaceholderText("the name the model gets in the library")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("The same image, settings and seed train the same model on a CPU; "
                             "another seed gives another run")
        form = QFormLayout()
        form.addRow("Mode:", self.mode)
        form.addRow("Preset:", self.preset)
        for name, widget in self.fields.items():
            form.addRow(FIELD_LABELS[name] + ":", widget)
        form.addRow("Device:", self.device)
        form.addRow("Seed:", self.seed)
        form.addRow("Model name:", self.name)

        # --- progress ---
        self.status = QLabel("Not started")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.eta = QLabel("")
        self.losses = QLabel("")
        self.losses.setWordWrap(True)
        self.warning = QLabel("")  # e.g. the samples went flat: the user may stop early
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #d04040")
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setStyleSheet("background: #202020; color: #bbb")
        self.preview.setText("samples appear here")
        progress = QVBoxLayout()
        for w in (self.status, self.bar, self.eta, self.losses, self.warning):
            progress.addWidget(w)
        progress.addStretch(1)

        # --- resume and buttons ---
        self.resume_combo = QComboBox()
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume)
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop (keep progress)")
        self.stop_button.clicked.connect(self.stop)
        close = QPushButton("Close")
        close.setToolTip("Hide this window; the training goes on in the background")
        close.clicked.connect(self.hide)
        resume_row = QHBoxLayout()
        resume_row.addWidget(QLabel("Earlier runs:"))
        resume_row.addWidget(self.resume_combo, 1)
        resume_row.addWidget(self.resume_button)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_button, self.stop_button, close):
            buttons.addWidget(b)

        left = QVBoxLayout()
        left.addWidget(image_box)
        left.addLayout(form)
        right = QVBoxLayout()
        right.addWidget(self.preview)
        right.addLayout(progress, 1)
        top = QHBoxLayout()
        top.addLayout(left, 3)
        top.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(resume_row)
        layout.addLayout(buttons)

        has_generated = getattr(window.session, "generated", None) is not None
        (self.source_generated if has_generated else self.source_canvas).setChecked(True)
        self._preset_changed()
        self.refresh_runs()
        self._set_running(False)

    # ----- inputs -----------------------------------------------------------------------------
    def _browse(self) -> None:
        from .fileactions import IMAGE_FILTER

        name, _ = QFileDialog.getOpenFileName(self, "Training image", "", IMAGE_FILTER)
        if name:
            self.set_file(name)

    def set_file(self, path: str | Path) -> None:
        self._file_image = ("", "")  # read it again: the file may have changed
        self.file_edit.setText(str(path))
        self.source_file.setChecked(True)
        self._image_changed()

    def image(self) -> np.ndarray | str:
        """The chosen training image as (H, W, 3) uint8, or a sentence saying what is wrong."""
        w = self.window_
        if self.source_generated.isChecked():
            gen = getattr(w.session, "generated", None)
            return np.ascontiguousarray(gen[..., :3]) if gen is not None else \
                "No image has been generated yet"
        if self.source_canvas.isChecked():
            rgba = w.session.display.rgba
            a = rgba[..., 3:4].astype(np.float32) / 255  # transparency shows as white
            return np.round(rgba[..., :3] * a + 255 * (1 - a)).astype(np.uint8)
        text = self.file_edit.text().strip()
        if not text:
            return "Choose an image file"
        from models.errors import InputError
        from models.imageio import to_rgb_array

        if self._file_image[0] != text:  # read each chosen file once
            try:
                self._file_image = (text, to_rgb_array(text))
            except InputError as exc:
                self._file_image = (text, str(exc))
        return self._file_image[1]

    def _image_changed(self, *_):
        image = self.image()
        if isinstance(image, str):
            self.image_info.setText(image)
        else:  # the trainer never enlarges; it shrinks the longest side to max_size
            h, w = image.shape[:2]
            scale = min(1.0, self.fields["max_size"].value() / max(h, w))
            self.image_info.setText(f"{w} × {h} px, trained at {round(w * scale)} × "
                                    f"{round(h * scale)}")
        if self.name.text() in ("", self._auto_name):  # never overwrite a name the user gave
            stem = Path(self.file_edit.text()).stem if self.source_file.isChecked() else (
                "generated" if self.source_generated.isChecked() else "canvas")
            self._auto_name = f"{stem or 'image'} {self.mode.currentData()}"
            self.name.setText(self._auto_name)

    def _preset_changed(self, *_):
        preset, custom = self.preset.currentData(), self.preset.currentData() == "custom"
        try:
            values = train_job.settings_values(train_job.make_settings(
                "standard" if custom else preset, self.mode.currentData()))
        except ImportError:
            values = {}
        for name, widget in self.fields.items():
            widget.setEnabled(custom and name in values)
            if not custom and name in values:
                self._set_field(name, values[name])
        self._image_changed()

    def _set_field(self, name: str, value) -> None:
        widget = self.fields[name]
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        else:
            widget.setValue(value)

    def overrides(self) -> dict:
        """The Custom fields (empty for Fast and Standard)."""
        if self.preset.currentData() != "custom":
            return {}
        return {name: (w.isChecked() if isinstance(w, QCheckBox) else w.value())
                for name, w in self.fields.items() if w.isEnabled()}

    # ----- running ----------------------------------------------------------------------------
    def start(self):
        """Start a new training from the dialog's choices; returns the Job (None: see status)."""
        if self.job is not None and self.job.is_running:
            return None
        image = self.image()
        if isinstance(image, str):
            self._say(image)
            return None
        try:
            run = train_job.new_run(self.name.text() or "model", image,
                                    self.mode.currentData(), self.preset.currentData(),
                                    self.overrides(), self.device.currentData(),
                                    seed=self.seed.value())
        except Exception as exc:  # bad settings or no room on disk: say so, start nothing
            self._say(f"Cannot start: {exc}")
            return None
        return self._launch(run, resume=False)

    def resume(self):
        """Go on with the run chosen in "Earlier runs"; returns the Job."""
        if self.job is not None and self.job.is_running:
            return None
        folder = self.resume_combo.currentData()
        if not folder:
            self._say("There is no stopped training to resume")
            return None
        try:
            run = train_job.TrainingRun.load(folder)
        except train_job.TrainRunError as exc:
            self._say(str(exc))
            return None
        run.device = self.device.currentData()
        return self._launch(run, resume=True)

    def _launch(self, run: train_job.TrainingRun, resume: bool):
        self.run_, self.installed, self._reports, self.last_progress = run, None, 0, None
        self.bar.setValue(0)
        self.eta.setText("Time left: estimating…")
        self.losses.setText("")
        self.warning.setText("")
        self._say(("Resuming " if resume else "Starting ") + run.name + "…")
        from models.library import default_library_root

        library = self.window_.settings.models_folder or default_library_root()
        self.job = self.window_.jobs.start(
            f"Train {run.name}", lambda ctx: train_job.train(run, ctx, resume, library))
        self.job.progress.connect(self.on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.cancelled.connect(self._on_stopped)
        self.job.failed.connect(self._on_failed)
        self._set_running(True)
        return self.job

    def stop(self) -> None:
        if self.job is not None and self.job.is_running:
            self.job.cancel()
            self.stop_button.setEnabled(False)
            self._say("Stopping after this iteration; the progress is kept…")

    def on_progress(self, p) -> None:
        self._reports += 1
        self.last_progress = p
        per_stage = max(1, int(p.iterations_per_stage))
        done = p.stage * per_stage + p.iteration
        self.bar.setValue(int(1000 * done / max(1, p.num_stages * per_stage)))
        self.status.setText(f"Stage {p.stage + 1} of {p.num_stages}, iteration "
                            f"{p.iteration} of {per_stage}")
        # The trainer's estimate needs a few measured iterations to mean anything.
        eta = getattr(p, "eta_seconds", None)
        self.eta.setText("Time left: estimating…" if eta is None or self._reports < 3 else
                         f"Time left: about {format_seconds(eta)} "
                         f"({p.seconds_per_iteration:.2f} s per iteration)")
        if p.losses:
            self.losses.setText("Losses: " + "  ".join(f"{k} {float(v):.3g}"
                                                       for k, v in p.losses.items()))
        self.warning.setText(getattr(p, "warning", ""))
        if p.preview is not None:
            self.show_image(np.asarray(p.preview))

    def show_image(self, rgb: np.ndarray) -> None:
        from PySide6.QtGui import QPixmap

        pixmap = QPixmap.fromImage(rgb_qimage(np.ascontiguousarray(rgb[..., :3])))
        self.preview.setPixmap(pixmap.scaled(PREVIEW_SIDE, PREVIEW_SIDE, Qt.KeepAspectRatio,
                                             Qt.SmoothTransformation))

    def _on_finished(self, result: train_job.TrainResult) -> None:
        self._set_running(False)
        if not result.finished:
            self._on_stopped(result)
            return
        if result.thumbnail is not None:
            self.show_image(result.thumbnail)
        self.bar.setValue(1000)
        self.eta.setText("")
        if result.installed is None:
            self._say(f"Trained, but installing failed ({result.install_error}); the model "
                      f"is in {result.model_file}")
            return
        self.installed = result.installed
        self._say(f"Done: “{result.run.name}” is in your model library ({self.installed.name})")
        self.window_.statusBar().showMessage(f"Trained model {result.run.name} installed", 8000)
        self.refresh_runs()
        gallery = getattr(self.window_, "gallery_dialog", None)
        if gallery is not None:  # an open gallery lists the new model at once
            gallery.refresh_models()

    def _on_stopped(self, result) -> None:
        if isinstance(result, train_job.TrainResult) and result.finished:
            self._on_finished(result)  # it ended just as Stop was pressed: keep the model
            return
        self._set_running(False)
        self.eta.setText("")
        self._say("Stopped. The progress is saved: resume it from “Earlier runs” (also "
                  "Models → Resume training…).")
        self.refresh_runs()

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        if self.run_ is not None:
            train_job.discard_if_unstarted(self.run_)
        text = f"Training failed: {message}"
        self.refresh_runs()
        state = train_job.saved_state(self.run_) if self.run_ is not None else ""
        if state == train_job.FAILED:
            # The same seed would fail the same way: the next Start tries another.
            self.seed.setValue(self.run_.seed + 1)
            text += f". Start training tries again with seed {self.seed.value()}."
        elif self.run_ is not None:
            at = self.resume_combo.findData(str(self.run_.folder))
            if at >= 0:  # it can go on; after running out of GPU memory, on the CPU
                self.resume_combo.setCurrentIndex(at)
                if state == train_job.STOPPED and self.run_.device != "cpu":
                    self.device.setCurrentIndex(self.device.findData("cpu"))
                    text += ". Resume goes on from there on the CPU."
                else:
                    text += ". Resume goes on from the last checkpoint."
        self._say(text)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running and self.resume_combo.count() > 0)
        self.stop_button.setEnabled(running)

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def refresh_runs(self) -> None:
        self.resume_combo.clear()
        running = self.job is not None and self.job.is_running
        for run in train_job.resumable_runs():
            if running and self.run_ is not None and run.folder == self.run_.folder:
                continue  # the one training now
            self.resume_combo.addItem(run.describe(), str(run.folder))
        self.resume_button.setEnabled(self.resume_combo.count() > 0 and
                                      (self.job is None or not self.job.is_running))

    def closeEvent(self, event) -> None:  # the training goes on; the window just hides
        event.ignore()
        self.hide()


# ----- menus ------------------------------------------------------------------------------------
def train_dialog(window) -> TrainDialog:
    """The window's one training dialog (created on first use), shown and raised."""
    dialog = getattr(window, "train_dialog", None)
    if dialog is None:
        dialog = window.train_dialog = TrainDialog(window)
    dialog.refresh_runs()
    dialog.show()
    dialog.raise_()
    return dialog


def _fill_single_image(window, menu) -> None:
    from .modelstore import list_models

    menu.clear()
    found = [m for m in list_models(window.settings.models_folder or None)
             if m.ok and m.kind == "single_image"]
    for info in found:
        menu.addAction(f"{info.name}  ({info.task or 'consingan'}): new sample as layer",
                       lambda i=info: sample_as_layer(window, i.path, i.name))
    if not found:
        menu.addAction("None yet: Models → Train on one image…").setEnabled(False)


def sample_as_layer(window, path, name: str):
    """A new random sample of a single-image model as an image layer (background job)."""
    window.sample_seed = getattr(window, "sample_seed", 0) + 1
    seed, device, session = window.sample_seed, window.settings.device, window.session
    job = window.jobs.start(f"Sample {name}", lambda ctx: train_job.sample(path, seed, device))

    def done(rgb) -> None:
        if window.session is session:
            window._push(window.document.add_image_layer(rgb, name=f"{name} sample {seed}"))

    job.finished.connect(done)
    job.failed.connect(lambda message: window.statusBar().showMessage(
        f"Sampling {name} failed: {message}", 10000))
    return job


def install(window) -> None:
    """Models → Train on one image…, Resume training…, Single-image models."""
    menu = next(a.menu() for a in window.menuBar().actions()
                if a.menu() is not None and a.text().replace("&", "") == "Models")
    menu.addSeparator()
    train = QAction("&Train on one image…", window)
    train.setStatusTip("Train a ConSinGAN on one image in the background (generation, "
                       "retargeting, harmonization, editing, animation)")
    train.triggered.connect(lambda: train_dialog(window))
    resume = QAction("&Resume training…", window)
    resume.setStatusTip("Go on with a training that was stopped")
    resume.triggered.connect(lambda: train_dialog(window).resume_combo.setFocus())
    singles = menu.addMenu("Single-image models")
    singles.aboutToShow.connect(lambda: _fill_single_image(window, singles))
    menu.addAction(train)
    menu.addAction(resume)
    window.train_action, window.resume_training_action = train, resume
