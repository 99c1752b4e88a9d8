"""The model library: import of every reference kind (detected, converted with identical
outputs), archives, hostile files, manifest, editing, catalogue installs from a local server."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from model_server import ModelServer
from models.archives import ArchiveLimits, ModelChoiceError, UnsafeArchiveError
from models.catalogue import CatalogueEntry
from models.download import DownloadError
from models.errors import UnsafeCheckpointError
from models.importers import file_sha256, import_model
from models.library import DuplicateModelError, LibraryError, ModelLibrary, default_library_root
from models.modelfile import load_model_file, save_model_file
from models.verify import compare_bundles

SMALL = "pix2pix/resnet9_instance_ngf16"


def small_pth(reference_dir) -> Path:
    return reference_dir / SMALL / "latest_net_G.pth"


def output_difference(a, b, full: bool = False) -> float:
    """max |difference| of the two bundles' outputs on the same probe input, after checking
    that their weights are identical. A plain SPADE runs at a 32-pixel crop (its weights do not
    depend on the crop; 256 px costs seconds a run); a VAE SPADE (whose fc layer does) compares
    its style encoder's outputs unless ``full``."""
    same = json.loads(json.dumps(a.options)) == json.loads(json.dumps(b.options))
    assert a.architecture == b.architecture and same
    assert a.state.keys() == b.state.keys()
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    if a.architecture == "spade" and not full:
        if a.options.get("use_vae"):
            from models.registry import build_networks

            x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1
            with torch.no_grad():
                mu_a, var_a = build_networks(a)["E"](x)
                mu_b, var_b = build_networks(b)["E"](x)
            return float(max((mu_a - mu_b).abs().max(), (var_a - var_b).abs().max()))
        for bundle in (a, b):
            bundle.options["crop_size"] = 32
    return compare_bundles(a, b)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def model_files(lib: ModelLibrary) -> list[str]:
    return sorted(p.name for p in lib.root.glob("*.safetensors"))


def assert_no_leftovers(lib: ModelLibrary) -> None:
    for work in (lib.root / ".tmp", lib.root / ".downloads"):
        assert not work.exists() or list(work.iterdir()) == []


# ----- every reference kind -------------------------------------------------------------------
KINDS = {  # case: (relative source, architecture, kind, label set)
    "spade": ("spade/coco_ngf16/latest_net_G.pth", "spade", "label2image", "coco-stuff"),
    "spade_vae": ("spade/coco_vae_ngf16/latest_net_G.pth", "spade", "label2image", "coco-stuff"),
    "pix2pix": ("pix2pix/unet256_batch_ngf16/latest_net_G.pth", "pix2pix", "image2image", None),
    "pix2pixhd": ("pix2pixhd/global_ngf16/latest_net_G.pth", "pix2pixhd_global", "label2image",
                  "cityscapes"),
    "consingan": ("consingan/generation/model", "consingan", "single_image", None),
}


def reference_source(case, reference_dir, reference_weights) -> Path:
    rel = Path(KINDS[case][0])
    if case.startswith("spade") or case == "pix2pixhd":
        return reference_weights(str(rel.parent)) / rel.name
    return reference_dir / rel


@pytest.mark.parametrize("case", sorted(KINDS))
def test_import_detects_and_converts_with_identical_outputs(case, tmp_path, reference_dir,
                                                            reference_weights):
    src = reference_source(case, reference_dir, reference_weights)
    _, arch, kind, labelset = KINDS[case]
    lib = ModelLibrary(tmp_path / "lib")
    preview = lib.inspect(src)
    assert (preview.architecture, preview.kind, preview.labelset) == (arch, kind, labelset)
    assert preview.duplicate_of is None and model_files(lib) == []
    if case == "spade_vae":
        assert preview.files == ["latest_net_G.pth", "latest_net_E.pth"]
    if case == "spade":
        assert any("crop_size 256" in w for w in preview.warnings)
    entry = lib.import_(src, name=f"my {case}")
    assert (entry.architecture, entry.kind, entry.labelset) == (arch, kind, labelset)
    assert entry.name == f"my {case}" and entry.path.parent == lib.root
    assert entry.sha256 == file_sha256(entry.path) and entry.size == entry.path.stat().st_size
    assert entry.source_sha256 == preview.source_sha256 and entry.verified is None
    assert output_difference(import_model(src), load_model_file(entry.path)) == 0.0
    assert_no_leftovers(lib)
    # the same source again is reported, in the preview and on import
    assert lib.inspect(src).duplicate_of == entry
    with pytest.raises(DuplicateModelError, match=f"already in the library as 'my {case}'"):
        lib.import_(src)


@pytest.mark.slow
def test_vae_import_gives_identical_full_size_outputs(tmp_path, reference_weights):
    src = reference_weights("spade/coco_vae_ngf16") / "latest_net_G.pth"
    entry = ModelLibrary(tmp_path / "lib").import_(src)
    assert output_difference(import_model(src), load_model_file(entry.path), full=True) == 0.0


def test_our_model_file_is_copied_unchanged(tmp_path, reference_dir):
    ours = save_model_file(import_model(small_pth(reference_dir)), tmp_path / "mine.safetensors")
    lib = ModelLibrary(tmp_path / "lib")
    preview = lib.inspect(ours)
    assert preview.source_format == "gauapp model file" and preview.suggested_name == "mine"
    entry = lib.import_(ours)
    assert entry.sha256 == file_sha256(ours) and entry.path.read_bytes() == ours.read_bytes()
    half = lib.import_(ours, name="half", half=True, allow_duplicate=True)
    assert half.size < 0.6 * entry.size


def test_archive_with_several_models(tmp_path, reference_dir, reference_weights):
    coco = reference_weights("spade/coco_ngf16") / "latest_net_G.pth"
    archive = tmp_path / "checkpoints.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(coco, "checkpoints/coco_pretrained/latest_net_G.pth")
        tf.addfile(tarfile.TarInfo("checkpoints/coco_pretrained/opt.txt"), io.BytesIO(b""))
        tf.add(small_pth(reference_dir), "checkpoints/shoes/latest_net_G.pth")
    lib = ModelLibrary(tmp_path / "lib")
    with pytest.raises(ModelChoiceError, match="holds 2 models") as err:
        lib.inspect(archive)
    assert err.value.choices == ["checkpoints/coco_pretrained/latest_net_G.pth",
                                 "checkpoints/shoes/latest_net_G.pth"]
    preview = lib.inspect(archive, member="coco_pretrained")
    assert (preview.architecture, preview.labelset, preview.container) == (
        "spade", "coco-stuff", "archive")
    assert preview.suggested_name == "coco_pretrained"
    entry = lib.import_(archive, member="coco_pretrained/latest_net_G.pth")
    assert entry.source == "checkpoints.tar:checkpoints/coco_pretrained/latest_net_G.pth"
    assert output_difference(import_model(coco), load_model_file(entry.path)) == 0.0
    assert_no_leftovers(lib)


def test_consingan_zip_never_loads_its_pickled_module(tmp_path, reference_dir):
    marker = tmp_path / "code-ran"
    folder = reference_dir / "consingan" / "harmonization" / "model"
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, "TrainedModels/cat/2026_01_01_harm/" + f.relative_to(folder).as_posix())
        z.writestr("TrainedModels/cat/2026_01_01_harm/G.pth", _evil_pickle(marker))
    lib = ModelLibrary(tmp_path / "lib")
    preview = lib.inspect(archive)
    assert preview.source_format == "ConSinGAN folder" and "G.pth" not in preview.files
    assert any("G.pth: a pickled module, ignored" in w for w in preview.warnings)
    entry = lib.import_(archive)
    assert entry.name == "cat 2026_01_01_harm" and entry.kind == "single_image"
    assert output_difference(import_model(folder), load_model_file(entry.path)) == 0.0
    assert not marker.exists()


# ----- hostile input --------------------------------------------------------------------------
class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_pickle(marker) -> bytes:
    buf = io.BytesIO()
    torch.save({"weight": _Evil(marker)}, buf)
    return buf.getvalue()


def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "latest_net_G.pth"
    evil.write_bytes(_evil_pickle(marker))
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(evil, "checkpoints/evil/latest_net_G.pth")
    lib = ModelLibrary(tmp_path / "lib")
    for src in (evil, archive):
        with pytest.raises(UnsafeCheckpointError, match="needs code to load"):
            lib.inspect(src)
        with pytest.raises(UnsafeCheckpointError, match="it was not loaded"):
            lib.import_(src)
    assert not marker.exists() and lib.entries() == [] and model_files(lib) == []
    assert_no_leftovers(lib)


def _tar(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


HOSTILE_TARS = {
    "dotdot": ([(_info("checkpoints/../../escape_net_G.pth"), b"x" * 10)], "climbs out"),
    "absolute": ([(_info("/tmp/absolute_net_G.pth"), b"x" * 10)], "absolute path"),
    "symlink": ([(_info("m/latest_net_G.pth", tarfile.SYMTYPE, "/etc/passwd"), None)],
                "is a symlink"),
    "hardlink": ([(_info("m/latest_net_G.pth", tarfile.LNKTYPE, "../../secret"), None)],
                 "is a hard link"),
    "device": ([(_info("m/dev", tarfile.CHRTYPE), None)], "is a device"),
    "too_many": ([(_info(f"m/{i}.txt"), b"") for i in range(6)], "more than 5 members"),
    "total_size": ([(_info("m/a.pth"), b"x" * 600), (_info("m/b.pth"), b"x" * 600)],
                   "more than 1000 bytes in all"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_hostile_tar_is_refused_and_nothing_is_written(case, tmp_path):
    members, message = HOSTILE_TARS[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _tar(outside / "a.tar", *members)
    lib = ModelLibrary(tmp_path / "lib", limits=ArchiveLimits(max_members=5,
                                                              max_total_bytes=1000))
    before = files_under(tmp_path)
    for action in (lib.inspect, lib.import_):
        with pytest.raises(UnsafeArchiveError, match=message):
            action(archive)
    after = files_under(tmp_path)
    assert after - before <= {"lib/.tmp"} and lib.entries() == []
    assert not Path("/tmp/absolute_net_G.pth").exists()


def test_huge_declared_member_size_is_refused(tmp_path):
    info = tarfile.TarInfo("checkpoints/m/latest_net_G.pth")
    info.size = 1 << 40  # declared only: the data is not there
    archive = tmp_path / "huge.tar"
    archive.write_bytes(info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 2048)
    lib = ModelLibrary(tmp_path / "lib")
    with pytest.raises(UnsafeArchiveError, match="declares 1099511627776 bytes"):
        lib.import_(archive)
    assert lib.entries() == [] and model_files(lib) == []


@pytest.mark.parametrize("case", ["dotdot", "symlink"])
def test_hostile_zip_is_refused(case, tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        if case == "dotdot":
            z.writestr("../escape_net_G.pth", b"x")
        else:
            info = zipfile.ZipInfo("m/latest_net_G.pth")
            info.external_attr = (0o120777 << 16)  # a symlink
            z.writestr(info, "/etc/passwd")
    lib = ModelLibrary(tmp_path / "lib")
    with pytest.raises(UnsafeArchiveError, match="climbs out" if case == "dotdot" else "symlink"):
        lib.import_(archive)
    assert not (tmp_path / "escape_net_G.pth").exists() and lib.entries() == []


# ----- the manifest and editing ---------------------------------------------------------------
def test_manifest_edit_verify_export_thumbnail(tmp_path, reference_dir):
    lib = ModelLibrary(tmp_path / "lib")
    entry = lib.import_(small_pth(reference_dir), name="Shoes", hints={"license": "CC0-1.0"})
    assert entry.license == "CC0-1.0" and entry.path.name == "Shoes.safetensors"
    data = json.loads((lib.root / "manifest.json").read_text())
    assert data["format"] == 1 and data["entries"][0]["path"] == "Shoes.safetensors"
    assert [p.name for p in lib.root.iterdir() if p.name.endswith(".tmp")] == []
    # another process (a new ModelLibrary) sees the same thing
    assert ModelLibrary(lib.root).entries() == [entry]
    renamed = lib.rename(entry.id, "Fancy shoes")
    assert renamed.path == entry.path and ModelLibrary(lib.root).get("fancy SHOES") == renamed
    thumb = lib.set_thumbnail(renamed, np.full((300, 200, 3), 7, np.uint8))
    from PIL import Image
    assert Image.open(thumb.thumbnail).size == (85, 128)
    (tmp_path / "out").mkdir()
    out = lib.export(thumb, tmp_path / "out")
    assert out.name == "Fancy-shoes.safetensors" and file_sha256(out) == entry.sha256
    with pytest.raises(LibraryError, match="already exists"):
        lib.export(thumb, out)
    assert [ok for _, ok, _ in lib.verify()] == [True]
    with open(entry.path, "r+b") as f:  # flip one byte of the weights
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    [(_, ok, message)] = lib.verify()
    assert not ok and "sha256 differs" in message
    with pytest.raises(LibraryError, match="sha256 differs"):
        lib.export(thumb, tmp_path / "again.safetensors")
    assert not (tmp_path / "again.safetensors").exists()
    lib.remove(thumb.id)
    assert lib.entries() == [] and model_files(lib) == [] and not thumb.thumbnail.exists()
    with pytest.raises(LibraryError, match="no model"):
        lib.get(thumb.id)


def test_missing_file_is_reported_by_verify(tmp_path, reference_dir):
    lib = ModelLibrary(tmp_path / "lib")
    entry = lib.import_(small_pth(reference_dir))
    entry.path.unlink()
    [(_, ok, message)] = lib.verify()
    assert not ok and "file missing" in message


def test_corrupt_manifest_is_rebuilt_from_the_files(tmp_path, reference_dir):
    lib = ModelLibrary(tmp_path / "lib")
    entry = lib.import_(small_pth(reference_dir), name="Shoes")
    (lib.root / "manifest.json").write_text("{ not json")
    again = ModelLibrary(lib.root)
    assert len(again.warnings) == 1 and "rebuilt from the model files" in again.warnings[0]
    [rebuilt] = again.entries()
    assert (rebuilt.name, rebuilt.sha256, rebuilt.path) == ("Shoes", entry.sha256, entry.path)
    assert rebuilt.source_sha256 == entry.source_sha256
    assert list(lib.root.glob("manifest.json.corrupt-*"))
    assert json.loads((lib.root / "manifest.json").read_text())["entries"][0]["name"] == "Shoes"


def test_files_dropped_in_the_folder_are_adopted(tmp_path, reference_dir):
    root = tmp_path / "lib"
    save_model_file(import_model(small_pth(reference_dir)), root / "dropped.safetensors")
    (root / "junk.safetensors").write_bytes(b"not a model")
    lib = ModelLibrary(root)
    assert [e.name for e in lib.entries()] == ["dropped"]
    assert any("junk.safetensors: left out" in w for w in lib.warnings)


def test_app_model_list_shows_library_names(tmp_path, reference_dir):
    from gauapp.modelstore import list_models

    lib = ModelLibrary(tmp_path / "lib")
    entry = lib.import_(small_pth(reference_dir), name="Shoes")
    lib.rename(entry, "Renamed")
    models = list_models(user_dir=lib.root, bundled_dir=tmp_path / "none")
    assert [(m.name, m.path) for m in models] == [("Renamed", entry.path)]


def test_move_library(tmp_path, reference_dir):
    lib = ModelLibrary(tmp_path / "a")
    entry = lib.set_thumbnail(lib.import_(small_pth(reference_dir), name="Shoes"),
                              np.zeros((4, 4, 3), np.uint8))
    moved = lib.move_to(tmp_path / "b")
    [e] = moved.entries()
    assert (e.id, e.name, e.sha256) == (entry.id, "Shoes", entry.sha256)
    assert e.path.parent == tmp_path / "b" and e.thumbnail.is_file()
    assert lib.entries() == [] and model_files(lib) == []
    assert [ok for _, ok, _ in moved.verify()] == [True]


def test_default_root_is_the_apps_user_models_folder():
    from gauapp.modelstore import user_models_dir

    assert default_library_root() == user_models_dir()


# ----- installing from the catalogue ----------------------------------------------------------
def _catalogue_entry(server, path, data, **fields) -> CatalogueEntry:
    values = dict(id="shoes", name="Shoes", kind="image2image", architecture="pix2pix",
                  description="test", url=server.url(path), license="CC0-1.0",
                  file_name=Path(path).name, size=len(data),
                  sha256=hashlib.sha256(data).hexdigest())
    values.update(fields)
    return CatalogueEntry(**values)


def test_install_resumes_verifies_and_converts(tmp_path, reference_dir):
    data = small_pth(reference_dir).read_bytes()
    with ModelServer() as server:
        server.files["/shoes.pth"] = data
        server.plan["/shoes.pth"] = ["drop:1000000"]
        lib = ModelLibrary(tmp_path / "lib")
        seen = []
        result = lib.install_from_catalogue(_catalogue_entry(server, "/shoes.pth", data),
                                            progress=seen.append, backoff=0.01)
        assert server.ranges("/shoes.pth") == [None, "bytes=1000000-"]
        entry = result.entry
        assert (entry.verified, entry.catalogue_id, entry.source) == (
            True, "shoes", server.url("/shoes.pth"))
        assert result.warnings == [] and seen[-1].done == len(data)
        assert output_difference(import_model(small_pth(reference_dir)),
                               load_model_file(entry.path)) == 0.0
        assert_no_leftovers(lib)
        with pytest.raises(DuplicateModelError, match="already installed"):
            lib.install_from_catalogue(_catalogue_entry(server, "/shoes.pth", data))
        assert len(server.requests) == 2
        # rebuilt manifests keep what the download check said
        (lib.root / "manifest.json").unlink()
        assert ModelLibrary(lib.root).get(entry.id).verified is True


def test_install_of_wrong_bytes_leaves_the_library_unchanged(tmp_path, reference_dir):
    data = small_pth(reference_dir).read_bytes()
    with ModelServer() as server:
        server.files["/shoes.pth"] = data
        lib = ModelLibrary(tmp_path / "lib")
        first = lib.import_(reference_dir / "pix2pix/unet128_batch_ngf16/latest_net_G.pth")
        before = files_under(lib.root)
        server.plan["/shoes.pth"] = ["wrong"]
        with pytest.raises(DownloadError, match="sha256 mismatch"):
            lib.install_from_catalogue(_catalogue_entry(server, "/shoes.pth", data),
                                       backoff=0.01)
        assert lib.entries() == [first] and files_under(lib.root) - before <= {".downloads"}
        assert_no_leftovers(lib)


def test_install_without_published_hash_is_unverified(tmp_path, reference_dir):
    data = small_pth(reference_dir).read_bytes()
    with ModelServer() as server:
        server.files["/shoes.pth"] = data
        lib = ModelLibrary(tmp_path / "lib")
        result = lib.install_from_catalogue(
            _catalogue_entry(server, "/shoes.pth", data, sha256=None, size=None,
                             license="CC BY-NC-SA 4.0"))
        assert result.entry.verified is False
        assert any("unverified" in w for w in result.warnings)
        assert any("non-commercial" in w for w in result.warnings)


def test_install_archive_member_and_hostile_archive(tmp_path, reference_dir):
    good = tmp_path / "checkpoints.tar.gz"
    with tarfile.open(good, "w:gz", compresslevel=1) as tf:
        tf.add(small_pth(reference_dir), "checkpoints/shoes_pretrained/latest_net_G.pth")
        tf.add(reference_dir / "pix2pix/unet128_batch_ngf16/latest_net_G.pth",
               "checkpoints/other_pretrained/latest_net_G.pth")
    bad = _tar(tmp_path / "bad.tar", (_info("../../escape_net_G.pth"), b"x"))
    with ModelServer() as server:
        server.files["/c.tar.gz"] = good.read_bytes()
        server.files["/bad.tar"] = bad.read_bytes()
        lib = ModelLibrary(tmp_path / "lib")
        entry = _catalogue_entry(server, "/c.tar.gz", good.read_bytes(), format="tar.gz",
                                 member="shoes_pretrained/latest_net_G.pth")
        installed = lib.install_from_catalogue(entry, keep_download=True).entry
        assert installed.source == server.url("/c.tar.gz")
        assert output_difference(import_model(small_pth(reference_dir)),
                               load_model_file(installed.path)) == 0.0
        assert len(list(lib.downloads_dir().iterdir())) == 1  # kept for the other member
        hostile = _catalogue_entry(server, "/bad.tar", bad.read_bytes(), id="bad",
                                   format="tar", member="escape_net_G.pth")
        with pytest.raises(UnsafeArchiveError, match="climbs out"):
            lib.install_from_catalogue(hostile)
        assert lib.entries() == [installed]
        assert not (tmp_path / "escape_net_G.pth").exists()


def test_manifest_changes_wait_for_another_process_holding_the_folder_lock(tmp_path,
                                                                          reference_dir):
    """The app and gauapp-train may change one library at once: a change waits while another
    process holds the library folder's lock, and says so if it waits too long."""
    import subprocess
    import sys

    from models.folderlock import FolderLock, FolderLockTimeout

    lib = ModelLibrary(tmp_path / "lib")
    entry = lib.import_(small_pth(reference_dir), name="Shoes")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from models.folderlock import FolderLock\n"
         f"with FolderLock({str(lib.root)!r}):\n print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "held"
        lib._folder_lock.timeout = 0.3
        with pytest.raises(FolderLockTimeout, match="locked by another process"):
            lib.rename(entry.id, "Boots")
        assert ModelLibrary(lib.root).get(entry.id).name == "Shoes"  # reading needs no lock
    finally:
        holder.communicate("", timeout=30)  # the holder exits, and its lock goes with it
    assert lib.rename(entry.id, "Boots").name == "Boots"
    lock = FolderLock.of(lib.root)
    assert lock is lib._folder_lock  # one lock per folder in a process...
    with lock, lock:  # ...re-entrant, so a change made while holding it goes through
        assert ModelLibrary(lib.root).rename(entry.id, "Clogs").name == "Clogs"
