"""Label-map inputs shared by the label -> image trainers (SPADE, pix2pixHD): which channels the
one-hot has, the generator input built exactly as the app's pipeline builds it, and the checks on
a batch's ids."""
from __future__ import annotations

from typing import Any

import torch

from models.errors import LabelSetError
from models.labelmaps import semantic_input
from models.labelsets import LabelSet, load_labelset

from .errors import TrainingError
from .visual import colorize


def resolve_labelset(value: Any) -> LabelSet | None:
    if value is None or value == "":
        return None
    if isinstance(value, LabelSet):
        return value
    try:
        return load_labelset(value)
    except LabelSetError as exc:
        raise TrainingError(str(exc)) from None


def label_options(options: dict[str, Any], labelset: LabelSet | None) -> dict[str, Any]:
    """Fill ``label_nc`` / ``contain_dontcare_label`` from the label set when not given.

    Our label sets hold "unlabeled" as a class (COCO-Stuff and landscape: id 182 of 183); the
    official options count it apart: label_nc 182 plus the dontcare channel.
    """
    out = dict(options)
    if out.get("label_nc") is None:
        if labelset is None:
            raise TrainingError("give --label_nc or a --labelset (the number of classes)")
        n = labelset.num_ids
        dontcare = labelset.dontcare_id is not None and labelset.dontcare_id == n - 1
        out["label_nc"] = n - 1 if dontcare else n
        if out.get("contain_dontcare_label") is None:
            out["contain_dontcare_label"] = dontcare
    if out.get("contain_dontcare_label") is None:
        out["contain_dontcare_label"] = False
    out["label_nc"] = int(out["label_nc"])
    if out["label_nc"] < 1:
        raise TrainingError(f"label_nc must be at least 1, got {out['label_nc']}")
    return out


def label_channels(options: dict[str, Any]) -> int:
    return int(options["label_nc"]) + (1 if options.get("contain_dontcare_label") else 0)


def check_labels(batch: dict[str, Any], channels: int) -> None:
    labels = batch["label"]
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= channels:
        raise TrainingError(f"the label maps hold ids {lo}..{hi}, but the model has {channels} "
                            f"label channels (ids 0..{channels - 1}); check --label_nc, "
                            "--contain_dontcare_label and the dataset's label set")


def generator_input(batch: dict[str, Any], channels: int, use_edges: bool,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot + instance edges; without an instance map the label map is the instance map, as
    the app does for a painting."""
    labels = batch["label"]
    if labels.dim() == 4:
        labels = labels[:, 0]
    instances = batch.get("instance") if use_edges else None
    if instances is not None and instances.dim() == 4:
        instances = instances[:, 0]
    return semantic_input(labels.long(), channels, use_edges, instances, dtype=dtype)


def shown_labels(batch: dict[str, Any], channels: int, labelset: LabelSet | None
                 ) -> torch.Tensor:
    labels = batch["label"]
    return colorize(labels[:, 0] if labels.dim() == 4 else labels, channels, labelset)
