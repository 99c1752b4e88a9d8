"""Evidence for a shipped landscape model: sheets, sliced Wasserstein distance, class colours.

For 8 label maps painted by this script the way a person paints (a few large regions with soft,
wavy borders; not crops of the training maps) it renders the model at 256² and 512², and writes

* ``<out>/sheet.png``: label map | 256² | 512² (shown at 256) for each painting;
* ``<out>/evidence.md``: the sliced Wasserstein distance (x1e3, lower is closer) between the
  generated images and the photos, for the model, for an untrained network of the same shape and
  for a model from halfway through training; and per-class mean colours of the generated
  regions next to those of the photos' regions.

    python scripts/model_evidence.py MODEL [--halfway MODEL] [--out resources/models/evidence]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.importers import import_model
from models.labelsets import load_labelset
from models.pipelines import LabelToImage
from models.registry import get_architecture
from training.metrics import class_color_stats, sliced_wasserstein

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "resources" / "photos"


def _wave(w: int, level: float, amp: float, freq: float, phase: float) -> np.ndarray:
    x = np.linspace(0, 1, w)
    return level + amp * np.sin(2 * np.pi * (freq * x + phase)) + 0.5 * amp * np.sin(
        2 * np.pi * (2.3 * freq * x + 2 * phase))


def painted_maps(size: int, ls) -> list[tuple[str, np.ndarray]]:
    """Eight paintings as a person would make them, in model-space ids."""
    c = {n: ls.by_name(n).id for n in ("sky-other", "clouds", "fog", "water-other", "sea",
                                       "mountain", "hill", "rock", "grass", "tree", "dirt",
                                       "sand", "road", "wood", "gravel")}
    h = w = size
    yy, xx = np.mgrid[:h, :w] / size

    def bands(*layers):
        lab = np.full((h, w), c["sky-other"], np.int16)
        for name, line in layers:
            lab[yy > line[None, :]] = c[name]
        return lab

    def blob(lab, name, cx, cy, rx, ry):
        lab[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1] = c[name]

    out = []
    lab = bands(("mountain", _wave(w, 0.42, 0.08, 0.8, 0.1)), ("water-other", np.full(w, 0.62)),
                ("grass", _wave(w, 0.8, 0.02, 1.5, 0.3)))
    blob(lab, "clouds", 0.3, 0.15, 0.18, 0.05)
    out.append(("mountain lake", lab))
    lab = bands(("sea", np.full(w, 0.5)), ("sand", _wave(w, 0.72, 0.03, 1.0, 0.6)))
    blob(lab, "clouds", 0.7, 0.2, 0.25, 0.07)
    out.append(("beach", lab))
    lab = bands(("tree", _wave(w, 0.15, 0.05, 3.0, 0.0)), ("grass", _wave(w, 0.7, 0.02, 1, 0)))
    lab[(np.abs(xx - 0.5 - 0.2 * (yy - 0.7)) < 0.06 + 0.15 * (yy - 0.7)) & (yy > 0.7)] = c["dirt"]
    out.append(("forest path", lab))
    lab = bands(("hill", _wave(w, 0.55, 0.06, 0.6, 0.4)), ("grass", _wave(w, 0.7, 0.03, 1, 0.2)))
    for cx in (0.15, 0.3, 0.8):
        blob(lab, "tree", cx, 0.62, 0.06, 0.12)
    out.append(("green hills", lab))
    lab = bands(("fog", np.full(w, 0.45)), ("water-other", np.full(w, 0.55)))
    lab[(yy > 0.6) & (np.abs(xx - 0.5) < 0.08 + 0.4 * (yy - 0.6))] = c["wood"]
    out.append(("pier in fog", lab))
    lab = bands(("grass", np.full(w, 0.62)), ("road", _wave(w, 0.82, 0.0, 1, 0)))
    lab[: int(0.45 * h)] = c["clouds"]
    out.append(("road under clouds", lab))
    lab = bands(("mountain", _wave(w, 0.35, 0.12, 0.5, 0.7)), ("rock", _wave(w, 0.6, 0.04, 2, 0)),
                ("water-other", np.full(w, 0.75)))
    out.append(("rocky shore", lab))
    lab = bands(("tree", _wave(w, 0.5, 0.04, 2.5, 0.2)), ("water-other", np.full(w, 0.66)),
                ("gravel", _wave(w, 0.85, 0.02, 1, 0.5)))
    blob(lab, "clouds", 0.25, 0.2, 0.2, 0.06)
    out.append(("lakeside", lab))
    return out


def photo_set(size: int, ls):
    """The training photos, centre-cropped square and resized, with their label maps."""
    images, labels = [], []
    for label_png in sorted((PHOTOS / "labels").glob("*.png")):
        img = Image.open(PHOTOS / "images" / f"{label_png.stem}.jpg").convert("RGB")
        lab = Image.open(label_png)
        side = min(img.size)
        box = ((img.width - side) // 2, (img.height - side) // 2)
        box = (*box, box[0] + side, box[1] + side)
        images.append(np.asarray(img.crop(box).resize((size, size), Image.BICUBIC)))
        values = np.asarray(lab.crop(box).resize((size, size), Image.NEAREST))
        labels.append(ls.png_to_model(values))
    return images, labels


def untrained_like(bundle):
    """The same architecture with freshly initialised weights (the official init)."""
    torch.manual_seed(0)
    nets = get_architecture(bundle.architecture).build(bundle.options)
    state = {f"{n}.{k}": v for n, net in nets.items() for k, v in net.state_dict().items()}
    from models.bundle import ModelBundle
    return ModelBundle(bundle.architecture, dict(bundle.options), state, bundle.labelset)


def render(bundle, maps, size):
    pipe = LabelToImage(bundle, device="cpu")
    return [pipe(lab.astype(np.int64), size=(size, size)) for _, lab in maps]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--halfway", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "models" / "evidence")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ls = load_labelset("landscape")
    bundle = import_model(args.model)
    maps256 = painted_maps(256, ls)
    maps512 = painted_maps(512, ls)
    gen256, gen512 = render(bundle, maps256, 256), render(bundle, maps512, 512)

    rows = []
    for (name, lab), a, b in zip(maps256, gen256, gen512):
        small = np.asarray(Image.fromarray(b).resize((256, 256), Image.LANCZOS))
        rows.append(np.concatenate([ls.colorize(lab), a, small], 1))
    sheet = np.concatenate(rows, 0)
    Image.fromarray(sheet).save(args.out / "sheet.png")
    for (name, _), b in zip(maps512[:2], gen512[:2]):
        Image.fromarray(b).save(args.out / f"{name.replace(' ', '_')}_512.png")

    photos, photo_labels = photo_set(256, ls)
    candidates = [("shipped model", bundle), ("untrained network, same shape",
                                                untrained_like(bundle))]
    if args.halfway:
        earlier = import_model(args.halfway)
        step = earlier.provenance.get("step")
        candidates.insert(1, (f"earlier in training (step {step})" if step else
                              "earlier in training", earlier))
    lines = ["| model | SWD ×1e3 (mean over pyramid levels) |", "| --- | --- |"]
    for name, b in candidates:
        imgs = gen256 if b is bundle else render(b, maps256, 256)
        swd = sliced_wasserstein(imgs, photos, seed=0)
        lines.append(f"| {name} | {swd.mean:.1f} |")
    gen_stats = class_color_stats(gen256, [m for _, m in maps256], ls)
    photo_stats = class_color_stats(photos, photo_labels, ls)
    colours = ["| class | generated mean RGB | photos mean RGB | distance |",
               "| --- | --- | --- | --- |"]
    for cid, g in sorted(gen_stats.items(), key=lambda kv: -kv[1].count):
        p = photo_stats.get(cid)
        if p is None:
            continue
        dist = float(np.linalg.norm(np.asarray(g.mean) - np.asarray(p.mean)))
        fmt = lambda m: "(" + ", ".join(f"{v:.0f}" for v in m) + ")"  # noqa: E731
        colours.append(f"| {g.name} | {fmt(g.mean)} | {fmt(p.mean)} | {dist:.0f} |")
    provenance = bundle.provenance
    text = ["# Evidence for " + args.model.name, "",
            f"Provenance: {provenance}", "",
            "![sheet](sheet.png)", "",
            "Sheet: painted label map | generated at 256² | generated at 512² (shown at 256).", "",
            "Sliced Wasserstein distance between the 8 generated 256² images and the 10 "
            "training photos (centre crops at 256²):", "", *lines, "",
            "Mean colour of each class's region: generated (8 paintings) against the photos:",
            "", *colours, "", "Regenerate: `python scripts/model_evidence.py MODEL --halfway "
            "HALFWAY_MODEL`."]
    (args.out / "evidence.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    print("\n".join(lines + [""] + colours))


if __name__ == "__main__":
    main()
