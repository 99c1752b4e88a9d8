"""Regenerate the README's screenshot: the real main window, a landscape painted through the
mouse, and its generated image.

    python scripts/screenshot.py [--model FILE.safetensors] [--out docs/screenshot.png]

Without --model it uses the app's default model (the bundled one, when there is one), else the
reference COCO-Stuff SPADE of ../shared/reference converted to a model file (untrained synthetic
weights: the picture then shows the app, not a landscape).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def reference_model(folder: Path) -> Path:
    from models.importers import import_model
    from models.modelfile import save_model_file

    ref = REPO.parent / "shared" / "reference"
    cache = REPO / ".cache" / "reference_weights"
    weights = cache / "spade" / "coco_ngf16" / "latest_net_G.pth"
    if not weights.exists():
        subprocess.run([sys.executable, str(ref / "build_weights.py"), "spade/coco_ngf16",
                        "--out", str(cache)], check=True)
    out = folder / "coco-reference.safetensors"
    save_model_file(import_model(weights), out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    ap.add_argument("--size", type=int, default=512, help="canvas side in pixels")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gauapp import fileactions
    from gauapp.mainwindow import MainWindow
    from gauapp.modelstore import default_model, list_models, read_model_info
    from gauapp.scripted import paint_landscape
    from gauapp.settings import AppSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None and default_model(list_models(tmp)) is None:
            model = reference_model(tmp)
        settings = AppSettings(models_folder=str(tmp), live_default=False, autosave_minutes=0)
        window = MainWindow(settings=settings, settings_path=tmp / "settings.json",
                            autosave_dir=tmp / "autosave")
        if model is not None:
            window.set_model(read_model_info(model))
        window.resize(1400, 820)
        window.show()
        fileactions.new_project(window, (args.size, args.size))
        app.processEvents()
        window.fit_view()
        paint_landscape(window)
        loop = QEventLoop()
        window.engine.result.connect(lambda *a: loop.quit())
        window.engine.failed.connect(lambda *a: loop.quit())
        QTimer.singleShot(120_000, loop.quit)
        window.generate_now()
        loop.exec()
        app.processEvents()
        window.fit_view()
        app.processEvents()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(args.out))
        print(f"wrote {args.out} ({window.status_time.text()}, model "
              f"{window.model.name if window.model else 'none'})")
        window.document.mark_saved()
        window.close()


if __name__ == "__main__":
    main()
