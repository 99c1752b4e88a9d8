"""Write a model file from a training checkpoint (SPADE, pix2pix, pix2pixHD), choosing the
live or the EMA generator.

Short runs need this: with ``--ema 0.999`` and a few hundred steps the EMA copy is still mostly
its initial weights, while the live generator has learned. It also sets the native size the app
renders at (a SPADE generator without a VAE is fully convolutional; the crop it trained on only
sets its default output size).

    python scripts/export_checkpoint.py RUN_DIR CKPT.pt OUT.safetensors [--ema] [--crop_size 256]
        [--half] [--license TEXT]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
from pathlib import Path

from models import __version__
from models.modelfile import save_model_file
from training.checkpoint import load_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--ema", action="store_true", help="export the EMA generator")
    ap.add_argument("--crop_size", type=int, help="native size the app renders at")
    ap.add_argument("--half", action="store_true")
    ap.add_argument("--license", default="")
    args = ap.parse_args()

    run = json.loads((args.run_dir / "run.json").read_text())
    if run["family"] not in ("spade", "pix2pix", "pix2pixhd"):
        raise SystemExit(f"unknown training family {run['family']!r} in {args.run_dir}")
    from training.cli_train import make_trainer

    trainer = make_trainer(run["family"], run["options"])
    trainer.build(trainer.options)
    ckpt = load_checkpoint(args.checkpoint)
    source = ckpt["ema"] if args.ema else ckpt["modules"]
    for name, net in trainer.modules.items():
        if name in source:
            net.load_state_dict(source[name])
    trainer.ema = {}
    bundle = trainer.export_bundle()
    if args.crop_size:
        bundle.options["crop_size"] = args.crop_size
    bundle.provenance = {
        "trained with": f"gauapp-train {__version__}", "run": run["run"].get("dataset_path", ""),
        "checkpoint": args.checkpoint.name, "step": int(ckpt.get("step", -1)),
        "generator": "EMA" if args.ema else "live",
        "trained crop": run["options"].get("crop_size"),
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    bundle.license = args.license or run["run"].get("license", "")
    save_model_file(bundle, args.output, half=args.half)
    print(f"wrote {args.output} (step {ckpt.get('step')}, "
          f"{'EMA' if args.ema else 'live'} generator)")


if __name__ == "__main__":
    main()
