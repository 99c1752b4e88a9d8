"""Edit → Harmonize (ConSinGAN harmonization) and Edit → Make consistent (editing mode).

The pasted layer is harmonized with the model trained on its background (found through the
document's model links, or a model in the user's folder that records the background's
fingerprint); with none, the dialog offers to train one (Fast preset) first. Loading, optional
fine-tuning on the naive composite, and running the model happen in a background job (status bar
indicator, Cancel); the result is a new layer above the pasted one, which is hidden, all one
undo step, so the user can show the pasted layer, move it and harmonize again.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QMessageBox, QPushButton, QSpinBox, QWidget)

from .document.errors import DocumentError
from .document.history import Compound
from .harmonization import (RESULT_KIND, VERB, HarmonizeTask, check_model_file, find_model,
                            harmonize, load_model, new_role, parse_role, plan)
from .job_indicator import indicator
from .modelstore import bundled_models_dir, user_models_dir
from .train_background import train_model, trainer_available
from .train_dialog import format_seconds

FINETUNE_ITERATIONS = 500


def actions(window) -> list[QAction]:
    """The two Edit menu actions (kept on the window as ``harmonize_action`` and
    ``consistent_action``)."""
    window.harmonize_action = QAction("&Harmonize…", window)
    window.harmonize_action.setShortcut(QKeySequence("Ctrl+H"))
    window.harmonize_action.setStatusTip("Blend the pasted layer into its background with the "
                                         "background's ConSinGAN harmonization model")
    window.harmonize_action.triggered.connect(lambda: start(window, "harmonization"))
    window.consistent_action = QAction("Make &consistent…", window)
    window.consistent_action.setShortcut(QKeySequence("Ctrl+Shift+H"))
    window.consistent_action.setStatusTip("Make a moved or copied region fit its surroundings "
                                          "with the background's ConSinGAN editing model")
    window.consistent_action.triggered.connect(lambda: start(window, "editing"))
    return [window.harmonize_action, window.consistent_action]


def model_folders(window) -> list[Path]:
    """Where a background's model may be: the user's folders, then the bundled examples."""
    folders = [user_models_dir()]
    if window.settings.models_folder:
        folders.append(Path(window.settings.models_folder))
    return folders + [bundled_models_dir()]


class HarmonizeDialog(QDialog):
    """Which model (found, chosen, or train one now) and whether to fine-tune first."""

    def __init__(self, parent, task: HarmonizeTask, model_path: Path | None):
        super().__init__(parent)
        self.task, self.model_path = task, model_path
        self.setWindowTitle(VERB[task.mode])
        form = QFormLayout(self)
        h, w = task.background.shape[:2]
        form.addRow("Pasted layer:", QLabel(task.pasted_name))
        form.addRow("Background:", QLabel(f"{task.background_name} ({w}x{h})"))
        self.model_label = QLabel()
        choose = QPushButton("Choose model file…")
        choose.clicked.connect(self._choose)
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.model_label, 1)
        box.addWidget(choose)
        form.addRow("Model:", row)
        self.train_box = QCheckBox("Train one on the background now (Fast preset)")
        self.finetune_box = QCheckBox("Fine-tune on this composite first")
        self.iterations = QSpinBox()
        self.iterations.setRange(1, 5000)
        self.iterations.setValue(FINETUNE_ITERATIONS)
        self.iterations.setSuffix(" iterations")
        if not trainer_available():
            for w_ in (self.train_box, self.finetune_box, self.iterations):
                w_.setEnabled(False)
                w_.setToolTip("The ConSinGAN trainer (training.consingan) is not installed")
        self.finetune_box.toggled.connect(self.iterations.setEnabled)
        self.iterations.setEnabled(False)
        form.addRow(self.train_box)
        form.addRow(self.finetune_box, self.iterations)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText(VERB[task.mode])
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._refresh()

    def _refresh(self) -> None:
        if self.model_path is not None:
            self.model_label.setText(self.model_path.name)
            self.train_box.setChecked(False)
        else:
            self.model_label.setText(f"none trained on this background for {self.task.mode}")
            self.train_box.setChecked(self.train_box.isEnabled())

    def _choose(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "ConSinGAN model", str(user_models_dir()),
                                              "gauapp model (*.safetensors)")
        if name:
            self.model_path = Path(name)
            self._refresh()

    @property
    def finetune_iterations(self) -> int:
        return self.iterations.value() if self.finetune_box.isChecked() else 0


def start(window, mode: str = "harmonization", ask: bool = True,
          model_path: str | Path | None = None, finetune: int = 0, seed: int = 0):
    """Harmonize (or make consistent) the active pasted layer. With ``ask`` a dialog picks the
    model and options; without, ``model_path`` or the background's linked model is used.
    Returns the job, or None when it did not start (the user is told why)."""
    doc = window.document
    try:
        task = plan(doc, doc.active_uid, window.session.generated, mode)
    except DocumentError as exc:
        _fail(window, VERB[mode], str(exc))
        return None
    path = Path(model_path) if model_path else find_model(doc.model_links, model_folders(window),
                                                          task)
    if not ask:
        if path is None:
            _fail(window, VERB[mode], f"No {mode} model is known for {task.background_name}: "
                                      "train one (Edit → " + VERB[mode] + "…) or choose a file")
            return None
        return run(window, task, path, finetune, seed)
    dialog = HarmonizeDialog(window, task, path)
    dialog.setObjectName("harmonize-dialog")

    def accepted():
        if dialog.train_box.isChecked() or dialog.model_path is None:
            if not trainer_available():
                _fail(window, VERB[mode], "No model for this background, and the ConSinGAN "
                                          "trainer is not installed to train one")
                return
            train_model(window, task, then=lambda p: run(window, task, p,
                                                         dialog.finetune_iterations, seed))
        else:
            run(window, task, dialog.model_path, dialog.finetune_iterations, seed)

    dialog.accepted.connect(accepted)
    dialog.open()
    window.harmonize_dialog = dialog
    return None


def _job(task: HarmonizeTask, path: Path, device_setting: str, finetune: int, seed: int):
    def work(ctx):
        from models.devices import resolve_device

        started = time.perf_counter()
        device = resolve_device(device_setting)
        ctx.report({"text": f"{VERB[task.mode]}: loading {path.name}…"})
        if not finetune:
            model = load_model(path, task.mode, device)
            ctx.check_cancel()
        else:  # from the file, so the saved critic is fine-tuned too, as officially
            from training.consingan import ConSinGANTrainer

            check_model_file(path, task.mode)
            trainer = ConSinGANTrainer.finetune(path, task.naive, iterations=int(finetune),
                                                device=str(device), checkpoint_dir=None,
                                                seed=seed)

            def progress(p):  # a fine-tuning run is one stage; iteration counts those done
                text = f"Fine-tuning {p.iteration}/{p.iterations_per_stage}"
                if p.eta_seconds is not None:  # 500 iterations at 250 px: many minutes on a CPU
                    text += f", about {format_seconds(p.eta_seconds)} left"
                ctx.report({"fraction": p.iteration / max(1, p.iterations_per_stage),
                            "text": text})
            model = trainer.run(progress=progress, should_stop=ctx.should_stop)
            ctx.check_cancel()
        ctx.report({"text": f"{VERB[task.mode]}: running the model…"})
        clip = harmonize(model, task, seed)
        return clip, time.perf_counter() - started
    return work


def run(window, task: HarmonizeTask, path: str | Path, finetune: int = 0, seed: int = 0):
    """Start the job; on success the result layer is added (one undo step)."""
    doc, path = window.document, Path(path)
    verb = VERB[task.mode]
    job = window.jobs.start(verb, _job(task, path, window.settings.device, finetune, seed))
    indicator(window).track(job, f"{verb}…")
    window.statusBar().showMessage(f"{verb}: {task.pasted_name} with {path.name}…")

    def done(result):
        clip, seconds = result
        if window.document is not doc:
            window.statusBar().showMessage(f"{verb} result dropped: another painting is open",
                                           8000)
            return
        try:
            change = add_result(doc, task, clip)
        except DocumentError as exc:
            window.statusBar().showMessage(f"{verb} result dropped: {exc}", 10000)
            return
        doc.model_links[task.link] = str(path)
        window._push(change)
        window.statusBar().showMessage(f"{verb} done in {seconds:.1f} s: the pasted layer is "
                                       "hidden; show and move it to try again", 8000)

    job.finished.connect(done)
    job.failed.connect(lambda message: _fail(window, verb, message))
    job.cancelled.connect(lambda _: window.statusBar().showMessage(f"{verb} cancelled", 5000))
    return job


def add_result(doc, task: HarmonizeTask, clip) -> Compound:
    """Earlier results of the same pasted layer hidden, the new result above the pasted layer,
    the pasted layer hidden: one already-applied change."""
    pasted = doc.layer(task.pasted_uid)  # DocumentError when it was deleted meanwhile
    kind = RESULT_KIND[task.mode]
    changes = []
    if task.key:
        for layer in doc.layers:
            if layer.visible and parse_role(getattr(layer, "role", "")) == (kind, task.key):
                changes.append(doc.set_layer_props(layer.uid, visible=False))
    suffix = "harmonized" if task.mode == "harmonization" else "made consistent"
    changes.append(doc.add_image_layer(clip.rgba, name=f"{pasted.name} ({suffix})", x=clip.x,
                                       y=clip.y, index=doc.index_of(pasted.uid) + 1,
                                       role=new_role(kind, task.key) if task.key else ""))
    changes.append(doc.set_layer_props(pasted.uid, visible=False))
    return Compound(changes, VERB[task.mode])  # the new layer is active (InsertLayer)


def _fail(window, title: str, message: str) -> None:
    window.statusBar().showMessage(f"{title}: {message}", 10000)
    window.last_error = message
    box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, window)
    box.setObjectName("error-message")
    box.setWindowModality(Qt.WindowModal)
    box.open()
