"""Label map -> image datasets: our ``paired`` folders and the official COCO-Stuff, ADE20K and
Cityscapes layouts, as SPADE reads them.

Every sample is ``{"label": LongTensor (H, W) of model-space ids, ["instance": LongTensor (H, W)],
"image": FloatTensor (3, H, W) in [-1, 1], "path": str}``. PNG values become model-space ids with
the label set's ``png_to_model`` (COCO 255 -> 182, ADE20K v-1 with 0 -> 150), so the convention
lives in one place, the label set, and the app and the trainer agree on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.errors import LabelSetError
from models.labelsets import LabelSet, load_labelset

from .transforms import (DatasetError, Options, Preprocess, SeededDataset, describe, ids_tensor,
                         ids_to_image, image_size, image_tensor, list_images, read_index, read_rgb,
                         require_dir)

VERIFY_MODES = ("auto", "none", "sizes", "full")
# 'auto' checks every file up front only below this many samples: a bad file in a small, hand-made
# dataset is then reported before training starts; a big official dataset is checked per sample.
AUTO_FULL_LIMIT = 2000


@dataclass(frozen=True)
class LabelSample:
    image: Path
    label: Path
    instance: Path | None = None


class LabelImageDataset(SeededDataset):
    """A list of (image, label PNG, optional instance PNG) files with a label set."""

    def __init__(self, samples: list[LabelSample], labelset: LabelSet, preprocess: Preprocess,
                 *, seed: int = 0, verify: str = "auto", max_dataset_size: int | None = None,
                 where: str = ""):
        super().__init__(preprocess, seed, max_dataset_size)
        self.samples = self._limit(list(samples))
        if not self.samples:
            raise DatasetError(f"{where or 'dataset'}: empty dataset (no image/label pairs found)")
        if len({s.instance is None for s in self.samples}) > 1:
            raise DatasetError(f"{where}: some samples have instance maps and others do not")
        self.labelset = labelset
        self.has_instances = self.samples[0].instance is not None
        valid = np.zeros(max(labelset.num_ids, 1), bool)
        valid[[c.id for c in labelset.classes]] = True
        self._valid = valid
        if verify not in VERIFY_MODES:
            raise DatasetError(f"verify must be one of {', '.join(VERIFY_MODES)}, not {verify!r}")
        if verify == "auto":
            verify = "full" if len(self.samples) <= AUTO_FULL_LIMIT else "none"
        if verify != "none":
            for s in self.samples:
                self.check(s, decode_labels=verify == "full")

    def __len__(self) -> int:
        return len(self.samples)

    def check(self, s: LabelSample, decode_labels: bool) -> None:
        """Readable files of one size; with `decode_labels`, only label values of the set."""
        size = image_size(s.image)
        if decode_labels:
            values = read_index(s.label)
            _same_size(s.label, (values.shape[1], values.shape[0]), s.image, size)
            self.to_model(values, s.label)
        else:
            _same_size(s.label, image_size(s.label), s.image, size)
        if s.instance is not None:
            _same_size(s.instance, image_size(s.instance), s.image, size)

    def to_model(self, values: np.ndarray, path: Path) -> np.ndarray:
        """PNG values -> model-space ids; a value that is no class of the set is an error."""
        ids = self.labelset.png_to_model(values)
        inside = (ids >= 0) & (ids < len(self._valid))
        bad = ~inside
        bad[inside] = ~self._valid[ids[inside]]
        if bad.any():
            found = np.unique(values[bad]).tolist()
            shown = ", ".join(map(str, found[:12])) + (" ..." if len(found) > 12 else "")
            raise DatasetError(
                f"{path}: label value(s) {shown} are not classes of label set "
                f"{self.labelset.name!r} ({self.labelset.describe_range()}; PNG convention "
                f"{self.labelset.png_convention!r})")
        return ids

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, rng = self._locate(item)
        s = self.samples[index]
        image = read_rgb(s.image)
        values = read_index(s.label)
        _same_size(s.label, (values.shape[1], values.shape[0]), s.image, image.size)
        ids = self.to_model(values, s.label)
        plan = self.preprocess.plan(image.size, rng)
        out: dict[str, Any] = {"label": ids_tensor(plan.apply(ids_to_image(ids), Image.NEAREST))}
        if s.instance is not None:
            inst = read_index(s.instance)
            _same_size(s.instance, (inst.shape[1], inst.shape[0]), s.image, image.size)
            out["instance"] = ids_tensor(plan.apply(ids_to_image(inst), Image.NEAREST))
        out["image"] = image_tensor(plan.apply(image, Image.BICUBIC))
        out["path"] = str(s.image)
        return out


def _same_size(path: Path, size: tuple[int, int], image: Path, image_wh: tuple[int, int]) -> None:
    if tuple(size) != tuple(image_wh):
        raise DatasetError(f"{path}: size {size[0]}x{size[1]} differs from its image {image} "
                           f"({image_wh[0]}x{image_wh[1]})")


def match(images: dict[str, Path], labels: dict[str, Path], instances: dict[str, Path] | None,
          where: str) -> list[LabelSample]:
    """Pair files by key; any file without its partner is an error that names it."""
    lonely = sorted(set(images) - set(labels))
    if lonely:
        raise DatasetError(f"{where}: image(s) without a label: "
                           f"{describe([images[k] for k in lonely])}")
    lonely = sorted(set(labels) - set(images))
    if lonely:
        raise DatasetError(f"{where}: label(s) without an image: "
                           f"{describe([labels[k] for k in lonely])}")
    if instances is not None:
        lonely = sorted(set(images) - set(instances))
        if lonely:
            raise DatasetError(f"{where}: image(s) without an instance map: "
                               f"{describe([images[k] for k in lonely])}")
        lonely = sorted(set(instances) - set(images))
        if lonely:
            raise DatasetError(f"{where}: instance map(s) without an image: "
                               f"{describe([instances[k] for k in lonely])}")
    return [LabelSample(images[k], labels[k], instances[k] if instances is not None else None)
            for k in sorted(images)]


def by_stem(paths: list[Path], folder: Path, suffix: str = "") -> dict[str, Path]:
    """Key each file by its path under `folder` without extension (and without `suffix`); two
    files with one key (a.jpg and a.png) are ambiguous."""
    out: dict[str, Path] = {}
    for p in paths:
        rel = p.relative_to(folder)
        stem = rel.stem[: -len(suffix)] if suffix and rel.stem.endswith(suffix) else rel.stem
        key = (rel.parent / stem).as_posix()
        if key in out:
            raise DatasetError(f"{p}: same name as {out[key]}; which one is meant?")
        out[key] = p
    return out


def _labelset(value: Any) -> LabelSet:
    if isinstance(value, LabelSet):
        return value
    try:
        return load_labelset(value)
    except LabelSetError as exc:
        raise DatasetError(str(exc)) from None


def _instances_wanted(opts: Options, folder: Path) -> bool:
    """`no_instance`: True ignores instance maps, False requires them, unset uses them if
    their folder exists."""
    no_instance = opts.get("no_instance", None)
    if no_instance is None:
        return folder.is_dir()
    if not no_instance:
        require_dir(folder, "instance maps; or set no_instance")
    return not no_instance


def _split(opts: Options, names: dict[str, str]) -> str:
    """The official `phase` (train / val; test reads val as SPADE does)."""
    phase = str(opts.get("phase", "train", "split"))
    if phase not in names:
        raise DatasetError(f"dataset kind {opts.kind!r}: phase must be one of "
                           f"{', '.join(names)}, not {phase!r}")
    return names[phase]


def _finish(opts: Options, samples: list[LabelSample], labelset: LabelSet, pre: Preprocess,
            where: Path) -> LabelImageDataset:
    seed = opts.get("seed", 0)
    verify = opts.get("verify", "auto")
    limit = opts.get("max_dataset_size", None)
    opts.finish()
    return LabelImageDataset(samples, labelset, pre, seed=seed, verify=verify,
                             max_dataset_size=limit, where=str(where))


def build_paired(root: Path, **options: Any) -> LabelImageDataset:
    """``root/images`` (any image type) + ``root/labels`` (index PNGs, same stem), optionally
    ``root/instances``; `labelset` (a built-in name or JSON path) says what the values mean."""
    opts = Options("paired", options)
    labelset = opts.get("labelset", None)
    if labelset is None:
        raise DatasetError("dataset kind 'paired' needs a labelset (coco-stuff, ade20k, "
                           "cityscapes, landscape or a JSON file)")
    labelset = _labelset(labelset)
    pre = opts.preprocess()
    img_dir = require_dir(root / "images", "the photos")
    lab_dir = require_dir(root / "labels", "index PNGs with the same names as the photos")
    inst_dir = root / "instances"
    images = by_stem(list_images(img_dir), img_dir)
    labels = by_stem(list_images(lab_dir, extensions=(".png",)), lab_dir)
    instances = (by_stem(list_images(inst_dir, extensions=(".png",)), inst_dir)
                 if _instances_wanted(opts, inst_dir) else None)
    return _finish(opts, match(images, labels, instances, str(root)), labelset, pre, root)


def build_coco_stuff(root: Path, **options: Any) -> LabelImageDataset:
    """SPADE's COCO-Stuff layout: ``{train,val}_img/*.jpg``, ``{train,val}_label/*.png`` (0..181,
    255 unlabeled -> 182), ``{train,val}_inst/*.png``."""
    opts = Options("coco-stuff", options)
    split = _split(opts, {"train": "train", "val": "val", "test": "val"})
    labelset = _labelset(opts.get("labelset", "coco-stuff"))
    pre = opts.preprocess()
    img_dir = require_dir(root / f"{split}_img", "COCO images")
    lab_dir = require_dir(root / f"{split}_label", "COCO-Stuff label PNGs")
    inst_dir = root / f"{split}_inst"
    images = by_stem(list_images(img_dir), img_dir)
    labels = by_stem(list_images(lab_dir, extensions=(".png",)), lab_dir)
    instances = (by_stem(list_images(inst_dir, extensions=(".png",)), inst_dir)
                 if _instances_wanted(opts, inst_dir) else None)
    return _finish(opts, match(images, labels, instances, str(root)), labelset, pre, root)


def build_ade20k(root: Path, **options: Any) -> LabelImageDataset:
    """``ADEChallengeData2016/images/{training,validation}/*.jpg`` with
    ``annotations/...png`` (0 unknown -> 150, else value-1); `root` may be that folder itself.
    No instance maps, as in SPADE."""
    opts = Options("ade20k", options)
    split = _split(opts, {"train": "training", "val": "validation", "test": "validation",
                          "training": "training", "validation": "validation"})
    labelset = _labelset(opts.get("labelset", "ade20k"))
    pre = opts.preprocess()
    base = root / "ADEChallengeData2016" if (root / "ADEChallengeData2016").is_dir() else root
    img_dir = require_dir(base / "images" / split, "ADE20K images")
    lab_dir = require_dir(base / "annotations" / split, "ADE20K annotation PNGs")
    images = by_stem(list_images(img_dir), img_dir)
    labels = by_stem(list_images(lab_dir, extensions=(".png",)), lab_dir)
    return _finish(opts, match(images, labels, None, str(base)), labelset, pre, base)


CITYSCAPES_IMAGE = "_leftImg8bit"
CITYSCAPES_LABEL = "_gtFine_labelIds"
CITYSCAPES_INSTANCE = "_gtFine_instanceIds"


def build_cityscapes(root: Path, **options: Any) -> LabelImageDataset:
    """``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with ``gtFine/<split>/<city>/
    *_gtFine_labelIds.png`` (ids 0..33 as they are) and ``*_gtFine_instanceIds.png``
    (id*1000+n for things, the label id elsewhere). Official defaults: fixed 512x256."""
    opts = Options("cityscapes", options)
    split = _split(opts, {"train": "train", "val": "val", "test": "val"})
    labelset = _labelset(opts.get("labelset", "cityscapes"))
    pre = opts.preprocess(mode="fixed", load_size=512, crop_size=512, aspect_ratio=2.0)
    img_dir = require_dir(root / "leftImg8bit" / split, "Cityscapes photos")
    gt_dir = require_dir(root / "gtFine" / split, "Cityscapes fine annotations")
    gt = list_images(gt_dir, recursive=True, extensions=(".png",))

    def keyed(paths: list[Path], folder: Path, suffix: str) -> dict[str, Path]:
        return by_stem([p for p in paths if p.stem.endswith(suffix)], folder, suffix)

    images = keyed(list_images(img_dir, recursive=True), img_dir, CITYSCAPES_IMAGE)
    labels = keyed(gt, gt_dir, CITYSCAPES_LABEL)
    instances = keyed(gt, gt_dir, CITYSCAPES_INSTANCE)
    no_instance = opts.get("no_instance", None)
    if no_instance or (no_instance is None and not instances):
        instances = None
    return _finish(opts, match(images, labels, instances, str(root)), labelset, pre, root)
