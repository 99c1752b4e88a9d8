"""Label maps for the landscape photos in resources/photos/images, from annotations written
down here.

Each photo has a list of layers painted in order (later layers win).  A layer is
``(class name, region)`` or ``(class name, region, colour rule)``:

* a region is ``("all",)``, ``("poly", [(x, y), ...])``, ``("above", line)``, ``("below", line)``,
  ``("band", top line, bottom line)`` or ``("on", class, ...)`` (pixels currently holding one of
  those classes); a list of regions is their intersection.  Coordinates are relative (0..1, y
  down); a line is a list of (x, y) points, linear in between and flat beyond its ends.
* a colour rule is a dict of ``feature: (low, high)`` ranges (None: open), all of which must hold;
  a list of such dicts holds where any of them holds.  Features are measured on the photo blurred
  a little: ``L`` (luma 0..255), ``S`` (saturation 0..1), ``R``, ``G``, ``B``, ``B-R``, ``G-R``,
  ``B-G``.  The pixels a rule selects are cleaned with a binary majority filter before painting.

After the layers, a majority (mode) filter smooths the map so that it holds regions a person would
paint, not pixel-exact edges.  Pixels of things the landscape set has no class for (a kite, a
person) are painted ``unlabeled`` (PNG value 255, the set's COCO convention for id 182).

Writes ``resources/photos/labels/<stem>.png`` (palette PNG holding COCO-Stuff ids) and
``resources/photos/overlays/<stem>.jpg`` (photo blended with the label colours, and a legend).
Running it again gives the same files.  Usage: ``python scripts/annotate_photos.py [stem ...]``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "resources" / "photos"
LABELSET = json.loads((REPO / "resources" / "labelsets" / "landscape.json").read_text("utf-8"))
IDS = {c["name"]: c["id"] for c in LABELSET["classes"]}
COLORS = {c["id"]: tuple(c["color"]) for c in LABELSET["classes"]}
UNLABELED_PNG = 255                      # PNG value of "unlabeled" (COCO convention, id 182)
COLORS[UNLABELED_PNG] = COLORS.pop(LABELSET["dontcare_id"])
NAMES = {i: n for n, i in IDS.items()} | {UNLABELED_PNG: "unlabeled"}


def png_value(name: str) -> int:
    return UNLABELED_PNG if name == "unlabeled" else IDS[name]


# --------------------------------------------------------------------------------------------
# Annotations.  "smooth": radius of the final majority filter (0: none).
# --------------------------------------------------------------------------------------------
ANNOTATIONS: dict[str, dict] = {
    "evening_glow": {"smooth": 3, "layers": [
        ("gravel", ("all",)),
        # lake from the tree line down to the shore (the boats cover most of the shore)
        ("water-other", ("band", [(0, 0.378), (1, 0.378)],
                         [(0, 0.74), (0.1, 0.68), (0.2, 0.665), (0.3, 0.655), (0.33, 0.67),
                          (0.42, 0.69), (0.45, 0.63), (0.5, 0.61), (0.6, 0.59), (0.7, 0.57),
                          (0.8, 0.56), (1, 0.55)])),
        ("sky-other", ("above", [(0, 0.35), (1, 0.35)])),
        # dark, grey or pink masses in the sky are clouds; blue patches and the glow stay sky
        ("clouds", ("on", "sky-other"), [{"L": (None, 165), "B-R": (None, 40)},
                                         {"L": (None, 115)}]),
        ("mountain", ("band", [(0, 0.285), (0.04, 0.277), (0.09, 0.265), (0.12, 0.266),
                                (0.16, 0.278), (0.2, 0.29), (0.25, 0.302), (0.3, 0.322),
                                (0.38, 0.328), (0.5, 0.33), (0.6, 0.34), (0.72, 0.34),
                                (0.75, 0.325), (0.78, 0.303), (0.8, 0.29), (0.83, 0.293),
                                (0.87, 0.282), (0.9, 0.265), (0.95, 0.245), (1, 0.232)],
                      [(0, 0.36), (1, 0.36)])),
        ("tree", ("band", [(0, 0.33), (0.5, 0.335), (0.7, 0.345), (1, 0.34)],
                  [(0, 0.378), (1, 0.378)])),
        ("tree", ("poly", [(0.87, 0.32), (0.89, 0.285), (0.93, 0.27), (0.97, 0.28), (1, 0.27),
                           (1, 0.39), (0.87, 0.39)])),
        ("grass", ("poly", [(0.68, 0.352), (0.75, 0.345), (0.88, 0.34), (0.88, 0.375),
                            (0.68, 0.375)])),
        ("rock", ("poly", [(0.735, 0.412), (0.75, 0.395), (1, 0.395), (1, 0.44), (0.86, 0.445),
                           (0.74, 0.447)])),
        # the wooden rowing boats and the plank on the beach
        ("wood", ("poly", [(0, 0.56), (0.06, 0.525), (0.16, 0.52), (0.155, 0.56), (0.1, 0.62),
                           (0.05, 0.66), (0, 0.7)])),
        ("wood", ("poly", [(0.22, 0.5), (0.295, 0.495), (0.29, 0.56), (0.25, 0.63),
                           (0.18, 0.72), (0.12, 0.8), (0.07, 0.88), (0.055, 0.935),
                           (0.035, 0.93), (0.02, 0.8), (0.05, 0.74), (0.1, 0.66),
                           (0.15, 0.6), (0.2, 0.55)])),
        ("wood", ("poly", [(0.315, 0.52), (0.33, 0.485), (0.39, 0.485), (0.42, 0.53),
                           (0.425, 0.6), (0.41, 0.66), (0.405, 0.73), (0.395, 0.72),
                           (0.37, 0.67), (0.33, 0.61), (0.315, 0.56)])),
        ("wood", ("poly", [(0.29, 0.6), (0.31, 0.59), (0.325, 0.765), (0.295, 0.77)])),
        ("wood", ("poly", [(0.43, 0.51), (0.445, 0.485), (0.5, 0.483), (0.56, 0.478),
                           (0.62, 0.478), (0.66, 0.47), (0.72, 0.468), (0.8, 0.468),
                           (0.86, 0.455), (0.9, 0.445), (0.95, 0.435), (1, 0.43), (1, 0.6),
                           (0.95, 0.615), (0.915, 0.6), (0.9, 0.61), (0.88, 0.625),
                           (0.85, 0.645), (0.81, 0.64), (0.77, 0.625), (0.745, 0.61),
                           (0.735, 0.65), (0.72, 0.665), (0.68, 0.66), (0.64, 0.64),
                           (0.61, 0.63), (0.6, 0.66), (0.59, 0.71), (0.575, 0.705),
                           (0.54, 0.67), (0.5, 0.63), (0.46, 0.59), (0.44, 0.55)])),
    ]},
    "forest_path": {"smooth": 3, "layers": [
        ("tree", ("all",)),
        ("moss", ("below", [(0, 0.5), (0.1, 0.49), (0.2, 0.47), (0.3, 0.45), (0.4, 0.46),
                            (0.5, 0.45), (0.6, 0.47), (0.7, 0.49), (0.8, 0.5), (1, 0.5)])),
        # trunks that stand in front of the forest floor
        ("tree", ("poly", [(0.055, 0.45), (0.1, 0.45), (0.1, 0.6), (0.055, 0.6)])),
        ("tree", ("poly", [(0.13, 0.45), (0.165, 0.45), (0.165, 0.56), (0.13, 0.56)])),
        ("tree", ("poly", [(0.415, 0.44), (0.455, 0.44), (0.455, 0.7), (0.42, 0.7)])),
        ("tree", ("poly", [(0.485, 0.44), (0.51, 0.44), (0.51, 0.59), (0.487, 0.59)])),
        ("tree", ("poly", [(0.575, 0.44), (0.595, 0.44), (0.595, 0.55), (0.575, 0.55)])),
        ("tree", ("poly", [(0.61, 0.44), (0.63, 0.44), (0.63, 0.57), (0.61, 0.57)])),
        ("tree", ("poly", [(0.7, 0.44), (0.72, 0.44), (0.72, 0.53), (0.7, 0.53)])),
        ("tree", ("poly", [(0.86, 0.44), (0.9, 0.44), (0.905, 0.7), (0.86, 0.7)])),
        ("dirt", ("poly", [(0.295, 0.5), (0.305, 0.5), (0.305, 0.52), (0.3, 0.56), (0.29, 0.6),
                           (0.275, 0.63), (0.26, 0.66), (0.255, 0.7), (0.26, 0.75),
                           (0.265, 0.8), (0.27, 0.85), (0.28, 0.9), (0.3, 0.95), (0.31, 1),
                           (0.21, 1), (0.2, 0.95), (0.2, 0.9), (0.205, 0.85), (0.21, 0.8),
                           (0.215, 0.75), (0.22, 0.7), (0.235, 0.66), (0.25, 0.63),
                           (0.27, 0.59), (0.285, 0.55)])),
        # bright grey gaps in the canopy show the sky
        ("sky-other", ("above", [(0, 0.3), (1, 0.3)]), {"L": (150, None), "S": (None, 0.35)}),
    ]},
    "lake_summer_night": {"smooth": 3, "layers": [
        ("sky-other", ("all",)),
        ("water-other", ("below", [(0, 0.664), (1, 0.664)])),
        # the far shore and the wooded islands
        ("tree", ("band", [(0, 0.648), (0.4, 0.645), (0.52, 0.647), (0.53, 0.65), (0.68, 0.65),
                           (0.69, 0.645), (0.74, 0.645), (0.745, 0.652), (0.76, 0.652),
                           (0.77, 0.645), (0.85, 0.64), (0.86, 0.637), (0.87, 0.643),
                           (0.92, 0.642), (0.93, 0.628), (0.95, 0.622), (0.98, 0.615)],
                  [(0, 0.664), (1, 0.664)])),
        # the reed bed standing in the water
        ("plant-other", ("poly", [(0.55, 0.72), (0.64, 0.71), (0.8, 0.708), (1, 0.71),
                                  (1, 0.8), (0.9, 0.79), (0.8, 0.78), (0.64, 0.77),
                                  (0.55, 0.76)])),
    ]},
    "lake_pier": {"smooth": 3, "layers": [
        ("sky-other", ("all",)),
        ("clouds", ("on", "sky-other"), {"L": (150, None)}),
        # the blurred tree line on the far shore (dark against the clouds), a tree top right
        ("tree", ("poly", [(0, 0.15), (0.88, 0.15), (0.88, 0.25), (0, 0.25)]), {"L": (None, 100)}),
        ("tree", ("band", [(0, 0.225), (1, 0.225)], [(0, 0.25), (1, 0.25)])),
        ("tree", ("poly", [(0.9, 0.2), (0.91, 0.08), (0.94, 0), (1, 0), (1, 0.2)])),
        ("water-other", ("below", [(0, 0.25), (1, 0.25)])),
        ("wood", ("below", [(0, 0.5), (0.2, 0.48), (0.4, 0.445), (0.5, 0.43), (0.6, 0.41),
                            (0.7, 0.39), (0.8, 0.375), (0.9, 0.36), (1, 0.35)])),
    ]},
    "misty_lake": {"smooth": 3, "layers": [
        ("sky-other", ("all",)),
        ("fog", ("band", [(0, 0.57), (1, 0.57)], [(0, 0.665), (1, 0.665)])),
        ("water-other", ("below", [(0, 0.665), (1, 0.665)])),
        # tree silhouettes in the mist; on the right a dark wooded shore close by
        ("tree", ("poly", [(0, 0.615), (0.14, 0.61), (0.16, 0.603), (0.2, 0.61), (0.26, 0.615),
                           (0.27, 0.633), (0.3, 0.64), (0.31, 0.625), (0.33, 0.603),
                           (0.36, 0.61), (0.41, 0.615), (0.425, 0.63), (0.44, 0.65),
                           (0.45, 0.665), (0.56, 0.665), (0.57, 0.645), (0.59, 0.62),
                           (0.62, 0.607), (0.66, 0.612), (0.68, 0.625), (0.7, 0.63),
                           (0.72, 0.61), (0.74, 0.59), (0.78, 0.57), (0.82, 0.55), (0.87, 0.53),
                           (0.92, 0.51), (1, 0.5), (1, 0.665), (0, 0.665)])),
    ]},
    "pier_fog": {"smooth": 0, "layers": [
        ("fog", ("all",)),
        ("water-other", ("below", [(0, 0.57), (1, 0.57)])),
        ("wood", ("poly", [(0.3, 0.5), (0.7, 0.5), (0.813, 0.553), (0.813, 0.59), (0.701, 0.59),
                           (1, 0.856), (1, 1), (0, 1), (0, 0.864), (0.299, 0.59), (0.168, 0.59),
                           (0.168, 0.553)])),
        # the ladder's metal handrails
        ("unlabeled", ("poly", [(0.456, 0.41), (0.47, 0.41), (0.47, 0.51), (0.456, 0.51)])),
        ("unlabeled", ("poly", [(0.498, 0.41), (0.512, 0.41), (0.512, 0.51), (0.498, 0.51)])),
    ]},
    "sky_kite": {"smooth": 3, "layers": [
        ("sky-other", ("all",)),
        # white cumulus, and the denser streaks of the cirrus veil (pale, less saturated)
        ("clouds", ("all",), [{"L": (150, None), "S": (None, 0.35)},
                              {"L": (112, None), "S": (None, 0.5)}]),
        # the kite (its bright yellow would pass for cloud once blurred); clear sky around it
        ("sky-other", ("poly", [(0.63, 0.29), (0.73, 0.29), (0.73, 0.43), (0.63, 0.43)])),
        ("unlabeled", ("poly", [(0.647, 0.305), (0.68, 0.315), (0.713, 0.332), (0.68, 0.35),
                                (0.67, 0.37), (0.648, 0.412), (0.645, 0.36)])),
    ]},
    "autumn_painting": {"smooth": 4, "layers": [
        ("sky-other", ("all",)),
        ("tree", ("poly", [(0.6, 0), (1, 0), (1, 0.92), (0.6, 0.92), (0.48, 0.6),
                           (0.48, 0.3)]), {"S": (0.55, None)}),
        ("tree", ("poly", [(0.62, 0.1), (0.7, 0.05), (0.9, 0.05), (1, 0.08), (1, 0.75),
                           (0.9, 0.85), (0.75, 0.85), (0.62, 0.75), (0.55, 0.6), (0.53, 0.45),
                           (0.56, 0.3)])),
        # the pale haze at the foot of the tree
        ("fog", [("on", "sky-other"), ("poly", [(0.55, 0.83), (1, 0.75), (1, 1), (0.55, 1)])]),
        ("grass", ("below", [(0, 0.82), (1, 0.82)]), {"G-R": (10, None)}),
        ("grass", ("below", [(0, 0.93), (1, 0.93)])),
        # the girl running across the meadow
        ("unlabeled", ("poly", [(0.3, 0.77), (0.32, 0.755), (0.335, 0.77), (0.33, 0.9),
                                (0.3, 0.9), (0.295, 0.84)])),
    ]},
    "dune": {"smooth": 3, "layers": [
        ("grass", ("all",)),
        ("sky-other", ("above", [(0, 0.3), (1, 0.3)])),
        ("sea", ("band", [(0, 0.3), (1, 0.3)],
                 [(0, 0.53), (0.5, 0.53), (0.55, 0.52), (0.7, 0.48), (1, 0.47)])),
        # grass stalks and seed heads in front of the sky and the sea: yellow, not blue
        ("grass", ("on", "sky-other", "sea"), {"B-R": (None, 0)}),
        ("sand", ("poly", [(0.86, 1), (0.9, 0.95), (0.95, 0.925), (1, 0.91), (1, 1)])),
    ]},
    "storm": {"smooth": 3, "layers": [
        ("clouds", ("all",)),
        ("hill", ("below", [(0, 0.605), (0.5, 0.61), (1, 0.615)])),
        ("tree", ("poly", [(0, 0.6), (0.35, 0.605), (0.35, 0.63), (0, 0.625)])),
        ("grass", ("below", [(0, 0.628), (0.3, 0.632), (0.6, 0.64), (1, 0.645)])),
        ("dirt", ("below", [(0, 0.68), (0.3, 0.665), (0.6, 0.655), (1, 0.635)])),
        # the motion-blurred guard rail, the grass verge, the road with its edge line
        ("fence", ("band", [(0, 0.689), (1, 0.722)], [(0, 0.745), (1, 0.78)])),
        ("grass", ("below", [(0, 0.745), (1, 0.78)])),
        ("road", ("below", [(0, 0.8), (0.3, 0.825), (1, 0.864)])),
    ]},
}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window (edge pixels repeated), via an integral image."""
    if r <= 0:
        return a.astype(np.float64)
    p = np.pad(a.astype(np.float64), r, mode="edge")
    c = np.pad(p.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    k = 2 * r + 1
    s = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return s / (k * k)


def features(rgb: np.ndarray) -> dict[str, np.ndarray]:
    a = np.stack([box_mean(rgb[..., i], 3) for i in range(3)], -1)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    mx, mn = a.max(-1), a.min(-1)
    return {"R": r, "G": g, "B": b, "L": 0.299 * r + 0.587 * g + 0.114 * b,
            "S": (mx - mn) / np.maximum(mx, 1.0), "B-R": b - r, "G-R": g - r, "B-G": b - g}


def line_y(line, xs: np.ndarray) -> np.ndarray:
    px, py = zip(*line)
    return np.interp(xs, px, py)


def poly_mask(pts, w: int, h: int) -> np.ndarray:
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).polygon([(x * w, y * h) for x, y in pts], fill=1)
    return np.asarray(im, bool)


def region_mask(region, labels: np.ndarray) -> np.ndarray:
    h, w = labels.shape
    if isinstance(region, list):
        out = np.ones((h, w), bool)
        for r in region:
            out &= region_mask(r, labels)
        return out
    kind, *args = region
    ys = (np.arange(h)[:, None] + 0.5) / h
    xs = (np.arange(w) + 0.5) / w
    if kind == "all":
        return np.ones((h, w), bool)
    if kind == "poly":
        return poly_mask(args[0], w, h)
    if kind == "above":
        return ys < line_y(args[0], xs)[None, :]
    if kind == "below":
        return ys >= line_y(args[0], xs)[None, :]
    if kind == "band":
        return (ys >= line_y(args[0], xs)[None, :]) & (ys < line_y(args[1], xs)[None, :])
    if kind == "on":
        return np.isin(labels, [png_value(n) for n in args])
    raise ValueError(f"unknown region kind {kind!r}")


def rule_mask(rule, feats: dict[str, np.ndarray]) -> np.ndarray:
    if isinstance(rule, list):
        return np.logical_or.reduce([rule_mask(r, feats) for r in rule])
    out = np.ones(next(iter(feats.values())).shape, bool)
    for name, (lo, hi) in rule.items():
        if lo is not None:
            out &= feats[name] >= lo
        if hi is not None:
            out &= feats[name] < hi
    return out


def majority(mask: np.ndarray, r: int, passes: int = 2) -> np.ndarray:
    """Binary majority filter: drops specks and fills pinholes smaller than about r pixels."""
    for _ in range(passes):
        mask = box_mean(mask, r) > 0.5
    return mask


def mode_filter(labels: np.ndarray, r: int, passes: int = 2) -> np.ndarray:
    """Each pixel takes the most common label of its window (ties keep the current label)."""
    for _ in range(passes if r > 0 else 0):
        classes = np.unique(labels)
        votes = np.stack([box_mean(labels == c, r) * 2 + (labels == c) * 1e-6 for c in classes])
        labels = classes[votes.argmax(0)].astype(np.uint8)
    return labels


def annotate(stem: str, rgb: np.ndarray | None = None) -> np.ndarray:
    """The label map (H, W) uint8 of PNG values for one photo."""
    if rgb is None:
        rgb = np.asarray(Image.open(PHOTOS / "images" / f"{stem}.jpg").convert("RGB"))
    spec = ANNOTATIONS[stem]
    h, w = rgb.shape[:2]
    labels = np.full((h, w), UNLABELED_PNG, np.uint8)
    feats = None
    for layer in spec["layers"]:
        name, region, *rule = layer
        mask = region_mask(region, labels)
        if rule:
            feats = feats if feats is not None else features(rgb)
            mask &= majority(rule_mask(rule[0], feats), 4)
        labels[mask] = png_value(name)
    return mode_filter(labels, spec["smooth"])


def palette() -> list[int]:
    pal = [0] * 768
    for v, c in COLORS.items():
        pal[3 * v:3 * v + 3] = c
    return pal


def overlay(rgb: np.ndarray, labels: np.ndarray) -> Image.Image:
    """Photo blended 50% with the label colours, over a legend of the classes present."""
    table = np.zeros((256, 3), np.uint8)
    for v, c in COLORS.items():
        table[v] = c
    blend = ((rgb.astype(np.uint16) + table[labels]) // 2).astype(np.uint8)
    values, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    h, w = labels.shape
    row, per_row = 22, 4
    rows = (len(values) + per_row - 1) // per_row
    out = Image.new("RGB", (w, h + rows * row + 6), (255, 255, 255))
    out.paste(Image.fromarray(blend), (0, 0))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default()
    for k, i in enumerate(order):
        x, y = (k % per_row) * (w // per_row) + 6, h + 4 + (k // per_row) * row
        draw.rectangle([x, y + 2, x + 24, y + 16], fill=COLORS[int(values[i])], outline=(0, 0, 0))
        text = f"{NAMES[int(values[i])]} ({int(values[i])}) {100 * counts[i] / labels.size:.1f}%"
        draw.text((x + 30, y + 3), text, fill=(0, 0, 0), font=font)
    return out


def write(stem: str) -> np.ndarray:
    rgb = np.asarray(Image.open(PHOTOS / "images" / f"{stem}.jpg").convert("RGB"))
    labels = annotate(stem, rgb)
    (PHOTOS / "labels").mkdir(exist_ok=True)
    (PHOTOS / "overlays").mkdir(exist_ok=True)
    im = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    im.putpalette(palette())
    im.save(PHOTOS / "labels" / f"{stem}.png", optimize=False)
    overlay(rgb, labels).save(PHOTOS / "overlays" / f"{stem}.jpg", quality=88)
    return labels


def main(argv: list[str]) -> int:
    for stem in argv or sorted(ANNOTATIONS):
        labels = write(stem)
        values, counts = np.unique(labels, return_counts=True)
        parts = [f"{NAMES[int(v)]} {100 * c / labels.size:.1f}%"
                 for v, c in sorted(zip(values, counts), key=lambda t: -t[1])]
        print(f"{stem}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
