"""models.download against a local server that drops, stalls, refuses and lies."""
from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from model_server import ModelServer
from models.download import DownloadCancelled, DownloadError, download

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
FAST = dict(backoff=0.01, stall_timeout=2.0)


@pytest.fixture
def server():
    with ModelServer() as s:
        s.files["/m.pth"] = DATA
        yield s


def _part(dest):
    return dest.with_name(dest.name + ".part")


def test_download_checks_size_and_hash_and_reports_progress(server, tmp_path):
    seen = []
    dest = tmp_path / "m.pth"
    result = download(server.url("/m.pth"), dest, expected_size=len(DATA), sha256=SHA,
                      progress=seen.append, **FAST)
    assert dest.read_bytes() == DATA and result.verified and result.sha256 == SHA
    assert (result.size, result.attempts, result.resumed_from) == (len(DATA), 1, 0)
    assert not _part(dest).exists() and not list(tmp_path.glob("*.json"))
    last = seen[-1]
    assert (last.done, last.total, last.fraction) == (len(DATA), len(DATA), 1.0)
    assert last.mb_per_s >= 0 and all(p.total == len(DATA) for p in seen)
    assert server.ranges("/m.pth") == [None]


def test_dropped_connection_resumes_with_range(server, tmp_path):
    server.plan["/m.pth"] = ["drop:100000"]
    dest = tmp_path / "m.pth"
    result = download(server.url("/m.pth"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA and result.attempts == 2
    assert server.ranges("/m.pth") == [None, "bytes=100000-"]


def test_stall_aborts_then_a_new_call_resumes(server, tmp_path):
    server.plan["/m.pth"] = ["stall:50000"]
    dest = tmp_path / "m.pth"
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"stalled: no data for 0.5 s.*50000 byte\(s\) kept"):
        download(server.url("/m.pth"), dest, sha256=SHA, retries=0, stall_timeout=0.5,
                 backoff=0.01)
    assert time.monotonic() - t0 < 5
    assert not dest.exists() and _part(dest).stat().st_size == 50000
    result = download(server.url("/m.pth"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA and result.resumed_from == 50000
    assert server.ranges("/m.pth")[-1] == "bytes=50000-"


def test_stall_is_retried_within_one_call(server, tmp_path):
    server.plan["/m.pth"] = ["stall:1000", "stall:2000"]
    dest = tmp_path / "m.pth"
    result = download(server.url("/m.pth"), dest, sha256=SHA, retries=3, stall_timeout=0.3,
                      backoff=0.01)
    assert dest.read_bytes() == DATA and result.attempts == 3


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.plan["/m.pth"] = ["drop:70000", "norange"]
    dest = tmp_path / "m.pth"
    download(server.url("/m.pth"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert server.ranges("/m.pth") == [None, "bytes=70000-"]


def test_416_confirms_a_complete_part(server, tmp_path):
    dest = tmp_path / "m.pth"
    _part(dest).write_bytes(DATA)  # e.g. cancelled right after the last byte
    result = download(server.url("/m.pth"), dest, **FAST)  # size and hash unknown
    assert dest.read_bytes() == DATA and not result.verified
    assert server.ranges("/m.pth") == [f"bytes={len(DATA)}-"]


def test_416_for_a_stale_part_restarts(server, tmp_path):
    dest = tmp_path / "m.pth"
    _part(dest).write_bytes(b"x" * 1000)
    server.plan["/m.pth"] = ["416"]  # the server refuses to continue
    download(server.url("/m.pth"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert server.ranges("/m.pth") == ["bytes=1000-", None]
    _part(dest).write_bytes(DATA + b"garbage")  # longer than the file: 416, not complete
    os.unlink(dest)
    download(server.url("/m.pth"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA


def test_not_found_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("/missing.pth"), tmp_path / "x.pth", **FAST)
    assert server.ranges("/missing.pth") == [None]
    assert not (tmp_path / "x.pth").exists()


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    server.plan["/m.pth"] = ["status:500", "status:503"]
    result = download(server.url("/m.pth"), tmp_path / "m.pth", sha256=SHA, **FAST)
    assert result.attempts == 3
    server.plan["/m.pth"] = ["status:500"] * 3
    with pytest.raises(DownloadError, match=r"HTTP 500.*after 3 attempt"):
        download(server.url("/m.pth"), tmp_path / "n.pth", retries=2, **FAST)
    assert not (tmp_path / "n.pth").exists()


def test_wrong_bytes_are_rejected_and_deleted(server, tmp_path):
    server.plan["/m.pth"] = ["wrong"]
    dest = tmp_path / "m.pth"
    with pytest.raises(DownloadError, match="sha256 mismatch.*deleted"):
        download(server.url("/m.pth"), dest, expected_size=len(DATA), sha256=SHA, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_announced_size_must_match_the_catalogue(server, tmp_path):
    with pytest.raises(DownloadError, match="the catalogue expects 1234"):
        download(server.url("/m.pth"), tmp_path / "m.pth", expected_size=1234, **FAST)
    assert not (tmp_path / "m.pth").exists()


def test_huge_declared_size_and_size_limit(server, tmp_path):
    server.plan["/m.pth"] = ["huge"]
    with pytest.raises(DownloadError, match="more than the 1000000 allowed"):
        download(server.url("/m.pth"), tmp_path / "m.pth", max_size=1_000_000, **FAST)
    with pytest.raises(DownloadError, match="more than the 1000 allowed"):
        download(server.url("/m.pth"), tmp_path / "m.pth", max_size=1000, **FAST)
    assert not (tmp_path / "m.pth").exists()


def test_web_page_instead_of_file(server, tmp_path):
    server.plan["/m.pth"] = ["html"]
    with pytest.raises(DownloadError, match="web page instead of the file"):
        download(server.url("/m.pth"), tmp_path / "m.pth", **FAST)


def test_cancel_is_prompt_keeps_the_part_and_resumes(server, tmp_path):
    server.plan["/m.pth"] = ["stall:40000"]
    dest = tmp_path / "m.pth"

    def stop():
        return _part(dest).exists() and _part(dest).stat().st_size >= 40000

    t0 = time.monotonic()
    with pytest.raises(DownloadCancelled, match="kept for resuming"):
        download(server.url("/m.pth"), dest, should_stop=stop, stall_timeout=30)
    assert time.monotonic() - t0 < 3  # not the 30 s stall timeout
    assert _part(dest).stat().st_size == 40000
    meta = json.loads(dest.with_name("m.pth.part.json").read_text())
    assert meta["url"] == server.url("/m.pth") and meta["etag"] == '"v1"'
    download(server.url("/m.pth"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA and server.ranges("/m.pth")[-1] == "bytes=40000-"


def test_cancel_during_backoff(server, tmp_path):
    server.plan["/m.pth"] = ["status:503"]
    calls = []

    def stop():
        calls.append(1)
        return len(server.requests) >= 1 and len(calls) > 3

    with pytest.raises(DownloadCancelled):
        download(server.url("/m.pth"), tmp_path / "m.pth", should_stop=stop, backoff=30)


def test_part_of_another_url_is_discarded(server, tmp_path):
    dest = tmp_path / "m.pth"
    _part(dest).write_bytes(b"z" * 5000)
    dest.with_name("m.pth.part.json").write_text(json.dumps({"url": "http://elsewhere/x"}))
    download(server.url("/m.pth"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA and server.ranges("/m.pth") == [None]


def test_unreachable_server(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens
    with pytest.raises(DownloadError, match=r"cannot connect.*after 2 attempt"):
        download(f"http://127.0.0.1:{port}/m.pth", tmp_path / "m.pth", retries=1, **FAST)


def test_bad_expected_hash_is_refused(tmp_path):
    with pytest.raises(DownloadError, match="not 64 hex digits"):
        download("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc")


def test_not_enough_disk_space(server, tmp_path):
    server.plan["/m.pth"] = ["huge"]  # 10**12 bytes announced
    with pytest.raises(DownloadError, match="not enough disk space"):
        download(server.url("/m.pth"), tmp_path / "m.pth", **FAST)
    assert not (tmp_path / "m.pth").exists()
