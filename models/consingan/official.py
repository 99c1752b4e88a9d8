"""Official ConSinGAN model folders: import and export.

An official folder (``TrainedModels/<image>/<timestamp>_.../``) holds ``parameters.txt``
(``key\\t-\\tvalue`` lines), per stage ``<d>/netG.pth`` and ``<d>/netD.pth`` (state dicts; the
last stage's netG is the full generator), ``fixed_noise.pth``, ``reals.pth`` (lists of tensors),
``noise_amp.pth`` (a list: python int 1, then 0-dim tensors) and ``G.pth``, a pickled module.

Everything is read with ``torch.load(weights_only=True)``; ``G.pth`` is never opened. Export
writes the same layout (without ``G.pth``), so code that reads the state dicts and lists can use it.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from ..checkpoint import load_strict, load_torch_object, read_tensors, strip_prefixes
from ..errors import CheckpointError, InputError
from .model import ConSinGANModel, normalize_options
from .network import Discriminator, GrowingGenerator

PARAMETERS = "parameters.txt"
DATA_FILES = ("fixed_noise.pth", "noise_amp.pth", "reals.pth")
PICKLED_MODULE = "G.pth"
_LOOSE_LINE = re.compile(r"^(\S+)\s+-(?:\s+|$)(.*)$")
# Official parameter names that become model options (the rest is kept for export only).
_OPTION_KEYS = ("nfc", "num_layer", "ker_size", "padd_size", "nc_im", "activation", "lrelu_alpha",
                "batch_norm", "train_mode", "min_size", "max_size", "train_depth", "lr_scale",
                "noise_amp_init")


@dataclass
class OfficialFolder:
    """The data of an official folder, as read (no network built yet)."""

    path: Path
    parameters: dict[str, Any]
    generator_state: "OrderedDict[str, torch.Tensor]"  # the last stage's netG.pth
    fixed_noise: list[torch.Tensor]
    noise_amp: list[float]
    reals: list[torch.Tensor]
    last_stage: int


# ----- parameters.txt -------------------------------------------------------------------------
def _parse_value(text: str):
    # As the official load_config: int, else float, else the string; plus booleans and None.
    # Underscores (Python accepts "2026_11_23" as an int) keep the text, e.g. the timestamp.
    if "_" in text:
        return text
    for cast in (int, float):
        try:
            value = cast(text)
        except ValueError:
            continue
        return value if not (isinstance(value, float) and not math.isfinite(value)) else text
    return {"True": True, "False": False, "None": None}.get(text, text)


def parse_parameters(path: str | Path) -> dict[str, Any]:
    """``parameters.txt`` -> {name: value}. Lines are ``name\\t-\\tvalue``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (an official ConSinGAN folder has one)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc})") from None
    params: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "\t-\t" in line:
            name, value = line.split("\t-\t", 1)
        elif (match := _LOOSE_LINE.match(line)) is not None:  # hand-edited files
            name, value = match.groups()
        else:
            raise CheckpointError(f"{path}: line {number} is not 'name<TAB>-<TAB>value': {line!r}")
        params[name.strip()] = _parse_value(value.strip())
    if "train_mode" not in params:
        raise CheckpointError(f"{path}: no train_mode; not a ConSinGAN parameters file")
    return params


def format_parameters(params: Mapping[str, Any]) -> str:
    lines = []
    for name, value in params.items():
        if isinstance(value, bool):
            value = int(value)  # official load_config reads "False" as a (truthy) string
        lines.append(f"{name}\t-\t{'' if value is None else value}\n")
    return "".join(lines)


# ----- reading --------------------------------------------------------------------------------
def _load_list(path: Path, what: str) -> list:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (the model's {what})")
    obj = load_torch_object(path)
    if not isinstance(obj, (list, tuple)) or not obj:
        raise CheckpointError(f"{path}: expected a non-empty list ({what}), found "
                              f"{type(obj).__name__}")
    return list(obj)


def _tensor_list(path: Path, what: str, channels: int | None = None) -> list[torch.Tensor]:
    items = _load_list(path, what)
    for i, t in enumerate(items):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[0] != 1:
            raise CheckpointError(f"{path}: item {i} is not a 1xCxHxW tensor ({what})")
        if channels is not None and t.shape[1] != channels:
            raise CheckpointError(f"{path}: item {i} has {t.shape[1]} channels, expected {channels}")
    return [t.to(torch.float32) for t in items]


def _amp_list(path: Path) -> list[float]:
    amps = []
    for i, a in enumerate(_load_list(path, "noise amplitudes")):
        if isinstance(a, torch.Tensor) and a.numel() == 1:
            a = a.item()
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
            raise CheckpointError(f"{path}: item {i} is not a number ({type(a).__name__})")
        amps.append(float(a))
    return amps


def stage_dirs(folder: Path) -> list[int]:
    """The stage numbers that have a ``<d>/netG.pth``, sorted."""
    return sorted(int(p.name) for p in folder.iterdir()
                  if p.is_dir() and p.name.isdigit() and (p / "netG.pth").is_file())


def read_folder(path: str | Path) -> OfficialFolder:
    """Read an official model folder's data files (never ``G.pth``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder")
    if not (folder / PARAMETERS).is_file() and (folder / PICKLED_MODULE).is_file():
        raise CheckpointError(
            f"{folder}: only a G.pth (a pickled module, which is never loaded: it could run code). "
            f"Importing needs the folder's data files: {PARAMETERS}, <stage>/netG.pth, "
            + ", ".join(DATA_FILES))
    params = parse_parameters(folder / PARAMETERS)
    stages = stage_dirs(folder)
    if not stages:
        raise CheckpointError(f"{folder}: no <stage>/netG.pth (e.g. {folder / '0' / 'netG.pth'})")
    last = stages[-1]
    fixed_noise = _tensor_list(folder / "fixed_noise.pth", "fixed noise")
    reals = _tensor_list(folder / "reals.pth", "pyramid of real images", channels=3)
    amps = _amp_list(folder / "noise_amp.pth")
    n = last + 1
    for name, items in (("fixed_noise.pth", fixed_noise), ("reals.pth", reals),
                        ("noise_amp.pth", amps)):
        if len(items) != n:
            raise CheckpointError(f"{folder / name}: {len(items)} entries, but the last stage is "
                                  f"{last}/netG.pth ({n} stages)")
    state = strip_prefixes(read_tensors(folder / str(last) / "netG.pth"))
    return OfficialFolder(folder, params, state, fixed_noise, amps, reals, last)


def options_from_folder(data: OfficialFolder) -> dict[str, Any]:
    """Model options from parameters.txt, checked against what the tensors say."""
    p = data.parameters
    opts = {k: p[k] for k in _OPTION_KEYS if k in p and p[k] is not None and p[k] != ""}
    if "noise_amp_init" not in opts and isinstance(p.get("noise_amp"), (int, float)):
        opts["noise_amp_init"] = p["noise_amp"]
    state = data.generator_state
    # The weights are the truth where they can tell (a hand-edited parameters.txt may not be).
    head = state.get("head.conv.weight")
    if head is None:
        raise CheckpointError(f"{data.path}: netG.pth has no head.conv.weight; not a ConSinGAN "
                              "generator")
    opts["nfc"], opts["ker_size"] = int(head.shape[0]), int(head.shape[-1])
    opts["batch_norm"] = "head.norm.weight" in state
    opts["num_layer"] = sum(1 for k in state if k.startswith("body.0.block") and
                            k.endswith(".conv.weight"))
    opts["reals_shapes"] = [[int(r.shape[2]), int(r.shape[3])] for r in data.reals]
    opts["official_parameters"] = {k: v for k, v in p.items()}
    try:
        return normalize_options(opts)
    except InputError as exc:
        raise CheckpointError(f"{data.path / PARAMETERS}: {exc}") from None


def model_from_folder(data: OfficialFolder) -> ConSinGANModel:
    model = ConSinGANModel(options_from_folder(data))
    load_strict(model.generator, data.generator_state,
                f"ConSinGAN generator {data.path / str(data.last_stage) / 'netG.pth'}")
    for k, (t, buf) in enumerate(zip(data.fixed_noise, model.fixed_noise)):
        if tuple(t.shape) != tuple(buf.shape):
            raise CheckpointError(f"{data.path / 'fixed_noise.pth'}: item {k} has shape "
                                  f"{tuple(t.shape)}, expected {tuple(buf.shape)} for "
                                  f"train_mode {model.train_mode}")
    model.set_data(data.fixed_noise, data.reals, data.noise_amp)
    return model.eval()


def load_folder(path: str | Path) -> ConSinGANModel:
    """An official folder as a ready ``ConSinGANModel`` (eval mode)."""
    return model_from_folder(read_folder(path))


def load_stage_networks(path: str | Path, stage: int, options: Mapping[str, Any]):
    """(generator, discriminator) of one stage's ``<stage>/netG.pth``/``netD.pth``, loaded strictly
    (the trainer resumes from these)."""
    folder = Path(path)
    opt = normalize_options(dict(options))
    args = dict(nfc=opt["nfc"], num_layer=opt["num_layer"], ker_size=opt["ker_size"],
                padd_size=opt["padd_size"], nc_im=opt["nc_im"], activation=opt["activation"],
                lrelu_alpha=opt["lrelu_alpha"])
    G = GrowingGenerator(**args, batch_norm=opt["batch_norm"], train_mode=opt["train_mode"],
                         num_stages=stage + 1)
    D = Discriminator(**args)
    for net, name in ((G, "netG.pth"), (D, "netD.pth")):
        file = folder / str(stage) / name
        load_strict(net, strip_prefixes(read_tensors(file)), f"ConSinGAN {file}")
    return G, D


# ----- writing --------------------------------------------------------------------------------
def _stage_generator_state(model: ConSinGANModel, stage: int) -> "OrderedDict[str, torch.Tensor]":
    # The generator as it would be after `stage`: body stages beyond it dropped.
    out = OrderedDict()
    for k, v in model.generator.state_dict().items():
        if k.startswith("body.") and int(k.split(".")[1]) > stage:
            continue
        out[k] = v.detach().cpu().clone()
    return out


def export_folder(model: ConSinGANModel, path: str | Path,
                  discriminators: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
                  stage_generators: Sequence[Mapping[str, torch.Tensor] | None] | None = None
                  ) -> Path:
    """Write ``model`` in the official layout (no ``G.pth``).

    ``<d>/netG.pth`` is ``stage_generators[d]`` when given, else the final generator cut to d+1
    stages (the official files hold the generator as it was after stage d, which a finished model
    no longer has); ``<d>/netD.pth`` is written when ``discriminators[d]`` is given.
    """
    folder = Path(path)
    if (folder / PICKLED_MODULE).exists():
        raise CheckpointError(f"{folder}: holds a G.pth that would not match the exported data; "
                              "export into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    n = model.num_stages
    for d in range(n):
        stage = folder / str(d)
        stage.mkdir(exist_ok=True)
        g = stage_generators[d] if stage_generators and stage_generators[d] is not None \
            else _stage_generator_state(model, d)
        torch.save(OrderedDict(g), stage / "netG.pth")
        if discriminators and discriminators[d] is not None:
            torch.save(OrderedDict(discriminators[d]), stage / "netD.pth")
    cpu = [t.detach().cpu().clone() for t in model.fixed_noise]
    torch.save(cpu, folder / "fixed_noise.pth")
    torch.save([t.detach().cpu().clone() for t in model.reals], folder / "reals.pth")
    amps = model.noise_amp.detach().cpu().to(torch.float32)
    torch.save([1] + [amps[k].clone() for k in range(1, n)], folder / "noise_amp.pth")
    (folder / PARAMETERS).write_text(format_parameters(_parameters_for(model)), encoding="utf-8")
    return folder


def _parameters_for(model: ConSinGANModel) -> dict[str, Any]:
    opt = model.options
    params = dict(opt.get("official_parameters") or {})
    for key in _OPTION_KEYS:
        if key in opt:
            params[key] = opt[key]
    params["noise_amp"] = opt.get("noise_amp_init", params.get("noise_amp", 0.1))
    params["train_stages"] = model.num_stages
    params.setdefault("not_cuda", True)
    params.setdefault("naive_img", "")
    params.setdefault("fine_tune", 0)
    return params
