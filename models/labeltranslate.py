"""Translate a label map from one label set to another by what the classes mean.

A painting made with the landscape palette (COCO-Stuff ids) means nothing to a model trained on
ADE20K or Cityscapes ids: the same number is another class there. ``translation(source,
target)`` matches each source class to a target class:

1. the same id with the same name: nothing to translate (landscape -> COCO-Stuff);
2. the same name, ignoring case and COCO-Stuff's ``-other``/``-merged``/``-stuff`` suffixes
   ("sky-other" -> ADE20K "sky");
3. the first present of a short list of stand-ins a person would accept ("clouds" -> "sky",
   "dirt" -> "earth", "tree" -> Cityscapes "vegetation");
4. otherwise the target's unlabeled class, and the match says so.

``LabelTranslation.apply`` maps whole arrays with one table lookup; negative values (a layer's
transparent pixels) are kept as they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import LabelSetError
from .labelsets import LabelClass, LabelSet

SAME_ID, SAME_NAME, STAND_IN, UNMATCHED = "same id", "same name", "stand-in", "no match"

# name -> other names, best first, that mean nearly the same in a painting (searched in order
# after the exact name). Covers the natural classes of the landscape palette and the ADE20K /
# Cityscapes classes they meet.
STAND_INS: dict[str, tuple[str, ...]] = {
    "sky": ("clouds",),
    "clouds": ("sky",),
    "fog": ("clouds", "sky"),
    "sea": ("water", "lake"),
    "river": ("water", "lake"),
    "water": ("sea", "lake", "river"),
    "lake": ("water", "sea", "river"),
    "waterfall": ("river", "water"),
    "mountain": ("hill", "rock", "terrain"),
    "hill": ("mountain", "terrain", "grass"),
    "rock": ("stone", "mountain", "terrain"),
    "stone": ("rock", "gravel", "terrain"),
    "snow": ("land", "ground", "terrain"),
    "sand": ("dirt", "earth", "terrain"),
    "dirt": ("earth", "mud", "ground", "land", "terrain"),
    "mud": ("dirt", "earth", "ground", "terrain"),
    "gravel": ("dirt", "earth", "ground", "terrain"),
    "ground": ("earth", "land", "dirt", "terrain"),
    "earth": ("dirt", "ground", "land", "terrain"),
    "land": ("ground", "earth", "dirt", "terrain"),
    "terrain": ("grass", "ground", "earth", "dirt"),
    "dirt track": ("dirt", "path", "road"),
    "path": ("dirt", "road"),
    "field": ("grass", "playingfield", "terrain"),
    "playingfield": ("field", "grass", "terrain"),
    "grass": ("field", "terrain", "vegetation"),
    "moss": ("grass", "plant", "vegetation"),
    "tree": ("palm", "vegetation"),
    "palm": ("tree", "vegetation"),
    "leaves": ("tree", "plant", "vegetation"),
    "branch": ("tree", "vegetation"),
    "bush": ("plant", "vegetation"),
    "plant": ("bush", "vegetation"),
    "flower": ("plant", "bush", "vegetation"),
    "vegetation": ("tree", "bush", "plant", "grass"),
    "house": ("building", "hovel"),
    "building": ("house",),
    "hovel": ("house", "building"),
    "skyscraper": ("building", "house"),
    "wood": ("pier", "bridge"),
    "pier": ("wood", "bridge"),
    "bridge": ("pier",),
    "fence": ("railing", "guard rail"),
    "road": ("path",),
}
UNLABELED_NAMES = ("unlabeled", "unknown", "other")


def plain_name(name: str) -> str:
    """'Sky-other' -> 'sky', 'water-other' -> 'water', 'tree-merged' -> 'tree'."""
    name = re.sub(r"-(other|merged|stuff)$", "", name.strip().lower())
    return " ".join(name.split())


@dataclass(frozen=True)
class Match:
    source: LabelClass
    target: LabelClass | None   # None: the target set has no unlabeled class either
    how: str                    # SAME_ID, SAME_NAME, STAND_IN or UNMATCHED

    def describe(self) -> str:
        to = self.target.name if self.target is not None else "nothing"
        return f"{self.source.name} → {to}" + (" (no match)" if self.how == UNMATCHED else "")


@dataclass(frozen=True)
class LabelTranslation:
    source: LabelSet
    target: LabelSet
    matches: tuple[Match, ...]

    @property
    def is_identity(self) -> bool:
        """Every source class keeps its id and meaning: the map is valid as it is."""
        return all(m.how == SAME_ID for m in self.matches)

    def match(self, class_id: int) -> Match:
        for m in self.matches:
            if m.source.id == class_id:
                return m
        raise LabelSetError(f"label set {self.source.name!r} has no class with id {class_id}")

    def table(self) -> np.ndarray:
        """``table[source id] = target id`` (source ids with no class map to themselves)."""
        size = max([self.source.num_ids] + [m.source.id + 1 for m in self.matches])
        table = np.arange(size, dtype=np.int64)
        for m in self.matches:
            if m.target is None:
                raise LabelSetError(f"{m.source.name!r} has no counterpart in label set "
                                    f"{self.target.name!r}, which has no unlabeled class either")
            table[m.source.id] = m.target.id
        return table

    def apply(self, ids: np.ndarray) -> np.ndarray:
        """``ids`` (any integer shape) in target ids, as a new array of the same dtype; negative
        values (transparent) and ids outside the source set are kept."""
        ids = np.asarray(ids)
        table = self.table()
        inside = (ids >= 0) & (ids < len(table))
        out = ids.copy()
        out[inside] = table[ids[inside]]
        return out

    def used(self, ids: np.ndarray) -> list[Match]:
        """The matches of the classes that occur in ``ids``, in source palette order."""
        present = set(np.unique(np.asarray(ids)).tolist())
        return [m for m in self.matches if m.source.id in present]


def unlabeled_class(labelset: LabelSet) -> LabelClass | None:
    if labelset.dontcare_id is not None and labelset.dontcare_id in labelset:
        return labelset.get(labelset.dontcare_id)
    for c in labelset.classes:
        if plain_name(c.name) in UNLABELED_NAMES:
            return c
    return None


def translation(source: LabelSet, target: LabelSet) -> LabelTranslation:
    """How each class of ``source`` maps to ``target`` (see the module docstring)."""
    by_name: dict[str, LabelClass] = {}
    for c in target.classes:
        by_name.setdefault(plain_name(c.name), c)
    fallback = unlabeled_class(target)
    matches = []
    for c in source.classes:
        name = plain_name(c.name)
        if c.id in target and plain_name(target.get(c.id).name) == name:
            matches.append(Match(c, target.get(c.id), SAME_ID))
        elif name in by_name:
            matches.append(Match(c, by_name[name], SAME_NAME))
        elif name in UNLABELED_NAMES and fallback is not None:
            matches.append(Match(c, fallback, SAME_NAME))
        else:
            stand_in = next((by_name[n] for n in STAND_INS.get(name, ()) if n in by_name), None)
            if stand_in is not None:
                matches.append(Match(c, stand_in, STAND_IN))
            else:
                matches.append(Match(c, fallback, UNMATCHED))
    return LabelTranslation(source, target, tuple(matches))
