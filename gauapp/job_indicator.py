"""A busy indicator in the status bar for background jobs (harmonize, gallery, training): the
job's name, a progress bar (indeterminate until the job reports a fraction) and Cancel."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget


class JobIndicator(QWidget):
    """Shows the newest tracked job while it runs; hidden when none does."""

    def __init__(self, parent=None):
        super().__init__(parent)
        box = QHBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(120)
        self.bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop this job (what it made so far is discarded)")
        self.cancel_button.clicked.connect(self.cancel)
        for w in (self.label, self.bar, self.cancel_button):
            box.addWidget(w)
        self._jobs: list = []
        self.hide()

    def track(self, job, text: str) -> None:
        self._jobs.append((job, text))
        job.progress.connect(lambda value, j=job: self._progress(j, value))
        job.ended.connect(lambda j=job: self._ended(j))
        self._show_newest()

    @property
    def current(self):
        return self._jobs[-1][0] if self._jobs else None

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()
            self.label.setText(self._jobs[-1][1] + " — cancelling…")

    def _show_newest(self) -> None:
        if not self._jobs:
            self.hide()
            return
        self.label.setText(self._jobs[-1][1])
        self.bar.setRange(0, 0)  # busy until a fraction arrives
        self.show()

    def _progress(self, job, value) -> None:
        if job is not self.current:
            return
        fraction = getattr(value, "fraction", None)
        if fraction is None and isinstance(value, dict):
            fraction = value.get("fraction")
        text = value.get("text") if isinstance(value, dict) else None
        if fraction is not None:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(max(0.0, min(1.0, float(fraction))) * 1000))
        if text:
            self.label.setText(text)

    def _ended(self, job) -> None:
        self._jobs = [(j, t) for j, t in self._jobs if j is not job]
        self._show_newest()


def indicator(window) -> JobIndicator:
    """The window's indicator, added to its status bar on first use."""
    found = getattr(window, "job_indicator", None)
    if found is None:
        found = JobIndicator(window)
        window.statusBar().addPermanentWidget(found)
        window.job_indicator = found
    return found
