"""Model archives (``checkpoints.tar.gz``, ``.zip``) read safely, and the models found in a set
of files.

Every member of an archive is checked before anything is written: no absolute path, no ``..``,
no symlink, hard link, device or FIFO, no more than ``max_members`` members, no member or total
declared size over the limits. Then only the files of the chosen model are extracted, into a
folder the caller owns, byte counts checked as they are copied.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from .errors import CheckpointError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_DRIVE = re.compile(r"^[A-Za-z]:")
_NET_FILE = re.compile(r"_net_[A-Za-z0-9]+\.pth$")
_CHECKPOINT_SUFFIXES = (".pth", ".pt")
_FOLDER_SCAN_LIMIT = 20_000


class UnsafeArchiveError(CheckpointError):
    """An archive member could write outside its folder, is a link or device, or the archive
    declares more members or bytes than allowed. Nothing was extracted."""


class ModelChoiceError(CheckpointError):
    """A folder or archive holds no model, or several and none was chosen; ``choices`` lists
    them."""

    def __init__(self, message: str, choices: list[str]):
        super().__init__(message)
        self.choices = choices


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_member_bytes: int = 16 << 30
    max_total_bytes: int = 32 << 30


@dataclass(frozen=True)
class ArchiveMember:
    name: str       # normalised relative POSIX path
    size: int       # declared size in bytes
    is_dir: bool


@dataclass(frozen=True)
class Candidate:
    """One importable model among a set of files.

    ``name`` is how a user picks it, ``path`` what ``import_model`` is given (relative: a file,
    or a folder for ConSinGAN), ``files`` every file the import reads.
    """

    name: str
    kind: str  # "consingan" | "checkpoint" | "model_file"
    path: str
    files: tuple[str, ...]


# ----- archives -------------------------------------------------------------------------------
def archive_format(path: str | Path) -> str | None:
    """``"tar"`` or ``"zip"`` for an archive, None for anything else (a PyTorch ``.pth`` is a
    zip file too, but one holding ``data.pkl``: it is a checkpoint, not an archive)."""
    path = Path(path)
    if not path.is_file():
        return None
    lower = path.name.lower()
    try:
        if lower.endswith((".tar.gz", ".tgz", ".tar")) or (
                not lower.endswith(_CHECKPOINT_SUFFIXES + (".safetensors", ".zip"))
                and tarfile.is_tarfile(path)):
            return "tar"
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                return "zip"
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error):
        return None
    return None


def safe_member_name(raw: str, archive: Path) -> str:
    """The member's relative path, normalised; raises for anything that could escape."""
    if "\x00" in raw or "\\" in raw:
        raise UnsafeArchiveError(f"{archive}: member {raw!r} has a backslash or NUL in its name")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise UnsafeArchiveError(f"{archive}: member {raw!r} has an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {raw!r} climbs out of the folder ('..')")
    if len(parts) > 32 or len(raw) > 1024:
        raise UnsafeArchiveError(f"{archive}: member {raw[:80]!r}... has too deep or long a path")
    return "/".join(parts)


def list_members(path: str | Path, limits: ArchiveLimits = ArchiveLimits()) -> list[ArchiveMember]:
    """Every member of a tar or zip archive, after the safety checks."""
    path = Path(path)
    fmt = archive_format(path)
    if fmt is None:
        raise CheckpointError(f"{path}: not a tar or zip archive")
    members: list[ArchiveMember] = []
    total = 0
    try:
        for raw_name, size, kind in (_tar_entries(path) if fmt == "tar" else _zip_entries(path)):
            if len(members) >= limits.max_members:
                raise UnsafeArchiveError(f"{path}: more than {limits.max_members} members")
            if kind not in ("file", "dir"):
                raise UnsafeArchiveError(f"{path}: member {raw_name!r} is a {kind}; archives "
                                         "with links or special files are refused")
            name = safe_member_name(raw_name, path)
            if size < 0 or size > limits.max_member_bytes:
                raise UnsafeArchiveError(f"{path}: member {raw_name!r} declares {size} bytes, "
                                         f"more than the {limits.max_member_bytes} allowed")
            total += size
            if total > limits.max_total_bytes:
                raise UnsafeArchiveError(f"{path}: the members declare more than "
                                         f"{limits.max_total_bytes} bytes in all")
            if name:
                members.append(ArchiveMember(name, size, kind == "dir"))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable archive ({type(exc).__name__}: {exc})") \
            from None
    return members


def _tar_entries(path: Path):
    with tarfile.open(path, "r:*") as tf:
        for m in tf:  # yielded before tarfile seeks past its data: a huge size is seen first
            if m.isdir():
                kind = "dir"
            elif m.isfile() and not m.issparse():
                kind = "file"
            else:
                kind = ("symlink" if m.issym() else "hard link" if m.islnk() else
                        "device" if m.isdev() else "special file")
            yield m.name, m.size, kind


def _zip_entries(path: Path):
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            mode = info.external_attr >> 16
            if info.flag_bits & 0x1:
                kind = "encrypted file"
            elif stat.S_ISLNK(mode):
                kind = "symlink"
            elif info.is_dir():
                kind = "dir"
            elif stat.S_IFMT(mode) in (0, stat.S_IFREG):
                kind = "file"
            else:
                kind = "special file"
            yield info.filename, info.file_size, kind


def extract_members(path: str | Path, names: Iterable[str], dest: str | Path,
                    limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """Extract the regular files ``names`` (as ``list_members`` gives them) into ``dest``."""
    path, dest = Path(path), Path(dest)
    members = {m.name: m for m in list_members(path, limits) if not m.is_dir}
    wanted = set(names)
    missing = wanted - set(members)
    if missing:
        raise CheckpointError(f"{path}: no member(s) {', '.join(sorted(missing))}")
    need = sum(members[n].size for n in wanted)
    dest.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest).free
    if need > free:
        raise CheckpointError(f"{path}: extracting needs {need / 1e6:.0f} MB, "
                              f"{free / 1e6:.0f} MB free in {dest}")
    root = dest.resolve()
    try:
        if archive_format(path) == "tar":
            with tarfile.open(path, "r:*") as tf:
                for m in tf:
                    name = safe_member_name(m.name, path)
                    if name in wanted and m.isfile():
                        _copy_member(tf.extractfile(m), root, name, members[name].size, path)
        else:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    name = safe_member_name(info.filename, path)
                    if name in wanted and not info.is_dir():
                        with z.open(info) as src:
                            _copy_member(src, root, name, members[name].size, path)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise CheckpointError(f"{path}: not a readable archive ({type(exc).__name__}: {exc})") \
            from None
    return dest


def _copy_member(src, root: Path, name: str, declared: int, archive: Path) -> None:
    target = (root / name).resolve()
    if root not in target.parents:
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside "
                                 f"{root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    copied = 0
    with open(target, "wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            copied += len(block)
            if copied > declared:
                raise UnsafeArchiveError(f"{archive}: member {name!r} holds more than the "
                                         f"{declared} bytes it declares")
            out.write(block)
    if copied != declared:
        raise CheckpointError(f"{archive}: member {name!r} is truncated ({copied} of {declared} "
                              "bytes)")


# ----- finding models -------------------------------------------------------------------------
def folder_files(folder: str | Path) -> list[str]:
    """Relative POSIX paths of the regular files under ``folder`` (bounded walk)."""
    folder = Path(folder)
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            rel = Path(dirpath, f).relative_to(folder).as_posix()
            out.append(rel)
            if len(out) > _FOLDER_SCAN_LIMIT:
                raise CheckpointError(f"{folder}: more than {_FOLDER_SCAN_LIMIT} files; "
                                      "choose the model's own folder")
    return out


def find_candidates(names: Iterable[str]) -> list[Candidate]:
    """The models among relative file paths: ConSinGAN folders (``parameters.txt``), official
    ``*_net_G.pth`` (one per folder: ``latest`` if present; its ``_net_E`` when there is one),
    other ``.pth``/``.pt`` files and ``.safetensors`` files."""
    names = sorted(set(names))
    present = set(names)

    def parent(n: str) -> str:
        p = str(PurePosixPath(n).parent)
        return "" if p == "." else p

    def under(n: str, d: str) -> bool:
        return d == "" or n.startswith(d + "/")

    consingan = sorted({parent(n) for n in names if PurePosixPath(n).name == "parameters.txt"})
    out = [Candidate(d or ".", "consingan", d or ".",
                     tuple(n for n in names if under(n, d) and PurePosixPath(n).name != "G.pth"))
           for d in consingan]
    rest = [n for n in names if not any(under(n, d) for d in consingan)]
    generators: dict[str, list[str]] = {}
    for n in rest:
        if n.endswith("_net_G.pth"):
            generators.setdefault(parent(n), []).append(n)
    for d, files in generators.items():
        latest = f"{d}/latest_net_G.pth" if d else "latest_net_G.pth"
        g = latest if latest in present else sorted(files)[-1]
        e = g[: -len("_net_G.pth")] + "_net_E.pth"
        out.append(Candidate(g, "checkpoint", g, (g, e) if e in present else (g,)))
    for n in rest:
        if _NET_FILE.search(n):
            continue  # generators handled above; D, E and others are not models by themselves
        if n.endswith(".safetensors"):
            out.append(Candidate(n, "model_file", n, (n,)))
        elif n.endswith(_CHECKPOINT_SUFFIXES):
            out.append(Candidate(n, "checkpoint", n, (n,)))
    return sorted(out, key=lambda c: c.name)


def choose_candidate(candidates: list[Candidate], member: str | None, where: str) -> Candidate:
    """The candidate ``member`` names (exactly, or by its trailing path parts or folder name);
    the only one when ``member`` is None."""
    names = [c.name for c in candidates]
    if not candidates:
        raise ModelChoiceError(f"{where}: no model found (looked for parameters.txt, "
                               "*_net_G.pth, .pth/.pt and .safetensors files)", names)
    if member is None:
        if len(candidates) == 1:
            return candidates[0]
        raise ModelChoiceError(f"{where} holds {len(candidates)} models: choose one of "
                               + ", ".join(names), names)
    key = member.strip("/")
    for c in candidates:
        if key in (c.name, c.path):
            return c
    matches = [c for c in candidates
               if ("/" + c.name).endswith("/" + key)
               or ("/" + str(PurePosixPath(c.name).parent)).endswith("/" + key)]
    if len(matches) == 1:
        return matches[0]
    raise ModelChoiceError(f"{where}: {member!r} names {len(matches) or 'no'} model(s); "
                           "choose one of " + ", ".join(names), names)
