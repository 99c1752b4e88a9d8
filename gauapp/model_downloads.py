"""The model manager's Download tab: the catalogue of published models and the downloads.

Downloads run one at a time, in a background job (``ModelLibrary.install_from_catalogue``:
download, check, convert); the others wait in a queue. One at a time because catalogue entries
may share one archive (the SPADE models), whose partial download they would otherwise both write.
Each download has a row: progress bar, MB/s and time left, Cancel, then its result in one line.
"""
from __future__ import annotations

from html import escape

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QScrollArea, QSplitter, QToolButton, QVBoxLayout,
                               QWidget)

from .model_views import human_duration, human_size, kind_label, model_icon

UNVERIFIED_TEXT = ("Unverified: the publisher gives no sha256 for this file, so the download "
                   "cannot be checked against the published file; it is only checked to be a "
                   "readable model of the expected kind.")
VERIFIED_TEXT = "Verified: the download is checked against the published sha256."


class DownloadRow(QWidget):
    """One download: what it is, how far it got, and a Cancel button."""

    def __init__(self, entry, parent=None):
        super().__init__(parent)
        self.entry = entry
        self.done = False
        self.title = QLabel(f"<b>{escape(entry.name)}</b>")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(False)
        self.status = QLabel("Queued")
        self.status.setWordWrap(True)
        # No report for a while: the rate and time left shown are stale; say so.
        self.quiet = QTimer(self)
        self.quiet.setSingleShot(True)
        self.quiet.setInterval(3000)
        self.quiet.timeout.connect(lambda: self.status.setText(
            self.status.text().split(" — ")[0] + " — no data for a few seconds, waiting…"))
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.cancel_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(top)
        box.addWidget(self.bar)
        box.addWidget(self.status)

    def show_progress(self, p) -> None:
        self.quiet.start()
        if p.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(1.0, p.done / p.total)))
            of = f"{human_size(p.done)} of {human_size(p.total)}"
        else:
            self.bar.setRange(0, 0)
            of = f"{human_size(p.done)} (total size unknown)"
        self.status.setText(f"{of} — {p.mb_per_s:.1f} MB/s — {human_duration(p.eta_s)} left")
        if p.total and p.done >= p.total:
            self.quiet.stop()
            self.bar.setRange(0, 0)
            self.status.setText(f"Downloaded {human_size(p.done)}; checking and converting…")

    def end(self, text: str, error: bool = False) -> None:
        self.done = True
        self.quiet.stop()
        self.cancel_button.hide()
        self.bar.hide()
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setStyleSheet("color: #b00020;" if error else "")


class DownloadTab(QWidget):
    """The catalogue (left), the chosen entry's details and Download (right), the downloads
    (below). ``download_options`` go to ``models.download.download`` (tests shorten waits)."""

    installed = Signal(object)        # InstallResult
    message = Signal(str, bool)

    def __init__(self, manager, catalogue_path=None, parent=None):
        super().__init__(parent)
        self.manager = manager
        self.catalogue_path = catalogue_path
        self.download_options: dict = {}
        self.entries = []
        self.queue: list[DownloadRow] = []
        self.current: tuple[DownloadRow, object] | None = None   # (row, job)
        self.rows: dict[str, DownloadRow] = {}                     # newest row per entry id

        self.list = QListWidget()
        self.list.setIconSize(QSize(40, 40))
        self.list.currentRowChanged.connect(lambda _: self.show_details())
        self.details = QLabel()
        self.details.setObjectName("catalogue-details")
        self.details.setTextFormat(Qt.RichText)
        self.details.setWordWrap(True)
        self.details.setOpenExternalLinks(True)
        self.details.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextBrowserInteraction)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        right = QWidget()
        rbox = QVBoxLayout(right)
        rbox.addWidget(self.details, 1)
        rbox.addWidget(self.download_button, 0, Qt.AlignRight)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.list)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 560])
        self.downloads = QWidget()
        self.downloads_box = QVBoxLayout(self.downloads)
        self.downloads_box.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.downloads)
        scroll.setMinimumHeight(110)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 3)
        layout.addWidget(QLabel("Downloads (one at a time; the others wait):"))
        layout.addWidget(scroll, 1)
        self.reload()

    # ----- the catalogue ------------------------------------------------------------------------
    def reload(self) -> None:
        from models.catalogue import CatalogueError, load_catalogue

        try:
            self.entries = load_catalogue(self.catalogue_path)
            error = ""
        except CatalogueError as exc:
            self.entries, error = [], str(exc)
        current = self.list.currentRow()
        self.list.clear()
        installed = self._installed_ids()
        for e in self.entries:
            badge = "verified" if e.verified else "UNVERIFIED"
            state = "installed · " if e.id in installed else ""
            item = QListWidgetItem(model_icon(e.kind, None),
                                   f"{e.name}\n{state}{kind_label(e.kind)} · "
                                   f"{human_size(e.size)} · {badge}")
            item.setToolTip(e.description)
            self.list.addItem(item)
        if error:
            self.details.setText(f"<span style='color:#b00020'>The catalogue cannot be read: "
                                 f"{escape(error)}</span>")
        self.list.setCurrentRow(min(max(current, 0), len(self.entries) - 1))
        self.show_details()

    def _installed_ids(self) -> dict[str, str]:
        return {e.catalogue_id: e.name for e in self.manager.library.entries() if e.catalogue_id}

    def selected(self):
        row = self.list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def show_details(self) -> None:
        e = self.selected()
        if e is None:
            self.download_button.setEnabled(False)
            return
        installed = self._installed_ids().get(e.id)
        badge = (f"<p style='color:#2e7d32'>✔ {VERIFIED_TEXT}</p>" if e.verified else
                 f"<p style='color:#a05a00'><b>⚠ {UNVERIFIED_TEXT}</b></p>")
        rows = [("Kind", kind_label(e.kind)), ("Architecture", e.architecture),
                ("Label set", e.labelset or "—"), ("Licence", e.license),
                ("Size", human_size(e.size)), ("File", e.file_name + (
                    f" → {e.member}" if e.member else ""))]
        table = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{escape(str(v))}</td></tr>"
                        for k, v in rows)
        notes = f"<p><i>{escape(e.notes)}</i></p>" if e.notes else ""
        page = f"<p><a href='{escape(e.page)}'>{escape(e.page)}</a></p>" if e.page else ""
        state = (f"<p><b>Installed as {escape(installed)}.</b></p>" if installed else "")
        self.details.setText(f"<h3>{escape(e.name)}</h3><p>{escape(e.description)}</p>"
                             f"{badge}<table>{table}</table>{notes}{page}{state}")
        busy = e.id in self.rows and not self.rows[e.id].done
        self.download_button.setEnabled(not installed and not busy)
        self.download_button.setText("Downloading…" if busy else "Download")

    # ----- downloads ----------------------------------------------------------------------------
    def download_selected(self) -> DownloadRow | None:
        entry = self.selected()
        return self.download(entry) if entry is not None else None

    def download(self, entry) -> DownloadRow:
        row = DownloadRow(entry)
        row.cancel_button.clicked.connect(lambda: self.cancel(row))
        self.downloads_box.insertWidget(self.downloads_box.count() - 1, row)
        self.rows[entry.id] = row
        self.queue.append(row)
        self._start_next()
        self.show_details()
        return row

    def cancel(self, row: DownloadRow) -> None:
        if row in self.queue:
            self.queue.remove(row)
            row.end("Cancelled before it started")
            self.show_details()
        elif self.current is not None and self.current[0] is row:
            self.current[1].cancel()
            row.status.setText("Cancelling…")
            row.cancel_button.setEnabled(False)

    def _start_next(self) -> None:
        if self.current is not None or not self.queue:
            return
        row = self.queue.pop(0)
        entry, library, options = row.entry, self.manager.library, dict(self.download_options)

        def run(ctx):
            from models.download import DownloadCancelled

            try:
                return library.install_from_catalogue(entry, progress=ctx.report,
                                                      should_stop=ctx.should_stop, **options)
            except DownloadCancelled:
                return None  # the job ends "cancelled"; the .part file is kept for resuming

        row.status.setText("Connecting…")
        job = self.manager.start_job(f"Download {entry.name}", run)
        self.current = (row, job)
        job.progress.connect(row.show_progress)
        job.finished.connect(lambda result: self._installed(row, result))
        job.cancelled.connect(lambda result: self._cancelled(row, result))
        job.failed.connect(lambda text: self._failed(row, text))
        job.ended.connect(lambda: self._ended(row))

    def _installed(self, row: DownloadRow, result) -> None:
        warnings = "; ".join(result.warnings)
        row.end(f"Installed as {result.entry.name!r}" + (f". {warnings}" if warnings else ""))
        if warnings:
            row.status.setStyleSheet("color: #a05a00;")
        self.message.emit(f"Installed {result.entry.name!r}" +
                          (" (unverified: the download could not be checked against a "
                           "published sha256)" if not row.entry.verified else ""), False)
        self.installed.emit(result)

    def _cancelled(self, row: DownloadRow, result) -> None:
        if result is not None:  # it had already been converted when the cancel came
            self._installed(row, result)
            return
        row.end("Cancelled; the part downloaded so far is kept, a new download resumes it")
        self.message.emit(f"Download of {row.entry.name} cancelled", False)

    def _failed(self, row: DownloadRow, text: str) -> None:
        row.end(f"Failed: {text}", error=True)
        self.message.emit(f"Download of {row.entry.name} failed: {text}", True)

    def _ended(self, row: DownloadRow) -> None:
        if self.current is not None and self.current[0] is row:
            self.current = None
        self.show_details()
        self._start_next()

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self.queue)
