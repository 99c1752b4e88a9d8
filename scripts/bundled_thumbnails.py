"""Thumbnails of the bundled models, shown by the model manager: ``<model>.png`` beside each
``resources/models/<model>.safetensors``, made by running the model itself.

* landscape-spade: a painted label map, its left half as painted, its right half rendered;
* colorization-pix2pix: a photo, its left half grey, its right half coloured by the model;
* autumn-harmonization: the painting the model was trained on;
* chelsea-generation: four seeded random samples of the model, in a 2x2 grid.

    python scripts/bundled_thumbnails.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from models.colorize import Colorizer
from models.importers import import_model
from models.labelsets import load_labelset
from models.modelfile import load_model_file
from models.pipelines import LabelToImage

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "resources" / "models"
PHOTOS = REPO / "resources" / "photos" / "images"
SIZE = 128


def square(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Centre square of ``rgb``, resized to ``size``."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    img = Image.fromarray(rgb[y:y + side, x:x + side])
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def halves(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    out = right.copy()
    out[:, : out.shape[1] // 2] = left[:, : out.shape[1] // 2]
    out[:, out.shape[1] // 2] = 255  # a white seam between the halves
    return out


def landscape() -> np.ndarray:
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    from model_evidence import painted_maps

    labelset = load_labelset("landscape")
    name, labels = painted_maps(256, labelset)[1]  # the beach
    rendered = LabelToImage(import_model(MODELS / "landscape-spade.safetensors"), device="cpu")(
        labels.astype(np.int64), size=(256, 256))
    return halves(square(labelset.colorize(labels)), square(rendered))


def colorization() -> np.ndarray:
    photo = np.asarray(Image.open(PHOTOS / "lake_pier.jpg").convert("RGB"))
    grey = np.repeat(np.asarray(Image.fromarray(photo).convert("L"))[..., None], 3, axis=2)
    coloured = Colorizer(load_model_file(MODELS / "colorization-pix2pix.safetensors"), "cpu")(grey)
    return halves(square(grey), square(coloured))


def autumn() -> np.ndarray:
    return square(np.asarray(Image.open(PHOTOS / "autumn_painting.jpg").convert("RGB")))


def chelsea() -> np.ndarray:
    from models.devices import to_uint8_image
    from models.registry import build_networks

    model = build_networks(load_model_file(MODELS / "chelsea-generation.safetensors"), "cpu")["G"]
    half = SIZE // 2
    tiles = [square(to_uint8_image(model.sample(generator=seed))[0], half) for seed in range(4)]
    return np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)])


def main() -> None:
    for name, make in (("landscape-spade", landscape), ("colorization-pix2pix", colorization),
                       ("autumn-harmonization", autumn), ("chelsea-generation", chelsea)):
        out = MODELS / f"{name}.png"
        Image.fromarray(make()).save(out, optimize=True)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
