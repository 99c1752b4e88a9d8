"""Sketch layers, the pen, and the pix2pix filters: Sketch → photo and Image → image.

A sketch layer is an ordinary image layer filled white and marked ``role="sketch"`` (saved in
the .ora file), drawn on with the Pen: black hard-edged lines (Ctrl: white, to erase), one undo
step per stroke. The filters run an installed pix2pix / pix2pixHD model (``image2image.py``) in
a background job with the app's device and precision settings and put the result on a new
image layer above the source, so Undo removes it and nothing the user made is touched.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QPushButton, QRadioButton, QToolBar,
                               QVBoxLayout)

from . import image2image
from .document import painting
from .document.errors import DocumentError
from .document.history import PixelPatch
from .job_indicator import indicator
from .menus import menu_named
from .tools import Tool

SKETCH_ROLE = "sketch"
INK, PAPER = (0, 0, 0, 255), (255, 255, 255, 255)
SKETCH_HINTS = ("edge", "sketch", "line", "draw")  # model names that suggest sketch input


# ----- the pen ----------------------------------------------------------------------------------
class PenTool(Tool):
    """Black lines on an image layer (Ctrl: white); a whole drag is one undo step."""

    name = "pen"
    uses_brush = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self._layer = None
        self._before: np.ndarray | None = None
        self._bbox: list[int] | None = None
        self._last: tuple[float, float] | None = None
        self._colour = INK

    def _image_layer(self):
        return self._editable_layer("image", "The pen draws on image layers: "
                                             "Layer → New sketch layer")

    def press(self, x, y, modifiers) -> None:
        layer = self._image_layer()
        if layer is None:
            return
        self._layer, self._bbox, self._last = layer, None, (x, y)
        self._colour = PAPER if modifiers & Qt.ControlModifier else INK
        self._before = layer.rgba.copy()  # dropped at release; history keeps only the bbox
        self._dab([(x, y), (x, y)])

    def move(self, x, y, modifiers) -> None:
        if self._layer is not None:
            self._dab([self._last, (x, y)])
            self._last = (x, y)

    def release(self, x, y, modifiers) -> None:
        layer, before, bbox = self._layer, self._before, self._bbox
        self._layer = self._before = None
        if layer is None or bbox is None:
            return
        y0, x0, y1, x1 = bbox
        patch = PixelPatch.from_arrays(layer.uid, y0, x0, before[y0:y1, x0:x1],
                                       layer.rgba[y0:y1, x0:x1], "Pen stroke")
        if patch is not None:
            self.ctx.push(patch)

    def _dab(self, points) -> None:
        layer, doc = self._layer, self.ctx.document
        # The mask is computed in the layer's own pixels (the layer may be offset).
        local = [(px - layer.x, py - layer.y) for px, py in points]
        region = painting.stroke_mask(layer.rgba.shape[:2], local, self.ctx.brush_size / 2)
        if region is None:
            return
        y0, x0, mask = region
        y1, x1 = y0 + mask.shape[0], x0 + mask.shape[1]
        block = layer.rgba[y0:y1, x0:x1].copy()
        block[mask] = self._colour
        try:
            doc.replace_pixels(layer.uid, y0 + layer.y, x0 + layer.x, block, "Pen stroke")
        except DocumentError as exc:
            self.ctx.message(str(exc))
            return
        b = self._bbox
        self._bbox = [y0, x0, y1, x1] if b is None else [min(b[0], y0), min(b[1], x0),
                                                          max(b[2], y1), max(b[3], x1)]


def new_sketch_layer(window) -> None:
    """A white, canvas-sized sketch layer above the active one; the pen is selected."""
    doc = window.document
    white = np.full((doc.height, doc.width, 4), 255, np.uint8)
    n = sum(getattr(layer, "role", "") == SKETCH_ROLE for layer in doc.layers) + 1
    window._push(doc.add_image_layer(white, name=f"Sketch {n}", role=SKETCH_ROLE))
    if "pen" in window.tools:
        window.select_tool("pen")
        if window.size_spin.value() > 8:  # a painting brush is far too wide for line art
            window.size_spin.setValue(3)


# ----- what gets translated ---------------------------------------------------------------------
@dataclass
class Source:
    """Pixels to translate and where the result goes (canvas position and size)."""

    rgba: np.ndarray          # (h, w, 4) uint8
    x: int
    y: int
    name: str
    above_uid: int | None     # put the result just above this layer (None: on top)
    size: tuple[int, int]     # (h, w) of the result layer


def pick_source(window, prefer_sketch: bool) -> Source | str:
    """The layer (or generated image) a filter works on, or a sentence saying what is missing.

    Sketch → photo takes the active sketch layer, else the topmost visible one, else the active
    image layer; Image → image the active image layer, else the last generated image."""
    doc = window.document
    active = doc.active_layer
    candidates = []
    if prefer_sketch:
        sketches = [la for la in reversed(doc.layers)
                    if la.kind == "image" and getattr(la, "role", "") == SKETCH_ROLE]
        if active is not None and active in sketches:
            candidates.append(active)
        candidates += [la for la in sketches if la.visible]
    if active is not None and active.kind == "image":
        candidates.append(active)
    if candidates:
        layer = candidates[0]
        return Source(layer.rgba.copy(), layer.x, layer.y, layer.name, layer.uid,
                      layer.rgba.shape[:2])
    generated = getattr(window.session, "generated", None)
    if not prefer_sketch and generated is not None:
        rgb = np.asarray(generated)[..., :3]
        return Source(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), 0, 0,
                      "generated image", None, (doc.height, doc.width))
    if prefer_sketch:
        return "Draw a sketch first: Layer → New sketch layer, then the Pen (P)"
    return ("Select an image layer (File → Import image as layer…) or generate an image "
            "first")


# ----- the job ----------------------------------------------------------------------------------
def start_translation(window, model_path: str | Path, source: Source, size_mode: str = "model",
                      test_mode: str = "deterministic", title: str = "Image → image"):
    """Run the model on ``source`` in ``window.jobs``; the result becomes a new layer. Returns
    the Job (None with a message when the model cannot translate images)."""
    problem = image2image.model_file_problem(model_path)
    if problem:
        _warn(window, f"{title}: cannot use this model", f"{Path(model_path).name}: {problem}")
        return None
    doc, session = window.document, window.session
    rgb = np.asarray(source.rgba[..., :3]) if source.rgba[..., 3].min() == 255 else \
        _over_white(source.rgba)
    settings = window.settings
    device, precision = settings.device, settings.precision

    def work(ctx):
        start = time.perf_counter()
        out, notes = image2image.run_translation(model_path, rgb, device, precision, size_mode,
                                                 test_mode, check_cancel=ctx.check_cancel)
        return out, notes, time.perf_counter() - start

    window.statusBar().showMessage(f"{title}: {source.name} through {Path(model_path).stem}…")
    job = window.jobs.start(title, work)
    indicator(window).track(job, f"{title}…")  # status-bar progress with Cancel

    def done(result) -> None:
        out, notes, seconds = result
        if window.session is not session:  # another painting was opened meanwhile
            window.statusBar().showMessage(f"{title} result dropped: the painting changed", 8000)
            return
        h, w = source.size
        if out.shape[:2] != (h, w):  # the generated image covers the canvas
            out = image2image._resize(out, h, w)
            alpha = np.full((h, w), 255, np.uint8)
        else:
            alpha = source.rgba[..., 3]
        index = None
        if source.above_uid is not None:
            try:
                index = doc.index_of(source.above_uid) + 1
            except DocumentError:  # the source layer was deleted meanwhile: on top
                index = None
        name = f"{source.name} → {Path(model_path).stem}"
        try:
            window._push(doc.add_image_layer(np.dstack([out, alpha]), name=name, x=source.x,
                                             y=source.y, index=index))
        except DocumentError as exc:
            _warn(window, f"{title} failed", str(exc))
            return
        window.statusBar().showMessage("  ".join([f"{title} done in {seconds:.1f} s"] + notes),
                                       8000)

    job.finished.connect(done)
    job.failed.connect(lambda message: _warn(window, f"{title} failed", message))
    job.cancelled.connect(lambda _: window.statusBar().showMessage(f"{title} cancelled", 5000))
    window.translation_job = job
    return job


def _over_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float32) / 255
    return np.round(rgba[..., :3] * a + 255 * (1 - a)).astype(np.uint8)


def _warn(window, title: str, text: str) -> None:
    from .fileactions import _error

    _error(window, title, text)


# ----- the dialog -------------------------------------------------------------------------------
class TranslateDialog(QDialog):
    """Model, size handling and test mode for one run; ``accepted`` starts the job."""

    def __init__(self, window, prefer_sketch: bool):
        super().__init__(window)
        from .modelstore import list_models

        self.window_ = window
        self.prefer_sketch = prefer_sketch
        self.title = "Sketch → photo" if prefer_sketch else "Image → image"
        self.setWindowTitle(self.title)
        models = image2image.image_models(list_models(window.settings.models_folder or None))
        if prefer_sketch:  # edges2shoes-like models first
            models.sort(key=lambda m: not any(h in m.name.lower() for h in SKETCH_HINTS))
        self.model_combo = QComboBox()
        for info in models:
            self.model_combo.addItem(f"{info.name}  ({info.architecture})", str(info.path))
        browse = QPushButton("Model file…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(browse)
        self.at_model = QRadioButton("At the model's resolution, then resized back")
        self.full = QRadioButton("Full resolution, fully convolutional (padded to the "
                                 "network's grid, cropped back)")
        self.at_model.setChecked(True)
        self.test_mode = QComboBox()
        for key, text in (("deterministic", "Batch statistics, no dropout (repeatable)"),
                          ("official", "Official test.py (batch statistics, dropout)"),
                          ("eval", "Eval mode (running statistics)")):
            self.test_mode.addItem(text, key)
        source = pick_source(window, prefer_sketch)
        self.source_label = QLabel(source if isinstance(source, str) else
                                   f"{source.name} ({source.rgba.shape[1]}×"
                                   f"{source.rgba.shape[0]} px)")
        form = QFormLayout()
        form.addRow("Input:", self.source_label)
        form.addRow("Model:", row)
        form.addRow("Size:", self.at_model)
        form.addRow("", self.full)
        form.addRow("Normalisation:", self.test_mode)
        if not models:
            form.addRow("", QLabel("No image → image model is installed; pick a model file "
                                   "(pix2pix, or pix2pixHD trained on images)."))
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.accepted.connect(self.run)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Model file", "",
                                              "gauapp model (*.safetensors)")
        if name:
            self.add_model_file(name)

    def add_model_file(self, path: str) -> bool:
        """Choose a model file; a model of the wrong kind is refused with the reason."""
        problem = image2image.model_file_problem(path)
        if problem:
            _warn(self.window_, "Cannot use this model", f"{Path(path).name}: {problem}")
            return False
        self.model_combo.addItem(Path(path).stem, str(path))
        self.model_combo.setCurrentIndex(self.model_combo.count() - 1)
        return True

    def run(self):
        """Start the job with the chosen options (the dialog closes); returns the Job."""
        path = self.model_combo.currentData()
        if not path:
            _warn(self.window_, self.title, "Choose a model first.")
            return None
        source = pick_source(self.window_, self.prefer_sketch)
        if isinstance(source, str):
            _warn(self.window_, self.title, source)
            return None
        self.accept()
        return start_translation(self.window_, path, source,
                                 "full" if self.full.isChecked() else "model",
                                 self.test_mode.currentData(), self.title)


def open_translate_dialog(window, prefer_sketch: bool) -> TranslateDialog:
    dialog = TranslateDialog(window, prefer_sketch)
    dialog.setAttribute(Qt.WA_DeleteOnClose)
    dialog.open()
    return dialog


# ----- menus and tool bar -----------------------------------------------------------------------
def install(window) -> None:
    """Layer → New sketch layer, the Pen in the tool bar, Filters → Sketch → photo / Image →
    image."""
    window.tools["pen"] = PenTool(window.tool_ctx)
    pen = QAction("Pen", window, checkable=True)
    pen.setShortcut("P")
    pen.setToolTip("Pen (P): black lines on an image or sketch layer; Ctrl draws white")
    pen.triggered.connect(lambda: window.select_tool("pen"))
    group = window.tool_actions["brush"].actionGroup()
    if group is not None:
        group.addAction(pen)
    window.tool_actions["pen"] = pen
    bar = window.findChild(QToolBar, "tools")
    if bar is not None:
        bar.insertAction(window.tool_actions["eyedropper"], pen)

    sketch = QAction("New &sketch layer", window)
    sketch.setStatusTip("A white layer to draw lines on with the Pen, for Sketch → photo")
    sketch.triggered.connect(lambda: new_sketch_layer(window))
    menu_named(window, "&Layer").addAction(sketch)

    filters = menu_named(window, "Filte&rs")
    to_photo = QAction("Sketch → &photo…", window)
    to_photo.setStatusTip("Turn the sketch layer into a picture with a pix2pix model "
                          "(edges2shoes-like); the result is a new layer")
    to_photo.triggered.connect(lambda: open_translate_dialog(window, True))
    to_image = QAction("&Image → image…", window)
    to_image.setShortcut(QKeySequence("Ctrl+Shift+T"))
    to_image.setStatusTip("The active image layer (or the generated image) through a pix2pix "
                          "or pix2pixHD model; the result is a new layer")
    to_image.triggered.connect(lambda: open_translate_dialog(window, False))
    filters.addAction(to_photo)
    filters.addAction(to_image)
    window.sketch_layer_action, window.sketch_to_photo_action = sketch, to_photo
    window.image_to_image_action = to_image
