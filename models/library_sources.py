"""What an import reads and what it found: the source (a file, a folder, an archive member), the
bundle converted from it, and the preview shown before anything is added to the library."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .archives import (ArchiveLimits, Candidate, archive_format, choose_candidate,
                       extract_members, find_candidates, folder_files, list_members)
from .bundle import ModelBundle
from .errors import CheckpointError
from .importers import file_sha256, import_model
from .modelfile import FORMAT_VERSION, read_metadata
from .registry import get_architecture

# SPADE options the weights cannot tell; the importer takes them from the dataset defaults.
_SPADE_GUESSED = ("crop_size", "aspect_ratio", "num_upsampling_layers")
_UNKNOWN_LICENSE = "unknown"


@dataclass
class Source:
    """One model to import: ``base / candidate.path`` on disk (inside a temporary folder for an
    archive); ``label`` says where it came from, for the provenance and the messages."""

    origin: Path
    candidate: Candidate
    base: Path
    label: str
    format: str  # "archive" | "folder" | "file"
    choices: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files left out on purpose (G.pth)

    @property
    def target(self) -> Path:
        return self.base / self.candidate.path

    @property
    def is_our_model_file(self) -> bool:
        if self.candidate.kind != "model_file":
            return False
        try:
            return read_metadata(self.target).get("gauapp.format") == FORMAT_VERSION
        except CheckpointError:
            return False


@dataclass
class ImportPreview:
    """What ``ModelLibrary.inspect`` detected; nothing has been written to the library."""

    path: Path
    source_format: str          # "gauapp model file", "official checkpoint", "ConSinGAN folder"
    container: str              # "file" | "folder" | "archive"
    member: str                 # the model inside the folder or archive ("" for a plain file)
    choices: list[str]          # every model found in the folder or archive
    architecture: str
    kind: str                   # "label2image" | "image2image" | "single_image"
    options: dict[str, Any]
    labelset: str | None
    parameters: int             # number of weight values
    license: str
    files: list[str]            # files the import reads
    source_sha256: str
    suggested_name: str
    warnings: list[str]
    duplicate_of: Any = None    # the LibraryEntry holding the same model, if any
    # what the weights cannot tell and the user may correct (label set, SPADE's size options),
    # with the values now used; and the hints this preview was read with (import_ takes them)
    adjustable: dict[str, Any] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)


def resolve_source(path: Path, member: str | None, staging, limits: ArchiveLimits) -> Source:
    """Find the model to import at ``path``. ``staging()`` returns an empty folder inside the
    library, used only to extract an archive member."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    if path.is_dir():
        names = folder_files(path)
        candidates = find_candidates(names)
        chosen = choose_candidate(candidates, member, str(path))
        label = path.name if chosen.path == "." else f"{path.name}/{chosen.path}"
        return Source(path, chosen, path, label, "folder", [c.name for c in candidates],
                      _pickled_modules(chosen, names))
    if archive_format(path) is not None:
        names = [m.name for m in list_members(path, limits) if not m.is_dir]
        candidates = find_candidates(names)
        chosen = choose_candidate(candidates, member, str(path))
        base = extract_members(path, chosen.files, staging(), limits)
        return Source(path, chosen, base, f"{path.name}:{chosen.path}", "archive",
                      [c.name for c in candidates], _pickled_modules(chosen, names))
    if member is not None:
        raise CheckpointError(f"{path}: a single model file has no member {member!r}")
    kind = "model_file" if path.suffix == ".safetensors" else "checkpoint"
    files = [path.name]
    encoder = path.with_name(path.name.replace("_net_G", "_net_E"))
    if encoder != path and encoder.is_file():
        files.append(encoder.name)
    return Source(path, Candidate(path.name, kind, path.name, tuple(files)), path.parent,
                  path.name, "file", [path.name])


def _pickled_modules(chosen: Candidate, names: list[str]) -> list[str]:
    if chosen.kind != "consingan":
        return []
    folder = "" if chosen.path == "." else chosen.path + "/"
    return [n for n in names if n == folder + "G.pth"]


def read_bundle(source: Source, hints: dict[str, Any]) -> ModelBundle:
    """The model converted in memory, with the licence and provenance the library records."""
    hints = dict(hints)
    license_hint = hints.get("license")
    if source.candidate.kind == "consingan" or source.is_our_model_file:
        bundle = import_model(source.target)  # their options come from the files themselves
    else:
        bundle = import_model(source.target, hints)
    if license_hint:
        bundle.license = str(license_hint)
    prov = bundle.provenance
    if not source.is_our_model_file:
        prov["source"] = source.label
        prov.pop("source_path", None)  # may point into a temporary folder
    if "source_sha256" not in prov:
        prov["source_sha256"] = file_sha256(source.target)
    return bundle


def source_sha256(bundle: ModelBundle, source: Source) -> str:
    if source.is_our_model_file:
        return file_sha256(source.target)
    return str(bundle.provenance["source_sha256"])


def suggested_name(source: Source, bundle: ModelBundle) -> str:
    """A name for the library: the folder that holds the model, as the user sees it."""
    if source.is_our_model_file and bundle.provenance.get("name"):
        return str(bundle.provenance["name"])
    rel = PurePosixPath(source.candidate.path)
    if source.format == "file":
        parts = (source.origin.parent.name,)
    elif source.format == "folder":
        parts = (source.origin.parent.name, source.origin.name)
    else:
        parts = (source.origin.name.split(".")[0],)
    parts = tuple(p for p in parts + rel.parent.parts if p not in ("", "."))
    if source.candidate.kind == "consingan":
        parts += tuple(p for p in (rel.name,) if p not in ("", "."))
        name = parts[-1] if parts else "consingan"
        # Official folders are TrainedModels/<image>/<timestamp>_...: the image says more.
        return f"{parts[-2]} {name}" if name[:1].isdigit() and len(parts) > 1 else name
    if rel.name.endswith("_net_G.pth") and parts:
        return parts[-1]
    return rel.name.split(".")[0] or "model"


def describe_format(source: Source) -> str:
    if source.candidate.kind == "consingan":
        return "ConSinGAN folder"
    if source.is_our_model_file:
        return "gauapp model file"
    return "official checkpoint"


def build_preview(source: Source, bundle: ModelBundle, hints: dict[str, Any],
                  duplicate_of=None) -> ImportPreview:
    arch = get_architecture(bundle.architecture)
    warnings = detection_warnings(source, bundle, hints)
    if duplicate_of is not None:
        warnings.append(f"already in the library as {duplicate_of.name!r} "
                        f"(id {duplicate_of.id})")
    files = list(source.candidate.files)
    if source.candidate.kind == "consingan":
        files = [f for f in files if PurePosixPath(f).name != "G.pth"]
    return ImportPreview(
        path=source.origin, source_format=describe_format(source), container=source.format,
        member="" if source.format == "file" or source.candidate.name == "." else
        source.candidate.name,
        choices=list(source.choices), architecture=bundle.architecture, kind=arch.kind,
        options=copy.deepcopy(bundle.options),
        labelset=bundle.labelset.name if bundle.labelset else None,
        parameters=sum(int(t.numel()) for t in bundle.state.values()),
        license=bundle.license or _UNKNOWN_LICENSE, files=files,
        source_sha256=source_sha256(bundle, source), suggested_name=suggested_name(source, bundle),
        warnings=warnings, duplicate_of=duplicate_of,
        adjustable=adjustable_options(source, bundle), hints=dict(hints))


def adjustable_options(source: Source, bundle: ModelBundle) -> dict[str, Any]:
    """The import options a user may correct in the preview, with their current values: an
    official label-map model's label set, and SPADE's guessed size options. A model file of
    ours records them all."""
    if source.is_our_model_file or get_architecture(bundle.architecture).kind != "label2image":
        return {}
    out: dict[str, Any] = {"labelset": bundle.labelset.name if bundle.labelset else None}
    if bundle.architecture == "spade":
        out.update({k: bundle.options.get(k) for k in _SPADE_GUESSED})
    return out


def detection_warnings(source: Source, bundle: ModelBundle, hints: dict[str, Any]) -> list[str]:
    out = []
    if bundle.architecture == "spade" and not source.is_our_model_file:
        guessed = [k for k in _SPADE_GUESSED if hints.get(k) is None]
        if guessed:
            values = ", ".join(f"{k} {bundle.options.get(k)}" for k in guessed)
            out.append(f"SPADE: {values} cannot be read from the weights; these are the "
                       "defaults for its number of input channels. Correct them if the model was "
                       "trained otherwise.")
    kind = get_architecture(bundle.architecture).kind
    if kind == "label2image" and bundle.labelset is None:
        out.append("no label set recognised from the number of input channels: the app will "
                   "show class numbers (give a label set JSON file to name them)")
    lic = (bundle.license or "").strip()
    if not lic or lic.lower().startswith("unknown"):
        out.append("no licence recorded: the licence of the original file applies")
    if source.ignored:
        out.append(f"{', '.join(source.ignored)}: a pickled module, ignored (never loaded)")
    return out
