"""Undo/redo: every document ``Change`` becomes one QUndoCommand.

Changes arrive already applied (the user saw them as they happened), so the first ``redo`` that
QUndoStack.push() calls is skipped. History memory is bounded twice: each change stores only its
changed region, and the stack drops its oldest steps when all steps together pass a budget.
"""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack

MEMORY_BUDGET = 512 * 1024 * 1024  # bytes of pixel data the history may hold
STEP_LIMIT = 1000


class ChangeCommand(QUndoCommand):
    def __init__(self, document, change):
        super().__init__(getattr(change, "description", "") or type(change).__name__)
        self.document = document
        self.change = change
        self._applied = True

    def redo(self) -> None:
        if self._applied:  # pushed right after the change was made
            self._applied = False
            return
        self.document.apply(self.change)

    def undo(self) -> None:
        self.document.revert(self.change)


class DocumentUndoStack(QUndoStack):
    """A QUndoStack for one document, with ``push_change`` and a memory budget."""

    def __init__(self, document, parent=None, budget: int = MEMORY_BUDGET):
        super().__init__(parent)
        self.document = document
        self.budget = budget
        self.setUndoLimit(STEP_LIMIT)

    def push_change(self, change) -> None:
        if change is None:
            return
        self.push(ChangeCommand(self.document, change))
        self._enforce_budget()

    def memory(self) -> int:
        return sum(getattr(self.command(i).change, "nbytes", 0) for i in range(self.count())
                   if isinstance(self.command(i), ChangeCommand))

    def _enforce_budget(self) -> None:
        # QUndoStack can only drop its oldest steps by lowering the limit, and only when clean of
        # macros; we emulate it by rebuilding: rare (only past the budget), so simplicity wins.
        if self.memory() <= self.budget or self.count() < 2:
            return
        commands = [self.command(i) for i in range(self.index())]
        changes = [c.change for c in commands if isinstance(c, ChangeCommand)]
        while changes and sum(getattr(c, "nbytes", 0) for c in changes) > self.budget:
            changes.pop(0)
        clean = self.isClean()
        self.clear()  # clear() undoes nothing: the document keeps its current state
        for change in changes:
            self.push(ChangeCommand(self.document, change))
        if clean:
            self.setClean()
