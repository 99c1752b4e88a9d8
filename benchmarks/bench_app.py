"""App responsiveness: stroke-to-image latency and GUI event-loop stalls while generating.

Drives the real main window (offscreen) with mouse events, live mode on:

* latency: after each short brush stroke, the time from its last painted dab to the first
  generated image that includes it (median and p95 over the strokes);
* stalls: a 10 ms QTimer runs while generations run back to back (and strokes are painted);
  the longest gap between its ticks is the longest time the GUI could not react.

    python benchmarks/bench_app.py [--model FILE] [--sizes 256 512] [--strokes 20]

Without --model it uses the reference COCO-Stuff SPADE (ngf 16) from ../shared/reference.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def percentile(values, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(window, app, size: int, strokes: int) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer

    from gauapp import fileactions
    from gauapp.scripted import drag

    fileactions.new_project(window, (size, size))
    app.processEvents()
    window.fit_view()
    doc = window.document
    classes = [doc.labelset.by_name(n).id for n in ("grass", "sand")]
    window.select_tool("brush")
    window.size_spin.setValue(max(8, size // 16))
    state = {"change_t": None, "change_id": None, "latencies": [], "waiting": False}

    def on_change(_region):
        state["change_t"] = time.perf_counter()
        state["change_id"] = window.engine.last_request_id

    def on_result(request_id, _image, _seconds):
        if state["waiting"] and request_id > state["change_id"]:
            state["latencies"].append(time.perf_counter() - state["change_t"])
            state["waiting"] = False
            loop.quit()

    doc.changed.connect(on_change)
    window.engine.result.connect(on_result)
    loop = QEventLoop()
    timeout = QTimer()  # one timer, restarted per wait, so an old timeout never ends a new wait
    timeout.setSingleShot(True)
    timeout.timeout.connect(loop.quit)
    # warm-up: the model loads and the fast path builds its tables
    state["waiting"], state["change_id"], state["change_t"] = True, -1, time.perf_counter()
    window.generate_now()
    timeout.start(60_000)
    loop.exec()
    state["latencies"].clear()
    for i in range(strokes):
        # every stroke changes pixels: alternate the class
        window.palette.set_current_class(classes[i % 2])
        y = size * (0.2 + 0.6 * (i % 10) / 10)
        drag(window.paint_view, [(size * 0.1, y), (size * 0.5, y + size * 0.05),
                                 (size * 0.9, y)])
        state["waiting"] = True
        timeout.start(60_000)
        loop.exec()
        timeout.stop()
    window.engine.result.disconnect(on_result)
    doc.changed.disconnect(on_change)

    # stalls: back-to-back generations while painting
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    ticker = QTimer()
    ticker.setInterval(10)
    ticker.timeout.connect(tick)
    again = lambda *a: window.generate_now()  # noqa: E731
    window.engine.result.connect(again)
    ticker.start()
    window.generate_now()
    end = time.perf_counter() + 8
    i = 0
    while time.perf_counter() < end:
        y = size * (0.1 + 0.8 * (i % 20) / 20)
        drag(window.paint_view, [(size * 0.2, y), (size * 0.8, y)], steps_between=8)
        i += 1
        app.processEvents()
    ticker.stop()
    window.engine.result.disconnect(again)
    window.scheduler.set_enabled(False)
    window.scheduler.set_enabled(True)
    doc.mark_saved()  # the next size starts a new painting without the unsaved-changes prompt
    lat = state["latencies"]
    if len(lat) < strokes:
        print(f"warning: {strokes - len(lat)} stroke(s) got no image within 60 s")
    return {"size": size, "median": statistics.median(lat), "p95": percentile(lat, 0.95),
            "max_gap": max(gaps), "p99_gap": percentile(gaps, 0.99),
            "generation": window.engine.last_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--strokes", type=int, default=20)
    args = ap.parse_args()

    import torch
    from PySide6.QtWidgets import QApplication

    from gauapp.mainwindow import MainWindow
    from gauapp.modelstore import read_model_info
    from gauapp.settings import AppSettings
    from screenshot import reference_model

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or reference_model(tmp)
        settings = AppSettings(models_folder=str(tmp), live_default=True, autosave_minutes=0,
                               output_mode="canvas")
        window = MainWindow(settings=settings, settings_path=tmp / "settings.json",
                            autosave_dir=tmp / "autosave")
        window.set_model(read_model_info(model))
        window.resize(1300, 800)
        window.show()
        print(f"model {model.name}, torch {torch.__version__}, {torch.get_num_threads()} CPU "
              f"threads, output at the canvas size, live mode")
        print(f"{'canvas':>8}{'gen s':>8}{'latency median':>16}{'p95':>8}"
              f"{'longest GUI stall':>19}{'p99 gap':>9}")
        for size in args.sizes:
            r = measure(window, app, size, args.strokes)
            print(f"{size:>7}²{r['generation']:>8.3f}{r['median']:>15.3f}s{r['p95']:>7.3f}s"
                  f"{r['max_gap'] * 1000:>16.1f} ms{r['p99_gap'] * 1000:>6.1f} ms")
        window.document.mark_saved()
        window.close()


if __name__ == "__main__":
    main()
