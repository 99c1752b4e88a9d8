"""The explicit list of architectures gauapp can build, import and save.

Each architecture module exposes one ``ARCHITECTURE`` object; adding a network means adding it to
``_ALL`` below. No name-based imports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from .bundle import ModelBundle
from .checkpoint import load_strict, sub_state
from .errors import UnknownArchitectureError

Options = dict[str, Any]
State = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Architecture:
    """How to build one kind of network and recognise its official checkpoints.

    - ``build(options)`` returns the named networks (``{"G": generator, "E": encoder}``) with
      random weights;
    - ``detect(state)`` returns the options read off an official state dict's keys and shapes, or
      None when the state dict is not of this architecture;
    - ``from_official(state, options)`` returns the state dict in our layout (``"G.*"`` keys...),
      e.g. with spectral norm folded or stale keys dropped.
    """

    name: str
    kind: str  # "label2image" | "image2image" | "single_image"
    description: str
    build: Callable[[Options], dict[str, nn.Module]]
    detect: Callable[[State], Options | None]
    from_official: Callable[[State, Options], "dict[str, torch.Tensor]"]


def _all() -> tuple[Architecture, ...]:
    # Imported here so that importing the registry stays cheap and free of cycles.
    from .spade.architecture import ARCHITECTURE as spade
    # --- other architectures register below (one line each) ---
    from .pix2pix import ARCHITECTURE as pix2pix
    from .pix2pixhd import GLOBAL_ARCHITECTURE as pix2pixhd_global
    from .pix2pixhd import LOCAL_ARCHITECTURE as pix2pixhd_local
    from .consingan.architecture import ARCHITECTURE as consingan
    return (spade, pix2pix, pix2pixhd_global, pix2pixhd_local, consingan)


def architectures() -> dict[str, Architecture]:
    return {a.name: a for a in _all()}


def get_architecture(name: str) -> Architecture:
    table = architectures()
    if name not in table:
        raise UnknownArchitectureError(
            f"unknown architecture {name!r}; this version knows: {', '.join(sorted(table))}")
    return table[name]


def build_networks(bundle: ModelBundle, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> dict[str, nn.Module]:
    """Build the bundle's networks, load its weights strictly, and put them in eval mode."""
    arch = get_architecture(bundle.architecture)
    nets = arch.build(bundle.options)
    for name, net in nets.items():
        load_strict(net, sub_state(bundle.state, name), f"{bundle.architecture} network {name}")
        net.eval().requires_grad_(False)
        net.to(device=device, dtype=dtype)
    return nets
