"""``gauapp-train eval`` (SWD and per-class colour statistics of a model on a dataset) and
``gauapp-train sample`` (run a model file on a folder of label maps or images)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import TrainingError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def add_tool_commands(sub) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser("eval", help="SWD and class colour statistics of a model on a dataset",
                       formatter_class=fmt,
                       description="Run a model on a dataset's inputs and compare its outputs "
                       "with the dataset's images: sliced Wasserstein distance (Laplacian "
                       "pyramid patches, x1e3, lower is better) and, for label -> image "
                       "models, the distance between the mean colour of each class in the "
                       "outputs and in the photos (0..255 RGB units).")
    p.add_argument("model", type=Path, help="model file (.safetensors) or official checkpoint")
    p.add_argument("--dataroot", type=Path, required=True, help="dataset folder")
    p.add_argument("--dataset_mode", default=None, help="dataset layout (default: paired for "
                   "label -> image models, aligned for image -> image)")
    p.add_argument("--phase", help="dataset split, for layouts that have splits (e.g. val)")
    p.add_argument("--labelset", help="label set of the dataset (default: the model's)")
    p.add_argument("--num_samples", type=int, default=64, help="samples compared")
    p.add_argument("--batchSize", type=int, default=4, help="batch size")
    p.add_argument("--crop_size", type=int, help="sample width (default: the model's)")
    p.add_argument("--aspect_ratio", type=float, help="width / height (default: the model's)")
    p.add_argument("--preprocess_mode", default="fixed", help="dataset preprocessing")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of z (VAE models) and SWD patches")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")

    p = sub.add_parser("sample", help="run a model on a folder of label maps or images",
                       formatter_class=fmt,
                       description="Write one PNG per input: label maps (index PNGs in the "
                       "model's label-set convention) for label -> image models, photos for "
                       "image -> image models.")
    p.add_argument("model", type=Path, help="model file (.safetensors) or official checkpoint")
    p.add_argument("inputs", type=Path, help="a folder of inputs or one file")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNGs")
    p.add_argument("--size", help="output size WxH (default: the model's native size)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--precision", default="fp32", help="fp32, fp16 or bf16 (GPU only)")
    p.add_argument("--seed", type=int, default=0, help="seed of z for VAE models")


def _pipeline(model: Path, device: str, precision: str = "fp32"):
    from models.importers import import_model
    from models.pipelines import ImageToImage, LabelToImage
    from models.registry import get_architecture

    bundle = import_model(model)
    kind = get_architecture(bundle.architecture).kind
    if kind == "label2image":
        return bundle, LabelToImage(bundle, device=device, precision=precision)
    if kind == "image2image":
        return bundle, ImageToImage(bundle, device=device, precision=precision)
    raise TrainingError(f"{model}: a {bundle.architecture} model ({kind}); eval and sample "
                        "handle label -> image and image -> image models")


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise TrainingError(f"--size must be WxH, e.g. 512x256, not {text!r}") from None
    return h, w


def cmd_sample(args) -> int:
    from PIL import Image

    bundle, pipe = _pipeline(args.model, args.device, args.precision)
    files = ([args.inputs] if args.inputs.is_file() else
             sorted(p for p in args.inputs.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
             if args.inputs.is_dir() else None)
    if files is None:
        raise TrainingError(f"{args.inputs}: no such file or folder")
    if not files:
        raise TrainingError(f"{args.inputs}: no images in this folder")
    args.output.mkdir(parents=True, exist_ok=True)
    size = _size(args.size)
    label_model = hasattr(pipe, "load_label_png")
    for path in files:
        if label_model:
            out = pipe(pipe.load_label_png(path), size=size, seed=args.seed)
        else:
            out = pipe(path, size=size)
        Image.fromarray(out).save(args.output / (path.stem + ".png"))
    print(f"{len(files)} image(s) written to {args.output}")
    return 0


def cmd_eval(args) -> int:
    from .data import build_dataset, lab_to_rgb
    from .metrics import class_color_stats, color_stats_distance, sliced_wasserstein

    bundle, pipe = _pipeline(args.model, args.device)
    label_model = hasattr(pipe, "load_label_png")
    h, w = pipe.native_size if label_model else (pipe.load_size, pipe.load_size)
    options: dict[str, Any] = dict(
        no_flip=True, preprocess_mode=args.preprocess_mode, seed=args.seed,
        crop_size=args.crop_size or w, aspect_ratio=args.aspect_ratio or w / h,
        max_dataset_size=args.num_samples)
    if args.phase:
        options["phase"] = args.phase
    if label_model:
        options["labelset"] = args.labelset or bundle.labelset
        if options["labelset"] is None:
            raise TrainingError("the model has no label set: give --labelset")
        options["grid"] = pipe.grid
    else:
        options.update(input_nc=int(bundle.options.get("input_nc", 3)),
                       output_nc=int(bundle.options.get("output_nc", 3)))
    mode = args.dataset_mode or ("paired" if label_model else "aligned")
    dataset = build_dataset(mode, args.dataroot, **options)
    loader = torch.utils.data.DataLoader(dataset, batch_size=max(1, args.batchSize))
    fakes, reals, labels = [], [], []
    with torch.no_grad():
        for batch in loader:
            if label_model:
                inst = batch.get("instance")
                out = pipe.generate_tensor(batch["label"], size=tuple(batch["label"].shape[1:]),
                                           instances=None if inst is None else inst.numpy(),
                                           seed=args.seed).float().cpu()
                labels += list(batch["label"].numpy())
                real = batch["image"]
            else:
                out = pipe.generator(batch["A"].to(pipe.device, pipe.dtype)).float().cpu()
                real = batch["B"]
                if out.shape[1] == 2:  # colorization: compare in RGB
                    out = _rgb(lab_to_rgb(batch["A"], out))
                    real = _rgb(lab_to_rgb(batch["A"], real))
            fakes += list(out.clamp(-1, 1))
            reals += list(real)
    swd = sliced_wasserstein(fakes, reals, seed=args.seed)
    result: dict[str, Any] = {"model": str(args.model), "samples": len(fakes),
                              "swd": {"per_level": swd.distances, "mean": swd.mean,
                                      "resolutions": swd.resolutions}}
    if label_model:
        ls = bundle.labelset if args.labelset is None else None
        dist = color_stats_distance(class_color_stats(fakes, labels, ls),
                                    class_color_stats(reals, labels, ls))
        names = {c.id: c.name for c in bundle.labelset.classes} if bundle.labelset else {}
        result["class_color_distance"] = {
            "mean": float(np.mean(list(dist.values()))) if dist else None,
            "per_class": {names.get(k, str(k)): v for k, v in dist.items()}}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


def _rgb(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
