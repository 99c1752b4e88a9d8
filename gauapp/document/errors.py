"""Typed errors of the document model; the app shows ``str(error)`` to the user as it is."""


class DocumentError(Exception):
    """An operation the document refuses: bad size, unknown layer, invalid label id, ..."""


class LayerLockedError(DocumentError):
    """The layer is locked against pixel edits and moves."""


class OraError(DocumentError):
    """An OpenRaster file cannot be read or written; the message names the problem."""
