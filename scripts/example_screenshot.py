"""Screenshot of the harmonization example: open it as a new user would (Help → Open the
harmonization example), press Harmonize, and grab the window; also writes the painting with the
naive paste and with the harmonized result side by side.

    python scripts/example_screenshot.py [--out docs/harmonize-example.png]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "harmonize-example.png")
    args = ap.parse_args()
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gauapp import fileactions, harmonize_action
    from gauapp.mainwindow import MainWindow
    from gauapp.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    window = MainWindow(settings=AppSettings(live_default=False, autosave_minutes=0,
                                             device="cpu"),
                        settings_path=tmp / "settings.json", autosave_dir=tmp / "autosave")
    window.resize(1500, 900)
    window.show()
    fileactions.open_example(window, "harmonize-boat.ora")
    window.fit_view()
    doc = window.document
    naive = doc.composite_image()
    job = harmonize_action.start(window, ask=False)
    loop = QEventLoop()
    job.ended.connect(loop.quit)
    QTimer.singleShot(300000, loop.quit)
    loop.exec()
    if job.state != "finished":
        raise SystemExit(f"harmonize did not finish: {job.state} {job.error}")
    for _ in range(20):
        app.processEvents()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    pair = np.concatenate([naive[..., :3], doc.composite_image()[..., :3]], axis=1)
    Image.fromarray(pair).save(args.out.with_name(args.out.stem + "-before-after.png"))
    print(f"wrote {args.out}")
    window.jobs.shutdown()
    window.engine.shutdown()  # no close(): it would ask whether to save the painting


if __name__ == "__main__":
    main()
