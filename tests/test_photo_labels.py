"""The label maps of the landscape photos (resources/photos, made by scripts/annotate_photos.py)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from models.labelsets import load_labelset, resources_dir

REPO = resources_dir().parent
PHOTOS = REPO / "resources" / "photos"


def _load_script():
    spec = importlib.util.spec_from_file_location("annotate_photos",
                                                  REPO / "scripts" / "annotate_photos.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SCRIPT = _load_script()
STEMS = sorted(SCRIPT.ANNOTATIONS)


@pytest.fixture(scope="module")
def landscape():
    return load_labelset("landscape")


def _read(stem: str) -> np.ndarray:
    with Image.open(PHOTOS / "labels" / f"{stem}.png") as im:
        assert im.mode in ("L", "P")
        return np.asarray(im)


def test_every_photo_is_annotated():
    photos = sorted(p.stem for p in (PHOTOS / "images").glob("*.jpg"))
    assert photos == STEMS
    assert len(STEMS) >= 10


@pytest.mark.parametrize("stem", STEMS)
def test_label_map_matches_photo(stem, landscape):
    labels = _read(stem)
    with Image.open(PHOTOS / "images" / f"{stem}.jpg") as photo:
        assert labels.shape == (photo.height, photo.width)
    # only ids of the landscape set (PNG 255 is its "unlabeled", COCO convention)
    valid = {c.id for c in landscape.classes if c.id != landscape.dontcare_id} | {255}
    assert set(np.unique(labels).tolist()) <= valid
    landscape.check_ids(landscape.png_to_model(labels))
    classes = set(np.unique(labels).tolist()) - {255}
    assert len(classes) >= 2, f"{stem}: only {classes}"
    # unlabeled is kept for the few things the set has no class for (a kite, a person)
    assert np.mean(labels == 255) < 0.01
    assert (PHOTOS / "overlays" / f"{stem}.jpg").is_file()


@pytest.mark.parametrize("stem", ["dune", "pier_fog"])
def test_annotation_reproduces_png(stem):
    assert np.array_equal(SCRIPT.annotate(stem), _read(stem))


def test_png_palette_is_the_landscape_colours(landscape):
    with Image.open(PHOTOS / "labels" / "storm.png") as im:
        assert im.mode == "P"
        pal = np.array(im.getpalette()[:768]).reshape(-1, 3)
    for c in landscape.classes:
        value = 255 if c.id == landscape.dontcare_id else c.id
        assert tuple(pal[value]) == c.color


def test_attribution_and_licence_texts():
    text = (PHOTOS / "LICENSES.md").read_text(encoding="utf-8")
    for stem in STEMS:
        assert f"| {stem}.jpg |" in text
    for name in ("LGPL-3.0.txt", "GPL-3.0.txt", "GPL-2.0.txt"):
        assert (PHOTOS / "licenses" / name).stat().st_size > 5_000
