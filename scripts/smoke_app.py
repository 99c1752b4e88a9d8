"""Smoke run of the real application on a display (Xvfb in CI): start ``gauapp`` as a user
would, paint a landscape with the mouse, generate, save, reopen, and check what came back.

    xvfb-run -a python scripts/smoke_app.py MODELS_DIR WORK_DIR

Exits 0 on success; prints what failed otherwise. The models folder should hold a label-to-image
model file (the test makes one from the reference checkpoints).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def run(models_dir: Path, work: Path) -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gauapp import fileactions
    from gauapp.logs import setup_logging
    from gauapp.mainwindow import MainWindow
    from gauapp.scripted import paint_landscape
    from gauapp.settings import AppSettings, save_settings

    setup_logging(work / "gauapp.log")
    app = QApplication(sys.argv[:1])
    settings = AppSettings(models_folder=str(models_dir), live_default=True, autosave_minutes=1)
    save_settings(settings, work / "settings.json")
    window = MainWindow(settings=settings, settings_path=work / "settings.json",
                        autosave_dir=work / "autosave")
    window.show()
    app.processEvents()
    if window.model is None:
        print("no model was picked from", models_dir)
        return 1
    print("platform:", app.platformName(), "model:", window.model.name)

    results = []
    window.engine.result.connect(lambda *args: results.append(args))
    loop = QEventLoop()
    window.engine.result.connect(lambda *a: loop.quit())
    window.engine.failed.connect(lambda *a: (print("failed:", a), loop.quit()))
    QTimer.singleShot(120_000, loop.quit)
    paint_landscape(window)  # live mode: painting alone starts generations
    loop.exec()
    if not results:
        print("live mode produced no image")
        return 1
    window.generate_now()  # the Generate action, too
    QTimer.singleShot(120_000, loop.quit)
    loop.exec()
    image = window.session.generated
    if image is None or image.dtype != np.uint8 or image.ndim != 3:
        print("no generated image")
        return 1

    path = work / "landscape.ora"
    window.session.path = path  # as if chosen in the Save As dialog
    if not fileactions.save_project(window):
        print("save failed:", getattr(window, "last_error", ""))
        return 1
    painted = [l.data.copy() for l in window.document.layers if l.kind == "labels"]
    fileactions.new_project(window, (256, 256))
    if not fileactions.open_project(window, path):
        print("reopen failed:", getattr(window, "last_error", ""))
        return 1
    again = [l.data for l in window.document.layers if l.kind == "labels"]
    if len(again) != len(painted) or not all(np.array_equal(a, b) for a, b in zip(painted, again)):
        print("reopened painting differs")
        return 1
    if window.session.generated is None or window.session.generated.shape != image.shape:
        print("the generated image was not saved with the project")
        return 1
    window.grab().save(str(work / "smoke.png"))
    window.close()
    print(f"ok: {len(results)} live result(s), saved and reopened {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), Path(sys.argv[2])))
