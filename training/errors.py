"""Typed errors raised by the training package.

Every failure a user can cause (a missing weights file, a wrong option, unusable inputs to a
metric) is one of these, with a message that names the problem; ``str(error)`` is meant to be
shown as it is.
"""


class TrainingError(Exception):
    """Base class of every error the training package raises on purpose."""


class WeightsFileError(TrainingError):
    """A user-supplied weights file (VGG19 for the perceptual loss, Inception-v3 for FID) is
    missing, unreadable, or does not fit the network."""


class GeneratorCollapsed(TrainingError):
    """A ConSinGAN stage ended with a generator whose samples are one flat colour (its tanh
    saturated): training on from there cannot recover, so the run stops and says how to retry."""


class TrainingOutOfMemory(TrainingError):
    """The training device ran out of memory; the last checkpoint is kept, so the run can go on
    (on the CPU, or once memory is free)."""
