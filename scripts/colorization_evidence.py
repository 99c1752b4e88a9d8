"""Evidence for the shipped colorization model: a sheet and colour-error figures.

For each shippable photo (resources/photos/images and extra) it removes the colour, colours the
grey photo with the model, and writes

* ``<out>/colorization_sheet.png``: grey | colorized | original, for a few photos;
* ``<out>/colorization.md``: per photo and overall, the mean |Δab| to the original (Lab units,
  lower is better) and the colourfulness (Hasler & Süsstrunk 2003) of the result next to the
  original's, for the model, for an untrained network of the same shape, for a model from earlier in
  the training, and for leaving the photo grey (ab = 0).

All photos are training photos (there are no others we may ship), so the figures say how well
the model learnt them, not how it generalizes; the sheet shows what a user gets.

    python scripts/colorization_evidence.py MODEL [--earlier MODEL --earlier_label 'step N'] [--out resources/models/evidence]
"""
from __future__ import annotations

import argparse
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.bundle import ModelBundle
from models.color import rgb_to_lab
from models.colorize import Colorizer
from models.modelfile import load_model_file
from models.pix2pix import build_generator

REPO = Path(__file__).resolve().parents[1]
FOLDERS = [REPO / "resources/photos/images", REPO / "resources/photos/extra"]
SHEET = ("evening_glow", "forest_path", "dune", "lake_pier", "chelsea", "autumn_painting")
LONGEST = 384


def colourfulness(rgb: np.ndarray) -> float:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def untrained(bundle: ModelBundle) -> ModelBundle:
    torch.manual_seed(0)
    G = build_generator(bundle.options)
    state = OrderedDict((f"G.{k}", v.detach().clone()) for k, v in G.state_dict().items())
    return ModelBundle(bundle.architecture, dict(bundle.options), state)


def load_photo(path: Path) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    scale = LONGEST / max(img.size)
    return np.asarray(img.resize((round(img.width * scale), round(img.height * scale)),
                                 Image.BICUBIC))


def grey_of(rgb: np.ndarray) -> np.ndarray:
    from models.color import lab_to_srgb

    lab = rgb_to_lab(rgb)
    lab[..., 1:] = 0
    return np.round(lab_to_srgb(lab) * 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--earlier", type=Path, help="a model from earlier in the same training")
    ap.add_argument("--earlier_label", default="earlier", help="its column title (e.g. 'step 200')")
    ap.add_argument("--out", type=Path, default=REPO / "resources/models/evidence")
    args = ap.parse_args()
    bundle = load_model_file(args.model)
    contenders = {"model": Colorizer(bundle, "cpu")}
    if args.earlier:
        contenders[args.earlier_label] = Colorizer(load_model_file(args.earlier), "cpu")
    contenders["untrained"] = Colorizer(untrained(bundle), "cpu")
    photos = sorted(p for f in FOLDERS for p in f.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    rows, sheet = [], []
    totals = {name: [] for name in ["grey", *contenders]}
    for path in photos:
        rgb = load_photo(path)
        if np.abs(rgb_to_lab(rgb)[..., 1:]).mean() < 1.0:
            continue  # a black-and-white photo has no colour to compare with
        grey = grey_of(rgb)
        ab_true = rgb_to_lab(rgb)[..., 1:]
        results = {"grey": grey, **{n: c(grey) for n, c in contenders.items()}}
        cells = []
        for name, out in results.items():
            err = float(np.abs(rgb_to_lab(out)[..., 1:] - ab_true).mean())
            totals[name].append((err, colourfulness(out)))
            cells.append(f"{err:.1f} / {colourfulness(out):.0f}")
        rows.append(f"| {path.stem} | {colourfulness(rgb):.0f} | " + " | ".join(cells) + " |")
        if path.stem in SHEET:
            sheet.append((grey, results["model"], rgb))
    header = ["grey (ab = 0)", *contenders]
    mean = [f"**{np.mean([e for e, _ in totals[n]]):.1f} / {np.mean([c for _, c in totals[n]]):.0f}**"
            for n in totals]
    orig_c = np.mean([float(r.split("|")[2]) for r in rows])
    lines = ["# Colorization model: evidence", "",
             f"Model: `{args.model.name}`. Each cell: mean |Δab| to the original (Lab units, lower "
             "is better) / colourfulness (Hasler & Süsstrunk; the original's in the second column). "
             f"Photos at {LONGEST} px on the longest side, coloured from their own grey version. "
             "All are training photos.", "",
             "| photo | original colourfulness | " + " | ".join(header) + " |",
             "|---|---|" + "---|" * len(header), *rows,
             f"| **mean** | **{orig_c:.0f}** | " + " | ".join(mean) + " |", "",
             "![sheet](colorization_sheet.png) grey | colorized | original"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "colorization.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tile = 256
    canvas = Image.new("RGB", (3 * tile, len(sheet) * tile), "white")
    for i, images in enumerate(sheet):
        for j, im in enumerate(images):
            pic = Image.fromarray(im)
            pic.thumbnail((tile, tile))
            canvas.paste(pic, (j * tile + (tile - pic.width) // 2, i * tile + (tile - pic.height) // 2))
    canvas.save(args.out / "colorization_sheet.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
