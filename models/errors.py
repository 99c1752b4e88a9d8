"""Typed errors raised by the models package.

Every failure a user can cause (a bad file, a wrong input) is one of these, with a message that
names the problem; the app shows ``str(error)`` as it is.
"""


class ModelError(Exception):
    """Base class of every error the models package raises on purpose."""


class CheckpointError(ModelError):
    """A checkpoint or model file cannot be read: missing, truncated, not a checkpoint."""


class UnsafeCheckpointError(CheckpointError):
    """The file is a pickle that would import or run code; it is never unpickled."""


class ArchitectureMismatchError(ModelError):
    """A state dict does not fit the network: lists the keys and shapes that differ."""

    def __init__(self, what: str, missing=(), unexpected=(), shape_mismatches=()):
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.shape_mismatches = list(shape_mismatches)  # (key, file shape, network shape)
        lines = [f"{what}: the weights do not fit the network."]
        if self.shape_mismatches:
            lines.append(f"{len(self.shape_mismatches)} tensor(s) have another shape:")
            lines += [f"  {k}: file {tuple(a)} vs network {tuple(b)}"
                      for k, a, b in self.shape_mismatches[:12]]
        if self.missing:
            lines.append(f"{len(self.missing)} key(s) missing from the file: "
                         + ", ".join(self.missing[:12]) + (" ..." if len(self.missing) > 12 else ""))
        if self.unexpected:
            lines.append(f"{len(self.unexpected)} unexpected key(s) in the file: "
                         + ", ".join(self.unexpected[:12])
                         + (" ..." if len(self.unexpected) > 12 else ""))
        super().__init__("\n".join(lines))


class UnknownArchitectureError(ModelError):
    """A model file or importer names an architecture this version does not know."""


class ModelFileError(CheckpointError):
    """Our .safetensors model file is malformed (metadata missing or inconsistent)."""


class InputError(ModelError, ValueError):
    """An input (label map, image, mask, size) is unusable; the message says why."""


class LabelSetError(ModelError):
    """A label set file is malformed or a label id is outside the set."""
