"""Library operations that involve another place: installing a catalogue model (download, check,
import) and moving the whole library to another folder."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .importers import file_sha256


def install(library, entry, progress, should_stop, name: str | None, keep_download: bool,
            download_options: dict[str, Any]):
    """``ModelLibrary.install_from_catalogue`` (see there)."""
    from .download import download
    from .library import DuplicateModelError, InstallResult

    for existing in library.entries():
        if existing.catalogue_id == entry.id:
            raise DuplicateModelError(f"{entry.name} is already installed as "
                                      f"{existing.name!r} (id {existing.id})", existing)
    folder = library.downloads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # Named after the URL, so that entries sharing one archive share its (partial) download.
    key = hashlib.sha256(entry.url.encode()).hexdigest()[:12]
    dest = folder / f"{key}-{entry.file_name}"
    warnings = []
    if not entry.verified:
        warnings.append(f"{entry.name}: no sha256 is published for {entry.file_name}, so the "
                        "download could not be checked against the published file (unverified);"
                        " it was only checked to be a readable model of the expected kind")
    if not (dest.is_file() and _still_good(dest, entry)):
        options = {"max_size": library.limits.max_total_bytes, **download_options}
        download(entry.url, dest, expected_size=entry.size, sha256=entry.sha256,
                 progress=progress, should_stop=should_stop, **options)
    try:
        installed = library.import_(
            dest, name=name or entry.name, hints=entry.import_hints(), member=entry.member,
            provenance={"source_url": entry.url, "catalogue_id": entry.id,
                        "download_verified": entry.verified},
            entry_fields={"verified": entry.verified, "catalogue_id": entry.id})
    finally:
        if not keep_download:
            dest.unlink(missing_ok=True)
    if installed.architecture != entry.architecture:
        warnings.append(f"{entry.name}: the catalogue says {entry.architecture}, the file is "
                        f"{installed.architecture}")
    if "NC" in re.split(r"[\s-]+", entry.license):
        warnings.append(f"{entry.name}: licence {entry.license}: non-commercial use only")
    return InstallResult(installed, warnings)


def _still_good(path: Path, entry) -> bool:
    # A kept download passed its checks when it was renamed; check again, it may have changed.
    if entry.size is not None and path.stat().st_size != entry.size:
        return False
    return entry.sha256 is None or file_sha256(path) == entry.sha256


def move_library(library, new_root: Path):
    """``ModelLibrary.move_to`` (see there)."""
    from .library import LibraryError, ModelLibrary, TEMP_DIR, _new_id

    if new_root.exists() and new_root.resolve() == library.root.resolve():
        return library
    target = ModelLibrary(new_root, library.limits)
    moved = []
    with target._changing() as entries:
        for e in library.entries():
            if not e.path.is_file():
                library.warnings.append(f"{e.name!r}: its file {e.path} is missing; not moved")
                continue
            moved.append(e)
            if any(t.sha256 == e.sha256 for t in entries):
                continue
            final = target._free_path(e.path.stem, entries)
            work = target.root / TEMP_DIR
            work.mkdir(parents=True, exist_ok=True)
            checked_copy(e.path, final, e.sha256, work, "the library was not moved")
            thumb = None
            if e.thumbnail is not None and e.thumbnail.is_file():
                thumb = final.with_suffix(".png")
                shutil.copyfile(e.thumbnail, thumb)
            ids = {t.id for t in entries}
            entries.append(dataclasses.replace(
                e, path=final, thumbnail=thumb,
                id=e.id if e.id not in ids else _new_id(e.sha256, ids)))
    # The originals go only once the new manifest lists their copies.
    with library._changing() as entries:
        for e in moved:
            for f in (e.path, e.thumbnail):
                if f is not None:
                    f.unlink(missing_ok=True)
            entries[:] = [x for x in entries if x.id != e.id]
    if not target.root.is_dir():
        raise LibraryError(f"{target.root}: could not be created")
    return target


def checked_copy(src: Path, dest: Path, sha256: str, work: Path, refused: str) -> None:
    """Copy ``src`` to ``dest`` through a temporary file in ``work``, hashing on the way; the
    copy replaces ``dest`` only if its sha256 is ``sha256``, else LibraryError(``src: refused``)."""
    from .library import LibraryError

    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=work)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != sha256:
            raise LibraryError(f"{src}: its sha256 differs from the manifest (the file changed "
                               f"or is corrupt; run verify); {refused}")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
