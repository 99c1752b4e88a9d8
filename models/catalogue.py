"""The catalogue of published models: where each official model can be downloaded, what it does,
its licence, and what its import needs.

``resources/catalogue.json`` holds ``{"format": 1, "models": [...]}``; each model is a JSON object
with the fields of ``CatalogueEntry``. A size or sha256 the publisher never stated is null, and
such an entry is *unverified*: a download can then only be checked for being a readable model,
not for being the published file, and the user is told so.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import ModelError

CATALOGUE_FORMAT = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KINDS = ("label2image", "image2image", "single_image")
FORMATS = ("pth", "safetensors", "tar.gz", "tar", "zip")


class CatalogueError(ModelError):
    """The catalogue file is missing, not JSON, or an entry is malformed."""


@dataclass(frozen=True)
class CatalogueEntry:
    """One published model.

    ``member`` names the model inside an archive (a path, or its last folder names, e.g.
    ``coco_pretrained/latest_net_G.pth``); ``hints`` are import options the weights cannot tell
    (named as the official options); ``page`` is where a person can download it by hand.
    """

    id: str
    name: str
    kind: str
    architecture: str
    description: str
    url: str
    license: str
    file_name: str
    format: str = "pth"
    size: int | None = None
    sha256: str | None = None
    member: str | None = None
    labelset: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    page: str = ""
    notes: str = ""

    @property
    def verified(self) -> bool:
        """True when a download can be checked against a published sha256."""
        return self.sha256 is not None

    def import_hints(self) -> dict[str, Any]:
        """Hints for ``ModelLibrary.import_``: the options plus label set and licence."""
        hints = dict(self.hints)
        if self.labelset:
            hints.setdefault("labelset", self.labelset)
        hints.setdefault("license", self.license)
        return hints


def default_catalogue_path() -> Path:
    from .labelsets import resources_dir

    return resources_dir() / "catalogue.json"


def load_catalogue(path: str | Path | None = None) -> list[CatalogueEntry]:
    """Every entry of the catalogue file (default: the one shipped in ``resources/``)."""
    path = Path(path) if path is not None else default_catalogue_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"{path}: no such catalogue file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"{path}: not a readable JSON catalogue ({exc})") from None
    return parse_catalogue(data, str(path))


def parse_catalogue(data: Any, where: str = "catalogue") -> list[CatalogueEntry]:
    if not isinstance(data, dict) or data.get("format") != CATALOGUE_FORMAT:
        raise CatalogueError(f"{where}: expected an object with \"format\": {CATALOGUE_FORMAT}")
    models = data.get("models")
    if not isinstance(models, list):
        raise CatalogueError(f"{where}: \"models\" must be a list")
    entries, seen = [], set()
    for index, item in enumerate(models):
        entry = _parse_entry(item, f"{where}: model #{index + 1}")
        if entry.id in seen:
            raise CatalogueError(f"{where}: the id {entry.id!r} appears twice")
        seen.add(entry.id)
        entries.append(entry)
    return entries


def find_entry(entries: list[CatalogueEntry], key: str) -> CatalogueEntry:
    """The entry whose id is ``key`` (or whose name is, ignoring case)."""
    for e in entries:
        if e.id == key:
            return e
    by_name = [e for e in entries if e.name.lower() == key.lower()]
    if len(by_name) == 1:
        return by_name[0]
    raise CatalogueError(f"no catalogue model {key!r}; known: "
                         + ", ".join(e.id for e in entries))


_REQUIRED = ("id", "name", "kind", "architecture", "description", "url", "license", "file_name")
_OPTIONAL = ("format", "size", "sha256", "member", "labelset", "hints", "page", "notes")


def _parse_entry(item: Any, where: str) -> CatalogueEntry:
    if not isinstance(item, dict):
        raise CatalogueError(f"{where}: not a JSON object")
    unknown = set(item) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for key in _REQUIRED:
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise CatalogueError(f"{where}: {key!r} must be a non-empty string")
    where = f"{where} ({item['id']})"
    if not _ID.match(item["id"]):
        raise CatalogueError(f"{where}: the id must be lower-case letters, digits, . _ -")
    if item["kind"] not in KINDS:
        raise CatalogueError(f"{where}: kind must be one of {', '.join(KINDS)}")
    if urlparse(item["url"]).scheme not in ("http", "https") or not urlparse(item["url"]).netloc:
        raise CatalogueError(f"{where}: url must be an http(s) address, got {item['url']!r}")
    if item.get("format", "pth") not in FORMATS:
        raise CatalogueError(f"{where}: format must be one of {', '.join(FORMATS)}")
    if "/" in item["file_name"] or "\\" in item["file_name"] or item["file_name"] in (".", ".."):
        raise CatalogueError(f"{where}: file_name must be a plain file name")
    size = item.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise CatalogueError(f"{where}: size must be a positive number of bytes or null")
    sha = item.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha)):
        raise CatalogueError(f"{where}: sha256 must be 64 lower-case hex digits or null")
    for key in ("member", "labelset", "page", "notes"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise CatalogueError(f"{where}: {key} must be a string or null")
    hints = item.get("hints") or {}
    if not isinstance(hints, dict) or not all(isinstance(k, str) for k in hints):
        raise CatalogueError(f"{where}: hints must be an object of option names")
    if item.get("format", "pth") in ("tar.gz", "tar", "zip") and not item.get("member"):
        raise CatalogueError(f"{where}: an archive entry needs \"member\" (the model inside)")
    fields = {k: item[k] for k in _REQUIRED}
    fields.update({k: item[k] for k in _OPTIONAL if item.get(k) is not None})
    fields["hints"] = dict(hints)
    return CatalogueEntry(**fields)
