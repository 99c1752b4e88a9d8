"""The document model: layered label maps and images, undoable changes, OpenRaster files.

Plain Python + numpy (never Qt), so it can be tested without widgets; see
docs/app-architecture.md.
"""
from .document import Document
from .errors import DocumentError, LayerLockedError, OraError
from .events import Signal
from .history import (Change, Compound, InsertLayer, MergeDown, MoveLayer, PixelPatch,
                      RemoveLayer, ReplaceLayer, SetBackground, SetLayerProps, coalesce)
from .layers import TRANSPARENT, ImageLayer, LabelLayer, new_uid
from .ora import LoadedProject, load_ora, save_ora

__all__ = [
    "Change", "Compound", "Document", "DocumentError", "ImageLayer", "InsertLayer",
    "LabelLayer", "LayerLockedError", "LoadedProject", "MergeDown", "MoveLayer", "OraError",
    "PixelPatch", "RemoveLayer", "ReplaceLayer", "SetBackground", "SetLayerProps", "Signal",
    "TRANSPARENT", "coalesce", "load_ora", "new_uid", "save_ora",
]
