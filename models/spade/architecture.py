"""SPADE in the registry: build from options, recognise official ``latest_net_G/E.pth`` files."""
from __future__ import annotations

from collections import OrderedDict

import torch

from ..checkpoint import strip_prefixes
from ..registry import Architecture
from .encoder import ConvEncoder
from .generator import SPADEGenerator, SPADEOptions
from .norm import fold_spectral_norm

# The official datasets' defaults, recognised by the generator's input channel count.
DATASET_DEFAULTS = {
    184: dict(label_nc=182, contain_dontcare_label=True, no_instance=False, crop_size=256,
              aspect_ratio=1.0, num_upsampling_layers="normal", labelset="coco-stuff"),
    151: dict(label_nc=150, contain_dontcare_label=True, no_instance=True, crop_size=256,
              aspect_ratio=1.0, num_upsampling_layers="normal", labelset="ade20k"),
    36: dict(label_nc=35, contain_dontcare_label=False, no_instance=False, crop_size=512,
             aspect_ratio=2.0, num_upsampling_layers="more", labelset="cityscapes"),
}
_MARKER = "head_0.norm_0.mlp_shared.0.weight"


def build(options: dict) -> dict[str, torch.nn.Module]:
    opt = SPADEOptions.from_dict(options)
    nets = {"G": SPADEGenerator(opt)}
    if opt.use_vae:
        nets["E"] = ConvEncoder(opt.ngf, opt.z_dim, opt.crop_size)
    return nets


def detect(state) -> dict | None:
    """Options read off a generator state dict (official or folded); None if not SPADE."""
    state = strip_prefixes(state)
    if _MARKER not in state:
        return None
    semantic_nc = state[_MARKER].shape[1]
    kernel = state[_MARKER].shape[-1]
    conv0 = state.get("head_0.conv_0.weight_orig", state.get("head_0.conv_0.weight"))
    ngf = conv0.shape[0] // 16
    spectral = "head_0.conv_0.weight_orig" in state
    batch = "head_0.norm_0.param_free_norm.running_mean" in state
    opts = dict(DATASET_DEFAULTS.get(semantic_nc, dict(
        label_nc=semantic_nc, contain_dontcare_label=False, no_instance=True, crop_size=256,
        aspect_ratio=1.0, num_upsampling_layers="normal", labelset=None)))
    opts["ngf"] = int(ngf)
    if "up_4.conv_0.weight" in state or "up_4.conv_0.weight_orig" in state:
        opts["num_upsampling_layers"] = "most"
    opts["norm_G"] = (("spectral" if spectral else "") +
                      ("spadesyncbatch" if batch else "spadeinstance") + f"{kernel}x{kernel}")
    fc = state["fc.weight"]
    opts["use_vae"] = fc.dim() == 2
    if opts["use_vae"]:
        opts["z_dim"] = int(fc.shape[1])
    return opts


def detect_encoder(state) -> bool:
    state = strip_prefixes(state)
    return "fc_mu.weight" in state and ("layer1.0.weight_orig" in state or "layer1.0.weight" in state)


def _clean(state) -> "OrderedDict[str, torch.Tensor]":
    state = fold_spectral_norm(strip_prefixes(state))
    out = OrderedDict()
    for key, value in state.items():
        out[key] = value
        # Files from older torch versions have no num_batches_tracked; the value is unused in eval.
        if key.endswith("param_free_norm.running_var"):
            nbt = key[: -len("running_var")] + "num_batches_tracked"
            if nbt not in state:
                out[nbt] = torch.tensor(0, dtype=torch.long)
    return out


def from_official(state, options: dict, encoder_state=None) -> "OrderedDict[str, torch.Tensor]":
    out = OrderedDict(("G." + k, v) for k, v in _clean(state).items())
    if encoder_state is not None:
        out.update(("E." + k, v) for k, v in _clean(encoder_state).items())
    return out


ARCHITECTURE = Architecture(
    name="spade", kind="label2image",
    description="SPADE semantic image synthesis generator (NVlabs/SPADE), optional VAE encoder",
    build=build, detect=detect, from_official=from_official)
