"""Datasets of the training package: ``build_dataset(kind, root, **options)``.

Label -> image kinds give ``{"label", ["instance"], "image", "path"}`` samples, image -> image
kinds ``{"A", "B", "path"}`` (see docs/training-architecture.md). Options keep the official names
(``load_size``, ``crop_size``, ``preprocess_mode``/``preprocess``, ``no_flip``, ``aspect_ratio``,
``direction``, ``input_nc``, ``output_nc``, ``phase``, ``no_instance``, ``max_dataset_size``) plus
ours: ``labelset``, ``seed``, ``grid``, ``scale_augment``, ``verify``. An unknown option is an
error, as is every malformed folder (:class:`DatasetError`, naming the file).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from .labelled import (LabelImageDataset, LabelSample, build_ade20k, build_cityscapes,
                       build_coco_stuff, build_paired)
from .paired_images import (AlignedDataset, ColorizationDataset, UnalignedDataset,
                            build_aligned, build_colorization, build_unaligned, lab_to_rgb,
                            lab_to_srgb, rgb_to_lab)
from .transforms import PREPROCESS_MODES, DatasetError, Plan, Preprocess, sample_rng

_BUILDERS: dict[str, Callable[..., torch.utils.data.Dataset]] = {
    "paired": build_paired,
    "coco-stuff": build_coco_stuff,
    "ade20k": build_ade20k,
    "cityscapes": build_cityscapes,
    "aligned": build_aligned,
    "unaligned": build_unaligned,
    "colorization": build_colorization,
}
LABEL_KINDS = ("paired", "coco-stuff", "ade20k", "cityscapes")
IMAGE_KINDS = ("aligned", "unaligned", "colorization")
KINDS = LABEL_KINDS + IMAGE_KINDS


def build_dataset(kind: str, root: str | Path | list, **options: Any) -> torch.utils.data.Dataset:
    """The dataset of `kind` in folder `root` (colorization: also a list of folders); raises
    DatasetError for anything malformed."""
    if kind not in _BUILDERS:
        raise DatasetError(f"unknown dataset kind {kind!r} (one of {', '.join(KINDS)})")
    roots = [Path(r).expanduser() for r in (root if isinstance(root, (list, tuple)) else [root])]
    if not roots:
        raise DatasetError("no dataset folder given")
    for folder in roots:
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder (dataset root)")
    if len(roots) > 1:
        if kind != "colorization":
            raise DatasetError(f"only colorization reads several folders; {kind} takes one")
        return build_colorization(roots, **options)
    return _BUILDERS[kind](roots[0], **options)


__all__ = ["build_dataset", "DatasetError", "KINDS", "LABEL_KINDS", "IMAGE_KINDS",
           "PREPROCESS_MODES", "Preprocess", "Plan", "sample_rng", "LabelImageDataset",
           "LabelSample", "AlignedDataset", "UnalignedDataset", "ColorizationDataset",
           "rgb_to_lab", "lab_to_rgb", "lab_to_srgb"]
