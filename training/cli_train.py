"""``gauapp-train spade | pix2pix | pix2pixhd``: flags named as in the official code, or a TOML
``--config`` file with the same names (flags given on the command line win).

Each option belongs to one or more of three groups: the trainer's options (``model``), the
dataset's (``data``) and the run's (``run``: length, checkpoints, device...).
"""
from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TrainingError

FLAG = "flag"  # a store_true option


@dataclass(frozen=True)
class Opt:
    name: str
    type: Any            # int, float, str, FLAG, or "pair" (two floats)
    default: Any
    help: str
    groups: tuple[str, ...] = ("model",)
    dest: str | None = None      # the key in its group when it differs from the flag name
    choices: tuple | None = None


# ----------------------------------------------------------------------------- shared options
def _run_options(label_kinds: bool) -> list[Opt]:
    kinds = (("paired", "coco-stuff", "ade20k", "cityscapes") if label_kinds
             else ("aligned", "colorization", "unaligned"))
    return [
        Opt("dataroot", "paths", None, "dataset folder (required; colorization takes several)",
            ("meta",)),
        Opt("dataset_mode", str, kinds[0], "dataset layout: " + ", ".join(kinds), ("meta",),
            choices=kinds),
        Opt("phase", str, None, "dataset split to read, for layouts that have splits (official "
            "default: train)", ("data",)),
        Opt("max_dataset_size", int, None, "use at most this many samples", ("data",)),
        Opt("no_flip", FLAG, False, "no random horizontal flips", ("data",)),
        Opt("load_size", int, None, "resize images to this size before cropping "
            "(official defaults: 286 for 256 crops)", ("data",)),
        Opt("scale_augment", "pair", None, "random extra scale range LO HI before the crop "
            "(for small datasets)", ("data",)),
        Opt("checkpoints_dir", str, "checkpoints", "parent folder of runs", ("meta",)),
        Opt("name", str, "experiment", "run name: outputs go to checkpoints_dir/name", ("meta",)),
        Opt("batchSize", int, 1, "input batch size (per process under torchrun)", ("run",),
            dest="batch_size"),
        Opt("nThreads", int, 0, "data loading worker processes", ("run",), dest="num_workers"),
        Opt("seed", int, 0, "seed of weights, data order and augmentation", ("run", "data")),
        Opt("steps", int, None, "stop after this many steps (default: niter + niter_decay "
            "epochs)", ("run",)),
        Opt("save_latest_freq", int, 1000, "write a checkpoint every N steps", ("run",),
            dest="save_every"),
        Opt("display_freq", int, 500, "write a sample grid (input | output | target) every N "
            "steps; 0: never", ("run",), dest="sample_every"),
        Opt("print_freq", int, 100, "log the mean losses every N steps", ("run",),
            dest="log_every"),
        Opt("keep_checkpoints", int, 2, "checkpoints kept (newest); 0 keeps all", ("run",)),
        Opt("continue_train", FLAG, False, "resume from the newest checkpoint of this run",
            ("meta",)),
        Opt("resume", str, None, "resume from this checkpoint file or run folder", ("run",)),
        Opt("device", str, "auto", "auto, cpu, cuda or cuda:N", ("run",)),
        Opt("amp", FLAG, False, "mixed precision (CUDA only)", ("run",)),
        Opt("ema", float, None, "keep and export an exponential moving average of G with "
            "this decay (e.g. 0.999)", ("run",)),
        Opt("output", str, None, "model file to write (default: the run folder's "
            "model.safetensors)", ("meta",)),
        Opt("license", str, "", "licence of the trained weights, stored in the model file",
            ("run",)),
        Opt("half", FLAG, False, "store the model file in fp16", ("run",)),
        Opt("travel", FLAG, False, "write small travel checkpoints (fp16, only what training "
            "changed, no optimizer moments) to carry between machines", ("run",)),
    ]


_GAN_FEAT = [
    Opt("lambda_feat", float, 10.0, "weight of the discriminator feature-matching loss"),
    Opt("no_ganFeat_loss", FLAG, False, "no feature-matching loss"),
    Opt("no_vgg_loss", FLAG, False, "no VGG perceptual loss"),
    Opt("vgg_weights", str, None, "torchvision VGG19 weights file for the perceptual loss "
        "(without it the VGG loss is skipped with a warning)"),
]
_LABELS = [
    Opt("labelset", str, None, "label set of the label maps: coco-stuff, ade20k, cityscapes, "
        "landscape or a JSON file", ("model", "data")),
    Opt("label_nc", int, None, "number of classes without dontcare (default: from the label "
        "set)"),
    Opt("contain_dontcare_label", FLAG, None, "the one-hot has a dontcare channel (default: "
        "from the label set)"),
    Opt("no_instance", FLAG, False, "no instance-edge input channel", ("model", "data")),
]
_SCHEDULE = [
    Opt("niter", int, None, "epochs at the starting learning rate"),
    Opt("niter_decay", int, None, "epochs of linear decay of the learning rate to zero"),
    Opt("lr", float, 0.0002, "initial Adam learning rate"),
    Opt("beta1", float, None, "Adam beta1"),
]


def _spade_options() -> list[Opt]:
    return _run_options(True) + _LABELS + _SCHEDULE + _GAN_FEAT + [
        Opt("crop_size", int, 256, "crop size (the output width)", ("model", "data")),
        Opt("aspect_ratio", float, 1.0, "width / height of the crops", ("model", "data")),
        Opt("preprocess_mode", str, "resize_and_crop", "resize_and_crop, scale_width_and_crop, "
            "scale_shortside_and_crop, fixed, none...", ("data",)),
        Opt("ngf", int, 64, "generator width"),
        Opt("ndf", int, 64, "discriminator width"),
        Opt("num_D", int, 2, "discriminator scales"),
        Opt("n_layers_D", int, 4, "layers of each discriminator"),
        Opt("norm_G", str, "spectralspadesyncbatch3x3", "generator norm"),
        Opt("norm_D", str, "spectralinstance", "discriminator norm"),
        Opt("norm_E", str, "spectralinstance", "encoder norm"),
        Opt("num_upsampling_layers", str, "normal", "normal, more or most", choices=(
            "normal", "more", "most")),
        Opt("use_vae", FLAG, False, "train a style encoder (VAE, KL loss)"),
        Opt("z_dim", int, 256, "style latent size"),
        Opt("beta2", float, None, "Adam beta2 (default 0.9 with TTUR, 0.999 without)"),
        Opt("no_TTUR", FLAG, False, "same learning rate for G and D (default: G lr/2, D 2*lr)"),
        Opt("gan_mode", str, "hinge", "hinge, ls or original"),
        Opt("lambda_vgg", float, 10.0, "weight of the VGG loss"),
        Opt("lambda_kld", float, 0.05, "weight of the KL loss (use_vae)"),
        Opt("lambda_l1", float, 0.0, "weight of an L1 loss to the photo (not in the official "
            "code; 0 = off): a stand-in for the VGG loss where no VGG weights are available"),
        Opt("init_type", str, "xavier", "weight initialisation: xavier, normal, kaiming"),
        Opt("init_variance", float, 0.02, "gain of the initialisation"),
    ]


def _pix2pix_options() -> list[Opt]:
    return _run_options(False) + _SCHEDULE + [
        Opt("direction", str, "AtoB", "AtoB or BtoA", ("data",), choices=("AtoB", "BtoA")),
        Opt("preprocess", str, "resize_and_crop", "resize_and_crop, crop, scale_width, "
            "scale_width_and_crop, none", ("data",)),
        Opt("crop_size", int, 256, "crop size (the model's resolution)", ("model", "data")),
        Opt("input_nc", int, 3, "input channels (colorization: 1)", ("model", "data")),
        Opt("output_nc", int, 3, "output channels (colorization: 2)", ("model", "data")),
        Opt("ngf", int, 64, "generator width"),
        Opt("ndf", int, 64, "discriminator width"),
        Opt("netG", str, "unet_256", "unet_256, unet_128, unet_<N>, resnet_9blocks, "
            "resnet_6blocks"),
        Opt("netD", str, "basic", "basic (70x70 PatchGAN) or n_layers"),
        Opt("n_layers_D", int, 3, "layers of the n_layers discriminator"),
        Opt("norm", str, "batch", "batch, instance or none"),
        Opt("no_dropout", FLAG, False, "no dropout in the generator"),
        Opt("gan_mode", str, "vanilla", "vanilla, lsgan or hinge"),
        Opt("lambda_L1", float, 100.0, "weight of the L1 loss"),
        Opt("init_type", str, "normal", "weight initialisation: normal, xavier, kaiming"),
        Opt("init_gain", float, 0.02, "gain of the initialisation"),
    ]


def _pix2pixhd_options() -> list[Opt]:
    return _run_options(True) + _LABELS + _SCHEDULE + _GAN_FEAT + [
        Opt("crop_size", int, 512, "crop size (width)", ("data",)),
        Opt("aspect_ratio", float, 1.0, "width / height of the crops", ("data",)),
        Opt("preprocess_mode", str, "scale_width", "resize_and_crop, scale_width, "
            "scale_width_and_crop, fixed, none...", ("data",)),
        Opt("netG", str, "global", "global, then local", choices=("global", "local")),
        Opt("ngf", int, None, "generator width (global 64, local 32)"),
        Opt("n_downsample_global", int, 4, "downsamplings of the global generator"),
        Opt("n_blocks_global", int, 9, "residual blocks of the global generator"),
        Opt("n_local_enhancers", int, 1, "local enhancers (netG local)"),
        Opt("n_blocks_local", int, 3, "residual blocks of each local enhancer"),
        Opt("niter_fix_global", int, 0, "epochs training only the local enhancer"),
        Opt("load_global", str, None, "trained global generator (model file or official "
            "*_net_G.pth) to initialise the local enhancer's global part"),
        Opt("norm", str, "instance", "instance or batch"),
        Opt("ndf", int, 64, "discriminator width"),
        Opt("num_D", int, 2, "discriminator scales"),
        Opt("n_layers_D", int, 3, "layers of each discriminator"),
        Opt("no_lsgan", FLAG, False, "vanilla GAN loss instead of LSGAN"),
        Opt("init_type", str, "normal", "weight initialisation: normal, xavier, kaiming"),
        Opt("init_gain", float, 0.02, "gain of the initialisation"),
    ]


COMMANDS = {
    "spade": (_spade_options, "train a SPADE (GauGAN) label -> image model",
              dict(niter=50, niter_decay=0, beta1=None)),
    "pix2pix": (_pix2pix_options, "train a pix2pix image -> image model",
                dict(niter=100, niter_decay=100, beta1=0.5)),
    "pix2pixhd": (_pix2pixhd_options, "train a pix2pixHD label -> image model (global, then "
                  "local)", dict(niter=100, niter_decay=100, beta1=0.5, load_size=1024)),
}


# ----------------------------------------------------------------------------- parser
_EPILOG = ("Several GPUs: torchrun --nproc_per_node N -m training.cli {cmd} ... (one process "
           "per GPU; --batchSize is per process; only rank 0 writes files). Ctrl+C writes a "
           "checkpoint and stops; --continue_train (or --resume PATH) goes on bit-exactly.")
_SECTIONS = {"data": "dataset", "run": "run", "model": "model"}
_DATA_META = ("dataroot", "dataset_mode")


def add_train_commands(sub, parser_class) -> None:
    for command, (specs, summary, official) in COMMANDS.items():
        p = sub.add_parser(command, help=summary, argument_default=argparse.SUPPRESS,
                           description=summary + ". Options are named as in the official code; "
                           "--config FILE.toml sets any of them (same names), flags override it.",
                           epilog=_EPILOG.format(cmd=command))
        p.add_argument("--config", type=Path, help="TOML file of options (flags override it)")
        sections = {k: p.add_argument_group(f"{v} options") for k, v in _SECTIONS.items()}
        for o in specs():
            group = o.groups[0] if o.groups[0] != "meta" else (
                "data" if o.name in _DATA_META else "run")
            default = official.get(o.name, o.default)
            shown = not (default is None or default is False or default == "")
            text = o.help + (f" (default: {default})" if shown else "")
            flag, target = "--" + o.name, sections[group]
            if o.type == FLAG:
                target.add_argument(flag, action="store_true", help=text)
            elif o.type == "pair":
                target.add_argument(flag, type=float, nargs=2, metavar=("LO", "HI"), help=text)
            elif o.type == "paths":
                target.add_argument(flag, nargs="+", metavar="DIR", help=text)
            else:
                target.add_argument(flag, type=o.type, choices=o.choices, help=text,
                                    metavar=o.name.upper() if o.choices is None else None)


def _check_config_value(command: str, o: Opt, value: Any) -> Any:
    def bad(kind: str) -> TrainingError:
        return TrainingError(f"config option {o.name!r} must be {kind}, got {value!r}")

    if o.type == FLAG:
        if not isinstance(value, bool):
            raise bad("true or false")
    elif o.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif o.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        value = float(value)
    elif o.type == "pair":
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, (int, float)) for v in value)):
            raise bad("a list of two numbers")
    elif o.type == "paths":
        if not (isinstance(value, str) or (isinstance(value, list) and value
                                           and all(isinstance(v, str) for v in value))):
            raise bad("a folder or a list of folders")
    elif not isinstance(value, str):
        raise bad("a string")
    if o.choices and value not in o.choices:
        raise bad("one of " + ", ".join(o.choices))
    return value


# Options a curriculum part may change: what the network sees and how long, never its shape.
CURRICULUM_KEYS = ("steps", "crop_size", "load_size", "scale_augment", "preprocess_mode",
                   "no_flip", "batchSize", "save_latest_freq", "display_freq")


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise TrainingError(f"{path}: not a valid TOML file ({exc})") from None


def _check_values(command: str, path: Path, data: dict[str, Any]) -> dict[str, Any]:
    specs = {o.name: o for o in COMMANDS[command][0]()}
    out = {}
    for key, value in data.items():
        if key not in specs:
            raise TrainingError(f"{path}: unknown option {key!r} for {command}")
        out[key] = _check_config_value(command, specs[key], value)
    return out


def read_config(command: str, path: Path, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Option values from a TOML file (or its already parsed ``data``): top-level keys, or a
    ``[<command>]`` table (the ``[[curriculum]]`` parts are read by ``read_curriculum``)."""
    data = dict(_load_toml(path) if data is None else data)
    if isinstance(data.get(command), dict):
        data = {**{k: v for k, v in data.items() if not isinstance(v, dict)}, **data[command]}
    data.pop("curriculum", None)
    return _check_values(command, path, data)


def read_curriculum(command: str, path: Path) -> list[dict[str, Any]]:
    """The ``[[curriculum]]`` parts of a config: each continues the run until its own
    ``steps`` with some data and run options changed (e.g. larger crops once the classes'
    colours are learnt), resuming from the checkpoint the part before ended with."""
    data = _load_toml(path)
    parts = data.get("curriculum", [])
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise TrainingError(f"{path}: 'curriculum' must be a list of tables ([[curriculum]])")
    out, last = [], read_config(command, path, data).get("steps")
    for n, part in enumerate(parts, 1):
        wrong = sorted(set(part) - set(CURRICULUM_KEYS))
        if wrong:
            raise TrainingError(f"{path}: curriculum part {n} sets {', '.join(wrong)}; a part may "
                                f"only set {', '.join(CURRICULUM_KEYS)}")
        steps = part.get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool) or last is None \
                or steps <= last:
            raise TrainingError(f"{path}: curriculum part {n} needs steps (a whole number) beyond "
                                f"the step the part before ends at ({last})")
        out.append(_check_values(command, path, part))
        last = steps
    return out


def collect(command: str, args: argparse.Namespace,
            part: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Config file, then a curriculum ``part``, then command-line flags, split into the model /
    data / run / meta groups."""
    given = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    values = read_config(command, args.config) if getattr(args, "config", None) else {}
    values.update(part or {})
    values.update(given)
    groups: dict[str, dict[str, Any]] = {"model": {}, "data": {}, "run": {}, "meta": {}}
    official = COMMANDS[command][2]
    for o in COMMANDS[command][0]():
        value = values.get(o.name, official.get(o.name, o.default))
        for g in o.groups:
            groups[g][o.dest or o.name] = value
    return groups


def run_command(command: str, args: argparse.Namespace) -> int:
    config = getattr(args, "config", None)
    curriculum = read_curriculum(command, config) if config else []
    clash = sorted({k for part in curriculum for k in part} & set(vars(args)))
    if clash:
        raise TrainingError(f"--{clash[0]} is set by the config's curriculum parts; change it "
                            "there, not on the command line")
    result = _run_part(command, collect(command, args))
    for part in curriculum:
        if result.interrupted:
            break
        g = collect(command, args, part)
        # go on from the checkpoint the part before ended with (the newest one when that part
        # had nothing left to train, on --continue_train)
        g["run"]["resume"] = str(result.checkpoint) if result.checkpoint else "auto"
        result = _run_part(command, g)
    if result.model_file is not None:
        state = "interrupted" if result.interrupted else "done"
        print(f"{state} at step {result.step}: model {result.model_file}, checkpoint "
              f"{result.checkpoint}")
    return 130 if result.interrupted else 0


def _run_part(command: str, g: dict[str, dict[str, Any]]):
    from .data import build_dataset
    from .loop import RunOptions, run

    meta, model, data, run_opts = g["meta"], g["model"], g["data"], g["run"]
    if not meta.get("dataroot"):
        raise TrainingError("give --dataroot (or dataroot in the config file)")
    trainer = make_trainer(command, {k: v for k, v in model.items() if v is not None})
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    data.setdefault("grid", trainer_grid(trainer))
    if command == "pix2pix" and meta["dataset_mode"] == "colorization":
        data.pop("input_nc", None), data.pop("output_nc", None), data.pop("direction", None)
    dataroot = meta["dataroot"]
    if isinstance(dataroot, list) and len(dataroot) == 1:
        dataroot = dataroot[0]
    dataset = build_dataset(meta["dataset_mode"], dataroot, **data)
    out_dir = Path(meta["checkpoints_dir"]) / meta["name"]
    opts = RunOptions(out_dir=out_dir, dataset_path=str(dataroot),
                      **{k: v for k, v in run_opts.items() if v is not None})
    if meta.get("output"):  # absolute, so that it does not land inside the run folder
        opts.model_name = str(Path(meta["output"]).resolve())
    if meta.get("continue_train") and opts.resume is None:
        opts.resume = "auto"
    if opts.steps is None:
        opts.epochs = int(trainer.options["niter"]) + int(trainer.options["niter_decay"])
    return run(trainer, dataset, opts)


def make_trainer(command: str, options: dict[str, Any]):
    if command == "spade":
        from .spade import SPADETrainer
        return SPADETrainer(options)
    if command == "pix2pix":
        from .pix2pix import Pix2PixTrainer
        return Pix2PixTrainer(options)
    from .pix2pixhd import Pix2PixHDTrainer
    return Pix2PixHDTrainer(options)


def trainer_grid(trainer) -> int:
    """Multiple of which 'preprocess none' sizes must be, so every sample fits the generator."""
    o = trainer.options
    if trainer.family == "spade":
        return trainer.spade_options.grid
    if trainer.family == "pix2pixhd":
        return 2 ** (int(o["n_downsample_global"]) + int(o["n_local_enhancers"]))
    from .pix2pix import _generator_options
    g = _generator_options(o)
    return 2 ** int(g["num_downs"]) if "num_downs" in g else (
        256 if g["netG"] == "unet_256" else 128 if g["netG"] == "unet_128" else 4)
