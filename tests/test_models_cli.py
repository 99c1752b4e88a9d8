"""``gauapp-train models`` end to end, with a local server and a temporary catalogue."""
from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from model_server import ModelServer
from models.catalogue import CatalogueError, load_catalogue, parse_catalogue
from models.registry import architectures
from training.cli import main as cli

SMALL = "pix2pix/resnet9_instance_ngf16/latest_net_G.pth"


@pytest.fixture
def setup(tmp_path, reference_dir):
    data = (reference_dir / SMALL).read_bytes()
    with ModelServer() as server:
        server.files["/shoes.pth"] = data
        server.files["/bad.pth"] = data
        base = dict(kind="image2image", architecture="pix2pix", description="test model",
                    license="CC0-1.0")
        catalogue = tmp_path / "catalogue.json"
        catalogue.write_text(json.dumps({"format": 1, "models": [
            dict(base, id="shoes", name="Shoes", url=server.url("/shoes.pth"),
                 file_name="shoes.pth", size=len(data),
                 sha256=hashlib.sha256(data).hexdigest()),
            dict(base, id="bad", name="Bad", url=server.url("/bad.pth"), file_name="bad.pth",
                 size=len(data), sha256=hashlib.sha256(data).hexdigest()),
            dict(base, id="nohash", name="No hash", url=server.url("/shoes.pth"),
                 file_name="n.pth")]}))
        yield server, catalogue, tmp_path / "lib"


def run(capsys, *argv):
    code = cli(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_download_list_verify_rename_export_remove(setup, capsys, tmp_path):
    server, catalogue, lib = setup
    server.plan["/shoes.pth"] = ["drop:500000"]
    code, out, err = run(capsys, "models", "download", "shoes", "--library", str(lib),
                         "--catalogue", str(catalogue))
    assert code == 0 and "installed 'Shoes'" in out and "sha256 verified" in out
    assert server.ranges("/shoes.pth") == [None, "bytes=500000-"]
    code, out, _ = run(capsys, "models", "list", "--json", "--library", str(lib),
                       "--catalogue", str(catalogue))
    listing = json.loads(out)
    [model] = listing["models"]
    assert model["name"] == "Shoes" and model["verified"] is True
    assert {c["id"]: (c["installed"], c["verified"]) for c in listing["catalogue"]} == {
        "shoes": (True, True), "bad": (False, True), "nohash": (False, False)}
    code, out, _ = run(capsys, "models", "list", "--library", str(lib), "--catalogue",
                       str(catalogue))
    assert "No hash  [image2image, size unknown, unverified]" in out
    assert run(capsys, "models", "verify", "--library", str(lib))[0] == 0
    assert run(capsys, "models", "rename", "Shoes", "Boots", "--library", str(lib))[0] == 0
    code, out, _ = run(capsys, "models", "export", "boots", str(tmp_path / "x.safetensors"),
                       "--library", str(lib))
    assert code == 0 and (tmp_path / "x.safetensors").is_file()
    path = lib / model["path"]
    path.write_bytes(path.read_bytes()[:-1] + b"?")
    code, out, _ = run(capsys, "models", "verify", "--library", str(lib))
    assert code == 1 and "FAIL" in out and "0 of 1" in out
    code, out, _ = run(capsys, "models", "remove", model["id"], "--library", str(lib))
    assert code == 0 and not path.exists()


def test_download_errors_and_unverified_warning(setup, capsys):
    server, catalogue, lib = setup
    server.plan["/bad.pth"] = ["wrong"]
    code, _, err = run(capsys, "models", "download", "bad", "--library", str(lib),
                       "--catalogue", str(catalogue))
    assert code == 2 and "sha256 mismatch" in err and not list(lib.glob("*.safetensors"))
    code, _, err = run(capsys, "models", "download", "missing", "--library", str(lib),
                       "--catalogue", str(catalogue))
    assert code == 2 and "no catalogue model 'missing'" in err
    code, out, err = run(capsys, "models", "download", "nohash", "--library", str(lib),
                         "--catalogue", str(catalogue))
    assert code == 0 and "UNVERIFIED" in out and "unverified" in err


def test_import_dry_run_and_hostile_archive(capsys, tmp_path, reference_dir):
    lib = tmp_path / "lib"
    folder = reference_dir / "consingan" / "generation" / "model"
    code, out, _ = run(capsys, "models", "import", str(folder), "--dry-run", "--library", str(lib))
    assert code == 0 and "ConSinGAN folder" in out and "single_image" in out
    assert not lib.exists() or not list(lib.glob("*.safetensors"))
    code, out, _ = run(capsys, "models", "import", str(folder), "--name", "coffee",
                       "--license", "CC0-1.0", "--library", str(lib))
    assert code == 0 and "imported 'coffee'" in out
    code, _, err = run(capsys, "models", "import", str(folder), "--library", str(lib))
    assert code == 2 and "already in the library as 'coffee'" in err
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:
        tf.add(reference_dir / SMALL, "../escape_net_G.pth")
    code, _, err = run(capsys, "models", "import", str(bad), "--library", str(lib))
    assert code == 2 and "climbs out" in err and not (tmp_path / "escape_net_G.pth").exists()


def test_shipped_catalogue_is_valid_and_honest():
    entries = load_catalogue()
    ids = {e.id for e in entries}
    assert {"spade-coco", "spade-ade20k", "spade-cityscapes", "pix2pix-edges2shoes",
            "pix2pix-facades-label2photo", "pix2pixhd-label2city-1024p"} <= ids
    known = architectures()
    for e in entries:
        assert e.architecture in known and known[e.architecture].kind == e.kind
        assert e.description and e.license and e.url.startswith(("http://", "https://"))
        # no hash or size is published for these files: none may be invented
        assert e.sha256 is None and e.size is None and not e.verified
    spade = {e.id: e for e in entries if e.architecture == "spade"}
    assert spade["spade-cityscapes"].hints["num_upsampling_layers"] == "more"
    assert all(e.format == "tar.gz" and e.member for e in spade.values())


_ENTRY = dict(id="a", name="A", kind="image2image", architecture="pix2pix", description="d",
              url="http://h/x", license="l", file_name="x.pth")  # a valid catalogue entry


def _one(**change) -> dict:
    return {"format": 1, "models": [{**_ENTRY, **change}]}


@pytest.mark.parametrize("data, message", [
    ([], "expected an object"),
    ({"format": 1, "models": [{"id": "x"}]}, "'name' must be a non-empty string"),
    (_one(kind="paint", architecture="spade"), "kind must be one of"),
    (_one(url="file:///etc/passwd"), "must be an http"),
    (_one(sha256="abc"), "64 lower-case hex"),
    (_one(file_name="../x.pth"), "plain file name"),
    (_one(file_name="x.tar", format="tar"), "needs \"member\""),
])
def test_malformed_catalogue_is_refused(data, message):
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(data)
