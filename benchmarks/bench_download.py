"""Download and library throughput on this machine (local server, no network).

* plain ``urllib`` read loop vs ``models.download.download`` (helper thread, sha256, .part) on
  the same in-memory file served from 127.0.0.1;
* a download whose connection drops at half way (resume with Range);
* how long a cancel takes while the connection is stalled;
* ``ModelLibrary.import_`` and ``verify`` of the reference SPADE COCO-Stuff (ngf 16) checkpoint.

    python benchmarks/bench_download.py [--mb 200]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from model_server import ModelServer  # noqa: E402  (the tests' local server)
from models.download import DownloadCancelled, download  # noqa: E402


def plain_read(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url) as resp:
        while resp.read1(1 << 16):
            pass
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the served file")
    args = parser.parse_args()
    data = os.urandom(args.mb << 20)
    sha = hashlib.sha256(data).hexdigest()
    mb = len(data) / 1e6
    with ModelServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.files["/f"] = data
        base = min(plain_read(server.url("/f")) for _ in range(3))
        print(f"plain urllib read loop : {mb / base:8.1f} MB/s")
        times = []
        for i in range(3):
            t0 = time.perf_counter()
            download(server.url("/f"), Path(tmp) / f"f{i}", sha256=sha)
            times.append(time.perf_counter() - t0)
        print(f"download() + sha256    : {mb / min(times):8.1f} MB/s")
        server.plan["/f"] = [f"drop:{len(data) // 2}"]
        t0 = time.perf_counter()
        result = download(server.url("/f"), Path(tmp) / "dropped", sha256=sha, backoff=0.01)
        print(f"dropped at 50 %, resumed: {time.perf_counter() - t0:7.2f} s "
              f"({result.attempts} requests)")
        server.plan["/f"] = ["stall:1000000"]
        part = Path(tmp) / "stalled.part"
        flag, asked = threading.Event(), []

        def press_cancel() -> None:  # as a GUI would: another thread, mid-stall
            while not (part.exists() and part.stat().st_size >= 1_000_000):
                time.sleep(0.01)
            time.sleep(0.2)
            asked.append(time.perf_counter())
            flag.set()

        threading.Thread(target=press_cancel, daemon=True).start()
        try:
            download(server.url("/f"), Path(tmp) / "stalled", should_stop=flag.is_set)
        except DownloadCancelled:
            print(f"cancel while stalled   : {(time.perf_counter() - asked[0]) * 1e3:7.1f} ms")
    bench_library()


def bench_library() -> None:
    from models.library import ModelLibrary

    ref = Path(os.environ.get("GAUAPP_REFERENCE", REPO.parent / "shared" / "reference"))
    cache = Path(os.environ.get("GAUAPP_TEST_CACHE", REPO / ".cache" / "reference_weights"))
    src = cache / "spade" / "coco_ngf16" / "latest_net_G.pth"
    if not src.is_file():
        print(f"(no {src}: run the tests once, or {ref}/build_weights.py, for the import figures)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        lib = ModelLibrary(tmp)
        t0 = time.perf_counter()
        lib.inspect(src)
        t1 = time.perf_counter()
        entry = lib.import_(src)
        t2 = time.perf_counter()
        lib.verify()
        t3 = time.perf_counter()
        print(f"SPADE coco ngf16 ({src.stat().st_size / 1e6:.0f} MB .pth -> "
              f"{entry.size / 1e6:.0f} MB): inspect {t1 - t0:.2f} s, import {t2 - t1:.2f} s, "
              f"verify {t3 - t2:.2f} s")


if __name__ == "__main__":
    main()
