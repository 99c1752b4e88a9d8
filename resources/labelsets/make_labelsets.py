"""Write the built-in label-set tables: coco-stuff.json, ade20k.json, cityscapes.json, landscape.json.

Run ``python resources/labelsets/make_labelsets.py`` to rewrite them, or with ``--check`` to verify
that the files on disk are what this script produces (the tests do the same).

Sources of the names and colours
--------------------------------
- COCO-Stuff: names from nightrome/cocostuff ``labels.txt`` (1-based there; model id = id - 1,
  0 "unlabeled" there becomes model id 182, stored as 255 in the stuffthingmaps PNGs, which is how
  NVlabs/SPADE reads them: label_nc 182 + a dontcare channel). COCO-Stuff has no official display
  palette: the colours of the landscape classes are hand-picked natural colours (a colour-coded
  painting looks like a map of a landscape); the other classes get colours generated here, within a
  hue band per group, chosen greedily to stay as far as possible from every colour already taken.
- ADE20K (SceneParsing / ADEChallengeData2016): the 150 classes of ``objectInfo150`` in order
  (PNG value 1..150 = model id 0..149, 0 = "other/unknown" -> dontcare id 150). Names are the first
  name of each entry, as mmsegmentation's ``ADE20KDataset`` spells them (multi-word names kept
  whole); colours are the palette the segmentation community uses (the same as
  CSAILVision ``color150.mat`` and mmsegmentation's ``ADE20KDataset`` palette). That palette gives
  road and skyscraper the same colour (140, 140, 140); it is kept as it is.
- Cityscapes: names, label ids and colours from mcordts/cityscapesScripts ``helpers/labels.py``
  (label ids 0..33). SPADE/pix2pixHD use label_nc 35, so channel 34 exists but is never set in the
  gtFine labelIds PNGs; it is listed as "license plate" (the one official label without an id, -1,
  drawn under "car" in the PNGs) so that the set covers every channel. The official colours repeat
  (0, 0, 0) for ids 0..4, (153, 153, 153) for pole/polegroup and (0, 0, 142) for car/license plate.
"""
from __future__ import annotations

import argparse
import colorsys
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# ------------------------------------------------------------------------------------------------
# COCO-Stuff: model id -> name (labels.txt id minus 1). Ids 11, 25, 28, 29, 44, 65, 67, 68, 70, 82,
# 90 are COCO "thing" ids that no annotation uses; they keep their COCO names.
# ------------------------------------------------------------------------------------------------
COCO_NAMES = [
    # 0..9
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light",
    # 10..19
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep",
    # 20..29
    "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses",
    # 30..39
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove",
    # 40..49
    "skateboard", "surfboard", "tennis racket", "bottle", "plate", "wine glass", "cup", "fork",
    "knife", "spoon",
    # 50..59
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut",
    # 60..69
    "cake", "chair", "couch", "potted plant", "bed", "mirror", "dining table", "window", "desk",
    "toilet",
    # 70..79
    "door", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster",
    # 80..89
    "sink", "refrigerator", "blender", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
    # 90..99
    "hair brush", "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet",
    "cage", "cardboard",
    # 100..109
    "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter",
    "cupboard", "curtain", "desk-stuff",
    # 110..119
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile",
    "floor-wood", "flower", "fog",
    # 120..129
    "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house",
    "leaves", "light",
    # 130..139
    "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement",
    # 140..149
    "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river",
    "road", "rock",
    # 150..159
    "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow",
    "solid-other",
    # 160..169
    "stairs", "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel",
    "tree", "vegetable",
    # 170..179
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind",
    # 180..181
    "window-other", "wood",
]
COCO_UNUSED_THING_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
COCO_UNLABELED_ID = 182
COCO_UNLABELED_COLOR = (0, 0, 0)

# The landscape palette, in palette order (groups in this order, most used first in each group).
# name, group, colour. The same names, ids and colours are used in coco-stuff.json.
LANDSCAPE = [
    ("sky-other",    "sky",        (135, 206, 235)),
    ("clouds",       "sky",        (214, 224, 240)),
    ("fog",          "sky",        (178, 186, 196)),
    ("sea",          "water",      (22, 64, 150)),
    ("river",        "water",      (48, 118, 206)),
    ("water-other",  "water",      (60, 168, 190)),
    ("mountain",     "ground",     (126, 104, 86)),
    ("hill",         "ground",     (140, 150, 84)),
    ("rock",         "ground",     (92, 94, 102)),
    ("snow",         "ground",     (250, 250, 250)),
    ("sand",         "ground",     (234, 212, 156)),
    ("dirt",         "ground",     (150, 104, 62)),
    ("stone",        "ground",     (156, 156, 150)),
    ("gravel",       "ground",     (190, 176, 160)),
    ("mud",          "ground",     (92, 68, 44)),
    ("ground-other", "ground",     (178, 134, 96)),
    ("grass",        "plants",     (104, 188, 60)),
    ("tree",         "plants",     (28, 96, 40)),
    ("bush",         "plants",     (66, 140, 56)),
    ("flower",       "plants",     (232, 98, 168)),
    ("leaves",       "plants",     (150, 180, 40)),
    ("moss",         "plants",     (96, 124, 36)),
    ("branch",       "plants",     (128, 52, 24)),
    ("plant-other",  "plants",     (40, 158, 112)),
    ("road",         "structures", (70, 70, 76)),
    ("house",        "structures", (196, 58, 48)),
    ("bridge",       "structures", (150, 96, 110)),
    ("fence",        "structures", (206, 140, 150)),
    ("playingfield", "structures", (170, 226, 130)),
    ("wood",         "structures", (182, 124, 56)),
]

# Groups of the other COCO-Stuff classes (the landscape classes take their group from LANDSCAPE).
COCO_GROUPS = {
    "sky": [],
    "water": ["waterdrops"],
    "ground": ["solid-other"],
    "plants": ["straw"],
    "structures": ["building-other", "skyscraper", "roof", "tent", "pavement", "platform",
                   "railroad", "railing", "stairs", "net", "cage", "structural-other"],
    "indoor": ["ceiling-other", "ceiling-tile", "floor-marble", "floor-other", "floor-stone",
               "floor-tile", "floor-wood", "wall-brick", "wall-concrete", "wall-other",
               "wall-panel", "wall-stone", "wall-tile", "wall-wood", "window-blind",
               "window-other", "door-stuff", "carpet", "rug", "mat", "curtain", "banner",
               "blanket", "cloth", "clothes", "napkin", "pillow", "towel", "textile-other",
               "cardboard", "metal", "paper", "plastic"],
    "furniture": ["chair", "couch", "bed", "dining table", "desk", "toilet", "mirror", "window",
                  "door", "cabinet", "counter", "cupboard", "desk-stuff", "furniture-other",
                  "shelf", "table", "light", "mirror-stuff", "potted plant"],
    "food": ["banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
             "donut", "cake", "food-other", "fruit", "salad", "vegetable"],
    "people & animals": ["person", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
                         "bear", "zebra", "giraffe"],
    "vehicles": ["bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"],
    "objects": ["traffic light", "fire hydrant", "street sign", "stop sign", "parking meter",
                "bench", "hat", "backpack", "umbrella", "shoe", "eye glasses", "handbag", "tie",
                "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
                "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
                "bottle", "plate", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "tv",
                "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
                "toaster", "sink", "refrigerator", "blender", "book", "clock", "vase",
                "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush"],
}
# Hue band (degrees) of each group for the generated colours; the landscape groups keep their
# natural colours and the few extra classes in them get colours near their group's.
GROUP_HUES = {
    "sky": (190, 215), "water": (185, 225), "ground": (20, 50), "plants": (70, 150),
    "structures": (340, 380), "indoor": (255, 300), "furniture": (300, 340), "food": (40, 65),
    "people & animals": (0, 30), "vehicles": (215, 250), "objects": (0, 360),
}
GROUP_ORDER = ["sky", "water", "ground", "plants", "structures", "indoor", "furniture", "food",
               "people & animals", "vehicles", "objects", "other"]

# ------------------------------------------------------------------------------------------------
# ADE20K (objectInfo150 order; model id = index, PNG value = id + 1).
# ------------------------------------------------------------------------------------------------
ADE_NAMES = [
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug",
    "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning",
    "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole",
    "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van",
    "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool",
    "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball",
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light",
    "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board",
    "shower", "radiator", "glass", "clock", "flag",
]
ADE_PALETTE = [
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3),
    (120, 120, 80), (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7),
    (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70), (8, 255, 51),
    (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3),
    (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71),
    (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7),
    (255, 122, 8), (0, 255, 20), (255, 8, 41), (255, 5, 153), (6, 51, 255),
    (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140), (250, 10, 15),
    (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0),
    (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112),
    (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173),
    (10, 0, 255), (173, 255, 0), (0, 255, 153), (255, 92, 0), (255, 0, 255),
    (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20), (255, 184, 184),
    (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194),
    (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255),
    (0, 122, 255), (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0),
    (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255),
    (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255), (112, 224, 255),
    (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235),
    (245, 0, 255), (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0),
    (0, 204, 255), (20, 0, 255), (255, 255, 0), (0, 153, 255), (0, 41, 255),
    (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0),
    (0, 133, 255), (255, 214, 0), (25, 194, 194), (102, 255, 0), (92, 0, 255),
]
ADE_UNKNOWN_COLOR = (0, 0, 0)
ADE_GROUPS = {
    "sky": ["sky"],
    "water": ["water", "sea", "river", "lake", "waterfall", "swimming pool", "fountain"],
    "ground": ["earth", "mountain", "rock", "sand", "hill", "land", "field", "dirt track"],
    "plants": ["tree", "grass", "plant", "flower", "palm"],
    "structures": ["building", "road", "sidewalk", "house", "fence", "railing", "column",
                   "skyscraper", "grandstand", "path", "stairs", "runway", "stairway", "bridge",
                   "hovel", "tower", "awning", "streetlight", "booth", "pole", "bannister",
                   "escalator", "stage", "canopy", "tent", "step", "pier"],
    "indoor": ["wall", "floor", "ceiling", "windowpane", "door", "curtain", "rug", "blind",
               "screen door"],
    "furniture": ["bed", "cabinet", "table", "chair", "sofa", "shelf", "armchair", "seat", "desk",
                  "wardrobe", "bathtub", "cushion", "base", "chest of drawers", "counter",
                  "sink", "fireplace", "refrigerator", "case", "pool table", "pillow",
                  "bookcase", "coffee table", "toilet", "bench", "countertop", "stove",
                  "kitchen island", "swivel chair", "bar", "ottoman", "buffet", "stool",
                  "cradle", "shower", "radiator", "washer", "dishwasher", "oven", "microwave",
                  "hood"],
    "people & animals": ["person", "animal"],
    "vehicles": ["car", "boat", "bus", "truck", "airplane", "van", "ship", "minibike",
                 "bicycle"],
    "objects": ["painting", "mirror", "lamp", "box", "signboard", "computer", "arcade machine",
                "towel", "light", "chandelier", "book", "television receiver", "apparel", "bottle",
                "poster", "conveyer belt", "plaything", "barrel", "basket", "bag", "ball", "food",
                "tank", "trade name", "pot", "screen", "blanket", "sculpture", "sconce", "vase",
                "traffic light", "tray", "ashcan", "fan", "crt screen", "plate", "monitor",
                "bulletin board", "glass", "clock", "flag"],
}

# ------------------------------------------------------------------------------------------------
# Cityscapes (cityscapesScripts helpers/labels.py): id, name, category, colour.
# ------------------------------------------------------------------------------------------------
CITYSCAPES = [
    (0, "unlabeled", "void", (0, 0, 0)),
    (1, "ego vehicle", "void", (0, 0, 0)),
    (2, "rectification border", "void", (0, 0, 0)),
    (3, "out of roi", "void", (0, 0, 0)),
    (4, "static", "void", (0, 0, 0)),
    (5, "dynamic", "void", (111, 74, 0)),
    (6, "ground", "void", (81, 0, 81)),
    (7, "road", "flat", (128, 64, 128)),
    (8, "sidewalk", "flat", (244, 35, 232)),
    (9, "parking", "flat", (250, 170, 160)),
    (10, "rail track", "flat", (230, 150, 140)),
    (11, "building", "construction", (70, 70, 70)),
    (12, "wall", "construction", (102, 102, 156)),
    (13, "fence", "construction", (190, 153, 153)),
    (14, "guard rail", "construction", (180, 165, 180)),
    (15, "bridge", "construction", (150, 100, 100)),
    (16, "tunnel", "construction", (150, 120, 90)),
    (17, "pole", "object", (153, 153, 153)),
    (18, "polegroup", "object", (153, 153, 153)),
    (19, "traffic light", "object", (250, 170, 30)),
    (20, "traffic sign", "object", (220, 220, 0)),
    (21, "vegetation", "nature", (107, 142, 35)),
    (22, "terrain", "nature", (152, 251, 152)),
    (23, "sky", "sky", (70, 130, 180)),
    (24, "person", "human", (220, 20, 60)),
    (25, "rider", "human", (255, 0, 0)),
    (26, "car", "vehicle", (0, 0, 142)),
    (27, "truck", "vehicle", (0, 0, 70)),
    (28, "bus", "vehicle", (0, 60, 100)),
    (29, "caravan", "vehicle", (0, 0, 90)),
    (30, "trailer", "vehicle", (0, 0, 110)),
    (31, "train", "vehicle", (0, 80, 100)),
    (32, "motorcycle", "vehicle", (0, 0, 230)),
    (33, "bicycle", "vehicle", (119, 11, 32)),
    (34, "license plate", "vehicle", (0, 0, 142)),   # official id -1; SPADE's channel 34
]

# Colours the official palettes repeat (name groups sharing one colour); the tests allow exactly these.
OFFICIAL_DUPLICATE_COLORS = {
    "ade20k": [("road", "skyscraper")],
    "cityscapes": [("unlabeled", "ego vehicle", "rectification border", "out of roi", "static"),
                   ("pole", "polegroup"), ("car", "license plate")],
}


# ------------------------------------------------------------------------------------------------
def _candidates(hue_band):
    lo, hi = hue_band
    out = []
    for h in range(lo, hi + 1, 3):
        for s in (0.35, 0.5, 0.65, 0.8, 0.95):
            for v in (0.45, 0.58, 0.71, 0.84, 0.97):
                r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, s, v)
                out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def coco_colors(groups: dict[int, str]) -> dict[int, tuple[int, int, int]]:
    """Landscape classes: the LANDSCAPE colours; every other id: the candidate of its group's hue
    band farthest from all colours taken so far (ids in increasing order; ties go to the earliest
    candidate)."""
    colors = {COCO_NAMES.index(n): c for n, _, c in LANDSCAPE}
    taken = list(colors.values()) + [COCO_UNLABELED_COLOR, (255, 255, 255)]
    cands = {g: np.array(_candidates(band), np.int64) for g, band in GROUP_HUES.items()}
    # squared distance of each candidate to its nearest taken colour, updated as colours are taken
    nearest = {g: np.min(((c[:, None, :] - np.array(taken)[None]) ** 2).sum(-1), axis=1)
               for g, c in cands.items()}
    for i in range(len(COCO_NAMES)):
        if i in colors:
            continue
        g = groups[i]
        best = tuple(int(x) for x in cands[g][int(np.argmax(nearest[g]))])
        colors[i] = best
        for h, c in cands.items():
            nearest[h] = np.minimum(nearest[h], ((c - np.array(best)) ** 2).sum(-1))
    return colors


def coco_stuff() -> dict:
    land = {n: g for n, g, _ in LANDSCAPE}
    groups = {}
    for i, n in enumerate(COCO_NAMES):
        gs = [g for g, names in COCO_GROUPS.items() if n in names]
        if n in land:
            gs.append(land[n])
        assert len(gs) == 1, (n, gs)
        groups[i] = gs[0]
    colors = coco_colors(groups)
    classes = [{"id": i, "name": n, "color": list(colors[i]), "group": groups[i]}
               for i, n in enumerate(COCO_NAMES)]
    classes.append({"id": COCO_UNLABELED_ID, "name": "unlabeled",
                    "color": list(COCO_UNLABELED_COLOR), "group": "other"})
    return {
        "name": "coco-stuff",
        "description": (
            "COCO-Stuff 2017 as NVlabs/SPADE uses it: model ids 0..181 = labels.txt ids 1..182 "
            "(0 person ... 181 wood), PNG value = id; 182 unlabeled (PNG 255) is the dontcare "
            "channel. Ids " + ", ".join(map(str, COCO_UNUSED_THING_IDS)) + " are COCO thing ids "
            "that no annotation uses. Colours: natural colours for the landscape classes, "
            "generated per group for the others (COCO-Stuff has no official palette)."),
        "dontcare_id": COCO_UNLABELED_ID,
        "png_convention": "coco",
        "classes": classes,
    }


def landscape(coco: dict) -> dict:
    by_name = {c["name"]: c for c in coco["classes"]}
    classes = [dict(by_name[n]) for n, _, _ in LANDSCAPE] + [dict(by_name["unlabeled"])]
    return {
        "name": "landscape",
        "description": (
            "The landscape palette of the painting app: the natural COCO-Stuff classes with their "
            "COCO-Stuff ids, names and colours (a model trained on COCO-Stuff ids uses them as "
            "they are); 182 unlabeled is the dontcare channel (PNG 255). Listed in palette order."),
        "dontcare_id": COCO_UNLABELED_ID,
        "png_convention": "coco",
        "classes": classes,
    }


def ade20k() -> dict:
    assert len(ADE_NAMES) == 150 and len(ADE_PALETTE) == 150
    group_of = {}
    for g, names in ADE_GROUPS.items():
        for n in names:
            assert n in ADE_NAMES and n not in group_of, n
            group_of[n] = g
    assert set(group_of) == set(ADE_NAMES), set(ADE_NAMES) - set(group_of)
    classes = [{"id": i, "name": n, "color": list(ADE_PALETTE[i]), "group": group_of[n]}
               for i, n in enumerate(ADE_NAMES)]
    classes.append({"id": 150, "name": "unknown", "color": list(ADE_UNKNOWN_COLOR),
                    "group": "other"})
    return {
        "name": "ade20k",
        "description": (
            "ADE20K SceneParsing (ADEChallengeData2016), 150 classes in objectInfo150 order: model "
            "id = PNG value - 1; PNG 0 (other/unknown) is the dontcare id 150. Colours: the "
            "community ADE20K palette (road and skyscraper share (140, 140, 140) there)."),
        "dontcare_id": 150,
        "png_convention": "ade20k",
        "classes": classes,
    }


def cityscapes() -> dict:
    classes = [{"id": i, "name": n, "color": list(c), "group": g} for i, n, g, c in CITYSCAPES]
    return {
        "name": "cityscapes",
        "description": (
            "Cityscapes label ids 0..33 (gtFine *_labelIds.png, PNG value = id) with the official "
            "names, categories and colours of cityscapesScripts; id 34 fills SPADE's 35th channel "
            "(license plate has no id officially and never appears in the PNGs). No dontcare "
            "channel. The official colours repeat: black for ids 0..4, pole/polegroup, "
            "car/license plate."),
        "dontcare_id": None,
        "png_convention": "identity",
        "classes": classes,
    }


def build_all() -> dict[str, dict]:
    coco = coco_stuff()
    return {"coco-stuff": coco, "ade20k": ade20k(), "cityscapes": cityscapes(),
            "landscape": landscape(coco)}


def dumps(data: dict) -> str:
    """JSON with one class a line (readable diffs), loadable by LabelSet.from_json."""
    head = {k: v for k, v in data.items() if k != "classes"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append('  "classes": [')
    cls = [json.dumps(c, ensure_ascii=False) for c in data["classes"]]
    lines += [f"    {c}," for c in cls[:-1]] + [f"    {cls[-1]}"]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="only check that the JSON files are up to date")
    ap.add_argument("--out", type=Path, default=HERE, help="folder to write (default: here)")
    args = ap.parse_args(argv)
    stale = []
    for name, data in build_all().items():
        path = args.out / f"{name}.json"
        text = dumps(data)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({len(data['classes'])} classes)")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run make_labelsets.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
