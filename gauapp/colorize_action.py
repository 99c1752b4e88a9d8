"""Filters → Colorize: the active image layer (an opened black-and-white photo, say) through a
colorization model, in a background job; the result is a new image layer above it (undoable),
with the original's luminance and alpha, so nothing the user made is touched."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from .document.errors import DocumentError
from .job_indicator import indicator
from .menus import menu_named
from .modelstore import ModelInfo, list_models


def colorization_models(models: list[ModelInfo] | None = None) -> list[ModelInfo]:
    """Usable colorization models, bundled first."""
    models = list_models() if models is None else models
    return [m for m in models if m.ok and m.task == "colorization"]


def install(window) -> None:
    action = QAction("&Colorize", window)
    action.setShortcut(QKeySequence("Ctrl+Shift+K"))
    action.setStatusTip("Colour the active image layer (a black-and-white photo) with the "
                        "colorization model; the result is a new layer")
    action.triggered.connect(lambda: colorize_active_layer(window))
    menu_named(window, "Filte&rs").addAction(action)
    window.colorize_action = action


def _job(path: Path, rgb: np.ndarray, device: str, precision: str):
    def run(ctx):
        from models.colorize import Colorizer
        from models.modelfile import load_model_file

        start = time.perf_counter()
        colorizer = Colorizer(load_model_file(path), device=device, precision=precision)
        ctx.check_cancel()
        out = colorizer(rgb, check_cancel=ctx.check_cancel)
        return out, time.perf_counter() - start
    return run


def colorize_active_layer(window, model: ModelInfo | None = None):
    """Starts the job and returns it (None when there is nothing to do; the user is told why)."""
    doc = window.document
    layer = doc.layer(doc.active_uid) if doc.active_uid is not None else None
    if layer is None or layer.kind != "image":
        window.statusBar().showMessage(
            "Colorize works on an image layer: pick one in the Layers panel "
            "(File → Import image as layer… opens a photo)", 8000)
        return None
    if model is None:
        found = colorization_models()
        if not found:
            QMessageBox.warning(window, "No colorization model",
                                "No colorization model is installed. Train one with "
                                "`gauapp-train pix2pix --config resources/recipes/"
                                "colorization.toml` or import one in the model library.")
            return None
        model = found[0]
    source_uid, x, y = layer.uid, layer.x, layer.y
    alpha = layer.rgba[..., 3].copy()
    device, precision = window.settings.device, window.settings.precision
    window.statusBar().showMessage(f"Colorizing {layer.name} with {model.name}…")
    job = window.jobs.start("Colorize", _job(model.path, layer.rgba[..., :3].copy(),
                                             device, precision))

    def done(result):
        rgb, seconds = result
        if window.document is not doc:  # another painting was opened meanwhile
            window.statusBar().showMessage("Colorize result dropped: the painting changed", 8000)
            return
        try:
            index = doc.index_of(source_uid) + 1
        except DocumentError:  # the source layer was deleted meanwhile: on top
            index = None
        rgba = np.concatenate([rgb, alpha[..., None]], axis=2)
        window._push(doc.add_image_layer(rgba, name=f"{layer.name} (colorized)", x=x, y=y,
                                         index=index))
        window.statusBar().showMessage(f"Colorized in {seconds:.1f} s", 5000)

    indicator(window).track(job, "Colorizing…")  # status-bar progress with Cancel
    job.finished.connect(done)
    job.failed.connect(lambda message: window.statusBar().showMessage(
        f"Colorize failed: {message}", 10000))
    job.cancelled.connect(lambda _: window.statusBar().showMessage("Colorize cancelled", 5000))
    return job
