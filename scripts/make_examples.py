"""The ready harmonization example: a rowing boat cut from ``evening_glow.jpg`` pasted onto
``autumn_painting.jpg``, saved as a project that opens with the boat selected, so a new user can
press Harmonize (Ctrl+H) at once. The background's model (resources/models/
autumn-harmonization.safetensors) is found by the painting's fingerprint, which the trainer
records.

    python scripts/make_examples.py [--out resources/examples/harmonize-boat.ora]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from gauapp.document.document import Document
from gauapp.document.ora import save_ora
from gauapp.document.selection import polygon_mask
from gauapp.harmonization import PASTED, new_role
from models.labelsets import load_labelset

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "resources/photos/images"
# The third boat from the left in evening_glow.jpg (1024x640), traced by hand on the photo.
BOAT = [(331, 318), (362, 314), (393, 317), (412, 333), (428, 357), (436, 385), (432, 420),
        (421, 452), (412, 487), (400, 484), (378, 455), (352, 425), (333, 392), (322, 360)]
PLACE, SCALE = (110, 470), 0.75  # on the meadow, left of the girl


def boat_rgba() -> np.ndarray:
    photo = np.asarray(Image.open(PHOTOS / "evening_glow.jpg").convert("RGB"))
    mask = polygon_mask(photo.shape[:2], BOAT)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgba = np.dstack([photo[y0:y1, x0:x1], (mask[y0:y1, x0:x1] * 255).astype(np.uint8)])
    h, w = rgba.shape[:2]
    small = Image.fromarray(rgba, "RGBA").resize((round(w * SCALE), round(h * SCALE)),
                                                 Image.LANCZOS)
    return np.asarray(small)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources/examples/harmonize-boat.ora")
    args = ap.parse_args()
    background = np.asarray(Image.open(PHOTOS / "autumn_painting.jpg").convert("RGB"))
    h, w = background.shape[:2]
    doc = Document(w, h, labelset=load_labelset("landscape"))
    doc.add_image_layer(background, name="Autumn painting")
    doc.add_image_layer(boat_rgba(), name="Rowing boat (pasted)", x=PLACE[0], y=PLACE[1],
                        role=new_role(PASTED, "boat"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_ora(doc, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
