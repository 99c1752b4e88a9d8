"""Autosave and crash recovery.

While a document has unsaved changes it is written every N minutes to the user data folder as
``autosave-<pid>.ora`` with a JSON note beside it (the file it belongs to, when). A clean exit
removes both; a file left by a process that is gone is what a crash leaves, and the next start
offers to recover it.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)


def default_autosave_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("gauapp", appauthor=False)) / "autosave"


@dataclass
class Recoverable:
    path: Path          # the autosaved .ora
    original: str       # the project file it belongs to ("" when never saved)
    saved_at: float


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or the platform cannot tell: leave it alone
    return True


def find_recoverable(folder: Path | None = None) -> list[Recoverable]:
    """Autosaves whose process has ended (newest first)."""
    folder = folder or default_autosave_dir()
    found = []
    for ora in folder.glob("autosave-*.ora"):
        try:
            pid = int(ora.stem.split("-", 1)[1])
        except ValueError:
            continue
        if _pid_alive(pid):
            continue
        note = ora.with_suffix(".json")
        try:
            meta = json.loads(note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        found.append(Recoverable(ora, str(meta.get("original", "")),
                                 float(meta.get("saved_at", ora.stat().st_mtime))))
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


def discard(item: Recoverable) -> None:
    for p in (item.path, item.path.with_suffix(".json")):
        p.unlink(missing_ok=True)


class Autosaver(QObject):
    """Calls ``save(path)`` every ``minutes`` while ``is_modified()``; ``remove()`` on clean exit."""

    def __init__(self, save, is_modified, original_path, folder: Path | None = None,
                 minutes: float = 1.0, parent=None):
        super().__init__(parent)
        self._save = save
        self._is_modified = is_modified
        self._original_path = original_path  # callable -> str
        self.folder = folder or default_autosave_dir()
        self.path = self.folder / f"autosave-{os.getpid()}.ora"
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.set_interval(minutes)
        self.last_error = ""

    def set_interval(self, minutes: float) -> None:
        self.timer.stop()
        if minutes > 0:
            self.timer.start(int(minutes * 60_000))

    def tick(self) -> bool:
        """Autosave now if there are unsaved changes; True when a file was written."""
        if not self._is_modified():
            return False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._save(self.path)
            note = {"original": self._original_path() or "", "saved_at": time.time()}
            self.path.with_suffix(".json").write_text(json.dumps(note), encoding="utf-8")
            self.last_error = ""
            return True
        except Exception as exc:  # an autosave failure must never disturb the user's work
            self.last_error = str(exc)
            log.exception("autosave to %s failed", self.path)
            return False

    def remove(self) -> None:
        discard(Recoverable(self.path, "", 0))
