"""The user's preferences: a small JSON file in the user config folder, and the dialog that edits it.

The file is plain JSON (not QSettings) so that a user can read, edit or delete it, and so that a
bad value degrades to its default with a warning instead of stopping the app. QSettings is kept
for window geometry only.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

log = logging.getLogger("gauapp.settings")

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16")
OUTPUT_MODES = ("native", "canvas", "native-upscaled")
MAX_RECENT_FILES = 10
MAX_AUTOSAVE_MINUTES = 120


def default_models_folder() -> str:
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("gauapp", appauthor=False)) / "models")


def default_settings_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("gauapp", appauthor=False)) / "settings.json"


@dataclass
class AppSettings:
    """Everything the app remembers between runs, apart from window geometry."""

    models_folder: str = field(default_factory=default_models_folder)
    device: str = "auto"                  # "auto" | "cpu" | "cuda"
    precision: str = "fp32"               # "fp32" | "fp16" | "bf16"
    autosave_minutes: int = 1             # 0 = off
    live_default: bool = True             # new documents start with live generation on
    output_mode: str = "native"           # "native" | "canvas" | "native-upscaled"
    background_class: int | None = None   # None: the label set's unlabeled id
    recent_files: list[str] = field(default_factory=list)  # most recent first, at most 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "AppSettings":
        """Build settings from parsed JSON; each unknown key or bad value is warned about and the
        default used instead, so one bad entry never loses the others."""
        out = cls()
        if not isinstance(data, dict):
            log.warning("settings: expected a JSON object, got %s; using defaults",
                        type(data).__name__)
            return out
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                log.warning("settings: ignoring unknown key %r", key)
        for name in known:
            if name not in data:
                continue
            try:
                setattr(out, name, _VALIDATORS[name](data[name]))
            except (TypeError, ValueError) as exc:
                log.warning("settings: %s=%r is invalid (%s); using the default %r",
                            name, data[name], exc, getattr(out, name))
        return out


# --- per-field validation: return the clean value or raise ValueError/TypeError ---
def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected a non-empty string")
    return v


def _choice(options: tuple[str, ...]):
    def check(v: Any) -> str:
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return v
    return check


def _int(v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("expected an integer")
    if not lo <= v <= hi:
        raise ValueError(f"expected {lo}..{hi}")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("expected true or false")
    return v


def _class_id(v: Any) -> int | None:
    return None if v is None else _int(v, 0, 65535)


def _paths(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise TypeError("expected a list of paths")
    out: list[str] = []
    for p in v:
        if isinstance(p, str) and p and p not in out:
            out.append(p)
    return out[:MAX_RECENT_FILES]


_VALIDATORS = {
    "models_folder": _text,
    "device": _choice(DEVICES),
    "precision": _choice(PRECISIONS),
    "autosave_minutes": lambda v: _int(v, 0, MAX_AUTOSAVE_MINUTES),
    "live_default": _bool,
    "output_mode": _choice(OUTPUT_MODES),
    "background_class": _class_id,
    "recent_files": _paths,
}


def load_settings(path: str | Path | None = None) -> AppSettings:
    """Read the settings file; a missing, unreadable or corrupt file gives the defaults."""
    path = Path(path) if path is not None else default_settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AppSettings()
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("settings: cannot read %s (%s); using defaults", path, exc)
        return AppSettings()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        log.warning("settings: %s is not valid JSON (%s); using defaults", path, exc)
        return AppSettings()
    return AppSettings.from_dict(data)


def save_settings(settings: AppSettings, path: str | Path | None = None) -> Path:
    """Write the settings atomically (temp file + rename): a crash mid-write leaves the old file."""
    path = Path(path) if path is not None else default_settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def add_recent_file(settings: AppSettings, path: str | Path) -> None:
    """Put ``path`` first in the recent files (moving it if already there), keep at most 10."""
    p = os.path.abspath(os.fspath(path))
    settings.recent_files = [p] + [f for f in settings.recent_files if f != p]
    del settings.recent_files[MAX_RECENT_FILES:]


def _cuda_available() -> bool:
    try:
        import torch  # imported here: the settings file must load without paying for torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken torch install must not stop the preferences dialog
        return False


class SettingsDialog(QDialog):
    """Edits an AppSettings; ``settings()`` returns a new object (the input is never mutated)."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None,
                 cuda_available: bool | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._original = settings
        cuda = _cuda_available() if cuda_available is None else cuda_available

        self.models_folder = QLineEdit(settings.models_folder)
        self.models_folder.setToolTip("Where the model library is (imported, downloaded and "
                                      "trained models); changing it offers to move them")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.models_folder, 1)
        folder_row.addWidget(browse)

        self.device = self._combo(DEVICES, settings.device,
                                  {"auto": "Automatic (GPU if available)", "cpu": "CPU",
                                   "cuda": "GPU (CUDA)"})
        if not cuda:
            item = self.device.model().item(DEVICES.index("cuda"))
            item.setEnabled(False)
            item.setToolTip("No CUDA GPU is available to PyTorch on this machine")
            if self.device.currentData() == "cuda":
                self.device.setCurrentIndex(DEVICES.index("auto"))
        self.precision = self._combo(PRECISIONS, settings.precision,
                                     {"fp32": "Full (fp32)", "fp16": "Half (fp16, GPU)",
                                      "bf16": "bfloat16"})
        self.output_mode = self._combo(OUTPUT_MODES, settings.output_mode,
                                       {"native": "Model's native size",
                                        "canvas": "Canvas size",
                                        "native-upscaled": "Native, upscaled to canvas"})
        self.autosave = QSpinBox()
        self.autosave.setRange(0, MAX_AUTOSAVE_MINUTES)
        self.autosave.setSuffix(" min")
        self.autosave.setSpecialValueText("Off")
        self.autosave.setValue(settings.autosave_minutes)
        self.background = QSpinBox()
        self.background.setRange(-1, 65535)
        self.background.setSpecialValueText("Unlabeled (label set's default)")
        self.background.setToolTip("Class id painted where no layer covers the canvas")
        self.background.setValue(-1 if settings.background_class is None
                                 else settings.background_class)
        self.live_default = QCheckBox("Start new documents with live generation on")
        self.live_default.setChecked(settings.live_default)

        form = QFormLayout()
        form.addRow("Model library folder:", folder_row)
        form.addRow("Device:", self.device)
        form.addRow("Precision:", self.precision)
        form.addRow("Output size:", self.output_mode)
        form.addRow("Autosave every:", self.autosave)
        form.addRow("Background class:", self.background)
        form.addRow("", self.live_default)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    @staticmethod
    def _combo(values: tuple[str, ...], current: str, labels: dict[str, str]) -> QComboBox:
        combo = QComboBox()
        for v in values:
            combo.addItem(labels.get(v, v), v)
        combo.setCurrentIndex(values.index(current) if current in values else 0)
        return combo

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model library folder",
                                                  self.models_folder.text())
        if folder:
            self.models_folder.setText(folder)

    def settings(self) -> AppSettings:
        """The edited values as a new AppSettings (fields the dialog does not show are kept)."""
        folder = self.models_folder.text().strip() or self._original.models_folder
        return AppSettings(models_folder=folder,
                           device=self.device.currentData(),
                           precision=self.precision.currentData(),
                           autosave_minutes=self.autosave.value(),
                           live_default=self.live_default.isChecked(),
                           output_mode=self.output_mode.currentData(),
                           background_class=(None if self.background.value() < 0
                                             else self.background.value()),
                           recent_files=list(self._original.recent_files))

    @classmethod
    def edit(cls, settings: AppSettings, parent: QWidget | None = None) -> AppSettings | None:
        """Show the dialog modally; the new settings on OK, None on Cancel."""
        dialog = cls(settings, parent)
        return dialog.settings() if dialog.exec() == QDialog.Accepted else None
