"""Where gauapp writes its log: full tracebacks go to a file, the user sees one short line.

The engine reports failures to the GUI with the exception's first line only; the whole
traceback is logged here so that a bug report can include it.
"""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOGGER_NAME = "gauapp"
_HANDLER_MARK = "_gauapp_file_handler"


def default_log_path() -> Path:
    from platformdirs import user_log_dir

    return Path(user_log_dir("gauapp", appauthor=False)) / "gauapp.log"


def setup_logging(path: str | Path | None = None, level: int = logging.INFO) -> Path:
    """Send the ``gauapp`` loggers to ``path`` (default: the user log folder/gauapp.log).

    Calling it again moves the log to the new path (the previous file handler is closed), so
    tests can point it at a temporary folder. Returns the log file's path.
    """
    path = Path(path) if path is not None else default_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stop_logging()
    # A few rotated files: a crash loop must not fill the disk.
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"))
    setattr(handler, _HANDLER_MARK, True)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(level)
    return path


def stop_logging() -> None:
    """Close and remove the file handler that ``setup_logging`` installed, if any."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
            handler.close()
