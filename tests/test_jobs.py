"""Background jobs: results, progress, failures and cancellation reach the GUI thread."""
import threading
import time

import pytest

from gauapp.jobs import CANCELLED, FAILED, FINISHED, JobRunner


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    yield r
    r.shutdown()


def test_result_and_progress_arrive_on_gui_thread(qtbot, runner):
    seen, gui = [], threading.get_ident()
    worker_threads = []

    def work(ctx):
        worker_threads.append(threading.get_ident())
        for i in range(3):
            ctx.report(i)
        return "done"

    job = runner.start("count", work)
    job.progress.connect(lambda v: seen.append((v, threading.get_ident())))
    with qtbot.waitSignal(job.finished, timeout=5000) as blocker:
        pass
    assert blocker.args == ["done"]
    assert [v for v, _ in seen] == [0, 1, 2] and all(t == gui for _, t in seen)
    assert worker_threads[0] != gui
    assert job.state == FINISHED and not runner.running


def test_failure_gives_one_line(qtbot, runner):
    def work(ctx):
        raise ValueError("bad image\nsecond line")

    job = runner.start("fail", work)
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker:
        pass
    assert "bad image" in blocker.args[0] and "\n" not in blocker.args[0]
    assert job.state == FAILED


def test_cancel_stops_a_polling_job(qtbot, runner):
    started = threading.Event()

    def work(ctx):
        started.set()
        while True:
            ctx.check_cancel()
            time.sleep(0.005)

    job = runner.start("spin", work)
    assert started.wait(5)
    with qtbot.waitSignal(job.cancelled, timeout=5000) as blocker:
        job.cancel()
    assert blocker.args == [None] and job.state == CANCELLED


def test_cooperative_stop_keeps_partial_result(qtbot, runner):
    def work(ctx):
        n = 0
        while not ctx.should_stop():
            n += 1
            time.sleep(0.002)
        return n

    job = runner.start("partial", work)
    qtbot.wait(50)
    with qtbot.waitSignal(job.cancelled, timeout=5000) as blocker:
        job.cancel()
    assert blocker.args[0] > 0 and job.result == blocker.args[0]


def test_shutdown_stops_running_jobs_without_event_loop(qtbot):
    runner = JobRunner()
    started = threading.Event()

    def work(ctx):
        started.set()
        while not ctx.should_stop():
            time.sleep(0.005)

    job = runner.start("long", work)
    assert started.wait(5)
    t0 = time.monotonic()
    runner.shutdown(ms=5000)
    assert time.monotonic() - t0 < 2
    assert job._thread.isFinished()
