"""Turning label maps into pictures for sample grids, in their label set's palette colours."""
from __future__ import annotations

import torch

from models.labelsets import LabelSet


def label_colors(num_ids: int, labelset: LabelSet | None = None) -> torch.Tensor:
    """(num_ids, 3) uint8: the label set's colours, else a fixed pseudo-random palette."""
    if labelset is not None and labelset.num_ids >= num_ids:
        return torch.from_numpy(labelset.color_table()[:num_ids].copy())
    ids = torch.arange(num_ids, dtype=torch.int64)
    # A multiplicative hash spreads neighbouring ids to distinct colours, reproducibly.
    mixed = (ids * 2654435761) % (2 ** 32)
    return torch.stack([(mixed >> s) & 255 for s in (0, 8, 16)], 1).to(torch.uint8)


def colorize(labels: torch.Tensor, num_ids: int, labelset: LabelSet | None = None) -> torch.Tensor:
    """(N, H, W) ids -> (N, 3, H, W) in [-1, 1]."""
    table = label_colors(num_ids, labelset).to(labels.device)
    rgb = table[labels.clamp(0, num_ids - 1)].permute(0, 3, 1, 2).float()
    return rgb / 127.5 - 1
