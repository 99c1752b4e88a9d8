"""``gauapp-train consingan``: train a ConSinGAN on one image, or fine-tune one on a naive image.

    gauapp-train consingan --input_name IMG --train_mode harmonization [--preset fast|standard]
        [--train_stages N --niter N --lr_g X ... (official names)] --out MODEL.safetensors
        [--checkpoint_dir DIR [--continue]] [--export_official DIR] [--device auto]
    gauapp-train consingan --finetune MODEL --naive IMG [--niter 500] --out MODEL.safetensors

Ctrl+C stops after the current iteration and keeps the checkpoint (``--continue`` goes on).
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import fields
from pathlib import Path

from models.consingan.pyramid import TRAIN_MODES

from ..errors import TrainingError
from .settings import PRESETS, TrainSettings

_OURS = ("preset", "train_mode")


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_consingan_command(sub) -> None:
    p = sub.add_parser(
        "consingan", help="train a ConSinGAN on one image (or fine-tune one on a naive image)",
        description="Train ConSinGAN (tohinz/ConSinGAN) on one image in any official mode, with "
                    "the official algorithm and option names, or fine-tune a harmonization/"
                    "editing model on a naive image (--finetune MODEL --naive IMG).",
        epilog="Ctrl+C stops after the current iteration and keeps the checkpoint.")
    p.add_argument("--input_name", type=Path, help="training image")
    p.add_argument("--train_mode", choices=TRAIN_MODES, default=None,
                   help="generation, retarget, harmonization, editing or animation")
    p.add_argument("--preset", choices=PRESETS, default="standard",
                   help="standard: official defaults for the mode; fast: 3 short stages")
    official = p.add_argument_group("official options (override the preset)")
    for f in fields(TrainSettings):
        if f.name in _OURS:
            continue
        kind = type(f.default)
        if kind is bool:
            official.add_argument(f"--{f.name}", type=_bool, nargs="?", const=True, default=None,
                                  metavar="BOOL")
        else:
            official.add_argument(f"--{f.name}", type=kind, default=None)
    p.add_argument("--out", type=Path, required=True, help="model file to write (.safetensors)")
    p.add_argument("--checkpoint_dir", type=Path, help="checkpoint folder (resumable runs)")
    p.add_argument("--continue", dest="resume", action="store_true",
                   help="go on from the checkpoint in --checkpoint_dir")
    p.add_argument("--export_official", type=Path, help="also write the official folder layout")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="", help="model name stored in the file")
    p.add_argument("--license", default="", help="licence of the trained weights")
    p.add_argument("--finetune", type=Path, metavar="MODEL",
                   help="fine-tune this model (our file or an official folder) on --naive")
    p.add_argument("--naive", type=Path, help="naive image for --finetune")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _overrides(args) -> dict:
    return {f.name: getattr(args, f.name) for f in fields(TrainSettings)
            if f.name not in _OURS and getattr(args, f.name, None) is not None}


def _make_trainer(args):
    from .trainer import ConSinGANTrainer

    ckpt = args.checkpoint_dir
    if args.resume:
        if ckpt is None:
            raise TrainingError("--continue needs --checkpoint_dir")
        return ConSinGANTrainer.resume(ckpt, device=args.device)
    if ckpt is not None and ckpt.is_dir() and any(ckpt.iterdir()):
        raise TrainingError(f"{ckpt} already holds a checkpoint: add --continue to go on, or "
                            "choose another --checkpoint_dir")
    overrides = _overrides(args)
    if args.finetune is not None:
        extra = sorted(set(overrides) - {"niter"})
        if extra or args.input_name or args.train_mode:
            given = extra + ["input_name"] * bool(args.input_name)
            raise TrainingError("fine-tuning uses the model's own settings; only --niter applies "
                                f"(got {', '.join(given) or 'train_mode'})")
        if args.naive is None:
            raise TrainingError("--finetune needs --naive IMG (the image to fine-tune on)")
        return ConSinGANTrainer.finetune(args.finetune, args.naive,
                                         iterations=overrides.get("niter", 500),
                                         device=args.device, checkpoint_dir=ckpt, seed=args.seed)
    if args.input_name is None or args.train_mode is None:
        raise TrainingError("training needs --input_name IMG and --train_mode MODE")
    settings = TrainSettings.preset(args.preset, mode=args.train_mode, **overrides)
    return ConSinGANTrainer(args.input_name, settings, device=args.device,
                            checkpoint_dir=ckpt, seed=args.seed)


def _printer(quiet: bool):
    last = [0.0]

    def show(p) -> None:
        now = time.monotonic()
        end = p.iteration == p.iterations_per_stage
        if quiet or (now - last[0] < 2.0 and not end):
            return
        last[0] = now
        eta = "?" if p.eta_seconds is None else time.strftime("%H:%M:%S",
                                                               time.gmtime(p.eta_seconds))
        spi = "" if p.seconds_per_iteration is None else f" {p.seconds_per_iteration:.3f} s/it"
        losses = " ".join(f"{k} {v:.4g}" for k, v in p.losses.items())
        warning = f" WARNING: {p.warning}" if p.warning else ""
        print(f"stage {p.stage + 1}/{p.num_stages} iteration {p.iteration}/"
              f"{p.iterations_per_stage}{spi} ETA {eta} {losses}{warning}", file=sys.stderr,
              flush=True)
    return show


def cmd_consingan(args) -> int:
    trainer = _make_trainer(args)
    stop = {"now": False}

    def on_sigint(_sig, _frame):
        stop["now"] = True
        print("stopping after this iteration…", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        trainer.run(progress=_printer(args.quiet), should_stop=lambda: stop["now"])
    finally:
        signal.signal(signal.SIGINT, previous)
    if not trainer.finished:
        where = f"; resume with --checkpoint_dir {args.checkpoint_dir} --continue" \
            if args.checkpoint_dir else " (no --checkpoint_dir: nothing was kept)"
        print(f"stopped at {trainer.completed_iterations}/{trainer.total_iterations} "
              f"iterations{where}", file=sys.stderr)
        return 1
    source = str(args.input_name) if args.input_name else ""  # fine-tuning keeps the model's
    out = trainer.save_model(args.out, name=args.name or args.out.stem, license=args.license,
                             source=source)
    print(f"wrote {out} ({trainer.completed_iterations} iterations)")
    if args.export_official is not None:
        print(f"wrote {trainer.export_official(args.export_official)} (official layout)")
    return 0
