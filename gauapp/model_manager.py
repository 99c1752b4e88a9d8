"""Models → Model manager… (Ctrl+Shift+M): the bundled models and the user's model library
(``models.library.ModelLibrary`` at the *model library folder* setting), the catalogue of
published models, imports (also by dropping files or folders on the dialog) and downloads.

Everything that reads or writes model files runs in ``window.jobs`` (the status bar's job
indicator shows it), including rename and remove: the library's lock may be held for a second
by an import hashing a large file, and the GUI thread must never wait for it. The app's model
menus are rebuilt each time they open (``fileactions._fill_models``), so they list what the
library holds now; ``library_changed`` tells anything else that keeps a list.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QLabel, QTabWidget, QVBoxLayout

from .job_indicator import indicator
from .model_downloads import DownloadTab
from .model_import import ImportFlow
from .model_installed import InstalledTab
from .model_views import kind_label


def library_root(window) -> Path:
    from models.library import default_library_root

    folder = window.settings.models_folder
    return Path(folder) if folder else default_library_root()


class ModelManager(QDialog):
    """Non-modal; closing hides it (downloads and imports go on in the background)."""

    library_changed = Signal()

    def __init__(self, window, catalogue_path=None):
        from models.library import ModelLibrary

        super().__init__(window)
        self.setWindowTitle("Model manager")
        self.setObjectName("model-manager")
        self.setModal(False)
        self.setAcceptDrops(True)
        self.resize(960, 640)
        self.window_ = window
        self.library = ModelLibrary(library_root(window))
        self.check_results: dict[str, tuple[bool, str, str]] = {}  # id -> (ok, message, time)
        self.installed = InstalledTab(self)
        self.downloads = DownloadTab(self, catalogue_path)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.installed, "Installed")
        self.tabs.addTab(self.downloads, "Download")
        self.message = QLabel()
        self.message.setObjectName("model-manager-message")
        self.message.setWordWrap(True)
        self.hint = QLabel("Drop model files, folders or archives here to import them.")
        self.hint.setStyleSheet("color: gray;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.hint)
        self.imports = ImportFlow(self)
        self.imports.imported.connect(lambda _: self.refresh())
        self.imports.message.connect(self.show_message)
        self.downloads.installed.connect(lambda _: self.refresh())
        self.downloads.message.connect(self.show_message)
        self.refresh()
        if self.library.warnings:
            self.show_message(self.library.warnings[-1], True)

    # ----- jobs and messages --------------------------------------------------------------------
    def start_job(self, name: str, fn, track: bool = True):
        job = self.window_.jobs.start(name, fn)
        if track:
            indicator(self.window_).track(job, name)
        return job

    def library_job(self, name: str, fn, done_text: str, track: bool = True):
        """A job that changes the library: the list refreshes and the result is one line."""
        job = self.start_job(name, fn, track)
        job.finished.connect(lambda _: (self.show_message(done_text), self.refresh()))
        job.failed.connect(lambda text: (self.show_message(f"{name} failed: {text}", True),
                                         self.refresh()))
        return job

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00020;" if error else "")

    # ----- the library --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show what the library holds (as this process last read it) and the bundled models."""
        from .modelstore import bundled_models_dir, list_models

        bundled = [m for m in list_models(self.library.root, bundled_models_dir())
                   if m.is_bundled]
        self.installed.populate(bundled, self.library.entries())
        self.downloads.reload()
        self._sync_window_model()
        self.library_changed.emit()

    def _sync_window_model(self) -> None:
        """The painting's model was renamed or removed: show its new name, or pick another."""
        from .modelstore import default_model, list_models

        model = self.window_.model
        if model is None or model.is_bundled or model.path.parent != self.library.root:
            return
        models = list_models(self.library.root)
        found = [m for m in models if m.path == model.path]
        if not found:
            self.window_.set_model(default_model(models))
        elif found[0].name != model.name:
            self.window_.set_model(found[0])

    def reload(self):
        """Re-read the manifest in a job (another process or a training may have changed it)."""
        library = self.library
        job = self.start_job("Read the model library", lambda ctx: library.refresh(), False)
        job.finished.connect(lambda warnings: (self.refresh(), warnings and self.show_message(
            warnings[-1], True)))
        job.failed.connect(lambda text: self.show_message(f"The library cannot be read: {text}",
                                                          True))
        return job

    def set_root(self, root: Path) -> None:
        from models.library import ModelLibrary

        self.library = ModelLibrary(root)
        self.check_results.clear()
        self.refresh()

    def use_model(self, path: Path) -> None:
        from .modelstore import list_models

        found = [m for m in list_models(self.library.root) if m.path == path]
        if not found or not found[0].is_label2image:
            why = (found[0].error or f"a {kind_label(found[0].kind)} model") if found else \
                "the file is gone"
            self.show_message(f"{path.name} cannot be used for painting: {why}", True)
            return
        self.window_.set_model(found[0])
        self.show_message(f"Painting with {found[0].name!r}")

    def verify_all(self):
        library = self.library

        def run(ctx):
            def progress(i, n, entry):
                ctx.check_cancel()
                ctx.report({"fraction": i / max(n, 1), "text": f"Verifying {entry.name}"})
            return library.verify(progress)

        job = self.start_job("Verify the model library", run)
        job.finished.connect(self._verified)
        job.failed.connect(lambda text: self.show_message(f"Verify failed: {text}", True))
        return job

    def _verified(self, results) -> None:
        now = time.strftime("%H:%M")
        self.check_results = {e.id: (ok, message, now) for e, ok, message in results}
        bad = [e.name for e, ok, _ in results if not ok]
        self.show_message(f"{len(bad)} of {len(results)} model(s) changed or missing: "
                          + ", ".join(bad) if bad else
                          f"All {len(results)} library model(s) are intact", bool(bad))
        self.refresh()

    def import_paths(self, paths) -> None:
        if paths:
            self.imports.add(paths)

    # ----- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.tabs.setCurrentWidget(self.installed)
            self.import_paths(paths)


def open_model_manager(window, catalogue_path=None) -> ModelManager | None:
    """The window's one manager (created on first use), shown, raised and re-read."""
    from models.errors import ModelError

    manager = getattr(window, "model_manager", None)
    if manager is None:
        try:
            manager = window.model_manager = ModelManager(window, catalogue_path)
        except ModelError as exc:  # an unreadable manifest (permissions, I/O error)
            window.statusBar().showMessage(f"The model library cannot be opened: {exc}", 15000)
            return None
    else:
        manager.reload()
    manager.show()
    manager.raise_()
    return manager


def install(window) -> None:
    """Models → Model manager… (Ctrl+Shift+M)."""
    menu = next(a.menu() for a in window.menuBar().actions()
                if a.menu() is not None and a.text().replace("&", "") == "Models")
    action = QAction("Model &manager…", window)
    action.setShortcut("Ctrl+Shift+M")
    action.setStatusTip("Installed models, import, download from the catalogue, verify")
    action.triggered.connect(lambda: open_model_manager(window))
    first = next((a for a in menu.actions() if a.menu() is None), None)
    menu.insertAction(first, action)
    window.model_manager_action = action


# ----- the model library folder setting ----------------------------------------------------------
def ask_move(parent, count: int, old: Path, new: Path) -> str | None:
    """Returns "move", "switch" (use the new folder as it is) or None (keep the old one)."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Question, "Model library folder",
                      f"The model library in {old} holds {count} model(s). Move them to "
                      f"{new}? Each file is copied and checked before the original is deleted.",
                      QMessageBox.Cancel, parent)
    move = box.addButton(f"Move {count} model(s)", QMessageBox.AcceptRole)
    switch = box.addButton("Use the new folder as it is", QMessageBox.DestructiveRole)
    box.setDefaultButton(move)
    box.exec()
    return {move: "move", switch: "switch"}.get(box.clickedButton())


def library_folder_changed(window, new_folder: str) -> str:
    """The settings dialog chose ``new_folder``; returns the folder the settings keep now.
    When the current library holds models the user chooses: move them (in a job; the setting
    changes once every file was copied and checked), use the new folder as it is, or keep the
    old one."""
    from models.errors import ModelError
    from models.library import ModelLibrary

    old_root = library_root(window)
    new_root = Path(new_folder).expanduser()
    if not new_folder or new_root.resolve() == old_root.resolve():
        return window.settings.models_folder
    manager = getattr(window, "model_manager", None)
    try:
        old = manager.library if manager is not None and manager.library.root == old_root \
            else ModelLibrary(old_root)
    except ModelError as exc:  # nothing readable to move: just use the new folder
        window.statusBar().showMessage(f"The old model library was not moved: {exc}", 15000)
        _library_moved(window, str(new_root), None, save=False)
        return str(new_root)
    count = len(old.entries())
    choice = ask_move(window, count, old_root, new_root) if count else "switch"
    if choice == "switch":  # the caller saves the settings
        _library_moved(window, str(new_root), None, save=False)
        return str(new_root)
    if choice != "move":
        return window.settings.models_folder
    current = window.model
    sha = next((e.sha256 for e in old.entries() if current is not None
                and e.path == current.path), None)
    job = window.jobs.start(f"Move the model library to {new_root}",
                            lambda ctx: old.move_to(new_root))
    indicator(window).track(job, f"Moving {count} model(s) to {new_root}")
    known_warnings = len(old.warnings)

    def moved(target) -> None:
        _library_moved(window, str(new_root), sha and next(
            (e.path for e in target.entries() if e.sha256 == sha), None))
        left = "; ".join(old.warnings[known_warnings:])  # files missing, not moved
        window.statusBar().showMessage(f"Moved the model library to {new_root}"
                                       + (f" ({left})" if left else ""), 10000)

    job.finished.connect(moved)
    job.failed.connect(lambda text: window.statusBar().showMessage(
        f"The model library was not moved: {text}", 15000))
    return window.settings.models_folder


def _library_moved(window, folder: str, current_path: Path | None, save: bool = True) -> None:
    from models.errors import ModelError

    from .modelstore import list_models
    from .settings import save_settings

    if save and window.settings.models_folder != folder:
        window.settings.models_folder = folder
        save_settings(window.settings, window.settings_path)
    manager = getattr(window, "model_manager", None)
    if manager is not None:
        try:
            manager.set_root(Path(folder))
        except ModelError as exc:
            manager.show_message(f"The model library in {folder} cannot be read: {exc}", True)
    if current_path is not None:  # the painting's model moved with the library
        found = [m for m in list_models(folder) if m.path == current_path]
        if found:
            window.set_model(found[0])
