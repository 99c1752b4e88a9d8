"""Quality evidence for a ConSinGAN generation model: SWD of random samples, and a sample sheet.

Draws ``--samples`` (default 50) random samples at the training size (official evaluation: batch
norm in train mode, fresh noise at every stage), and writes to ``--out``:

* ``sheet.png``: the training image (top left, framed) then the first samples, in a grid;
* ``evidence.md``: the sliced Wasserstein distance (x1e3, mean over Laplacian levels; lower is
  closer) between the samples and the training image, next to the same figure for the model's
  reconstruction (how close the network gets at all) and for an untrained network of the same
  shape (where training started), plus how long sampling took on the device.

Every sample is compared with the one training image: SWD looks at the distribution of 7x7
patches at each pyramid level, so a model that copies the image scores near its reconstruction,
and one that makes new but plausible arrangements of the same patches scores close to it too.

    python scripts/consingan_evidence.py MODEL.safetensors [--samples 50] [--device cuda]
        [--out docs/consingan-evidence]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.consingan.imresize import tensor_to_uint8  # noqa: E402
from models.modelfile import load_model_file  # noqa: E402
from models.registry import build_networks  # noqa: E402
from training.metrics import sliced_wasserstein  # noqa: E402


def load(path: Path, device: str):
    bundle = load_model_file(path)
    if bundle.architecture != "consingan":
        raise SystemExit(f"{path} is a {bundle.architecture} model, not ConSinGAN")
    model = build_networks(bundle, device)["G"]
    if model.train_mode not in ("generation", "retarget", "animation"):
        raise SystemExit(f"{path} was trained for {model.train_mode}; random samples need a "
                         "generation (or retarget/animation) model")
    return bundle, model


def untrained_like(model):
    """The same pyramid and noise amplitudes with freshly initialised stages (official init)."""
    import copy

    from training.consingan.generator import official_init

    fresh = copy.deepcopy(model)
    official_init(fresh.generator, torch.Generator().manual_seed(0))
    return fresh


@torch.no_grad()
def samples(model, n: int, seed: int) -> list[np.ndarray]:
    return [tensor_to_uint8(model.sample(generator=seed + i).float().cpu()) for i in range(n)]


def sheet(real: np.ndarray, images: list[np.ndarray], columns: int = 6, shown: int = 23,
          gap: int = 4) -> Image.Image:
    tiles = [real] + images[:shown]
    h, w = real.shape[:2]
    rows = -(-len(tiles) // columns)
    out = Image.new("RGB", (columns * (w + gap) + gap, rows * (h + gap) + gap), (40, 40, 40))
    for i, tile in enumerate(tiles):
        x, y = gap + (i % columns) * (w + gap), gap + (i // columns) * (h + gap)
        out.paste(Image.fromarray(tile), (x, y))
    ImageDraw.Draw(out).rectangle([gap - 2, gap - 2, gap + w + 1, gap + h + 1],
                                  outline=(255, 200, 0), width=2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "consingan-evidence")
    args = ap.parse_args()
    if args.samples < 1:
        raise SystemExit("--samples must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    bundle, model = load(args.model, args.device)
    real = tensor_to_uint8(model.reals[-1].float().cpu())

    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    drawn = samples(model, args.samples, args.seed)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        rec = tensor_to_uint8(model.reconstruct().float().cpu())
    untrained = samples(untrained_like(model), args.samples, args.seed)

    # equal counts on both sides: SWD over fewer patches is biased upwards
    rows = [("samples of the model", drawn),
            ("its reconstruction (fixed noise), repeated", [rec] * args.samples),
            ("samples of an untrained network, same shape", untrained)]
    lines = ["| images | count | SWD ×1e3 to the training image |", "| --- | --- | --- |"]
    for name, images in rows:
        swd = sliced_wasserstein(images, [real] * len(images), seed=args.seed)
        lines.append(f"| {name} | {len(images)} | {swd.mean:.1f} |")
    sheet(real, drawn).save(args.out / "sheet.png")
    h, w = real.shape[:2]
    text = [f"# ConSinGAN evidence for {args.model.name}", "",
            f"Provenance: {bundle.provenance}", "",
            f"Training image {w}x{h}, {model.num_stages} stages, mode {model.train_mode}. "
            f"{args.samples} samples in {seconds:.2f} s on {args.device} "
            f"({1000 * seconds / args.samples:.0f} ms each).", "",
            "![sheet](sheet.png)", "",
            "Sheet: the training image (framed) and the first samples.", "", *lines, "",
            f"Regenerate: `python scripts/consingan_evidence.py {args.model.name} "
            f"--samples {args.samples} --device {args.device}`."]
    (args.out / "evidence.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
