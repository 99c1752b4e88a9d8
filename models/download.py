"""Resumable, verified downloads with the standard library only.

``download(url, dest, ...)`` writes ``dest.part`` (plus ``dest.part.json``: the URL and the
server's validators), resumes it with an HTTP ``Range`` request, retries transient failures
(connection errors, timeouts, stalls, 408/429/5xx) with exponential backoff, and renames the file
to ``dest`` only once its size and sha256 (when known) match. A cancel (``should_stop()`` true)
raises ``DownloadCancelled`` and keeps the ``.part`` for the next call to resume.

The network is read on a helper thread, so that a stalled connection or a cancel is noticed
within a fraction of a second; the file is written only by the calling thread.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ModelError

USER_AGENT = "gauapp-model-downloader/1"
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.I)
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_DISK_MARGIN = 64 << 20
_POLL = 0.05


class DownloadError(ModelError):
    """The download failed (the message says why and whether the ``.part`` file was kept)."""


class DownloadCancelled(ModelError):
    """``should_stop()`` asked to stop; the ``.part`` file is kept for resuming."""


@dataclass(frozen=True)
class DownloadProgress:
    done: int                 # bytes in the file so far (including what a resume started from)
    total: int | None         # expected total, None while unknown
    bytes_per_s: float        # over the last few seconds
    eta_s: float | None       # None while the total or the rate is unknown

    @property
    def mb_per_s(self) -> float:
        return self.bytes_per_s / 1e6

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    verified: bool        # a sha256 was given and matched
    attempts: int         # requests made
    resumed_from: int     # bytes already in the .part file when the call started


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Restart(Exception):
    """The .part file cannot be continued; start again from byte 0."""


class _Complete(Exception):
    """A 416 that confirms the .part file already holds the whole file."""


@dataclass
class _Options:
    url: str
    expected_size: int | None
    max_size: int | None
    stall_timeout: float
    headers: dict
    accept_html: bool
    chunk_size: int


def download(url: str, dest: str | Path, expected_size: int | None = None,
             sha256: str | None = None,
             progress: Callable[[DownloadProgress], None] | None = None,
             should_stop: Callable[[], bool] | None = None, retries: int = 5,
             stall_timeout: float = 30.0, backoff: float = 1.0, max_backoff: float = 60.0,
             max_size: int | None = None, headers: dict | None = None,
             accept_html: bool = False, chunk_size: int = 1 << 16) -> DownloadResult:
    """Fetch ``url`` into ``dest``; see the module docstring. ``retries`` counts transient
    failures in a row (progress resets the count); ``max_size`` refuses a larger file."""
    dest = Path(dest)
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise DownloadError(f"{url}: the expected sha256 {sha256!r} is not 64 hex digits")
    sha256 = sha256.lower() if sha256 else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    opts = _Options(url, expected_size, max_size, float(stall_timeout), dict(headers or {}),
                    accept_html, chunk_size)
    part = _PartFile(dest, url)
    resumed_from = part.size()
    meter = _Meter(progress, expected_size)
    stop = should_stop or (lambda: False)
    attempts = failures = restarts = 0
    while True:
        if stop():
            raise DownloadCancelled(f"{url}: cancelled; {part.path.name} is kept for resuming")
        if expected_size is not None and part.size() > expected_size:
            part.truncate()
        if expected_size is not None and part.size() == expected_size and attempts == 0 \
                and expected_size > 0:
            break  # a previous call got everything; only the checks remain
        attempts += 1
        before = part.size()
        try:
            _attempt(opts, part, meter, stop)
            break
        except _Complete:
            break
        except _Restart:
            restarts += 1
            part.truncate()
            if restarts > 2:
                raise DownloadError(f"{url}: the server keeps refusing to continue "
                                    "the file; giving up") from None
        except _Transient as exc:
            failures = 1 if part.size() > before else failures + 1
            if failures > retries:
                raise DownloadError(
                    f"{url}: {exc} (gave up after {attempts} attempt(s); "
                    f"{_partial_note(part)})") from None
            wait = min(max_backoff, backoff * 2 ** max(failures - 1, 0))
            if exc.retry_after is not None:
                wait = min(max_backoff, max(wait, exc.retry_after))
            _sleep(wait, stop, url, part)
    return _finish(dest, part, opts, sha256, attempts, resumed_from, meter)


def _partial_note(part: "_PartFile") -> str:
    size = part.size()
    return (f"{size} byte(s) kept in {part.path.name}: run again to resume" if size
            else "nothing was kept")


def _sleep(seconds: float, stop, url: str, part: "_PartFile") -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if stop():
            raise DownloadCancelled(f"{url}: cancelled; {part.path.name} is kept for resuming")
        time.sleep(min(_POLL, max(end - time.monotonic(), 0)))


def _finish(dest: Path, part: "_PartFile", opts: _Options, sha256: str | None, attempts: int,
            resumed_from: int, meter: "_Meter") -> DownloadResult:
    size = part.size()
    if opts.expected_size is not None and size != opts.expected_size:
        part.discard()
        raise DownloadError(f"{opts.url}: got {size} bytes, expected {opts.expected_size}; "
                            "the file was deleted")
    digest = part.digest()
    if sha256 is not None and digest != sha256:
        part.discard()
        raise DownloadError(f"{opts.url}: sha256 mismatch (expected {sha256}, got {digest}): "
                            "the file is not the published one or was corrupted on the way; "
                            "it was deleted")
    meter.report(size, force=True)
    part.commit(dest)
    return DownloadResult(dest, size, digest, sha256 is not None, attempts, resumed_from)


# ----- one request ----------------------------------------------------------------------------
def _attempt(opts: _Options, part: "_PartFile", meter: "_Meter", stop) -> None:
    have = part.size()
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **opts.headers}
    if have:
        headers["Range"] = f"bytes={have}-"
        validator = part.meta.get("etag") or part.meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    reader = _Reader(urllib.request.Request(opts.url, headers=headers),
                     opts.stall_timeout, opts.chunk_size)
    try:
        kind, value = reader.next_event(opts.stall_timeout, stop, opts.url, part, "an answer")
        if kind == "error":
            _raise_for_error(value, opts, part, have)
        status, resp_headers = value
        total = _check_headers(status, resp_headers, opts, part, have)
        part.save_meta(resp_headers, total)
        meter.start(part.size(), total)
        with part.open_append() as f:
            while True:
                kind, value = reader.next_event(opts.stall_timeout, stop, opts.url, part, "data")
                if kind == "error":
                    raise _Transient(_describe(value))
                if not value:
                    break
                f.write(value)
                part.hash_update(value)
                done = part.written
                limit = total if total is not None else opts.expected_size
                if limit is not None and done > limit:
                    f.close()
                    part.discard()
                    raise DownloadError(f"{opts.url}: the server sent more than the {limit} "
                                        "bytes expected; the file was deleted")
                if opts.max_size is not None and done > opts.max_size:
                    raise DownloadError(f"{opts.url}: more than the {opts.max_size} bytes "
                                        "allowed; stopped")
                meter.report(done)
        done = part.size()
        if total is not None and done < total:
            raise _Transient(f"the connection closed at {done} of {total} bytes")
        if opts.expected_size is not None and done < opts.expected_size:
            raise _Transient(f"the connection closed at {done} of {opts.expected_size} bytes")
    finally:
        reader.abandon()


def _raise_for_error(exc: BaseException, opts: _Options, part: "_PartFile", have: int):
    if isinstance(exc, urllib.error.HTTPError):
        code, headers = exc.code, exc.headers
        exc.close()
        if code == 416 and have:
            # Range not satisfiable: the .part holds the whole file, or it is stale.
            match = _UNSATISFIED_RANGE.match(headers.get("Content-Range", "") or "")
            total = int(match.group(1)) if match else opts.expected_size
            raise _Complete() if total is not None and total == have else _Restart()
        if code in _TRANSIENT_STATUS:
            raise _Transient(f"HTTP {code} {exc.reason}", _retry_after(headers))
        raise DownloadError(f"{opts.url}: HTTP {code} {exc.reason} ({_partial_note(part)})")
    raise _Transient(_describe(exc))


def _check_headers(status: int, headers, opts: _Options, part: "_PartFile", have: int):
    """The total size the answer announces; decides whether the .part continues or restarts."""
    ctype = (headers.get("Content-Type") or "").lower()
    if ctype.startswith("text/html") and not opts.accept_html:
        raise DownloadError(
            f"{opts.url}: the server sent a web page instead of the file (a sign-in, "
            "confirmation or error page?); download it in a browser and import it")
    total = None
    if status == 206 and have:
        match = _CONTENT_RANGE.match(headers.get("Content-Range", "") or "")
        if not match or int(match.group(1)) != have:
            raise _Restart()
        total = int(match.group(3)) if match.group(3) != "*" else None
    else:
        if status != 200:
            raise DownloadError(f"{opts.url}: unexpected HTTP {status}")
        if have:
            part.truncate()  # the server ignored Range (or the file changed): start over
        length = headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
    if total is not None and opts.expected_size is not None and total != opts.expected_size:
        raise DownloadError(f"{opts.url}: the server has {total} bytes, the catalogue expects "
                            f"{opts.expected_size}; not downloaded (the published file changed?)")
    if total is not None and opts.max_size is not None and total > opts.max_size:
        raise DownloadError(f"{opts.url}: the file is {total} bytes, more than the "
                            f"{opts.max_size} allowed")
    need = (total if total is not None else opts.expected_size or 0) - part.size()
    free = shutil.disk_usage(part.path.parent).free
    if need > 0 and free < need + _DISK_MARGIN:
        raise DownloadError(f"{opts.url}: not enough disk space in {part.path.parent} "
                            f"({free / 1e6:.0f} MB free, {need / 1e6:.0f} MB needed)")
    return total


def _retry_after(headers) -> float | None:
    value = (headers.get("Retry-After") or "").strip() if headers else ""
    return float(value) if value.isdigit() else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# ----- the helper thread ----------------------------------------------------------------------
class _Reader:
    """Opens the URL and reads it on a daemon thread, handing events to the caller through a
    small queue: ("head", (status, headers)), ("data", bytes; b"" at the end), ("error", exc)."""

    def __init__(self, request, stall_timeout: float, chunk_size: int):
        self._queue: queue.Queue = queue.Queue(maxsize=16)
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gauapp-download", daemon=True,
                                        args=(request, stall_timeout + 1.0, chunk_size))
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._abandoned.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, request, timeout: float, chunk_size: int) -> None:
        resp = None
        try:
            resp = urllib.request.urlopen(request, timeout=timeout)
            if not self._put(("head", (resp.status, resp.headers))):
                return
            while not self._abandoned.is_set():
                block = resp.read1(chunk_size)
                if not self._put(("data", block)) or not block:
                    return
        except BaseException as exc:  # handed to the caller, who decides
            self._put(("error", exc))
        finally:
            if resp is not None:
                resp.close()

    def next_event(self, stall_timeout: float, stop, url: str, part: "_PartFile", what: str):
        waited_since = time.monotonic()
        while True:
            if stop():
                raise DownloadCancelled(f"{url}: cancelled; {part.path.name} is kept for "
                                        "resuming")
            try:
                return self._queue.get(timeout=_POLL)
            except queue.Empty:
                if time.monotonic() - waited_since >= stall_timeout:
                    raise _Transient(f"stalled: no {what} for {stall_timeout:g} s") from None

    def abandon(self) -> None:
        # The thread ends at its next read (or its socket timeout); it never touches the file.
        self._abandoned.set()


# ----- the .part file -------------------------------------------------------------------------
class _PartFile:
    """``dest.part`` with a running sha256 of its content and ``dest.part.json`` beside it."""

    def __init__(self, dest: Path, url: str):
        self.path = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.url = url
        self.meta = self._load_meta()
        if self.meta.get("url") not in (None, url):
            self.truncate()  # a part of another file
        self._hash = None
        self._hashed = -1
        self.written = self.size()

    def _load_meta(self) -> dict:
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            return meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            return {}

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def truncate(self) -> None:
        with open(self.path, "wb"):
            pass
        self.meta = {}
        self.meta_path.unlink(missing_ok=True)
        self._hash, self._hashed, self.written = hashlib.sha256(), 0, 0

    def open_append(self):
        self._sync_hash()
        self.written = self.size()
        return open(self.path, "ab")

    def _sync_hash(self) -> None:
        size = self.size()
        if self._hash is not None and self._hashed == size:
            return
        h = hashlib.sha256()
        if size:
            with open(self.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        self._hash, self._hashed = h, size

    def hash_update(self, block: bytes) -> None:
        self._hash.update(block)
        self._hashed += len(block)
        self.written += len(block)

    def digest(self) -> str:
        self._sync_hash()
        return self._hash.hexdigest()

    def save_meta(self, headers, total: int | None) -> None:
        meta = {"url": self.url, "total": total, "etag": headers.get("ETag"),
                "last_modified": headers.get("Last-Modified")}
        if meta != self.meta:
            self.meta = meta
            tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp, self.meta_path)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        self._hash, self._hashed = None, -1

    def commit(self, dest: Path) -> None:
        with open(self.path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(self.path, dest)
        self.meta_path.unlink(missing_ok=True)


# ----- progress -------------------------------------------------------------------------------
class _Meter:
    """Calls ``progress`` at most every 0.2 s with the rate over the last ~5 s."""

    def __init__(self, callback, total: int | None, interval: float = 0.2, window: float = 5.0):
        self.callback, self.total = callback, total
        self.interval, self.window = interval, window
        self.samples: deque[tuple[float, int]] = deque()
        self.last_call = 0.0

    def start(self, done: int, total: int | None) -> None:
        if total is not None:
            self.total = total
        self.samples = deque([(time.monotonic(), done)])

    def report(self, done: int, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()
        if not force and now - self.last_call < self.interval:
            return
        self.last_call = now
        t0, d0 = self.samples[0]
        rate = (done - d0) / (now - t0) if now > t0 else 0.0
        eta = (self.total - done) / rate if self.total is not None and rate > 0 else None
        self.callback(DownloadProgress(done, self.total, rate, eta))
