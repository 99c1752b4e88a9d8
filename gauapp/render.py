"""What the painting view shows: label colours with the image layers on top, kept in one RGBA
buffer that is recomputed only where the document changed (a brush dab on a 2048x2048 canvas
touches a few thousand pixels, not four million)."""
from __future__ import annotations

import numpy as np

from .document.layers import TRANSPARENT

Region = tuple[int, int, int, int]  # y0, x0, y1, x1 (exclusive)


def _label_colors(labelset) -> np.ndarray:
    """(N + 1, 4) uint8: colour of each id, and a last transparent row for TRANSPARENT."""
    table = labelset.color_table() if labelset is not None else np.zeros((1, 3), np.uint8)
    rgba = np.concatenate([table, np.full((len(table), 1), 255, np.uint8)], 1)
    return np.concatenate([rgba, np.zeros((1, 4), np.uint8)])


class DisplayBuffer:
    """The painting view's pixels for a document, updated region by region."""

    def __init__(self, document):
        self.document = document
        self.rgba = np.zeros((document.height, document.width, 4), np.uint8)
        self.show_labels = True
        self.label_opacity = 1.0
        self._colors = _label_colors(document.labelset)
        self.refresh(None)

    def set_labelset(self, labelset) -> None:
        self._colors = _label_colors(labelset)
        self.refresh(None)

    def refresh(self, region: Region | None) -> Region:
        """Recompute ``region`` (None: everything); returns the region it recomputed."""
        doc = self.document
        if region is None:
            region = (0, 0, doc.height, doc.width)
        y0, x0, y1, x1 = (max(0, region[0]), max(0, region[1]),
                          min(doc.height, region[2]), min(doc.width, region[3]))
        if y1 <= y0 or x1 <= x0:
            return (y0, x0, y0, x0)
        out = self.rgba[y0:y1, x0:x1]
        out[:] = 0
        for layer in doc.layers:
            if not layer.visible:
                continue
            if layer.kind == "labels":
                if not self.show_labels:
                    continue
                ids = layer.data[y0:y1, x0:x1].astype(np.int64)
                ids = np.where((ids == TRANSPARENT) | (ids >= len(self._colors) - 1),
                               len(self._colors) - 1, ids)
                _over(out, self._colors[ids], self.label_opacity)
            else:
                self._draw_image_layer(out, layer, y0, x0, y1, x1)
        return (y0, x0, y1, x1)

    @staticmethod
    def _draw_image_layer(out, layer, y0, x0, y1, x1) -> None:
        h, w = layer.rgba.shape[:2]
        ly0, lx0 = max(y0, layer.y), max(x0, layer.x)
        ly1, lx1 = min(y1, layer.y + h), min(x1, layer.x + w)
        if ly1 <= ly0 or lx1 <= lx0:
            return
        src = layer.rgba[ly0 - layer.y:ly1 - layer.y, lx0 - layer.x:lx1 - layer.x]
        _over(out[ly0 - y0:ly1 - y0, lx0 - x0:lx1 - x0], src, layer.opacity)


def _over(dst: np.ndarray, src: np.ndarray, opacity: float) -> None:
    """Porter-Duff "source over" of straight-alpha RGBA uint8 ``src`` onto ``dst``, in place."""
    sa = src[..., 3:4].astype(np.float32) * (opacity / 255.0)
    if not sa.any():
        return
    da = dst[..., 3:4].astype(np.float32) / 255.0
    oa = sa + da * (1 - sa)
    safe = np.where(oa > 0, oa, 1)
    rgb = (src[..., :3] * sa + dst[..., :3] * da * (1 - sa)) / safe
    dst[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    dst[..., 3:4] = np.clip(oa * 255 + 0.5, 0, 255).astype(np.uint8)
