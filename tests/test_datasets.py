"""training.data: every layout built tiny in tmp_path; conventions, seeded augmentation, errors,
worker processes and the Lab conversion."""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.data import (DatasetError, Preprocess, build_dataset, lab_to_rgb, rgb_to_lab,
                           sample_rng)

SMALL = dict(load_size=48, crop_size=32)
PALETTE = {v: ((v * 67) % 256, (v * 151) % 256, (v * 29 + 80) % 256) for v in range(256)}


# --- writing tiny datasets ---

def regions(w: int, h: int, a: int, b: int, c: int) -> np.ndarray:
    """Three blocky regions: left a, right b, bottom-left c."""
    lab = np.full((h, w), a, np.int64)
    lab[:, w // 2:] = b
    lab[h // 2:, : w // 3] = c
    return lab


def save_index(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint16 if values.max() > 255 else np.uint8
    Image.fromarray(values.astype(dtype)).save(path)


def save_photo(path: Path, label: np.ndarray) -> None:
    """A photo whose colour follows the label, so alignment can be checked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.array([PALETTE[int(v) % 256] for v in label.ravel()], np.uint8)
    Image.fromarray(rgb.reshape(label.shape + (3,))).save(path, quality=95)


def make_paired(root: Path, n: int = 3, w: int = 40, h: int = 30, instances: bool = False,
                values: tuple[int, int, int] = (156, 123, 255)) -> Path:
    for i in range(n):
        lab = regions(w, h, *values)
        save_index(root / "labels" / f"s{i}.png", lab)
        save_photo(root / "images" / f"s{i}.png", lab)
        if instances:
            save_index(root / "instances" / f"s{i}.png", regions(w, h, 1, 2, 3))
    return root


def make_coco(root: Path, split: str = "train") -> Path:
    for i in range(2):
        lab = regions(40, 30, 12, 255, 181)
        save_index(root / f"{split}_label" / f"{i:012d}.png", lab)
        save_photo(root / f"{split}_img" / f"{i:012d}.jpg", lab)
        save_index(root / f"{split}_inst" / f"{i:012d}.png", regions(40, 30, 0, 7, 9))
    return root


def make_ade(root: Path) -> Path:
    base = root / "ADEChallengeData2016"
    for i in range(2):
        lab = regions(40, 30, 0, 1, 150)
        save_index(base / "annotations" / "training" / f"ADE_train_{i:08d}.png", lab)
        save_photo(base / "images" / "training" / f"ADE_train_{i:08d}.jpg", lab)
    return root


def make_cityscapes(root: Path, split: str = "train") -> Path:
    for city in ("aachen", "bochum"):
        stem = f"{city}_000000_000019"
        lab = regions(64, 32, 7, 26, 0)
        save_index(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", lab)
        inst = np.where(lab == 26, 26001, lab)
        save_index(root / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png", inst)
        save_index(root / "gtFine" / split / city / f"{stem}_gtFine_color.png", lab)  # ignored
        save_photo(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", lab)
    return root


def solid(w: int, h: int, rgb) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def make_aligned(root: Path, n: int = 2) -> Path:
    (root / "train").mkdir(parents=True)
    for i in range(n):
        ab = np.concatenate([solid(24, 20, (200, 10, 10)), solid(24, 20, (10, 10, 200))], 1)
        Image.fromarray(ab).save(root / "train" / f"{i}.png")
    return root


def make_colour_folder(root: Path, n: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = root / ("a" if i % 2 else "b/c")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)).save(sub / f"{i}.png")
    return root


# --- label -> image layouts and conventions ---

def test_paired_sample_shapes_and_coco_convention(tmp_path):
    ds = build_dataset("paired", make_paired(tmp_path), labelset="landscape", **SMALL)
    assert len(ds) == 3
    s = ds[0]
    assert set(s) == {"label", "image", "path"}
    assert s["label"].dtype == torch.int64 and s["label"].shape == (32, 32)
    assert s["image"].dtype == torch.float32 and s["image"].shape == (3, 32, 32)
    assert -1.0 <= s["image"].min() and s["image"].max() <= 1.0
    assert set(s["label"].unique().tolist()) <= {156, 123, 182}     # 255 -> unlabeled 182
    assert s["path"].endswith("s0.png")


def test_labelset_from_json_path_and_instances(tmp_path):
    json_path = Path(__file__).resolve().parents[1] / "resources" / "labelsets" / "landscape.json"
    ds = build_dataset("paired", make_paired(tmp_path, instances=True), labelset=str(json_path),
                       **SMALL)
    s = ds[1]
    assert s["instance"].dtype == torch.int64 and s["instance"].shape == (32, 32)
    assert set(s["instance"].unique().tolist()) <= {1, 2, 3}
    assert "instance" not in build_dataset("paired", tmp_path, labelset="landscape",
                                           no_instance=True, **SMALL)[0]


def test_coco_stuff_layout(tmp_path):
    ds = build_dataset("coco-stuff", make_coco(tmp_path), **SMALL)
    s = ds[0]
    assert set(s["label"].unique().tolist()) <= {12, 181, 182}
    assert 182 in s["label"].unique().tolist()                        # 255 -> 182
    assert set(s["instance"].unique().tolist()) <= {0, 7, 9}
    make_coco(tmp_path, "val")
    assert len(build_dataset("coco-stuff", tmp_path, phase="test", **SMALL)) == 2


def test_ade20k_layout_zero_is_dontcare(tmp_path):
    make_ade(tmp_path)
    for root in (tmp_path, tmp_path / "ADEChallengeData2016"):
        ds = build_dataset("ade20k", root, preprocess_mode="none", no_flip=True, grid=4)
        label = ds[0]["label"]
        expected = torch.from_numpy(regions(40, 32, 150, 0, 149))    # 0->150, 1->0, 150->149
        assert label.shape == (32, 40)                                # 30 -> 32 (grid 4)
        assert set(label.unique().tolist()) == {150, 0, 149}
        assert (label[:8, :8] == expected[:8, :8]).all()
        assert "instance" not in ds[0]


def test_cityscapes_layout_keeps_ids(tmp_path):
    ds = build_dataset("cityscapes", make_cityscapes(tmp_path), no_flip=True)
    assert len(ds) == 2
    s = ds[0]
    assert s["image"].shape == (3, 256, 512)                          # fixed, aspect 2
    assert s["label"].shape == (256, 512)
    assert set(s["label"].unique().tolist()) == {0, 7, 26}
    assert set(s["instance"].unique().tolist()) == {0, 7, 26001}
    assert "aachen" in ds[0]["path"] and "bochum" in ds[1]["path"]


def test_labels_and_image_stay_aligned(tmp_path):
    ds = build_dataset("paired", make_paired(tmp_path, w=64, h=48), labelset="landscape",
                       load_size=80, crop_size=48, scale_augment=(1.0, 1.5))
    for i in range(len(ds)):
        s = ds[i]
        img = ((s["image"] + 1) * 127.5).permute(1, 2, 0).numpy()
        for cls, png in ((156, 156), (123, 123), (182, 255)):
            mask = (s["label"] == cls).numpy()
            if mask.sum() > 40:
                assert np.abs(np.median(img[mask], 0) - PALETTE[png]).max() < 8


# --- preprocessing ---

@pytest.mark.parametrize("mode,size,expected", [
    ("resize_and_crop", (100, 50), (48, 48)),
    ("resize", (100, 50), (48, 48)),
    ("scale_width_and_crop", (100, 50), (48, 24)),
    ("scale_shortside_and_crop", (50, 100), (48, 96)),
    ("scale_shortside_and_crop", (100, 50), (96, 48)),
    ("fixed", (100, 50), (32, 16)),
    ("crop", (100, 50), (100, 50)),
    ("none", (70, 50), (72, 48)),
])
def test_official_resize_step(mode, size, expected):
    pre = Preprocess(mode, load_size=48, crop_size=32, aspect_ratio=2.0 if mode == "fixed"
                     else 1.0, grid=4)
    assert pre.base_size(*size) == expected


def test_crop_sizes_and_small_images_are_enlarged_not_padded():
    rng = np.random.default_rng(0)
    pre = Preprocess("scale_width_and_crop", load_size=64, crop_size=32)
    plan = pre.plan((200, 20), rng)                  # 64 x 6: far smaller than the crop
    assert plan.out_size == (32, 32) and plan.size[1] >= 32
    assert 0 <= plan.box[0] and plan.box[2] <= plan.size[0]
    wide = Preprocess("resize_and_crop", load_size=48, crop_size=32, aspect_ratio=2.0)
    assert wide.plan((50, 50), rng).out_size == (32, 16)
    aug = Preprocess("fixed", crop_size=32, aspect_ratio=2.0, scale_augment=(1.0, 2.0))
    plans = [aug.plan((64, 64), sample_rng(0, e, 0)) for e in range(8)]
    assert all(p.out_size == (32, 16) for p in plans)
    assert len({p.size for p in plans}) > 1


def test_none_mode_makes_grid_multiples(tmp_path):
    make_paired(tmp_path, w=45, h=37)
    for grid in (4, 32):
        s = build_dataset("paired", tmp_path, labelset="landscape", preprocess="none",
                          grid=grid)[0]
        assert s["image"].shape[1] % grid == 0 and s["image"].shape[2] % grid == 0
        assert s["label"].shape == s["image"].shape[1:]


def test_bad_preprocess_options():
    with pytest.raises(DatasetError, match="preprocess mode"):
        Preprocess("zoom")
    with pytest.raises(DatasetError, match="scale_augment"):
        Preprocess(scale_augment=(2.0, 1.0))
    with pytest.raises(DatasetError, match="crop_size"):
        Preprocess(crop_size=0)


# --- seeded randomness ---

def test_same_seed_epoch_index_same_sample(tmp_path):
    make_paired(tmp_path, w=64, h=48)
    opts = dict(labelset="landscape", scale_augment=(1.0, 1.4), **SMALL)
    a, b = build_dataset("paired", tmp_path, **opts), build_dataset("paired", tmp_path, **opts)
    state = np.random.get_state(), torch.get_rng_state()
    for ds in (a, b):
        ds.set_epoch(3)
    for i in range(3):
        sa, sb = a[i], b[i]
        assert torch.equal(sa["label"], sb["label"]) and torch.equal(sa["image"], sb["image"])
        assert torch.equal(a[(3, i)]["image"], sa["image"])           # (epoch, index) indexing
    np.random.seed(123)                                              # the global RNG is unused
    assert torch.equal(a[0]["image"], b[0]["image"])
    assert np.array_equal(np.random.get_state()[1], np.random.RandomState(123).get_state()[1])
    np.random.set_state(state[0])
    torch.set_rng_state(state[1])


def test_different_epoch_or_seed_changes_crop(tmp_path):
    ds = build_dataset("paired", make_paired(tmp_path, w=64, h=48), labelset="landscape",
                       load_size=64, crop_size=32)
    first = ds[0]["image"]
    assert any(not torch.equal(ds[(e, 0)]["image"], first) for e in range(1, 6))
    other = build_dataset("paired", tmp_path, labelset="landscape", load_size=64, crop_size=32,
                          seed=7)
    assert any(not torch.equal(other[(e, 0)]["image"], ds[(e, 0)]["image"]) for e in range(5))


def test_flip_applies_to_label_instance_and_image(tmp_path):
    make_paired(tmp_path, w=40, h=30, instances=True)
    opts = dict(labelset="landscape", load_size=40, crop_size=32)
    flipping = build_dataset("paired", tmp_path, **opts)
    plain = build_dataset("paired", tmp_path, no_flip=True, **opts)
    size = (40, 30)
    flipped = [e for e in range(10)
               if flipping.preprocess.plan(size, sample_rng(0, e, 0)).flip]
    kept = [e for e in range(10) if e not in flipped]
    assert flipped and kept
    for e in flipped:
        f, p = flipping[(e, 0)], plain[(e, 0)]
        for key in ("label", "instance", "image"):
            assert torch.equal(f[key], torch.flip(p[key], [-1])), key
    for e in kept:
        assert torch.equal(flipping[(e, 0)]["image"], plain[(e, 0)]["image"])


def test_nearest_for_labels_no_new_values(tmp_path):
    make_paired(tmp_path, w=37, h=23, instances=True)
    ds = build_dataset("paired", tmp_path, labelset="landscape", load_size=53, crop_size=29,
                       scale_augment=(0.7, 1.9))
    for e in range(6):
        s = ds[(e, e % 3)]
        assert set(s["label"].unique().tolist()) <= {156, 123, 182}
        assert set(s["instance"].unique().tolist()) <= {1, 2, 3}


# --- malformed folders ---

def _raises(fn, *needles: str) -> str:
    with pytest.raises(DatasetError) as info:
        fn()
    msg = str(info.value)
    for n in needles:
        assert n in msg, (n, msg)
    return msg


def test_paired_errors(tmp_path):
    paired = lambda **kw: build_dataset("paired", tmp_path, labelset="landscape", **SMALL, **kw)
    _raises(paired, str(tmp_path / "images"), "missing folder")
    (tmp_path / "images").mkdir()
    _raises(paired, str(tmp_path / "labels"), "missing folder")
    (tmp_path / "labels").mkdir()
    _raises(paired, "empty dataset")
    make_paired(tmp_path, n=2)
    save_photo(tmp_path / "images" / "extra.jpg", regions(40, 30, 1, 2, 3))
    _raises(paired, "without a label", "extra.jpg")
    (tmp_path / "images" / "extra.jpg").unlink()
    save_index(tmp_path / "labels" / "orphan.png", regions(40, 30, 156, 156, 156))
    _raises(paired, "without an image", "orphan.png")
    (tmp_path / "labels" / "orphan.png").unlink()
    save_photo(tmp_path / "images" / "s0.jpg", regions(40, 30, 1, 2, 3))
    _raises(paired, "s0.jpg", "s0.png", "same name")
    (tmp_path / "images" / "s0.jpg").unlink()
    _raises(lambda: build_dataset("paired", tmp_path), "needs a labelset")
    _raises(lambda: build_dataset("paired", tmp_path, labelset="nope"), "nope")
    _raises(lambda: build_dataset("paired", tmp_path, labelset="landscape", loadsize=3),
            "unknown option", "loadsize")
    _raises(lambda: build_dataset("pairs", tmp_path), "unknown dataset kind")
    _raises(lambda: build_dataset("paired", tmp_path / "nothing", labelset="landscape"),
            "nothing", "missing folder")
    _raises(lambda: paired(no_instance=False), str(tmp_path / "instances"))
    assert len(paired()) == 2


def test_bad_files_are_named(tmp_path):
    make_paired(tmp_path, n=2)
    paired = lambda **kw: build_dataset("paired", tmp_path, labelset="landscape", **SMALL, **kw)
    bad = tmp_path / "labels" / "s1.png"
    save_index(bad, regions(40, 30, 156, 200, 201))
    _raises(paired, str(bad), "200, 201", "landscape")              # values not of the set
    ds = paired(verify="none")                                       # big datasets: per sample
    ds[0]
    _raises(lambda: ds[1], str(bad), "200, 201")
    save_index(bad, regions(41, 30, 156, 156, 156))
    _raises(paired, str(bad), "41x30", "40x30")                      # size mismatch
    Image.fromarray(solid(40, 30, (255, 0, 0))).save(bad)
    _raises(paired, str(bad), "colour image")                        # RGB, not an index PNG
    bad.write_bytes(b"this is not a png")
    _raises(paired, str(bad), "not a readable image")
    save_index(bad, regions(40, 30, 156, 156, 156))
    photo = tmp_path / "images" / "s1.png"
    data = photo.read_bytes()
    photo.write_bytes(data[: len(data) // 2])                        # truncated: header is fine
    ds = paired(verify="none")
    _raises(lambda: ds[1], str(photo))


def test_instance_errors(tmp_path):
    make_paired(tmp_path, n=2, instances=True)
    (tmp_path / "instances" / "s1.png").unlink()
    _raises(lambda: build_dataset("paired", tmp_path, labelset="landscape"),
            "without an instance map", "s1.png")
    save_index(tmp_path / "instances" / "s1.png", regions(40, 31, 1, 2, 3))
    _raises(lambda: build_dataset("paired", tmp_path, labelset="landscape"),
            str(tmp_path / "instances" / "s1.png"), "differs")


def test_official_layout_errors(tmp_path):
    _raises(lambda: build_dataset("coco-stuff", tmp_path), "train_img", "missing folder")
    make_coco(tmp_path)
    (tmp_path / "train_label" / f"{1:012d}.png").unlink()
    _raises(lambda: build_dataset("coco-stuff", tmp_path), "without a label", f"{1:012d}.jpg")
    save_index(tmp_path / "train_label" / f"{1:012d}.png", regions(40, 30, 200, 183, 1))
    _raises(lambda: build_dataset("coco-stuff", tmp_path), "183, 200", f"{1:012d}.png")
    _raises(lambda: build_dataset("coco-stuff", tmp_path, phase="val"), "val_img")
    _raises(lambda: build_dataset("coco-stuff", tmp_path, phase="eval"), "phase")

    ade = tmp_path / "ade"
    make_ade(ade)
    _raises(lambda: build_dataset("ade20k", ade, phase="val"), "validation", "missing folder")
    save_index(ade / "ADEChallengeData2016" / "annotations" / "training" / "ADE_train_x.png",
               regions(40, 30, 1, 1, 152))
    _raises(lambda: build_dataset("ade20k", ade), "without an image", "ADE_train_x.png")

    city = tmp_path / "city"
    _raises(lambda: build_dataset("cityscapes", city / "x"), "missing folder")
    make_cityscapes(city)
    label = next((city / "gtFine" / "train" / "bochum").glob("*_labelIds.png"))
    label.unlink()
    _raises(lambda: build_dataset("cityscapes", city), "without a label", "bochum_000000_000019")
    save_index(label, regions(64, 32, 7, 26, 0))
    next((city / "gtFine" / "train" / "aachen").glob("*_instanceIds.png")).unlink()
    _raises(lambda: build_dataset("cityscapes", city), "without an instance map", "aachen")
    assert "instance" not in build_dataset("cityscapes", city, no_instance=True)[0]


# --- image -> image layouts ---

def test_aligned_direction_and_grayscale(tmp_path):
    make_aligned(tmp_path)
    opts = dict(preprocess="none", no_flip=True)
    s = build_dataset("aligned", tmp_path, **opts)[0]
    assert s["A"].shape == s["B"].shape == (3, 20, 24)
    red, blue = s["A"][:, 10, 10], s["B"][:, 10, 10]
    assert red[0] > 0.5 and red[2] < -0.5 and blue[2] > 0.5 and blue[0] < -0.5
    r = build_dataset("aligned", tmp_path, direction="BtoA", input_nc=1, **opts)[0]
    assert r["A"].shape == (1, 20, 24) and r["B"].shape == (3, 20, 24)
    assert torch.equal(r["B"], s["A"])                               # B is now the left half
    d = build_dataset("aligned", tmp_path, **SMALL)[1]
    assert d["A"].shape == d["B"].shape == (3, 32, 32)
    _raises(lambda: build_dataset("aligned", tmp_path, direction="AB"), "direction")
    Image.fromarray(solid(25, 20, (1, 2, 3))).save(tmp_path / "train" / "odd.png")
    _raises(lambda: build_dataset("aligned", tmp_path), "odd.png", "odd")


def test_aligned_pairs_share_the_crop(tmp_path):
    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(1)
    half = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(np.concatenate([half, half], 1)).save(tmp_path / "train" / "x.png")
    ds = build_dataset("aligned", tmp_path, load_size=56, crop_size=32)
    for e in range(4):
        s = ds[(e, 0)]
        assert torch.equal(s["A"], s["B"])


@pytest.mark.parametrize("layout", [("A", "B"), ("trainA", "trainB"), ("A/train", "B/train")])
def test_unaligned_folders(tmp_path, layout):
    for folder, colour in zip(layout, ((250, 0, 0), (0, 0, 250))):
        (tmp_path / folder).mkdir(parents=True)
        for name in ("x", "y"):
            Image.fromarray(solid(20, 16, colour)).save(tmp_path / folder / f"{name}.png")
    ds = build_dataset("unaligned", tmp_path, preprocess="none", direction="BtoA")
    s = ds[0]
    assert s["A"][2].min() > 0.9 and s["B"][0].min() > 0.9           # BtoA: blue in, red out
    Image.fromarray(solid(20, 16, (0, 0, 0))).save(tmp_path / layout[1] / "z.png")
    _raises(lambda: build_dataset("unaligned", tmp_path), "z.png", "no file of the same name")
    (tmp_path / layout[1] / "z.png").unlink()
    Image.fromarray(solid(22, 16, (0, 0, 0))).save(tmp_path / layout[1] / "y.png")
    _raises(lambda: build_dataset("unaligned", tmp_path), "y.png", "22x16")


def test_unaligned_missing_folder(tmp_path):
    (tmp_path / "A").mkdir()
    _raises(lambda: build_dataset("unaligned", tmp_path), str(tmp_path / "B"), "missing folder")


def test_colorization(tmp_path):
    make_colour_folder(tmp_path)
    Image.fromarray(np.full((24, 28), 90, np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(solid(24, 28, (70, 70, 70))).save(tmp_path / "a" / "grey_rgb.png")
    with pytest.warns(UserWarning, match="2 grayscale"):
        ds = build_dataset("colorization", tmp_path, preprocess="none", no_flip=True)
    assert len(ds) == 3
    s = ds[0]
    assert s["A"].shape == (1, 24, 28) and s["B"].shape == (2, 24, 28)
    assert s["A"].dtype == torch.float32
    assert -1 <= s["A"].min() and s["A"].max() <= 1 and s["B"].abs().max() <= 1
    photo = np.asarray(Image.open(s["path"]).convert("RGB"))
    assert np.abs(lab_to_rgb(s["A"], s["B"]).astype(int) - photo).max() <= 1
    batch = lab_to_rgb(s["A"][None].repeat(2, 1, 1, 1), s["B"][None].repeat(2, 1, 1, 1))
    assert batch.shape == (2, 24, 28, 3) and batch.dtype == np.uint8
    cropped = build_dataset("colorization", tmp_path, verify="none", **SMALL)
    assert cropped[0]["A"].shape == (1, 32, 32)


def test_colorization_errors(tmp_path):
    _raises(lambda: build_dataset("colorization", tmp_path), "empty dataset")
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "g.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _raises(lambda: build_dataset("colorization", tmp_path), "grayscale", "g.png")


# --- Lab ---

def test_lab_known_values():
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0],
                               [0, 0, 255]], np.uint8))
    assert lab[0, 0] == pytest.approx(100.0, abs=1e-6)
    assert np.abs(lab[0, 1:]).max() < 0.01 and np.abs(lab[1]).max() < 1e-9
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.01)
    assert lab[3] == pytest.approx([87.73, -86.18, 83.18], abs=0.01)
    assert lab[4] == pytest.approx([32.30, 79.19, -107.86], abs=0.01)


def test_lab_round_trip_random_colours():
    rgb = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    lab = rgb_to_lab(rgb)
    assert lab[..., 0].min() >= 0 and lab[..., 0].max() <= 100
    L = torch.from_numpy(lab[None, ..., 0] / 50 - 1).float()
    ab = torch.from_numpy(lab[..., 1:].transpose(2, 0, 1) / 110).float()
    back = lab_to_rgb(L, ab)
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).max() <= 1
    assert np.array_equal(lab_to_rgb(L.numpy().astype(np.float64)[0], ab.numpy()), back)


# --- worker processes ---

def _check_loader(ds, keys, **loader):
    batches = list(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, **loader))
    assert sum(len(b["path"]) for b in batches) == len(ds)
    first = batches[0]
    for k in keys:
        assert torch.equal(first[k][0], ds[0][k]) and torch.equal(first[k][1], ds[1][k])


def test_workers(tmp_path):
    ds = build_dataset("paired", make_paired(tmp_path / "p", instances=True),
                       labelset="landscape", scale_augment=(1, 1.5), **SMALL)
    ds.set_epoch(2)
    _check_loader(ds, ("label", "instance", "image"))
    col = build_dataset("colorization", make_colour_folder(tmp_path / "c"), **SMALL)
    _check_loader(col, ("A", "B"))
    al = build_dataset("aligned", make_aligned(tmp_path / "a", n=3), **SMALL)
    _check_loader(al, ("A", "B"), multiprocessing_context="spawn")  # really pickled
    for d in (ds, col, al):
        copy = pickle.loads(pickle.dumps(d))
        assert copy.epoch == d.epoch and len(copy) == len(d)


def test_worker_errors_name_the_file(tmp_path):
    make_paired(tmp_path, n=4)
    bad = tmp_path / "labels" / "s2.png"
    save_index(bad, regions(40, 30, 156, 7, 7))
    ds = build_dataset("paired", tmp_path, labelset="landscape", verify="none", **SMALL)
    with pytest.raises(DatasetError, match="s2.png"):
        list(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2))
