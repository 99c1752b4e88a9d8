"""The built-in label sets (resources/labelsets/*.json) and the LabelSet conversions."""
from __future__ import annotations

import importlib.util
import json
from collections import defaultdict

import numpy as np
import pytest

from models.errors import LabelSetError
from models.labelsets import BUILTIN_LABELSETS, LabelSet, load_labelset, resources_dir

LABELSET_DIR = resources_dir() / "labelsets"

# DESIGN.md §2: COCO-Stuff channel ids of the landscape classes (model ids, labels.txt id - 1).
LANDSCAPE_IDS = {
    "sky-other": 156, "clouds": 105, "sea": 154, "river": 147, "water-other": 177,
    "mountain": 134, "hill": 126, "rock": 149, "stone": 161, "snow": 158, "grass": 123,
    "tree": 168, "bush": 96, "flower": 118, "dirt": 110, "sand": 153, "gravel": 124, "mud": 135,
    "fog": 119, "leaves": 128, "branch": 93, "moss": 133, "plant-other": 141,
    "ground-other": 125, "road": 148, "bridge": 94, "house": 127, "fence": 112,
    "playingfield": 144, "wood": 181,
}
LANDSCAPE_GROUPS = {
    "sky": {"sky-other", "clouds", "fog"},
    "water": {"sea", "river", "water-other"},
    "ground": {"mountain", "hill", "rock", "stone", "snow", "dirt", "sand", "gravel", "mud",
               "ground-other"},
    "plants": {"grass", "tree", "bush", "flower", "leaves", "branch", "moss", "plant-other"},
    "structures": {"road", "bridge", "house", "fence", "playingfield", "wood"},
}

# Colours the official palettes themselves repeat; every other colour is unique in its set.
#   ade20k: the community palette gives road and skyscraper (140, 140, 140).
#   cityscapes (cityscapesScripts labels.py): ids 0..4 are all black, pole and polegroup share
#   (153, 153, 153), and license plate (SPADE's channel 34; id -1 officially) has car's colour.
ALLOWED_DUPLICATE_COLORS = {
    "coco-stuff": [],
    "landscape": [],
    "ade20k": [{"road", "skyscraper"}],
    "cityscapes": [{"unlabeled", "ego vehicle", "rectification border", "out of roi", "static"},
                   {"pole", "polegroup"}, {"car", "license plate"}],
}


@pytest.fixture(scope="module")
def sets() -> dict[str, LabelSet]:
    return {name: load_labelset(name) for name in BUILTIN_LABELSETS}


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_labelsets",
                                                  LABELSET_DIR / "make_labelsets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- loading and sizes ---

@pytest.mark.parametrize("name", BUILTIN_LABELSETS)
def test_builtin_set_loads(name):
    ls = load_labelset(name)
    assert ls.name == name
    assert len(ls) > 0
    assert ls.description
    # JSON round trip keeps everything
    assert LabelSet.from_json(ls.to_json()) == ls
    assert LabelSet.from_dict(ls.to_dict()).classes == ls.classes


def test_load_by_path(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text((LABELSET_DIR / "landscape.json").read_text(encoding="utf-8"),
                    encoding="utf-8")
    assert load_labelset(path) == load_labelset("landscape")


def test_json_files_are_what_the_generator_writes():
    gen = _load_generator()
    for name, data in gen.build_all().items():
        on_disk = (LABELSET_DIR / f"{name}.json").read_text(encoding="utf-8")
        assert on_disk == gen.dumps(data), f"{name}.json is stale: run make_labelsets.py"
        assert LabelSet.from_json(on_disk).to_dict() == LabelSet.from_dict(data).to_dict()


def test_coco_stuff_layout(sets):
    coco = sets["coco-stuff"]
    assert len(coco) == 183
    assert sorted(c.id for c in coco.classes) == list(range(183))
    assert coco.num_ids == 183           # label_nc 182 + the dontcare channel
    assert coco.dontcare_id == 182 and coco.get(182).name == "unlabeled"
    assert coco.png_convention == "coco"
    assert coco.get(0).name == "person"
    assert coco.get(181).name == "wood"
    # COCO thing ids no annotation uses keep their COCO names (labels.txt id - 1)
    for i, name in {11: "street sign", 25: "hat", 28: "shoe", 29: "eye glasses", 44: "plate",
                    65: "mirror", 67: "window", 68: "desk", 70: "door", 82: "blender",
                    90: "hair brush"}.items():
        assert coco.get(i).name == name
    # a few more spot checks against labels.txt
    for i, name in {1: "bicycle", 15: "bird", 61: "chair", 91: "banner", 95: "building-other",
                    157: "skyscraper", 170: "wall-brick", 180: "window-other"}.items():
        assert coco.get(i).name == name
    assert len({c.name for c in coco.classes}) == 183


@pytest.mark.parametrize("setname", ["coco-stuff", "landscape"])
def test_design_landscape_ids_are_exact(sets, setname):
    ls = sets[setname]
    for name, cid in LANDSCAPE_IDS.items():
        assert ls.get(cid).name == name, (setname, cid)
        assert ls.by_name(name).id == cid
    assert ls.get(182).name == "unlabeled"


def test_ade20k_layout(sets):
    ade = sets["ade20k"]
    assert len(ade) == 151                # 150 classes + unknown
    assert sorted(c.id for c in ade.classes) == list(range(151))
    assert ade.num_ids == 151
    assert ade.dontcare_id == 150 and ade.get(150).name == "unknown"
    assert ade.png_convention == "ade20k"
    expected = {0: ("wall", (120, 120, 120)), 1: ("building", (180, 120, 120)),
                2: ("sky", (6, 230, 230)), 4: ("tree", (4, 200, 3)), 6: ("road", (140, 140, 140)),
                9: ("grass", (4, 250, 7)), 12: ("person", (150, 5, 61)),
                16: ("mountain", (143, 255, 140)), 21: ("water", (61, 230, 250)),
                26: ("sea", (9, 7, 230)), 44: ("chest of drawers", (6, 51, 255)),
                60: ("river", (11, 200, 200)), 149: ("flag", (92, 0, 255))}
    for i, (name, color) in expected.items():
        assert ade.get(i).name == name and ade.get(i).color == color
    assert all(c.name == c.name.strip() and ";" not in c.name for c in ade.classes)


def test_cityscapes_layout(sets):
    cs = sets["cityscapes"]
    assert len(cs) == 35
    assert sorted(c.id for c in cs.classes) == list(range(35))
    assert cs.num_ids == 35               # SPADE label_nc 35, no dontcare channel
    assert cs.dontcare_id is None
    assert cs.png_convention == "identity"
    expected = {0: ("unlabeled", (0, 0, 0)), 7: ("road", (128, 64, 128)),
                8: ("sidewalk", (244, 35, 232)), 11: ("building", (70, 70, 70)),
                21: ("vegetation", (107, 142, 35)), 23: ("sky", (70, 130, 180)),
                24: ("person", (220, 20, 60)), 26: ("car", (0, 0, 142)),
                33: ("bicycle", (119, 11, 32))}
    for i, (name, color) in expected.items():
        assert cs.get(i).name == name and cs.get(i).color == color


# --- colours and groups ---

@pytest.mark.parametrize("name", BUILTIN_LABELSETS)
def test_colours_unique_except_official_repeats(sets, name):
    by_color = defaultdict(set)
    for c in sets[name].classes:
        by_color[c.color].add(c.name)
    repeats = sorted((sorted(v) for v in by_color.values() if len(v) > 1))
    assert repeats == sorted(sorted(s) for s in ALLOWED_DUPLICATE_COLORS[name])


@pytest.mark.parametrize("name", ["coco-stuff", "landscape"])
def test_our_colours_are_far_apart(sets, name):
    """The colours we chose (COCO-Stuff has no official palette) are easy to tell apart."""
    cols = np.array([c.color for c in sets[name].classes], np.int64)
    d = np.sqrt(((cols[:, None] - cols[None]) ** 2).sum(-1))
    d[np.arange(len(cols)), np.arange(len(cols))] = 1e9
    assert d.min() >= 25


@pytest.mark.parametrize("name", BUILTIN_LABELSETS)
def test_every_class_has_a_group(sets, name):
    assert all(c.group for c in sets[name].classes)
    assert "" not in sets[name].groups()


def test_landscape_is_a_subset_of_coco_stuff(sets):
    land, coco = sets["landscape"], sets["coco-stuff"]
    assert len(land) == len(LANDSCAPE_IDS) + 1
    assert {c.id for c in land.classes} == set(LANDSCAPE_IDS.values()) | {182}
    for c in land.classes:
        ref = coco.get(c.id)
        assert (c.name, c.color) == (ref.name, ref.color)
        assert c.group == ref.group
    assert land.dontcare_id == coco.dontcare_id == 182
    assert land.png_convention == "coco"


def test_landscape_groups_and_order(sets):
    land = sets["landscape"]
    groups = {g: {c.name for c in cs} for g, cs in land.groups().items()}
    assert groups == {**LANDSCAPE_GROUPS, "other": {"unlabeled"}}
    # palette order: groups stay together, sky first, unlabeled last
    seen = [c.group for c in land.classes]
    order = list(dict.fromkeys(seen))
    assert order == ["sky", "water", "ground", "plants", "structures", "other"]
    assert seen == sorted(seen, key=order.index)
    assert land.classes[0].name == "sky-other" and land.classes[-1].name == "unlabeled"


def test_landscape_colours_look_natural(sets):
    coco = sets["coco-stuff"]
    c = {n: np.array(coco.by_name(n).color, int) for n in LANDSCAPE_IDS}
    assert c["sky-other"][2] > c["sky-other"][0]          # sky is blue
    assert c["sea"][2] > 120 and c["sea"][0] < 60         # sea is dark blue
    assert c["grass"][1] > c["grass"][0] and c["grass"][1] > c["grass"][2]
    assert c["tree"][1] > c["tree"][0] and c["tree"].sum() < c["grass"].sum()
    assert c["snow"].min() >= 240                          # snow is white


# --- PNG conventions ---

def test_coco_png_round_trip(sets):
    coco = sets["coco-stuff"]
    png = np.array([[0, 1, 155, 181], [255, 255, 156, 7]], np.uint8)
    ids = coco.png_to_model(png)
    assert ids.tolist() == [[0, 1, 155, 181], [182, 182, 156, 7]]
    back = coco.model_to_png(ids)
    assert back.dtype == np.uint8 and np.array_equal(back, png)
    full = np.arange(183)
    assert np.array_equal(coco.png_to_model(coco.model_to_png(full)), full)
    # landscape uses the same convention
    land = sets["landscape"]
    assert land.png_to_model(np.array([255, 156])).tolist() == [182, 156]
    assert land.model_to_png(np.array([182, 156])).tolist() == [255, 156]


def test_ade20k_png_round_trip(sets):
    ade = sets["ade20k"]
    png = np.array([[0, 1, 2], [150, 3, 0]], np.uint8)
    ids = ade.png_to_model(png)
    assert ids.tolist() == [[150, 0, 1], [149, 2, 150]]
    assert np.array_equal(ade.model_to_png(ids), png)
    full = np.arange(151)
    assert np.array_equal(ade.png_to_model(ade.model_to_png(full)), full)
    v = np.arange(1, 151)
    assert np.array_equal(ade.png_to_model(v), v - 1)


def test_cityscapes_png_identity(sets):
    cs = sets["cityscapes"]
    png = np.arange(35, dtype=np.uint8).reshape(5, 7)
    assert np.array_equal(cs.png_to_model(png), png)
    assert np.array_equal(cs.model_to_png(png), png)


def test_colorize_uses_the_table(sets):
    land = sets["landscape"]
    m = np.array([[156, 154], [123, 182]])
    rgb = land.colorize(m)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == land.get(156).color
    assert tuple(rgb[1, 0]) == land.get(123).color
    assert land.color_table().shape == (183, 3)


# --- errors ---

def test_check_ids_names_bad_ids(sets):
    land = sets["landscape"]
    land.check_ids(np.array([[156, 154], [182, 123]]))          # all fine
    with pytest.raises(LabelSetError) as err:
        land.check_ids(np.array([[156, 0], [7, 200]]))
    msg = str(err.value)
    assert "[0, 7, 200]" in msg and "landscape" in msg
    coco = sets["coco-stuff"]
    coco.check_ids(np.arange(183))
    with pytest.raises(LabelSetError, match=r"\[183\]"):
        coco.check_ids(coco.png_to_model(np.array([183, 255], np.uint8)))
    with pytest.raises(LabelSetError, match=r"\[35\]"):
        sets["cityscapes"].check_ids(np.array([34, 35]))
    with pytest.raises(LabelSetError, match=r"\[-1\]"):
        sets["ade20k"].check_ids(np.array([-1, 0]))


def test_unknown_lookups_raise(sets):
    with pytest.raises(LabelSetError, match="999"):
        sets["coco-stuff"].get(999)
    with pytest.raises(LabelSetError, match="no class named"):
        sets["landscape"].by_name("person")
    with pytest.raises(LabelSetError, match="no label set"):
        load_labelset("no-such-set")


def _good() -> dict:
    return {"name": "t", "dontcare_id": 2, "png_convention": "coco",
            "classes": [{"id": 0, "name": "a", "color": [1, 2, 3], "group": "g"},
                        {"id": 1, "name": "b", "color": [4, 5, 6]},
                        {"id": 2, "name": "unlabeled", "color": [0, 0, 0], "group": "other"}]}


def test_minimal_dict_loads():
    ls = LabelSet.from_dict(_good())
    assert len(ls) == 3 and ls.get(1).group == "" and ls.groups()["other"][0].name == "b"


def _broken(edit):
    d = _good()
    edit(d)
    return d


@pytest.mark.parametrize("data", [
    _broken(lambda d: d.pop("classes")),
    _broken(lambda d: d.pop("name")),
    _broken(lambda d: d["classes"][0].pop("id")),
    _broken(lambda d: d["classes"][0].pop("name")),
    _broken(lambda d: d["classes"][0].pop("color")),
    _broken(lambda d: d["classes"][0].update(id="x")),
    _broken(lambda d: d["classes"][0].update(color=[1, 2])),
    _broken(lambda d: d["classes"][0].update(color=[1, 2, 300])),
    _broken(lambda d: d["classes"][0].update(color="red")),
    _broken(lambda d: d["classes"][1].update(id=0)),                # duplicate id
    _broken(lambda d: d.update(png_convention="bmp")),
    _broken(lambda d: d.update(dontcare_id=7)),                     # not a class
    _broken(lambda d: d.update(dontcare_id="2")),
    _broken(lambda d: d.update(classes=[1, 2])),
    _broken(lambda d: d.update(classes=None)),
    [1, 2, 3],
    "classes",
    None,
], ids=lambda d: "case")
def test_malformed_dict_raises(data):
    with pytest.raises(LabelSetError):
        LabelSet.from_dict(data)


@pytest.mark.parametrize("text", ["", "{", "{'name': 1}", "[]", "null", '{"name": "x"}',
                                  '{"classes": []}'])
def test_malformed_json_raises(text):
    with pytest.raises(LabelSetError):
        LabelSet.from_json(text)


def test_malformed_file_raises(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "classes": [{"id": 0, "name": "a"}]}', encoding="utf-8")
    with pytest.raises(LabelSetError, match="malformed"):
        load_labelset(bad)
    bad.write_text("not json", encoding="utf-8")
    with pytest.raises(LabelSetError, match="not valid JSON"):
        load_labelset(bad)
    with pytest.raises(LabelSetError):
        load_labelset(tmp_path / "missing.json")


def test_builtin_json_is_plain_json():
    for name in BUILTIN_LABELSETS:
        data = json.loads((LABELSET_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert set(data) == {"name", "description", "dontcare_id", "png_convention", "classes"}
        assert all(set(c) == {"id", "name", "color", "group"} for c in data["classes"])
