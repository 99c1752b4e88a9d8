"""The user's model library: gauapp model files in one folder with a JSON manifest.

The folder is ``default_library_root()`` (``<user_data_dir>/gauapp/models``, the folder the app
lists as the user's models) or any other (the app's *models folder* setting). It holds
``<name>.safetensors`` files, optional ``<name>.png`` thumbnails, ``manifest.json`` (name, kind,
label set, size, sha256, source, licence, date of each model) and two hidden work folders:
``.tmp`` (conversions, archive extraction) and ``.downloads`` (``.part`` files). A model file
appears in the folder only complete and checked (written in ``.tmp``, read back, hashed, then
renamed), and the manifest is replaced atomically, under a lock on the folder that other processes
respect (`folderlock.py`). A manifest that cannot be read is set aside and
rebuilt from the files' metadata, with a warning; model files found without an entry are added.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .archives import ArchiveLimits
from .errors import InputError, ModelError
from .folderlock import FolderLock
from .importers import file_sha256
from .library_sources import (ImportPreview, build_preview, read_bundle, resolve_source,
                              source_sha256, suggested_name)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
TEMP_DIR = ".tmp"
DOWNLOADS_DIR = ".downloads"
MODEL_SUFFIX = ".safetensors"
THUMBNAIL_SIZE = 128


class LibraryError(ModelError):
    """A library operation cannot be done (unknown entry, corrupt file, name taken...)."""


class DuplicateModelError(LibraryError):
    """The model is already in the library; ``existing`` is its entry."""

    def __init__(self, message: str, existing: "LibraryEntry"):
        super().__init__(message)
        self.existing = existing


@dataclass(frozen=True)
class LibraryEntry:
    """One model of the library. ``verified``: None for a model imported from a local file,
    True/False for a download checked / not checkable against a published sha256."""

    id: str
    name: str
    kind: str
    architecture: str
    labelset: str | None
    size: int
    sha256: str
    source: str
    license: str
    added: str                      # ISO 8601, UTC
    path: Path
    thumbnail: Path | None = None
    source_sha256: str | None = None
    verified: bool | None = None
    catalogue_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["path"] = self.path.name
        data["thumbnail"] = self.thumbnail.name if self.thumbnail else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], root: Path) -> "LibraryEntry":
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        for key in ("id", "name", "sha256", "path"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise ValueError(f"an entry has no {key}")
        if Path(values["path"]).name != values["path"]:
            raise ValueError(f"entry path {values['path']!r} is not a file name")
        values["path"] = root / values["path"]
        thumb = values.get("thumbnail")
        values["thumbnail"] = root / Path(thumb).name if thumb else None
        values["size"] = int(values.get("size") or 0)
        for key in ("kind", "architecture", "source", "license", "added"):
            values[key] = str(values.get(key) or "")
        return cls(**values)


@dataclass(frozen=True)
class InstallResult:
    entry: LibraryEntry
    warnings: list[str]             # to show the user (unverified download, licence...)


def default_library_root() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("gauapp", appauthor=False)) / "models"


def manifest_names(root: str | Path) -> dict[str, str]:
    """{file name: library name} from a library's manifest; {} when there is none or it cannot
    be read (for the app's model list, which must never fail)."""
    try:
        data = json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))
        return {str(e["path"]): str(e["name"]) for e in data["entries"]
                if isinstance(e, dict) and e.get("path") and e.get("name")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def slugify(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip(".-_")
    return slug[:80] or "model"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class ModelLibrary:
    """See the module docstring. Methods that change the library re-read the manifest first,
    so that two processes (the app and ``gauapp-train models``) see each other's changes."""

    def __init__(self, root: str | Path | None = None, limits: ArchiveLimits = ArchiveLimits()):
        self.root = Path(root) if root is not None else default_library_root()
        self.limits = limits
        self.warnings: list[str] = []   # problems found while reading the manifest
        self._lock = threading.RLock()
        self._folder_lock = FolderLock.of(self.root)  # against other processes' writes
        self._entries: list[LibraryEntry] = []
        self.refresh()

    # ----- reading ----------------------------------------------------------------------------
    def entries(self) -> list[LibraryEntry]:
        return sorted(self._entries, key=lambda e: (e.name.lower(), e.id))

    def get(self, key: "str | LibraryEntry") -> LibraryEntry:
        """An entry by id, by name (ignoring case) or by file name."""
        if isinstance(key, LibraryEntry):
            key = key.id
        for e in self._entries:
            if key in (e.id, e.path.name):
                return e
        named = [e for e in self._entries if e.name.lower() == str(key).lower()]
        if len(named) == 1:
            return named[0]
        if named:
            raise LibraryError(f"{len(named)} models are named {key!r}; use the id: "
                               + ", ".join(e.id for e in named))
        raise LibraryError(f"no model {key!r} in the library {self.root}")

    def refresh(self) -> list[str]:
        """Re-read the manifest (rebuilding it if needed); returns the new warnings."""
        with self._lock:
            before = len(self.warnings)
            entries, changed = self._read_manifest()
            changed |= self._adopt_files(entries)
            if changed:  # again under the folder lock, then written
                with self._folder_lock:
                    entries, _ = self._read_manifest()
                    self._adopt_files(entries)
                    self._entries = entries
                    self._write_manifest()
            self._entries = entries
            return self.warnings[before:]

    def _warn(self, message: str) -> None:
        if message not in self.warnings:  # refresh() runs before every change
            self.warnings.append(message)

    def _read_manifest(self) -> tuple[list[LibraryEntry], bool]:
        path = self.root / MANIFEST
        if not path.exists():
            return [], False
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise LibraryError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"not a format {MANIFEST_FORMAT} manifest")
            entries = [LibraryEntry.from_json(e, self.root) for e in data["entries"]]
            if len({e.id for e in entries}) != len(entries):
                raise ValueError("two entries have the same id")
            return entries, False
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            backup = path.with_name(f"{MANIFEST}.corrupt-"
                                    f"{_dt.datetime.now():%Y%m%d-%H%M%S-%f}")
            with contextlib.suppress(OSError):
                os.replace(path, backup)
            self._warn(f"{path}: the manifest could not be read ({exc}); it was "
                                 f"rebuilt from the model files' metadata (the old one is "
                                 f"kept as {backup.name}); names given in the library and "
                                 "download checks are lost")
            return [], True

    def _adopt_files(self, entries: list[LibraryEntry]) -> bool:
        known = {e.path.name for e in entries}
        changed = False
        if not self.root.is_dir():
            return False
        for file in sorted(self.root.glob("*" + MODEL_SUFFIX)):
            if file.name in known or not file.is_file():
                continue
            try:
                entries.append(self._entry_from_file(file, {e.id for e in entries}))
                changed = True
            except ModelError as exc:
                self._warn(f"{file.name}: left out of the library ({exc})")
        return changed

    def _entry_from_file(self, file: Path, taken_ids: set[str],
                         **overrides: Any) -> LibraryEntry:
        """An entry described by a model file's own metadata."""
        from .modelfile import FORMAT_VERSION, read_metadata
        from .registry import get_architecture

        meta = read_metadata(file)
        if meta.get("gauapp.format") != FORMAT_VERSION:
            raise LibraryError(f"{file}: not a gauapp model file")
        try:
            provenance = json.loads(meta.get("gauapp.provenance") or "{}")
            labelset = meta.get("gauapp.labelset") or ""
            labelset_name = json.loads(labelset).get("name") if labelset else None
        except (ValueError, AttributeError) as exc:
            raise LibraryError(f"{file}: model file metadata is malformed ({exc})") from None
        architecture = meta.get("gauapp.architecture", "")
        sha = file_sha256(file)
        name = str(provenance.get("name") or file.stem)
        if slugify(name) != file.stem:
            name = file.stem
        values = dict(
            id=_new_id(sha, taken_ids), name=name, kind=get_architecture(architecture).kind,
            architecture=architecture, labelset=labelset_name, size=file.stat().st_size,
            sha256=sha, source=str(provenance.get("source_url") or provenance.get("source", "")),
            license=meta.get("gauapp.license", ""),
            added=_dt.datetime.fromtimestamp(file.stat().st_mtime, _dt.timezone.utc)
            .isoformat(timespec="seconds"),
            path=file, source_sha256=provenance.get("source_sha256"),
            verified=provenance.get("download_verified"),
            catalogue_id=provenance.get("catalogue_id"))
        thumb = file.with_suffix(".png")
        values["thumbnail"] = thumb if thumb.is_file() else None
        values.update(overrides)
        return LibraryEntry(**values)

    def _write_manifest(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {"format": MANIFEST_FORMAT, "entries": [e.to_json() for e in self.entries()]}
        fd, tmp = tempfile.mkstemp(prefix=MANIFEST + ".", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / MANIFEST)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @contextlib.contextmanager
    def _changing(self) -> Iterator[list[LibraryEntry]]:
        """Re-read the manifest, let the caller change the entry list, write it back."""
        with self._lock, self._folder_lock:
            self.refresh()
            entries = list(self._entries)
            yield entries
            self._entries = entries
            self._write_manifest()

    # ----- importing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _staging(self) -> Iterator[Callable[[], Path]]:
        """A factory of empty work folders inside the library, all removed afterwards."""
        made: list[Path] = []

        def make() -> Path:
            work = self.root / TEMP_DIR
            work.mkdir(parents=True, exist_ok=True)
            made.append(Path(tempfile.mkdtemp(prefix="import-", dir=work)))
            return made[-1]

        try:
            yield make
        finally:
            for folder in made:
                shutil.rmtree(folder, ignore_errors=True)
            if made:
                with contextlib.suppress(OSError):  # still in use by another import
                    (self.root / TEMP_DIR).rmdir()

    def inspect(self, path: str | Path, hints: dict[str, Any] | None = None,
                member: str | None = None) -> ImportPreview:
        """What importing ``path`` would add (kind, architecture, options, label set, files,
        warnings, a duplicate); nothing is added. An archive member is extracted to a
        temporary folder inside the library and removed."""
        hints = dict(hints or {})
        with self._staging() as staging:
            source = resolve_source(Path(path), member, staging, self.limits)
            bundle = read_bundle(source, hints)
            return build_preview(source, bundle, hints,
                                 self._duplicate(source_sha256(bundle, source)))

    def import_(self, path: str | Path, name: str | None = None,
                hints: dict[str, Any] | None = None, member: str | None = None,
                half: bool = False, allow_duplicate: bool = False,
                provenance: dict[str, Any] | None = None,
                entry_fields: dict[str, Any] | None = None) -> LibraryEntry:
        """Convert ``path`` (an official ``.pth``, a ConSinGAN folder, our ``.safetensors``, a
        folder or ``.tar.gz``/``.zip`` holding one of those: ``member`` picks one when there
        are several) into a model file of the library and return its entry. ``hints`` are the
        import options (as ``gauapp-train convert`` takes them, plus ``labelset`` and
        ``license``). Raises ``DuplicateModelError`` when the same source is already there."""
        from .modelfile import load_model_file, save_model_file
        from .registry import build_networks

        hints = dict(hints or {})
        with self._staging() as staging:
            source = resolve_source(Path(path), member, staging, self.limits)
            bundle = read_bundle(source, hints)
            src_sha = source_sha256(bundle, source)
            if not allow_duplicate:
                self._refuse_duplicate(src_sha)
            name = (name or suggested_name(source, bundle)).strip()
            _check_name(name)
            staged = staging() / ("model" + MODEL_SUFFIX)
            keep_as_is = source.is_our_model_file and not half and not hints.get("license")
            if keep_as_is:
                shutil.copyfile(source.target, staged)
            else:
                bundle.provenance.update(name=name, **(provenance or {}))
                save_model_file(bundle, staged, half=half)
            del bundle  # a full-size SPADE is 400 MB: keep one copy in memory at a time
            # Read back what was written and build the networks: a file that cannot run never
            # enters the library.
            build_networks(load_model_file(staged))
            sha = file_sha256(staged)
            if not allow_duplicate:
                self._refuse_duplicate(sha)
            with self._changing() as entries:
                final = self._free_path(slugify(name), entries)
                os.replace(staged, final)
                fields = dict(name=name, added=_now(), verified=None, source_sha256=src_sha,
                              source=(provenance or {}).get("source_url") or source.label)
                fields.update(entry_fields or {})
                entry = self._entry_from_file(final, {e.id for e in entries}, **fields)
                entries.append(entry)
        return entry

    def _duplicate(self, sha: str) -> LibraryEntry | None:
        for e in self._entries:
            if sha in (e.sha256, e.source_sha256):
                return e
        return None

    def _refuse_duplicate(self, sha: str) -> None:
        existing = self._duplicate(sha)
        if existing is not None:
            raise DuplicateModelError(f"this model is already in the library as "
                                      f"{existing.name!r} (id {existing.id})", existing)

    def _free_path(self, stem: str, entries: list[LibraryEntry]) -> Path:
        taken = {e.path.name.lower() for e in entries}
        for n in range(1, 10_000):
            candidate = self.root / (f"{stem}-{n}" if n > 1 else stem)
            candidate = candidate.with_name(candidate.name + MODEL_SUFFIX)
            if candidate.name.lower() not in taken and not candidate.exists() \
                    and not candidate.with_suffix(".png").exists():
                return candidate
        raise LibraryError(f"no free file name for {stem!r} in {self.root}")

    # ----- downloads --------------------------------------------------------------------------
    def install_from_catalogue(self, entry, progress=None, should_stop=None,
                               name: str | None = None, keep_download: bool = False,
                               **download_options: Any) -> InstallResult:
        """Download a catalogue entry into ``.downloads`` (resumable), check its size and sha256
        (when published), then import it. The library only ever gets the converted, checked
        model; an entry without a published sha256 is installed with ``verified`` False and a
        warning. ``download_options`` go to ``models.download.download``."""
        from .library_install import install

        return install(self, entry, progress, should_stop, name, keep_download,
                       download_options)

    def downloads_dir(self) -> Path:
        return self.root / DOWNLOADS_DIR

    # ----- editing ----------------------------------------------------------------------------
    def rename(self, key: "str | LibraryEntry", new_name: str) -> LibraryEntry:
        """Change the name shown for a model (the file keeps its name: an open model is not
        disturbed)."""
        new_name = new_name.strip()
        _check_name(new_name)
        with self._changing() as entries:
            old = self.get(key)
            entry = dataclasses.replace(old, name=new_name)
            entries[entries.index(old)] = entry
        return entry

    def remove(self, key: "str | LibraryEntry") -> None:
        """Delete a model file (and its thumbnail) and its entry."""
        with self._changing() as entries:
            entry = self.get(key)
            for f in (entry.path, entry.thumbnail):
                if f is not None:
                    f.unlink(missing_ok=True)
            entries.remove(entry)

    def export(self, key: "str | LibraryEntry", dest: str | Path,
               overwrite: bool = False) -> Path:
        """Copy a model file to ``dest`` (a file, or a folder: ``<name>.safetensors`` in it),
        checking the copy's sha256 against the manifest."""
        entry = self.get(key)
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / (slugify(entry.name) + MODEL_SUFFIX)
        if dest.exists() and not overwrite:
            raise LibraryError(f"{dest}: already exists (not overwritten)")
        if not entry.path.is_file():
            raise LibraryError(f"{entry.name!r}: its file {entry.path} is missing")
        dest.parent.mkdir(parents=True, exist_ok=True)
        from .library_install import checked_copy

        checked_copy(entry.path, dest, entry.sha256, dest.parent, "not exported")
        return dest

    def set_thumbnail(self, key: "str | LibraryEntry", rgb) -> LibraryEntry:
        """Store a small PNG (at most 128 px a side) of ``rgb`` (H×W×3 uint8) beside the model."""
        import numpy as np
        from PIL import Image

        arr = np.asarray(rgb)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
            raise InputError(f"a thumbnail must be an H×W×3 uint8 array, got {arr.dtype} "
                             f"{arr.shape}")
        with self._changing() as entries:
            old = self.get(key)
            image = Image.fromarray(arr, "RGB")
            image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            thumb = old.path.with_suffix(".png")
            tmp = thumb.with_name(thumb.name + ".tmp")
            image.save(tmp, format="PNG")
            os.replace(tmp, thumb)
            entry = dataclasses.replace(old, thumbnail=thumb)
            entries[entries.index(old)] = entry
        return entry

    def verify(self, progress: Callable[[int, int, LibraryEntry], None] | None = None
               ) -> list[tuple[LibraryEntry, bool, str]]:
        """Re-hash every model file: (entry, ok, message) for each."""
        self.refresh()
        results = []
        entries = self.entries()
        for i, e in enumerate(entries):
            if progress is not None:
                progress(i, len(entries), e)
            if not e.path.is_file():
                results.append((e, False, f"file missing: {e.path}"))
                continue
            size = e.path.stat().st_size
            if size != e.size:
                results.append((e, False, f"size differs: {size} bytes, the manifest says "
                                          f"{e.size}"))
                continue
            sha = file_sha256(e.path)
            ok = sha == e.sha256
            results.append((e, ok, "ok" if ok else f"sha256 differs (file changed or "
                                                   f"corrupt): {sha}"))
        return results

    def move_to(self, new_root: str | Path) -> "ModelLibrary":
        """Move every model into ``new_root`` (copied and checked first, then removed here);
        returns the library there. Models it already holds are not copied twice."""
        from .library_install import move_library

        return move_library(self, Path(new_root))


def _new_id(sha: str, taken: set[str]) -> str:
    for length in (12, 16, 24, 64):
        if sha[:length] not in taken:
            return sha[:length]
    n = 2
    while f"{sha[:12]}-{n}" in taken:
        n += 1
    return f"{sha[:12]}-{n}"


def _check_name(name: str) -> None:
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise LibraryError(f"{name!r} is not a usable model name (1 to 200 printable "
                           "characters)")

