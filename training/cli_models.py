"""``gauapp-train models``: the model library from the command line.

``list`` (library and catalogue), ``download ID`` (a catalogue model: resumable, checked, then
converted into the library), ``import PATH`` (an official checkpoint, ConSinGAN folder, archive
or model file; ``--dry-run`` only shows what was detected), ``verify`` (re-hash every file),
``rename``, ``export`` and ``remove``. ``--library DIR`` works on another folder than the default
(``<user data>/gauapp/models``, the folder the app lists).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HINTS = ("labelset", "label_nc", "contain_dontcare_label", "no_instance", "crop_size",
         "aspect_ratio", "num_upsampling_layers", "license")


def add_models_command(sub) -> None:
    from .cli import _bool

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", type=Path, metavar="DIR",
                        help="library folder (default: the app's user models folder)")
    catalogue = argparse.ArgumentParser(add_help=False)
    catalogue.add_argument("--catalogue", type=Path, metavar="FILE",
                           help="catalogue JSON file (default: the one shipped with gauapp)")
    p = sub.add_parser("models", help="the model library: list, download, import, verify, remove",
                       description="Manage the models the app offers: the library folder holds "
                       "gauapp model files with a manifest (name, kind, label set, size, "
                       "sha256, source, licence).")
    msub = p.add_subparsers(dest="models_command", required=True)
    q = msub.add_parser("list", parents=[common, catalogue],
                        help="the library's models and the catalogue's published ones")
    q.add_argument("--json", action="store_true", help="print JSON")
    q = msub.add_parser("download", parents=[common, catalogue],
                        help="download a catalogue model into the library")
    q.add_argument("model", help="catalogue id (see `models list`)")
    q.add_argument("--name", help="name in the library (default: the catalogue's)")
    q.add_argument("--keep-download", action="store_true",
                   help="keep the downloaded file (e.g. an archive holding several models)")
    q.add_argument("--retries", type=int, default=5, help="transient failures tolerated in a row")
    q.add_argument("--stall-timeout", type=float, default=30.0,
                   help="seconds without data before a connection is given up and resumed")
    q = msub.add_parser("import", parents=[common],
                        help="convert a checkpoint, folder or archive into the library",
                        description="Import an official SPADE/pix2pix/pix2pixHD .pth, a "
                        "ConSinGAN model folder, a gauapp .safetensors, or a folder / .tar.gz / "
                        ".zip holding them. Checkpoints are read with "
                        "torch.load(weights_only=True); archives with links or paths leaving "
                        "the folder are refused.")
    q.add_argument("source", type=Path)
    q.add_argument("--name", help="name in the library (default: from the folder or file)")
    q.add_argument("--member", help="which model of a folder or archive (a path or folder name)")
    q.add_argument("--dry-run", action="store_true",
                   help="only show what was detected; add nothing")
    q.add_argument("--half", action="store_true", help="store the weights in fp16")
    q.add_argument("--allow-duplicate", action="store_true",
                   help="import even when the same source is already in the library")
    q.add_argument("--labelset", help="coco-stuff, ade20k, cityscapes, landscape or a JSON file")
    q.add_argument("--label_nc", type=int, help="number of classes (without dontcare)")
    q.add_argument("--contain_dontcare_label", type=_bool, metavar="BOOL")
    q.add_argument("--no_instance", type=_bool, metavar="BOOL")
    q.add_argument("--crop_size", type=int, help="SPADE: training crop size")
    q.add_argument("--aspect_ratio", type=float, help="SPADE: width / height")
    q.add_argument("--num_upsampling_layers", choices=["normal", "more", "most"])
    q.add_argument("--license", help="licence of the weights, stored in the model file")
    msub.add_parser("verify", parents=[common], help="re-hash every model file")
    q = msub.add_parser("rename", parents=[common], help="change a model's name")
    q.add_argument("model", help="id or name")
    q.add_argument("new_name")
    q = msub.add_parser("export", parents=[common], help="copy a model file out of the library")
    q.add_argument("model", help="id or name")
    q.add_argument("dest", type=Path, help="file or folder")
    q = msub.add_parser("remove", parents=[common], help="delete a model from the library")
    q.add_argument("model", help="id or name")


def cmd_models(args) -> int:
    from models.library import ModelLibrary

    library = ModelLibrary(args.library)
    for warning in library.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    handler = {"list": _list, "download": _download, "import": _import, "verify": _verify,
               "rename": _rename, "export": _export, "remove": _remove}[args.models_command]
    return handler(library, args)


def _size(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 1e6:.1f} MB"


def _list(library, args) -> int:
    from models.catalogue import load_catalogue

    entries = library.entries()
    cat = load_catalogue(args.catalogue)
    installed = {e.catalogue_id for e in entries if e.catalogue_id}
    if args.json:
        print(json.dumps({
            "library": str(library.root),
            "models": [e.to_json() for e in entries],
            "catalogue": [dict(id=c.id, name=c.name, kind=c.kind, architecture=c.architecture,
                               url=c.url, size=c.size, sha256=c.sha256, license=c.license,
                               verified=c.verified, installed=c.id in installed,
                               description=c.description) for c in cat]}, indent=2))
        return 0
    print(f"Library {library.root}: {len(entries)} model(s)")
    for e in entries:
        check = {None: "", True: "", False: ", unverified download"}[e.verified]
        print(f"  {e.id}  {e.name}  [{e.architecture}, {e.labelset or 'no label set'}, "
              f"{_size(e.size)}{check}]  from {e.source}")
    print(f"Catalogue: {len(cat)} published model(s) (`models download ID`)")
    for c in cat:
        mark = "installed" if c.id in installed else ("verified" if c.verified else "unverified")
        print(f"  {c.id}  {c.name}  [{c.kind}, {_size(c.size)}, {mark}]  licence: {c.license}")
    return 0


class _ProgressLine:
    """Download progress on stderr: one rewritten line on a terminal, else a line every 5 s."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0
        self.shown = False

    def __call__(self, p) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 5.0:
            return
        self.last = now
        total = f" of {p.total / 1e6:.1f}" if p.total else ""
        eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        text = f"{p.done / 1e6:.1f}{total} MB, {p.mb_per_s:.2f} MB/s{eta}"
        self.stream.write(("\r" + text.ljust(60)) if self.tty else text + "\n")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")


def _download(library, args) -> int:
    from models.catalogue import find_entry, load_catalogue

    entry = find_entry(load_catalogue(args.catalogue), args.model)
    if entry.notes:
        print(f"note: {entry.notes}", file=sys.stderr)
    line = _ProgressLine()
    try:
        result = library.install_from_catalogue(
            entry, progress=line, name=args.name, keep_download=args.keep_download,
            retries=args.retries, stall_timeout=args.stall_timeout)
    except KeyboardInterrupt:
        line.end()
        print("gauapp-train models download: cancelled; the partial download is kept: run the "
              "same command again to resume", file=sys.stderr)
        return 130
    line.end()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    e = result.entry
    print(f"installed {e.name!r} (id {e.id}): {e.architecture}, {_size(e.size)}, "
          f"{'sha256 verified' if e.verified else 'UNVERIFIED (no published sha256)'}")
    return 0


def _import(library, args) -> int:
    hints = {k: getattr(args, k) for k in HINTS if getattr(args, k) is not None}
    if args.dry_run:
        p = library.inspect(args.source, hints, member=args.member)
        print(f"{p.path}: {p.source_format}" + (f", model {p.member}" if p.member else ""))
        if len(p.choices) > 1:
            print(f"  models in it: {', '.join(p.choices)}")
        print(f"  architecture {p.architecture} ({p.kind}), {p.parameters / 1e6:.2f} M values, "
              f"label set {p.labelset or 'none'}, licence {p.license}")
        shown = {k: v for k, v in p.options.items() if k != "official_parameters"}
        print(f"  options: {json.dumps(shown, sort_keys=True, default=str)}")
        print(f"  files: {', '.join(p.files)}")
        print(f"  would be named {p.suggested_name!r}")
        for warning in p.warnings:
            print(f"  warning: {warning}")
        return 0
    e = library.import_(args.source, name=args.name, hints=hints, member=args.member,
                        half=args.half, allow_duplicate=args.allow_duplicate)
    print(f"imported {e.name!r} (id {e.id}): {e.architecture}, label set "
          f"{e.labelset or 'none'}, {_size(e.size)} -> {e.path}")
    return 0


def _verify(library, args) -> int:
    results = library.verify()
    bad = 0
    for e, ok, message in results:
        bad += not ok
        print(f"  {'ok  ' if ok else 'FAIL'}  {e.id}  {e.name}: {message}")
    print(f"{len(results) - bad} of {len(results)} model file(s) intact")
    return 1 if bad else 0


def _rename(library, args) -> int:
    e = library.rename(args.model, args.new_name)
    print(f"{e.id} is now named {e.name!r}")
    return 0


def _export(library, args) -> int:
    print(f"exported to {library.export(args.model, args.dest)}")
    return 0


def _remove(library, args) -> int:
    e = library.get(args.model)
    library.remove(e)
    print(f"removed {e.name!r} (id {e.id}, {e.path.name})")
    return 0
