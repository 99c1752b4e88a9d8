"""An exclusive lock on a folder, held across processes, for a read-modify-write of a file in it.

The model library's manifest is changed by the app and by ``gauapp-train models`` at once; each
re-reads the manifest before writing it, but without a lock the second writer can still replace
the first one's change. The lock is an OS lock (``flock``; ``msvcrt.locking`` on Windows) on a
hidden ``.lock`` file, so it is released when its holder exits, however it exits.
"""
from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import weakref
from pathlib import Path

from .errors import ModelError

LOCK_FILE = ".lock"


class FolderLockTimeout(ModelError):
    """Another process held the folder's lock for longer than the wait allows."""


class FolderLock:
    """``with lock:`` holds ``folder/.lock``; re-entrant within a process (a thread that holds
    it may take it again), exclusive between processes. Use ``FolderLock.of(folder)``: an OS
    lock belongs to the whole process, so every object of one process that locks a folder must
    share one ``FolderLock``, or two of them in one thread would wait for each other."""

    _by_folder: "weakref.WeakValueDictionary[Path, FolderLock]" = weakref.WeakValueDictionary()
    _registry_lock = threading.Lock()

    @classmethod
    def of(cls, folder: str | Path) -> "FolderLock":
        key = Path(os.path.abspath(folder))
        with cls._registry_lock:
            lock = cls._by_folder.get(key)
            if lock is None:
                lock = cls._by_folder[key] = cls(key)
            return lock

    def __init__(self, folder: str | Path, timeout: float = 15.0):
        self.folder = Path(folder)
        self.timeout = timeout
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._file = None

    def __enter__(self) -> "FolderLock":
        self._thread_lock.acquire()
        try:
            if self._depth == 0:
                self._file = self._acquire()
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                file, self._file = self._file, None
                with contextlib.suppress(OSError):
                    _unlock(file)
                file.close()
        finally:
            self._thread_lock.release()

    def _acquire(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        file = open(self.folder / LOCK_FILE, "a+b")  # noqa: SIM115 (held until __exit__)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                _try_lock(file)
                return file
            except OSError as exc:
                if exc.errno not in _HELD_ELSEWHERE:
                    # a file system that cannot lock (some network shares): go on unlocked,
                    # as every manifest change still re-reads before it writes
                    return file
                if time.monotonic() >= deadline:
                    file.close()
                    raise FolderLockTimeout(
                        f"{self.folder} is locked by another process (another gauapp window or "
                        f"gauapp-train?) for more than {self.timeout:g} s; try again") from None
                time.sleep(0.05)


_HELD_ELSEWHERE = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK,
                   getattr(errno, "EDEADLOCK", errno.EDEADLK)}

if os.name == "nt":
    import msvcrt

    def _try_lock(file) -> None:
        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(file) -> None:
        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(file) -> None:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(file) -> None:
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)

