"""``gauapp-train``: the command line of the training package.

Sub-commands: ``spade``, ``pix2pix``, ``pix2pixhd`` (training, ``training.cli_train``), ``eval``
and ``sample`` (``training.cli_tools``), ``convert`` (official checkpoint -> our model file),
``models`` (the model library, ``training.cli_models``), ``consingan`` (one-image training,
``training.consingan.cli``) and ``info``. Every user error ends
as one line ``gauapp-train <cmd>: error: ...`` and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.errors import ModelError

from .errors import TrainingError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: message``) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_convert(sub) -> None:
    p = sub.add_parser(
        "convert", help="turn an official checkpoint (or ConSinGAN folder) into a gauapp model file",
        description="Read an official SPADE latest_net_G.pth (its latest_net_E.pth beside it is "
                    "picked up for VAE models), a pix2pix or pix2pixHD *_net_G.pth, or a ConSinGAN "
                    "model folder, and write one .safetensors model file that holds the weights, "
                    "the architecture options, the label set, provenance and licence. Files are "
                    "read with torch.load(weights_only=True): a file that holds code is refused.")
    p.add_argument("source", type=Path, help="official checkpoint file or ConSinGAN model folder")
    p.add_argument("-o", "--output", type=Path,
                   help="model file to write (default: SOURCE with .safetensors)")
    p.add_argument("--labelset", help="label set: coco-stuff, ade20k, cityscapes, landscape or a "
                   "JSON file (default: recognised from the channel count)")
    p.add_argument("--label_nc", type=int, help="SPADE/pix2pixHD: number of classes (without dontcare)")
    p.add_argument("--contain_dontcare_label", type=_bool, metavar="BOOL",
                   help="SPADE: whether the one-hot input has a dontcare channel")
    p.add_argument("--no_instance", type=_bool, metavar="BOOL",
                   help="SPADE/pix2pixHD: true when the model takes no instance-edge channel")
    p.add_argument("--crop_size", type=int, help="SPADE: training crop size (native width)")
    p.add_argument("--aspect_ratio", type=float, help="SPADE: width / height at training")
    p.add_argument("--num_upsampling_layers", choices=["normal", "more", "most"],
                   help="SPADE: cannot be read from the weights (cityscapes: more)")
    p.add_argument("--license", help="licence of the weights, stored in the file")
    p.add_argument("--half", action="store_true", help="store weights in fp16 (half the size)")
    p.add_argument("--check", action="store_true",
                   help="after writing, reload the file and compare its output with the source's")


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def cmd_convert(args) -> int:
    from models.importers import import_model
    from models.modelfile import save_model_file

    hint_names = ("label_nc", "contain_dontcare_label", "no_instance", "crop_size",
                  "aspect_ratio", "num_upsampling_layers", "labelset", "license")
    hints = {k: getattr(args, k) for k in hint_names if getattr(args, k) is not None}
    bundle = import_model(args.source, hints)
    out = args.output or args.source.with_suffix(".safetensors")
    if args.source.is_dir() and args.output is None:
        out = args.source.parent / (args.source.name + ".safetensors")
    save_model_file(bundle, out, half=args.half)
    print(f"{args.source} -> {out}: {bundle.architecture}, "
          f"{sum(t.numel() for t in bundle.state.values()) / 1e6:.2f} M values, "
          f"label set {bundle.labelset.name if bundle.labelset else 'none'}")
    if args.check:
        from models.verify import compare_bundles
        from models.modelfile import load_model_file

        diff = compare_bundles(bundle, load_model_file(out))
        tol = 1e-2 if args.half else 1e-5
        print(f"check: max |difference| of outputs = {diff:.3g} (tolerance {tol:g})")
        if diff > tol:
            return 1
    return 0


def cmd_info(args) -> int:
    from models.importers import import_model

    bundle = import_model(args.source)
    info = {"architecture": bundle.architecture, "options": bundle.options,
            "labelset": bundle.labelset.name if bundle.labelset else None,
            "classes": len(bundle.labelset) if bundle.labelset else None,
            "provenance": bundle.provenance, "license": bundle.license,
            "tensors": len(bundle.state),
            "parameters": sum(t.numel() for t in bundle.state.values())}
    print(json.dumps(info, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .cli_tools import add_tool_commands
    from .cli_train import add_train_commands

    parser = _Parser(
        prog="gauapp-train",
        description="Train, convert and inspect gauapp models (SPADE, pix2pix, pix2pixHD, "
                    "ConSinGAN).")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_commands(sub, _Parser)
    add_tool_commands(sub)
    _add_convert(sub)
    from .cli_models import add_models_command
    add_models_command(sub)
    from .consingan.cli import add_consingan_command
    add_consingan_command(sub)
    p = sub.add_parser("info", help="print what a model file or official checkpoint holds")
    p.add_argument("source", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    import logging

    from .cli_tools import cmd_eval, cmd_sample
    from .cli_train import COMMANDS, run_command

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    handlers = {"convert": cmd_convert, "info": cmd_info, "eval": cmd_eval,
                "sample": cmd_sample}
    from .cli_models import cmd_models
    handlers["models"] = cmd_models
    from .consingan.cli import cmd_consingan
    handlers["consingan"] = cmd_consingan
    try:
        if args.command in COMMANDS:
            return run_command(args.command, args)
        return handlers[args.command](args)
    except (ModelError, TrainingError) as exc:
        message = " ".join(str(exc).split())  # one line, even for multi-line messages
        print(f"gauapp-train {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:
        from models.devices import is_out_of_memory

        if not is_out_of_memory(exc):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        go_on = ("--continue" if args.command == "consingan" else "--continue_train")
        print(f"gauapp-train {args.command}: error: out of memory ({first}). Train smaller "
              f"(batch size, crop or image size) or on another device; a run with checkpoints "
              f"goes on from the last one with {go_on}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
