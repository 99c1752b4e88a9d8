"""A tiny observer, so that the document model can notify widgets without importing Qt."""
from __future__ import annotations

from typing import Any, Callable


class Signal:
    """``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``.

    Slots are held strongly and called in connection order; a slot connected twice is called
    once. ``emit`` iterates over a snapshot, so a slot may (dis)connect slots while it runs.
    Exceptions raised by a slot propagate to the emitter (bugs should not be swallowed).
    """

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: list[Callable[..., Any]] = []

    def connect(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError(f"cannot connect {fn!r}: not callable")
        if fn not in self._slots:
            self._slots.append(fn)

    def disconnect(self, fn: Callable[..., Any]) -> None:
        """Remove ``fn``; disconnecting a slot that is not connected does nothing."""
        try:
            self._slots.remove(fn)
        except ValueError:
            pass

    def emit(self, *args: Any) -> None:
        for fn in tuple(self._slots):
            fn(*args)

    def __len__(self) -> int:
        return len(self._slots)
