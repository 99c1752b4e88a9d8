"""The gauapp desktop application: entry point.

Sets up logging, opens the main window, and offers to recover paintings that an earlier run
autosaved but never closed cleanly.
"""
from __future__ import annotations

import sys
from pathlib import Path

from models import __version__

APP_NAME = "gauapp"


def offer_recovery(window, folder: Path | None = None) -> None:
    """Ask about each autosave left by a crashed run: recover it (unsaved) or discard it."""
    from PySide6.QtWidgets import QMessageBox

    from . import fileactions
    from .autosave import discard, find_recoverable
    from .document.errors import DocumentError
    from .document.ora import load_ora
    from .session import Session

    for item in find_recoverable(folder):
        name = Path(item.original).name if item.original else "an unsaved painting"
        answer = QMessageBox.question(
            window, "Recover painting",
            f"gauapp did not close cleanly. Recover the autosaved copy of {name}?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if answer == QMessageBox.Yes:
            try:
                loaded = load_ora(item.path)
            except (DocumentError, OSError) as exc:
                fileactions._error(window, "Could not recover", str(exc))
                continue
            session = Session(loaded.document, Path(item.original) if item.original else None,
                              loaded.generated)
            window.set_session(session)
            loaded.document.set_modified(True)  # recovered work is unsaved until the user saves
        discard(item)
        break  # one painting open at a time; older autosaves stay for the next start


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if "--version" in argv[1:]:
        print(f"{APP_NAME} {__version__}")
        return 0
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .logs import setup_logging
    from .mainwindow import MainWindow

    setup_logging()
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    window = MainWindow()
    window.show()
    QTimer.singleShot(0, lambda: offer_recovery(window))
    files = [Path(a) for a in argv[1:] if a.lower().endswith(".ora")]
    if files:
        from . import fileactions
        QTimer.singleShot(0, lambda: fileactions.open_project(window, files[0]))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
