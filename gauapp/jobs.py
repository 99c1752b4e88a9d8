"""One-off background jobs: training, harmonizing, colorizing, downloading.

The live engine (engine.py) is built for a stream of label maps where only the newest matters;
these jobs are the other kind: each runs to its end, reports progress and can be cancelled.

    job = runner.start("Colorize", lambda ctx: colorize(image, check_cancel=ctx.check_cancel))
    job.progress.connect(...)   # whatever the function passes to ctx.report(...)
    job.finished.connect(...)   # the function's return value
    job.failed.connect(...)     # one line; the traceback goes to the log
    job.cancelled.connect(...)  # the function stopped because cancel() was asked

Each job runs on its own QThread. The function receives a ``JobContext`` (thread-safe) and
must poll ``ctx.check_cancel()`` (raises ``Cancelled``) or ``ctx.should_stop()`` between units
of work: threads are never terminated. A function that stops cleanly on ``should_stop()`` and
returns a value (a model trained so far) reports ``cancelled`` with that value. Signals reach
the GUI thread queued, so slots may touch widgets.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from .engine import Cancelled, _short_message

log = logging.getLogger(__name__)

RUNNING, FINISHED, FAILED, CANCELLED = "running", "finished", "failed", "cancelled"


class JobContext:
    """What a job function may call from its thread."""

    def __init__(self, job: "Job"):
        self._job = job

    def should_stop(self) -> bool:
        return self._job._stop.is_set()

    def check_cancel(self) -> None:
        if self._job._stop.is_set():
            raise Cancelled()

    def report(self, value: Any) -> None:
        """Send ``value`` to ``Job.progress`` (queued to the GUI thread)."""
        self._job._worker.progressed.emit(value)


class _JobWorker(QObject):
    progressed = Signal(object)
    succeeded = Signal(object)
    errored = Signal(str)
    stopped = Signal(object)

    def __init__(self, fn: Callable[[JobContext], Any], context: JobContext):
        super().__init__()
        self._fn, self._context = fn, context

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(self._context)
        except Cancelled:
            self.stopped.emit(None)
        except Exception as exc:  # a failing job must never take the app down
            log.exception("background job failed")
            self.errored.emit(_short_message(exc))
        else:
            if self._context.should_stop():
                self.stopped.emit(result)
            else:
                self.succeeded.emit(result)
        finally:
            # Quit from inside: shutdown() may be blocking the GUI thread in wait().
            QThread.currentThread().quit()


class Job(QObject):
    """A running (or ended) background job; lives in the GUI thread."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal(object)
    ended = Signal()  # after any of finished / failed / cancelled

    def __init__(self, name: str, fn: Callable[[JobContext], Any], parent=None):
        super().__init__(parent)
        self.name = name
        self.state = RUNNING
        self.result: Any = None
        self.error = ""
        self.started_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName(f"job: {name}")
        self._worker = _JobWorker(fn, JobContext(self))
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progressed.connect(self.progress)
        # Bound slots of this GUI-thread object, so the calls are queued (a lambda would run
        # in the worker's thread).
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.errored.connect(self._on_errored)
        self._worker.stopped.connect(self._on_stopped)

    def _start(self) -> None:
        self._thread.start()

    @property
    def is_running(self) -> bool:
        return self.state == RUNNING

    def cancel(self) -> None:
        """Ask the job to stop at its next check; returns at once."""
        self._stop.set()

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread ended (tests, shutdown); True when it did."""
        return self._thread.wait(ms)

    @Slot(object)
    def _on_succeeded(self, result) -> None:
        self._end(FINISHED, result, "", self.finished)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        self._end(FAILED, None, message, self.failed)

    @Slot(object)
    def _on_stopped(self, result) -> None:
        self._end(CANCELLED, result, "", self.cancelled)

    def _end(self, state: str, result, message: str, signal) -> None:
        self.state, self.result, self.error = state, result, message
        self._thread.wait()
        signal.emit(message if state == FAILED else result)
        self.ended.emit()


class JobRunner(QObject):
    """Starts jobs and keeps them alive until they end; ``shutdown()`` cancels and waits."""

    job_started = Signal(object)
    job_ended = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._jobs: list[Job] = []

    @property
    def running(self) -> list[Job]:
        return [job for job in self._jobs if job.is_running]

    def start(self, name: str, fn: Callable[[JobContext], Any]) -> Job:
        job = Job(name, fn, parent=self)
        self._jobs.append(job)
        job.ended.connect(lambda: self._forget(job))
        self.job_started.emit(job)
        job._start()
        return job

    def _forget(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        self.job_ended.emit(job)

    def shutdown(self, ms: int = 10000) -> None:
        """Cancel every job and wait for its thread (application exit)."""
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            if not job.wait(ms):
                log.warning("job %r did not stop within %d ms", job.name, ms)
