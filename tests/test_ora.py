"""OpenRaster files (gauapp/document/ora.py): bit-exact round trips, other apps' files, and
hostile or corrupt input."""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from gauapp.document import TRANSPARENT, Document, LabelLayer, OraError, load_ora, save_ora
from gauapp.document import ora as ora_module
from gauapp.document.painting import ellipse_mask, rect_mask, stroke_mask
from models.labelsets import LabelSet, load_labelset

SKY, SEA, GRASS, TREE, UNLABELED = 156, 154, 123, 168, 182
NS = "{urn:x-gauapp:ora}"


@pytest.fixture(scope="module")
def landscape():
    return load_labelset("landscape")


def layer_state(d: Document):
    out = []
    for layer in d.layers:
        arr = layer.data if isinstance(layer, LabelLayer) else layer.rgba
        out.append((layer.kind, layer.name, layer.visible, layer.locked, getattr(layer, "x", 0),
                    getattr(layer, "y", 0), getattr(layer, "opacity", 1.0), arr.dtype.str,
                    arr.shape, arr.tobytes()))
    return out


def active_index(d: Document):
    return None if d.active_uid is None else d.index_of(d.active_uid)


def sample_document(labelset, w=96, h=64):
    rng = np.random.default_rng(7)
    d = Document(w, h, labelset)
    ids = [c.id for c in labelset.classes]
    base = d.add_label_layer(name="ground").layer.uid
    d.replace_pixels(base, 0, 0, rng.choice(ids, size=(h, w)))
    top = d.add_label_layer(name="sky & <sea>").layer.uid
    d.paint_labels(top, stroke_mask(d.shape, [(3, 3), (80, 40)], 6), ids[0])
    d.paint_labels(top, ellipse_mask(d.shape, 10, 10, 50, 30), ids[-1])
    d.set_layer_props(top, locked=True)
    hidden = d.add_label_layer(name="hidden").layer.uid
    d.paint_labels(hidden, rect_mask(d.shape, 0, 0, 5, 5), ids[1])
    d.set_layer_props(hidden, visible=False)
    px = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    px[0, 0] = (12, 34, 56, 0)                   # colour under zero alpha survives too
    d.add_image_layer(px, name="photo", x=-7, y=50, opacity=0.625)
    d.add_image_layer(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), name="off", x=90, y=-3)
    d.set_layer_props(d.layers[-1].uid, visible=False, locked=True)
    d.set_active(top)
    d.set_background_class(ids[2])
    return d


# --- round trips ---

@pytest.mark.parametrize("name", ["landscape", "coco-stuff", "ade20k", "cityscapes"])
def test_round_trip_is_bit_exact(tmp_path, name):
    labelset = load_labelset(name)
    d = sample_document(labelset)
    generated = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    path = tmp_path / "project.ora"
    save_ora(d, path, generated=generated)
    loaded = load_ora(path)
    e = loaded.document
    assert layer_state(e) == layer_state(d)
    assert (e.width, e.height) == (d.width, d.height)
    assert e.labelset == labelset and e.labelset.to_dict() == labelset.to_dict()
    assert e.background_class == d.background_class
    assert active_index(e) == active_index(d)
    assert not e.modified
    np.testing.assert_array_equal(e.composite_labels(), d.composite_labels())
    np.testing.assert_array_equal(loaded.generated, generated)
    save_ora(e, tmp_path / "again.ora")                # and it round-trips again
    assert layer_state(load_ora(tmp_path / "again.ora").document) == layer_state(d)


def test_zip_layout_follows_the_spec(tmp_path, landscape):
    d = sample_document(landscape)
    path = tmp_path / "p.ora"
    save_ora(d, path)
    with zipfile.ZipFile(path) as z:
        first = z.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == b"image/openraster"
        with open(path, "rb") as f:                     # readable at a fixed offset
            assert f.read(38 + 16)[38:] == b"image/openraster"
        names = set(z.namelist())
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png",
                "gauapp/labelset.json"} <= names
        assert "gauapp/generated.png" not in names
        assert LabelSet.from_json(z.read("gauapp/labelset.json").decode()) == landscape
        root = ET.fromstring(z.read("stack.xml"))
        assert (root.get("w"), root.get("h")) == ("96", "64")
        layers = root.find("stack").findall("layer")
        assert [e.get("name") for e in layers] == [x.name for x in reversed(d.layers)]
        for e in layers:
            assert e.get("src").startswith("data/") and e.get("src") in names
            assert e.get("visibility") in ("visible", "hidden")
        top = layers[0]
        assert top.get("visibility") == "hidden" and top.get(NS + "kind") == "image"
        photo = layers[1]
        assert (photo.get("x"), photo.get("y"), float(photo.get("opacity"))) == ("-7", "50", 0.625)
        label = layers[-1]
        assert label.get(NS + "kind") == "labels" and label.get(NS + "encoding") == "indexed"
        assert label.get(NS + "transparent-index") == "255"
        thumb = Image.open(io.BytesIO(z.read("Thumbnails/thumbnail.png")))
        assert max(thumb.size) <= 256
        merged = np.asarray(Image.open(io.BytesIO(z.read("mergedimage.png"))).convert("RGBA"))
    assert merged.shape == (64, 96, 4)
    np.testing.assert_array_equal(merged, ora_module.merged_image(d))


def test_label_layers_are_ordinary_coloured_layers_elsewhere(tmp_path, landscape):
    d = Document(32, 16, landscape)
    uid = d.add_label_layer().layer.uid
    d.paint_labels(uid, rect_mask(d.shape, 0, 0, 15, 15), SKY)
    save_ora(d, tmp_path / "p.ora")
    with zipfile.ZipFile(tmp_path / "p.ora") as z:
        img = Image.open(io.BytesIO(z.read("data/layer000.png")))
        merged = np.asarray(Image.open(io.BytesIO(z.read("mergedimage.png"))).convert("RGB"))
    assert img.mode == "P" and img.info.get("transparency") == 255
    palette = np.array(img.getpalette()[:768], np.uint8).reshape(256, 3)
    for c in landscape.classes:
        assert tuple(palette[c.id]) == c.color
    rgba = np.asarray(img.convert("RGBA"))              # what GIMP or Krita shows
    assert tuple(rgba[0, 0]) == landscape.get(SKY).color + (255,)
    assert rgba[0, 20, 3] == 0
    assert tuple(merged[0, 20]) == landscape.get(UNLABELED).color   # background class


def test_ids_beyond_a_byte_use_16_bit_png(tmp_path):
    wide = LabelSet.from_dict({"name": "wide", "dontcare_id": 0, "classes": [
        {"id": 0, "name": "none", "color": [0, 0, 0]},
        {"id": 300, "name": "far", "color": [1, 2, 3]},
        {"id": 32767, "name": "farthest", "color": [4, 5, 6]}]})
    d = Document(20, 20, wide)
    uid = d.add_label_layer().layer.uid
    d.paint_labels(uid, rect_mask(d.shape, 0, 0, 9, 9), 300)
    d.paint_labels(uid, rect_mask(d.shape, 10, 10, 19, 19), 32767)
    d.paint_labels(uid, rect_mask(d.shape, 0, 10, 3, 19), 0)
    save_ora(d, tmp_path / "w.ora")
    with zipfile.ZipFile(tmp_path / "w.ora") as z:
        label = ET.fromstring(z.read("stack.xml")).find("stack/layer")
    assert label.get(NS + "encoding") == "gray16"
    assert layer_state(load_ora(tmp_path / "w.ora").document) == layer_state(d)


def test_a_full_byte_of_ids_uses_16_bit_png(tmp_path):
    full = LabelSet.from_dict({"name": "full", "classes": [
        {"id": i, "name": f"c{i}", "color": [i, i, i]} for i in range(256)]})
    d = Document(16, 16, full)
    d.add_label_layer(data=np.arange(256).reshape(16, 16))
    save_ora(d, tmp_path / "f.ora")
    with zipfile.ZipFile(tmp_path / "f.ora") as z:
        assert ET.fromstring(z.read("stack.xml")).find("stack/layer").get(
            NS + "encoding") == "gray16"
    assert layer_state(load_ora(tmp_path / "f.ora").document) == layer_state(d)


def test_document_without_label_set(tmp_path):
    d = Document(16, 16)
    d.add_label_layer(data=np.full((16, 16), 7))
    d.add_label_layer(data=np.full((16, 16), 4000))
    save_ora(d, tmp_path / "n.ora")
    e = load_ora(tmp_path / "n.ora").document
    assert e.labelset is None and layer_state(e) == layer_state(d)
    fallback = load_labelset("landscape")
    assert load_ora(tmp_path / "n.ora", default_labelset=None).document.labelset is None
    with pytest.raises(OraError, match="not classes"):  # 7 is not a landscape class
        load_ora(tmp_path / "n.ora", default_labelset=fallback)


def test_layer_names_survive_xml(tmp_path):
    d = Document(16, 16)
    names = ['a "quoted" <name> & more', "tab\tnew\nline", "emoji \U0001f600 é", "ctl\x01x"]
    for name in names:
        d.add_label_layer(name=name)
    save_ora(d, tmp_path / "n.ora")
    got = [layer.name for layer in load_ora(tmp_path / "n.ora").document.layers]
    assert got == names[:3] + ["ctl\ufffdx"]     # XML cannot hold control codes


def test_empty_document_and_rgba_generated(tmp_path):
    d = Document(16, 16)
    gen = np.zeros((16, 16, 4), np.uint8)
    save_ora(d, tmp_path / "e.ora", generated=gen)
    loaded = load_ora(tmp_path / "e.ora")
    assert loaded.document.layers == () and loaded.generated.shape == (16, 16, 4)
    with pytest.raises(OraError, match="generated"):
        save_ora(d, tmp_path / "x.ora", generated=np.zeros((16, 16), np.float32))


# --- atomic saving ---

def test_save_replaces_atomically_and_cleans_up_on_failure(tmp_path, landscape, monkeypatch):
    path = tmp_path / "p.ora"
    d = sample_document(landscape)
    save_ora(d, path)
    os.chmod(path, 0o640)
    good = path.read_bytes()
    d.add_label_layer()
    monkeypatch.setattr(ora_module.os, "fsync", _fail)
    with pytest.raises(OraError, match="cannot save"):
        save_ora(d, path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.ora"]   # no temp file left
    save_ora(d, path)
    assert os.stat(path).st_mode & 0o777 == 0o640                    # permissions kept
    assert len(load_ora(path).document.layers) == len(d.layers)
    with pytest.raises(OraError, match="does not exist"):
        save_ora(d, tmp_path / "missing" / "p.ora")


def _fail(*args):
    raise OSError(28, "No space left on device")


# --- files from other apps ---

def png(arr_or_img, **params) -> bytes:
    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    buf = io.BytesIO()
    img.save(buf, "PNG", **params)
    return buf.getvalue()


def make_ora(path, stack_xml, members=(), mimetype=b"image/openraster"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        if mimetype is not None:
            z.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        if stack_xml is not None:
            z.writestr("stack.xml", stack_xml)
        for name, data in dict(members).items():
            z.writestr(name, data)
    return path


def stack(layers, w=32, h=24):
    return (f'<?xml version="1.0"?><image version="0.0.3" w="{w}" h="{h}">'
            f'<stack>{layers}</stack></image>')


def test_plain_ora_from_another_app(tmp_path):
    rgb = np.full((10, 12, 3), (10, 200, 30), np.uint8)
    gray16 = Image.frombytes("I;16", (4, 4), np.full((4, 4), 65535, "<u2").tobytes())
    pal = Image.new("P", (5, 5), 3)
    pal.putpalette([0, 0, 0] * 3 + [9, 8, 7] + [0, 0, 0] * 252)
    layers = (
        '<layer name="rgb" src="data/a.png" x="3" y="4" opacity="0.5"/>'
        '<stack name="group" visibility="hidden" x="1" y="2">'
        '  <layer name="inside" src="data/b.png"/></stack>'
        '<layer name="gray" src="data/c.png" visibility="hidden"/>'
        '<layer name="la" src="data/d.png"/>'
        '<layer name="pal" src="data/e.png"/>'
        '<layer src="data/f.png"/>'
        '<text>ignored</text>')
    path = make_ora(tmp_path / "other.ora", stack(layers), {
        "data/a.png": png(rgb), "data/b.png": png(np.zeros((2, 2, 4), np.uint8)),
        "data/c.png": png(gray16), "data/d.png": png(Image.new("LA", (3, 3), (100, 50))),
        "data/e.png": png(pal, transparency=3), "data/f.png": png(Image.new("1", (2, 2), 1))},
        mimetype=None)
    d = load_ora(path).document
    assert d.labelset is None and (d.width, d.height) == (32, 24)
    names = [layer.name for layer in d.layers]
    assert names == ["Layer 1", "pal", "la", "gray", "inside", "rgb"]   # bottom -> top
    assert all(layer.kind == "image" and layer.rgba.dtype == np.uint8 and
               layer.rgba.shape[2] == 4 for layer in d.layers)
    rgb_layer, inside, gray, la, pal_layer = (d.layers[i] for i in (5, 4, 3, 2, 1))
    assert (rgb_layer.x, rgb_layer.y, rgb_layer.opacity) == (3, 4, 0.5)
    assert tuple(rgb_layer.rgba[0, 0]) == (10, 200, 30, 255)
    assert (inside.x, inside.y, inside.visible) == (1, 2, False)       # hidden group
    assert not gray.visible and tuple(gray.rgba[0, 0]) == (255, 255, 255, 255)
    assert tuple(la.rgba[0, 0]) == (100, 100, 100, 50)
    assert tuple(pal_layer.rgba[0, 0]) == (9, 8, 7, 0)
    assert tuple(d.layers[0].rgba[0, 0]) == (255, 255, 255, 255)


def test_label_layer_resaved_in_colour_maps_back(tmp_path, landscape):
    rgba = np.zeros((24, 32, 4), np.uint8)
    rgba[:12] = landscape.get(SKY).color + (255,)
    rgba[12:, :16] = landscape.get(GRASS).color + (200,)
    rgba[12:, 16:] = (1, 2, 3, 10)                    # almost transparent: transparent
    layer = f'<layer name="labels" src="data/l.png" xmlns:g="urn:x-gauapp:ora" g:kind="labels"/>'
    path = make_ora(tmp_path / "c.ora", stack(layer), {
        "data/l.png": png(rgba), "gauapp/labelset.json": landscape.to_json()})
    data = load_ora(path).document.layers[0].data
    assert (data[:12] == SKY).all() and (data[12:, :16] == GRASS).all()
    assert (data[12:, 16:] == TRANSPARENT).all()
    rgba[0, 0] = (1, 2, 3, 255)                       # a colour of no class
    make_ora(tmp_path / "bad.ora", stack(layer), {
        "data/l.png": png(rgba), "gauapp/labelset.json": landscape.to_json()})
    with pytest.raises(OraError, match="#010203"):
        load_ora(tmp_path / "bad.ora")


# --- hostile and corrupt input ---

def header_only_png(w, h) -> bytes:
    """A tiny PNG whose header claims w x h pixels."""
    data = bytearray(png(np.zeros((1, 1, 4), np.uint8)))
    struct.pack_into(">II", data, 16, w, h)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def layer_xml(src="data/a.png", extra=""):
    return f'<layer name="L" src="{src}" {extra}/>'


GOOD_PNG = png(np.zeros((4, 4, 4), np.uint8))
NOISE_PNG = png(np.random.default_rng(0).integers(0, 256, (16, 16, 4), dtype=np.uint8))

CORRUPT = {
    "missing stack.xml": (None, {"data/a.png": GOOD_PNG}, "no stack.xml"),
    "bad xml": ("<image w='32' h='24'><stack><layer", {}, "not valid XML"),
    "entities": ('<?xml version="1.0"?><!DOCTYPE image [<!ENTITY a "aaaa">]>'
                 '<image w="32" h="24"><stack/></image>', {}, "DTD"),
    "wrong root": ('<picture w="32" h="24"><stack/></picture>', {}, "<image><stack>"),
    "canvas too large": (stack("", w=4096, h=24), {}, "4096x24"),
    "canvas too small": (stack("", w=8, h=24), {}, "8x24"),
    "canvas not a number": ('<image w="wide" h="24"><stack/></image>', {}, "w='wide'"),
    "layer png missing": (stack(layer_xml()), {}, "missing from the archive"),
    "layer without src": (stack('<layer name="L"/>'), {}, "no src"),
    "layer png truncated": (stack(layer_xml()), {"data/a.png": NOISE_PNG[:len(NOISE_PNG) // 2]},
                            "corrupt PNG"),
    "layer not a png": (stack(layer_xml()), {"data/a.png": b"GIF89a" + bytes(40)}, "not a PNG"),
    "huge declared layer": (stack(layer_xml()), {"data/a.png": header_only_png(4096, 4096)},
                            "4096x4096"),
    "absurd declared layer": (stack(layer_xml()),
                              {"data/a.png": header_only_png(100000, 100000)}, "larger than"),
    "path traversal": (stack(layer_xml("../../etc/passwd")), {}, "not a safe path"),
    "absolute path": (stack(layer_xml("/etc/passwd")), {}, "not a safe path"),
    "backslash path": (stack(layer_xml("data\\..\\a.png")), {}, "not a safe path"),
    "member traversal": (stack(""), {"../evil.png": GOOD_PNG}, "not a safe path"),
    "bad opacity": (stack(layer_xml(extra='opacity="nan"')), {"data/a.png": GOOD_PNG},
                    "opacity"),
    "bad offset": (stack(layer_xml(extra='x="1.5"')), {"data/a.png": GOOD_PNG}, "x="),
    "bad labelset": (stack(""), {"gauapp/labelset.json": b"{nope"}, "labelset.json.*JSON"),
    "label layer wrong size": (stack(layer_xml(extra='xmlns:g="urn:x-gauapp:ora" '
                                                     'g:kind="labels"')),
                               {"data/a.png": GOOD_PNG}, "must cover"),
    "deep groups": (stack("<stack>" * 20 + "</stack>" * 20), {}, "deep"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_files_raise_a_clear_error(tmp_path, case):
    xml, members, message = CORRUPT[case]
    path = make_ora(tmp_path / "bad.ora", xml, members)
    with pytest.raises(OraError, match=message) as info:
        load_ora(path)
    assert str(path) in str(info.value)


def test_not_a_zip_and_missing_file(tmp_path):
    (tmp_path / "x.ora").write_bytes(b"\x89PNG not really a zip" * 10)
    with pytest.raises(OraError, match="not a valid zip"):
        load_ora(tmp_path / "x.ora")
    with pytest.raises(OraError, match="no such file"):
        load_ora(tmp_path / "nothing.ora")
    make_ora(tmp_path / "m.ora", stack(""), mimetype=b"image/png")
    with pytest.raises(OraError, match="mimetype"):
        load_ora(tmp_path / "m.ora")
    with zipfile.ZipFile(tmp_path / "t.ora", "w") as z:  # CRC no longer matches the data
        z.writestr("stack.xml", stack(""))
    raw = bytearray((tmp_path / "t.ora").read_bytes())
    i = raw.index(b"<image")
    raw[i + 1] ^= 0x20
    (tmp_path / "t.ora").write_bytes(bytes(raw))
    with pytest.raises(OraError):
        load_ora(tmp_path / "t.ora")


def test_zip_bomb_member_is_refused(tmp_path):
    bomb = bytes(70 << 20)                             # 70 MiB of zeros: ~70 KiB deflated
    path = make_ora(tmp_path / "bomb.ora", stack(layer_xml()), {"data/a.png": bomb})
    assert path.stat().st_size < 1 << 20
    with pytest.raises(OraError, match="zip bomb"):
        load_ora(path)


def test_total_unpacked_size_is_bounded(tmp_path, monkeypatch):
    layers = "".join(layer_xml(f"data/{i}.png") for i in range(5))
    members = {f"data/{i}.png": png(np.zeros((24, 32, 4), np.uint8)) for i in range(5)}
    path = make_ora(tmp_path / "many.ora", stack(layers), members)
    assert len(load_ora(path).document.layers) == 5
    monkeypatch.setattr(ora_module, "MAX_TOTAL_BYTES", 3 * len(members["data/0.png"]))
    with pytest.raises(OraError, match="more than"):
        load_ora(path)


def test_label_ids_not_in_the_label_set_are_refused(tmp_path, landscape):
    d = Document(16, 16, load_labelset("coco-stuff"))
    d.add_label_layer(name="person", data=np.zeros((16, 16), int))     # id 0: a coco-stuff class
    save_ora(d, tmp_path / "p.ora")
    with zipfile.ZipFile(tmp_path / "p.ora") as z, \
            zipfile.ZipFile(tmp_path / "q.ora", "w") as out:
        for info in z.infolist():
            data = z.read(info)
            if info.filename == "gauapp/labelset.json":
                data = landscape.to_json().encode()
            out.writestr(info, data)
    with pytest.raises(OraError, match="person.*not classes of label set 'landscape'"):
        load_ora(tmp_path / "q.ora")
