"""The gauapp desktop application: entry point and main window.

The painting canvas, palette and live engine arrive with their own issue; for now the window
shows what the app will run on (device, bundled models) so that the installation can be checked.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox

from models import __version__

APP_NAME = "gauapp"


def describe_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU ({torch.get_num_threads()} threads)"


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        self.setWindowTitle(f"{APP_NAME} {__version__}")
        self.resize(1100, 720)
        welcome = QLabel(
            "<h2>gauapp</h2><p>Paint with semantic brushes; SPADE renders the landscape.</p>"
            "<p>Convert an official checkpoint with <code>gauapp-train convert</code>.</p>")
        welcome.setAlignment(Qt.AlignCenter)
        welcome.setTextFormat(Qt.RichText)
        self.setCentralWidget(welcome)
        self._build_menus()
        self.statusBar().showMessage(f"Device: {describe_device()}")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About gauapp", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}",
                          f"{APP_NAME} {__version__}: semantic painting with SPADE, pix2pix and "
                          "ConSinGAN, on your own machine.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if "--version" in argv[1:]:
        print(f"{APP_NAME} {__version__}")
        return 0
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName(APP_NAME)
    window = MainWindow()
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
