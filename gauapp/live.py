"""Live rendering: turn a stream of document changes into as few generations as keep the
view live, never re-rendering an unchanged label map."""
from __future__ import annotations

import hashlib
import time
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer

from .engine import Engine

def labels_digest(labels: np.ndarray) -> str:
    """A cheap fingerprint of a label map (about 1 ms for 512 x 512 int64)."""
    labels = np.ascontiguousarray(labels)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{labels.shape}{labels.dtype}".encode())
    h.update(labels.data)
    return h.hexdigest()


class LiveScheduler(QObject):
    """Turns a stream of document changes into as few generations as keep the view live.

    ``snapshot() -> (revision, labels)``; the GUI calls ``notify_changed()`` on every change.
    With a fast model (< ``FAST_SECONDS``) a change renders at once; otherwise the render waits
    for a pause of ``clamp(0.5 * last_seconds, MIN_DELAY, MAX_DELAY)`` (at most ``MAX_WAIT``
    behind the first unrendered change, so a long stroke still updates). While a generation
    runs, one further request is held here and submitted when it ends, with the newest labels.
    """

    FAST_SECONDS = 0.06
    MIN_DELAY, MAX_DELAY = 0.03, 0.4
    MAX_WAIT = 1.0

    def __init__(self, engine: Engine, snapshot: Callable[[], tuple[int, np.ndarray]],
                 parent=None):
        super().__init__(parent)
        self._engine, self._snapshot = engine, snapshot
        self._enabled = True
        self._options: dict[str, Any] = {}
        self._options_serial = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.timeout.connect(self._on_timer)
        self._first_change_at: float | None = None
        self._in_flight: int | None = None
        self._queued = self._queued_force = False
        # (revision, options serial, digest) of what is shown / was last asked for
        self._shown_key: tuple | None = None
        self._asked_key: tuple | None = None
        self._request_keys: dict[int, tuple] = {}
        engine.result.connect(self._on_result)
        engine.failed.connect(self._on_failed)
        engine.busy_changed.connect(self._on_busy_changed)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def delay_seconds(self) -> float:
        """The debounce the next change gets, from the last measured generation time."""
        last = self._engine.last_seconds
        if last is None or last < self.FAST_SECONDS:
            return 0.0
        return min(max(0.5 * last, self.MIN_DELAY), self.MAX_DELAY)

    def set_request_options(self, **options) -> None:
        """Extra ``Engine.submit`` arguments (seed, style, canvas_size); a change re-renders."""
        self._options.update(options)
        self._options_serial += 1
        self.notify_changed()

    def notify_changed(self) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if self._first_change_at is None:
            self._first_change_at = now
        elif self._timer.isActive() and now - self._first_change_at >= self.MAX_WAIT:
            return  # changes have held this render back long enough: let the timer fire
        self._timer.start(int(round(self.delay_seconds() * 1000)))

    def generate_now(self) -> None:
        """Render now even if nothing changed (the Generate action)."""
        self._timer.stop()
        self._first_change_at = None
        self._submit(force=True)

    def set_enabled(self, enabled: bool) -> None:
        if enabled == self._enabled:
            return
        self._enabled = enabled
        if enabled:
            self.notify_changed()  # catch up with what was painted meanwhile
            return
        self._timer.stop()
        self._first_change_at = None
        self._queued = self._queued_force = False
        if self._in_flight is not None:
            self._engine.cancel()
            self._in_flight = None
        self._asked_key = self._shown_key  # what was cancelled was never shown

    def _on_timer(self) -> None:
        self._first_change_at = None
        self._submit(force=False)

    def _submit(self, force: bool) -> None:
        if self._in_flight is not None:  # one request at a time; the held one is the newest
            self._queued = True
            self._queued_force |= force
            return
        if self._engine.is_closed:  # a timer may still fire while the window closes
            return
        revision, labels = self._snapshot()
        if labels is None:  # no document open
            return
        asked = self._asked_key
        if (not force and asked is not None and asked[:2] == (revision, self._options_serial)):
            return  # same revision: nothing to hash
        key = (revision, self._options_serial, labels_digest(labels))
        self._asked_key = key
        if not force and asked is not None and asked[1:] == key[1:]:
            return  # a new revision, but the same label map (e.g. undo then redo)
        request_id = self._engine.submit(labels, **self._options)
        self._in_flight = request_id
        self._request_keys = {request_id: key}

    def _on_result(self, request_id: int, _image, _seconds: float) -> None:
        if request_id in self._request_keys:
            self._shown_key = self._request_keys[request_id]
        if request_id == self._in_flight:
            self._request_done()

    def _on_failed(self, request_id: int, _message: str) -> None:
        if request_id == self._in_flight:
            self._request_done()

    def _on_busy_changed(self, busy: bool) -> None:
        # Our request may end without a result: cancelled, or superseded by another submitter.
        if not busy and self._in_flight is not None:
            self._request_done()

    def _request_done(self) -> None:
        self._in_flight = None
        if self._queued:
            force, self._queued, self._queued_force = self._queued_force, False, False
            if self._enabled or force:
                self._submit(force)
