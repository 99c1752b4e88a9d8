"""The app's main window as the Qt tests open, use and close it."""
from __future__ import annotations

from pathlib import Path

from gauapp.settings import AppSettings


def open_window(qtbot, tmp_path: Path, models_folder: Path, *, show: bool = True,
                size: tuple[int, int] | None = (1000, 700), **settings):
    """A main window with settings and autosave in ``tmp_path``, no autosave timer, live
    generation off and the CPU unless ``settings`` say otherwise; shown when ``show``."""
    from gauapp.mainwindow import MainWindow

    options = {"autosave_minutes": 0, "live_default": False, "device": "cpu", **settings}
    window = MainWindow(settings=AppSettings(models_folder=str(models_folder), **options),
                        settings_path=tmp_path / "settings.json",
                        autosave_dir=tmp_path / "autosave")
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    if show:
        window.show()
        qtbot.waitExposed(window)
    return window


def close_window(window) -> None:
    """Stop the window's background work (jobs, live scheduler, engine) before Qt deletes it."""
    window.jobs.shutdown()
    window.scheduler.set_enabled(False)
    window.engine.shutdown()


def wait_job(qtbot, job, timeout: int = 120_000):
    """``job`` once it has ended (at once if it already has)."""
    if job.is_running:
        qtbot.waitSignal(job.ended, timeout=timeout).wait()
    return job


def reference_model_folder(tmp_path_factory, reference_weights, case: str, name: str) -> Path:
    """A models folder holding the reference SPADE ``case`` (e.g. "spade/coco_ngf16") as our
    model file ``name``.safetensors."""
    from models.importers import import_model
    from models.modelfile import save_model_file

    folder = tmp_path_factory.mktemp("models")
    save_model_file(import_model(reference_weights(case) / "latest_net_G.pth"),
                    folder / f"{name}.safetensors")
    return folder
