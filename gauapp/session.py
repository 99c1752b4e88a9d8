"""One open painting: the document, its file, its undo stack and its display buffer.

The main window swaps sessions on New/Open; a failed open never touches the current one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .document.document import Document
from .render import DisplayBuffer
from .undo import DocumentUndoStack

SKY_NAMES = ("sky-other", "sky")


def starting_class(labelset) -> int | None:
    """A new painting starts as sky, as GauGAN's does, when the label set has one."""
    if labelset is None:
        return None
    for name in SKY_NAMES:
        try:
            return labelset.by_name(name).id
        except Exception:
            continue
    return None


def new_document(width: int, height: int, labelset) -> Document:
    doc = Document(width, height, labelset)
    doc.add_label_layer(name="Background")
    fill = starting_class(labelset)
    if fill is not None:
        layer = doc.layers[-1]
        doc.replace_pixels(layer.uid, 0, 0, np.full((height, width), fill, np.int16))
    doc.add_label_layer(name="Painting")
    doc.mark_saved()
    return doc


class Session:
    def __init__(self, document: Document, path: Path | None = None,
                 generated: np.ndarray | None = None):
        self.document = document
        self.path = path
        self.generated = generated  # last generated image, uint8 (H, W, 3)
        self.undo = DocumentUndoStack(document)
        self.display = DisplayBuffer(document)

    @property
    def title(self) -> str:
        return self.path.name if self.path else "Untitled"
