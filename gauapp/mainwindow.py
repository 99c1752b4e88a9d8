"""The main window: the painting and the generated image, docks, tool bar, menus, status bar.

It wires the pieces together and owns no painting logic: tools change the document, the undo
stack records it, the live scheduler asks the engine for an image, the views show the results.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QSlider, QSpinBox, QSplitter,
                               QUndoView, QVBoxLayout, QWidget)

from models import __version__
from models.labelsets import load_labelset

from . import colorize_action, fileactions
from . import edit_actions, pix2pix_tools, train_dialog
from . import label_translation, model_manager
from .autosave import Autosaver
from .canvas import CanvasView, ViewTransform, rgb_qimage, rgba_qimage
from .engine import Engine
from .jobs import JobRunner
from .layers_panel import LayersDock
from .live import LiveScheduler
from .modelstore import ModelInfo, default_model, list_models
from .palette import PaletteDock
from .session import Session, new_document
from .settings import AppSettings, SettingsDialog, load_settings, save_settings
from .tools import (BRUSH_MAX, BRUSH_MIN, BrushTool, EraserTool, EyedropperTool, FillTool,
                    ShapeTool, ToolContext, painted_class_at)

log = logging.getLogger(__name__)
APP_NAME = "gauapp"
NO_MODEL_TEXT = ("No model loaded.\n\nPaint anyway, and save your painting; to see it rendered, "
                 "choose a model in Models, or convert an official SPADE checkpoint with "
                 "`gauapp-train convert` and put the .safetensors file in your models folder.")
NOTHING_PAINTED_TEXT = ("Nothing painted for the model yet.\n\nPick a class in Classes and paint "
                        "on a label layer (Layer → New label layer adds one over an image).")


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, settings_path=None,
                 engine: Engine | None = None, autosave_dir: Path | None = None):
        super().__init__()
        self.settings = settings or load_settings(settings_path)
        self.settings_path = settings_path
        self.engine = engine or Engine()
        self.jobs = JobRunner(self)  # one-off background work: colorize, harmonize, training
        self.model: ModelInfo | None = None
        self.seed = 0
        self.style_image: Path | None = None
        self.last_generation_s: float | None = None
        self._result_region_revision = -1
        self._nothing_painted = False  # the document has no class for the model to render
        self.setWindowTitle(APP_NAME)
        self.resize(1280, 800)
        self.setAcceptDrops(True)

        self.transform = ViewTransform()
        self.paint_view = CanvasView(self.transform)
        self.result_view = CanvasView(self.transform, placeholder=NO_MODEL_TEXT)
        self.split_slider = QSlider(Qt.Horizontal)
        self.split_slider.setRange(0, 100)
        self.split_slider.setValue(50)
        self.split_slider.setToolTip("Where the generated image ends and the painting begins")
        self.split_slider.valueChanged.connect(self._split_moved)
        self.splitter = QSplitter(Qt.Horizontal)
        left = QWidget()
        box = QVBoxLayout(left)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.paint_view, 1)
        box.addWidget(self.split_slider)
        self.split_slider.hide()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.result_view)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.palette = PaletteDock(self)
        self.palette.class_chosen.connect(self._class_chosen)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.palette)
        self.layers = LayersDock(self)
        self.addDockWidget(Qt.RightDockWidgetArea, self.layers)
        self.history_dock = QDockWidget("History", self)
        self.history_dock.setObjectName("history")
        self.history_view = QUndoView()
        self.history_dock.setWidget(self.history_view)
        self.addDockWidget(Qt.RightDockWidgetArea, self.history_dock)

        self.tool_ctx = ToolContext(document=None, push=self._push,
                                    current_class=self.palette.current_class,
                                    pick_class=self.palette.set_current_class,
                                    message=lambda text: self.statusBar().showMessage(text, 4000))
        self.tools = {
            "brush": BrushTool(self.tool_ctx), "eraser": EraserTool(self.tool_ctx),
            "fill": FillTool(self.tool_ctx), "rectangle": ShapeTool(self.tool_ctx, "rectangle"),
            "ellipse": ShapeTool(self.tool_ctx, "ellipse"),
            "eyedropper": EyedropperTool(self.tool_ctx)}
        self.scheduler = LiveScheduler(self.engine, self._snapshot, parent=self)
        self.engine.result.connect(self._on_result)
        self.engine.failed.connect(self._on_failed)
        self.engine.notice.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.engine.busy_changed.connect(self._on_busy)

        self.status_device = QLabel()
        self.status_model = QLabel()
        self.status_time = QLabel()
        self.status_cursor = QLabel()
        for w in (self.status_cursor, self.status_model, self.status_device, self.status_time):
            self.statusBar().addPermanentWidget(w)
        self.paint_view.cursor_moved.connect(self._cursor_moved)

        self.session: Session | None = None
        fileactions.build_menus(self)
        colorize_action.install(self)
        self._build_toolbar()
        pix2pix_tools.install(self)  # after the tool bar: it adds the Pen there
        train_dialog.install(self)
        edit_actions.install(self)  # select/move tools, copy/paste, Harmonize, gallery
        model_manager.install(self)  # Models → Model manager…
        label_translation.install(self)  # Edit → Translate classes to the model…
        self.autosaver = Autosaver(self._autosave, self._is_modified,
                                   lambda: str(self.session.path or "") if self.session else "",
                                   folder=autosave_dir, minutes=self.settings.autosave_minutes,
                                   parent=self)
        self._apply_engine_settings()
        self._choose_initial_model()
        self.set_session(Session(new_document(512, 512, self.labelset)))
        self.select_tool("brush")
        self.live_action.setChecked(self.settings.live_default)
        self.set_live(self.settings.live_default)  # setChecked does not emit triggered
        self._restore_geometry()

    # ----- sessions -------------------------------------------------------------------------
    @property
    def document(self):
        return self.session.document if self.session else None

    @property
    def labelset(self):
        if self.model is not None and self.model.labelset:
            try:
                return load_labelset(self.model.labelset)
            except Exception:  # a custom set travels inside the model file; read it from there
                return self.engine.labelset() if hasattr(self.engine, "labelset") else None
        return load_labelset("landscape")

    def set_session(self, session: Session) -> None:
        if self.session is not None:
            self.session.document.changed.disconnect(self._doc_changed)
            self.session.document.modified_changed.disconnect(self._update_title)
            self.session.document.labelset_changed.disconnect(self._labelset_changed)
        self.session = session
        doc = session.document
        doc.changed.connect(self._doc_changed)
        doc.modified_changed.connect(self._update_title)
        doc.labelset_changed.connect(self._labelset_changed)
        self.tool_ctx.document = doc
        self.transform.set_canvas_size(doc.width, doc.height)
        self.paint_view.set_image(rgba_qimage(session.display.rgba))
        self.show_result(rgb_qimage(session.generated) if session.generated is not None else None)
        self.layers.set_document(doc, self._push)
        self.history_view.setStack(session.undo)
        # Undoing back to the saved state makes the document unmodified again.
        session.undo.cleanChanged.connect(lambda clean: doc.set_modified(not clean))
        self.palette.set_labelset(doc.labelset)
        QTimer.singleShot(0, self.fit_view)
        self._update_title()
        self._check_painted()
        label_translation.refresh(self, offer=True)
        self.scheduler.notify_changed()

    def _labelset_changed(self, labelset) -> None:
        """A translation (or its undo) gave the document another label set."""
        label_translation.follow_document(self, labelset)

    def _push(self, change) -> None:
        self.session.undo.push_change(change)

    def _doc_changed(self, region) -> None:
        r = self.session.display.refresh(region)
        if region is None:
            self.paint_view.update()
        else:
            self.paint_view.update_canvas_rect(*r)
        if region is None or self._nothing_painted:  # strokes only matter for the first class
            self._check_painted()
        self.scheduler.notify_changed()

    def _snapshot(self):
        doc = self.document
        if doc is None or self.pending_translation is not None:  # ids the model would misread
            return -1, None
        if not self._check_painted():
            return -1, None
        return doc.label_revision, doc.composite_labels()

    def _check_painted(self) -> bool:
        """Whether the document has a class for the model. A photo opened on its own has none:
        the result view then says what to do, rather than rendering "unlabeled" everywhere,
        and a result that stood for classes since erased or hidden is cleared."""
        painted = self.document is None or self.document.has_label_content()
        if painted == self._nothing_painted:  # it changed
            self._nothing_painted = not painted
            if not painted:
                self.session.generated = None
                self.show_result(None)
            self.update_result_placeholder()
        return painted

    def update_result_placeholder(self) -> None:
        """What the result view says while it has no image, the most pressing reason first."""
        if self.model is None:
            text = NO_MODEL_TEXT
        elif self.pending_translation is not None:
            text = label_translation.waiting_text(self.pending_translation, self.model.name)
        elif self._nothing_painted:
            text = NOTHING_PAINTED_TEXT
        elif self.scheduler.enabled:
            text = "Generating…"
        else:
            text = "Live generation is off: press Generate (Ctrl+Return)."
        self.result_view.placeholder = text
        self.result_view.update()

    def show_result(self, qimage) -> None:
        """The generated image (None: none) in the result view, and the split view's left part."""
        self.result_view.set_image(qimage)
        if self.split_slider.isVisible():
            self.paint_view.split_image = qimage
            self.paint_view.update()

    def _is_modified(self) -> bool:
        return bool(self.document is not None and self.document.modified)

    def _autosave(self, path: Path) -> None:
        fileactions.write_project(self, path, mark_saved=False)

    def _update_title(self, *_):
        if self.session is None:
            return
        self.setWindowTitle(f"{self.session.title}[*] — {APP_NAME} {__version__}")
        self.setWindowModified(bool(self.document.modified))

    # ----- models and generation --------------------------------------------------------------
    def _choose_initial_model(self) -> None:
        models = list_models(self.settings.models_folder or None)
        self.set_model(default_model(models))

    def set_model(self, info: ModelInfo | None) -> None:
        self.model = info
        self.engine.set_model(info.path if info is not None else None)
        name = info.name if info is not None else "no model"
        self.status_model.setText(f"Model: {name}")
        uses_z = bool(info is not None and getattr(info, "uses_z", False))
        has_encoder = bool(info is not None and getattr(info, "has_encoder", False))
        why = "" if info is not None else "No model is loaded"
        self.variation_action.setEnabled(uses_z)
        self.variation_action.setToolTip("New variation (new style seed)" if uses_z else
                                         why or "This model has no style input (not a VAE model)")
        self.style_action.setEnabled(has_encoder)
        self.style_action.setToolTip("Take the style from an image" if has_encoder else
                                     why or "This model has no style encoder")
        if self.session is not None and self.document.labelset is None:
            self.palette.set_labelset(self.labelset)
        label_translation.refresh(self, offer=self.session is not None)  # and the placeholder
        self.scheduler.notify_changed()

    def _apply_engine_settings(self) -> None:
        self.engine.set_device(self.settings.device)
        self.engine.set_precision(self.settings.precision)
        self.engine.set_output_mode(self.settings.output_mode)
        self.status_device.setText(f"Device: {_describe_device(self.settings.device)}")

    def generate_now(self) -> None:
        if self.model is None:
            self.statusBar().showMessage("No model: choose one in the Models menu", 5000)
            return
        self.scheduler.generate_now()

    def new_variation(self) -> None:
        self.seed += 1
        self.scheduler.set_request_options(seed=self.seed)
        self.generate_now()

    def _on_result(self, request_id: int, image: np.ndarray, seconds: float) -> None:
        self.last_generation_s = seconds
        self.status_time.setText(f"Generated in {seconds * 1000:.0f} ms")
        if self._nothing_painted or self.pending_translation is not None:
            return  # asked for before the painting was emptied or the model changed
        self.session.generated = image
        self.show_result(rgb_qimage(image))

    def _on_failed(self, request_id: int, message: str) -> None:
        self.statusBar().showMessage(f"Generation failed: {message} (details in the log file)",
                                     10000)

    def _on_busy(self, busy: bool) -> None:
        self.status_time.setText("Generating…" if busy else (
            f"Generated in {self.last_generation_s * 1000:.0f} ms"
            if self.last_generation_s is not None else ""))

    def set_live(self, on: bool) -> None:
        self.scheduler.set_enabled(on)
        self.update_result_placeholder()

    # ----- tools and view ---------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Tools")
        bar.setObjectName("tools")
        group = QActionGroup(self)
        self.tool_actions = {}
        for key, label, shortcut in (("brush", "Brush", "B"), ("eraser", "Eraser", "E"),
                                     ("fill", "Fill", "G"), ("rectangle", "Rectangle", "R"),
                                     ("ellipse", "Ellipse", "O"),
                                     ("eyedropper", "Eyedropper", "I")):
            action = QAction(label, self, checkable=True)
            action.setShortcut(shortcut)
            action.setToolTip(f"{label} ({shortcut})")
            action.triggered.connect(lambda _=False, k=key: self.select_tool(k))
            group.addAction(action)
            bar.addAction(action)
            self.tool_actions[key] = action
        bar.addSeparator()
        bar.addWidget(QLabel(" Size "))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(BRUSH_MIN, BRUSH_MAX)
        self.size_spin.setValue(self.tool_ctx.brush_size)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush size ([ and ] change it)")
        self.size_spin.valueChanged.connect(self._brush_size_changed)
        bar.addWidget(self.size_spin)
        for text, factor in (("[", 1 / 1.25), ("]", 1.25)):
            a = QAction(self)
            a.setShortcut(text)
            a.triggered.connect(lambda _=False, f=factor: self.size_spin.setValue(
                max(BRUSH_MIN, min(BRUSH_MAX, round(self.size_spin.value() * f)
                                   + (1 if f > 1 else -1)))))
            self.addAction(a)
        self.fill_all_action = QAction("Fill: all layers", self, checkable=True)
        self.fill_all_action.setToolTip("The fill bucket fills the region as all visible layers "
                                        "show it, not only the active layer's")
        self.fill_all_action.toggled.connect(
            lambda on: setattr(self.tool_ctx, "fill_composite", on))
        bar.addAction(self.fill_all_action)
        bar.addSeparator()
        for action in (self.live_action, self.generate_action, self.variation_action,
                       self.style_action, self.split_action):
            bar.addAction(action)

    def select_tool(self, key: str) -> None:
        self.tool_actions[key].setChecked(True)
        self.current_tool = key
        tool = self.tools[key]
        self.paint_view.tool = tool
        self.paint_view.brush_radius = self.tool_ctx.brush_size / 2 if tool.uses_brush else 0
        self.paint_view.setCursor(Qt.CrossCursor if not tool.uses_brush else Qt.BlankCursor)
        self.paint_view.update()

    def _brush_size_changed(self, value: int) -> None:
        self.tool_ctx.brush_size = value
        if self.tools[self.current_tool].uses_brush:
            self.paint_view.brush_radius = value / 2
            self.paint_view.update()

    def _class_chosen(self, class_id: int) -> None:
        if not self.tools[self.current_tool].uses_brush and self.current_tool != "fill":
            self.select_tool("brush")

    def keyPressEvent(self, event) -> None:
        # Hold Alt: the eyedropper, as in painting programs.
        if event.key() == Qt.Key_Alt and self.current_tool != "eyedropper":
            self._before_alt = self.current_tool
            self.select_tool("eyedropper")
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key_Alt and getattr(self, "_before_alt", None):
            self.select_tool(self._before_alt)
            self._before_alt = None
            return
        super().keyReleaseEvent(event)

    def fit_view(self) -> None:
        self.transform.fit(self.paint_view.width(), self.paint_view.height())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_shown_once", False):  # side by side: two equal halves
            self._shown_once = True
            half = max(1, self.splitter.width() // 2)
            self.splitter.setSizes([half, half])
            QTimer.singleShot(0, self.fit_view)

    def set_split_mode(self, single: bool) -> None:
        """Single view with a split slider (generated | painting), or side by side."""
        self.result_view.setVisible(not single)
        self.split_slider.setVisible(single)
        self.paint_view.split_image = self.result_view.image if single else None
        self.paint_view.split = self.split_slider.value() / 100
        self.paint_view.update()
        QTimer.singleShot(0, self.fit_view)

    def _split_moved(self, value: int) -> None:
        self.paint_view.split = value / 100
        self.paint_view.update()

    def _cursor_moved(self, x: float, y: float) -> None:
        doc = self.document
        ix, iy = int(x), int(y)
        if doc is None or not (0 <= ix < doc.width and 0 <= iy < doc.height):
            self.status_cursor.setText("")
            return
        text = f"{ix}, {iy}"
        labelset = doc.labelset
        value = painted_class_at(doc, ix, iy)
        if value is not None and labelset is not None and value in labelset:
            text += f"  {labelset.get(value).name}"
        self.status_cursor.setText(text)

    # ----- settings and window state ------------------------------------------------------------
    def open_settings(self) -> None:
        new = SettingsDialog.edit(self.settings, self)
        if new is None:
            return
        # A new library folder: the models may be moved there (the setting follows the move).
        new.models_folder = model_manager.library_folder_changed(self, new.models_folder)
        self.settings = new
        save_settings(new, self.settings_path)
        self._apply_engine_settings()
        self.autosaver.set_interval(new.autosave_minutes)
        if new.background_class != self.document.background_class:
            self.document.background_class = new.background_class
            self.scheduler.notify_changed()

    def _restore_geometry(self) -> None:
        qs = QSettings(APP_NAME, APP_NAME)
        if qs.value("geometry"):
            self.restoreGeometry(qs.value("geometry"))
        if qs.value("state"):
            self.restoreState(qs.value("state"))

    def closeEvent(self, event) -> None:
        if not fileactions.confirm_discard(self):
            event.ignore()
            return
        qs = QSettings(APP_NAME, APP_NAME)
        qs.setValue("geometry", self.saveGeometry())
        qs.setValue("state", self.saveState())
        self.scheduler.set_enabled(False)
        self.engine.shutdown()
        self.jobs.shutdown()
        self.autosaver.remove()
        event.accept()

    # ----- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                fileactions.open_dropped(self, Path(url.toLocalFile()))


def _describe_device(setting: str) -> str:
    import torch

    if setting in ("auto", "cuda") and torch.cuda.is_available():
        return f"GPU ({torch.cuda.get_device_name(0)})"
    return f"CPU ({torch.get_num_threads()} threads)"


def timestamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M")
