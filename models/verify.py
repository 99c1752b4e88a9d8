"""Check that two bundles (e.g. an official file and the model file converted from it) compute
the same thing, by running both on the same deterministic probe input."""
from __future__ import annotations

import torch

from .bundle import ModelBundle
from .labelmaps import semantic_input
from .registry import build_networks, get_architecture


def probe_output(bundle: ModelBundle, seed: int = 0) -> torch.Tensor:
    nets = build_networks(bundle)
    G = nets["G"]
    gen = torch.Generator().manual_seed(seed)
    kind = get_architecture(bundle.architecture).kind
    with torch.no_grad():
        if kind == "single_image":
            return G.reconstruct()
        if kind == "image2image":
            from .pix2pix import set_test_mode
            set_test_mode(G, "eval")
            size = int(bundle.options.get("load_size", 256))
            nc = int(bundle.options.get("input_nc", 3))
            return G(torch.rand(1, nc, size, size, generator=gen) * 2 - 1)
        # label to image: a blocky random painting at a small size the model accepts
        if bundle.architecture == "spade":
            opt = G.options
            h, w = opt.native_size
            lc, edges = opt.label_channels, not opt.no_instance
        else:
            lc = int(bundle.options["label_nc"]) + int(bool(bundle.options.get("contain_dontcare_label")))
            edges = not bundle.options.get("no_instance", False)
            g = 2 ** (int(bundle.options.get("n_downsample_global", 4))
                      + int(bundle.options.get("n_local_enhancers", 0)))
            h, w = 2 * g, 4 * g
        coarse = torch.randint(0, lc, (1, 4, 4), generator=gen)
        labels = torch.nn.functional.interpolate(coarse[:, None].float(), size=(h, w))[:, 0].long()
        seg = semantic_input(labels, lc, edges)
        if bundle.architecture == "spade" and G.options.use_vae:
            return G(seg, z=torch.randn(1, G.options.z_dim, generator=gen))
        return G(seg)


def compare_bundles(a: ModelBundle, b: ModelBundle) -> float:
    """max |output(a) - output(b)| on the probe input."""
    return float((probe_output(a).float() - probe_output(b).float()).abs().max())
