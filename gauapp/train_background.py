"""Training a harmonization/editing model for a background when there is none: the Fast
preset as a training run (train_job.py: resumable, installed into the model library), in a job,
with a small progress dialog whose Cancel stops it (the run's checkpoint is kept, so Models →
Resume training… can go on later)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressDialog

from .harmonization import VERB, HarmonizeTask


def trainer_available() -> bool:
    """True when the ConSinGAN trainer can be imported (an optional part of an install)."""
    try:
        if importlib.util.find_spec("training.consingan") is None:
            return False
        from training.consingan import ConSinGANTrainer, TrainSettings  # noqa: F401
    except ImportError:
        return False
    return True


def describe_progress(p) -> tuple[float, str]:
    """(fraction done, one line) from a ``TrainProgress``."""
    per_stage = max(1, int(p.iterations_per_stage))
    done = p.stage * per_stage + p.iteration
    fraction = done / max(1, p.num_stages * per_stage)
    text = f"Stage {p.stage + 1} of {p.num_stages}, iteration {p.iteration} of {per_stage}"
    eta = getattr(p, "eta_seconds", None)
    if eta is not None:
        from .train_dialog import format_seconds

        text += f", about {format_seconds(eta)} left"
    return fraction, text


def train_model(window, task: HarmonizeTask, then: Callable[[Path], object],
                overrides: dict | None = None):
    """Train a ``task.mode`` model on ``task.background`` (Fast preset with ``overrides``);
    when it is done and installed, link it to the background and call ``then(path)``.
    Returns the job (None when it could not start; the user is told why)."""
    from . import train_job

    doc = window.document
    name = f"{task.background_name} {task.mode}"
    try:
        run = train_job.new_run(name, task.background, task.mode, "fast", overrides,
                                window.settings.device)
    except Exception as exc:  # bad settings, no room on disk: nothing started
        window.statusBar().showMessage(f"Cannot train a {task.mode} model: {exc}", 10000)
        return None
    job = window.jobs.start(f"Train {name}", lambda ctx: train_job.train(run, ctx))
    dialog = QProgressDialog(f"Training a {task.mode} model on {task.background_name} "
                             "(Fast preset)…", "Cancel", 0, 1000, window)
    dialog.setObjectName("train-progress")
    dialog.setWindowTitle(f"{VERB[task.mode]}: training a model")
    dialog.setWindowModality(Qt.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(job.cancel)
    dialog.show()
    window.train_progress = dialog

    def progress(p) -> None:
        fraction, text = describe_progress(p)
        dialog.setValue(int(fraction * 1000))
        dialog.setLabelText(f"Training a {task.mode} model on {task.background_name}\n{text}")

    def finished(result) -> None:
        dialog.close()
        if not result.finished:
            stopped(result)
            return
        try:
            path = train_job.install(result, window.settings.models_folder or None)
        except Exception as exc:  # the model stays usable in its run folder
            window.statusBar().showMessage(f"Trained; installing failed ({exc})", 8000)
            path = result.model_file
        if window.document is doc:
            doc.model_links[task.link] = str(path)
        then(Path(path))

    def stopped(_result) -> None:
        dialog.close()
        window.statusBar().showMessage("Training stopped; it can go on from Models → Resume "
                                       "training…", 8000)

    def failed(message: str) -> None:
        dialog.close()
        window.statusBar().showMessage(f"Training failed: {message}", 10000)
        window.last_error = message

    job.progress.connect(progress)
    job.finished.connect(finished)
    job.cancelled.connect(stopped)
    job.failed.connect(failed)
    return job
