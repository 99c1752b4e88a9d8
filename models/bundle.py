"""ModelBundle: what one model is, independent of where it came from (official file or ours)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch

from .labelsets import LabelSet


@dataclass
class ModelBundle:
    """An architecture name, its options, its weights and what the model means.

    ``state`` keys are ``"<network>.<parameter>"``: ``G.`` for the generator, ``E.`` for SPADE's
    style encoder; ``registry.build_networks`` turns a bundle back into ready modules.
    """

    architecture: str
    options: dict[str, Any]
    state: "OrderedDict[str, torch.Tensor]"
    labelset: LabelSet | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    license: str = ""

    def network_names(self) -> list[str]:
        return sorted({k.split(".", 1)[0] for k in self.state})
