"""Label sets: the classes a label-to-image model knows, their names, display colours and groups.

A label map the model sees holds *model-space* ids (0..n-1, the one-hot channel of each pixel).
Datasets store other values in their PNGs (COCO-Stuff: 255 for unlabeled; ADE20K: id+1, 0 for
unknown), so each set records its PNG convention and converts both ways.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LabelSetError

# How a dataset's index PNG values relate to model-space ids.
PNG_CONVENTIONS = ("identity", "coco", "ade20k")


@dataclass(frozen=True)
class LabelClass:
    id: int                      # model-space id (one-hot channel)
    name: str
    color: tuple[int, int, int]  # display colour in the palette and colour-coded maps
    group: str = ""              # palette group: sky, water, ground, plants, structures, ...


@dataclass(frozen=True)
class LabelSet:
    name: str
    classes: tuple[LabelClass, ...]
    dontcare_id: int | None = None   # model-space id of "unlabeled"/dontcare, if the set has one
    png_convention: str = "identity"
    description: str = ""
    _by_id: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.png_convention not in PNG_CONVENTIONS:
            raise LabelSetError(f"label set {self.name!r}: unknown PNG convention "
                                f"{self.png_convention!r} (one of {', '.join(PNG_CONVENTIONS)})")
        by_id = {}
        for c in self.classes:
            if c.id in by_id:
                raise LabelSetError(f"label set {self.name!r}: id {c.id} appears twice")
            by_id[c.id] = c
        object.__setattr__(self, "_by_id", by_id)

    # --- lookup ---
    @property
    def num_ids(self) -> int:
        """One past the largest model-space id: the number of one-hot channels it needs."""
        return max(self._by_id) + 1 if self._by_id else 0

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, class_id: int) -> bool:
        return int(class_id) in self._by_id

    def get(self, class_id: int) -> LabelClass:
        try:
            return self._by_id[int(class_id)]
        except KeyError:
            raise LabelSetError(f"label set {self.name!r} has no class with id {class_id}") from None

    def by_name(self, name: str) -> LabelClass:
        for c in self.classes:
            if c.name == name:
                return c
        raise LabelSetError(f"label set {self.name!r} has no class named {name!r}")

    def groups(self) -> dict[str, list[LabelClass]]:
        out: dict[str, list[LabelClass]] = {}
        for c in self.classes:
            out.setdefault(c.group or "other", []).append(c)
        return out

    def color_table(self) -> np.ndarray:
        """(num_ids, 3) uint8 colours indexed by model-space id (ids not in the set are black)."""
        table = np.zeros((max(self.num_ids, 1), 3), np.uint8)
        for c in self.classes:
            table[c.id] = c.color
        return table

    def colorize(self, label_map: np.ndarray) -> np.ndarray:
        """Model-space label map (H, W) -> colour-coded RGB (H, W, 3) uint8."""
        return self.color_table()[np.asarray(label_map, dtype=np.int64)]

    # --- dataset PNG values <-> model-space ids ---
    def png_to_model(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values).astype(np.int64)
        if self.png_convention == "coco":
            out = v.copy()
            out[v == 255] = self.dontcare_id if self.dontcare_id is not None else 255
        elif self.png_convention == "ade20k":
            out = v - 1
            out[v == 0] = self.dontcare_id if self.dontcare_id is not None else -1
        else:
            out = v
        return out

    def model_to_png(self, ids: np.ndarray) -> np.ndarray:
        v = np.asarray(ids).astype(np.int64)
        if self.png_convention == "coco":
            out = v.copy()
            if self.dontcare_id is not None:
                out[v == self.dontcare_id] = 255
        elif self.png_convention == "ade20k":
            out = v + 1
            if self.dontcare_id is not None:
                out[v == self.dontcare_id] = 0
        else:
            out = v
        return out.astype(np.uint8)

    def check_ids(self, ids: np.ndarray) -> None:
        """Raise a LabelSetError naming the ids that are not classes of this set."""
        present = np.unique(np.asarray(ids))
        bad = [int(i) for i in present if int(i) not in self._by_id]
        if bad:
            raise LabelSetError(
                f"label map holds id(s) {bad[:10]}{' ...' if len(bad) > 10 else ''} that are not "
                f"classes of label set {self.name!r} (valid: {self.describe_range()})")

    def describe_range(self) -> str:
        ids = sorted(self._by_id)
        return f"{len(ids)} classes, ids {ids[0]}..{ids[-1]}" if ids else "no classes"

    # --- serialisation (model files, JSON resources) ---
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "dontcare_id": self.dontcare_id, "png_convention": self.png_convention,
                "classes": [{"id": c.id, "name": c.name, "color": list(c.color), "group": c.group}
                            for c in self.classes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabelSet":
        try:
            classes = tuple(LabelClass(int(c["id"]), str(c["name"]),
                                       tuple(int(x) for x in c["color"]), str(c.get("group", "")))
                            for c in data["classes"])
            for c in classes:
                if len(c.color) != 3 or not all(0 <= x <= 255 for x in c.color):
                    raise LabelSetError(f"class {c.name!r}: colour must be 3 values 0..255")
            dontcare = data.get("dontcare_id")
            if dontcare is not None:
                if isinstance(dontcare, bool) or not isinstance(dontcare, int):
                    raise LabelSetError(f"malformed label set: dontcare_id must be an integer id "
                                        f"or null, not {dontcare!r}")
                if dontcare not in {c.id for c in classes}:
                    raise LabelSetError(f"malformed label set: dontcare_id {dontcare} is not the "
                                        "id of one of its classes")
            return cls(name=str(data["name"]), classes=classes,
                       dontcare_id=dontcare,
                       png_convention=data.get("png_convention", "identity"),
                       description=str(data.get("description", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LabelSetError(f"malformed label set: {type(exc).__name__}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "LabelSet":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise LabelSetError(f"label set is not valid JSON: {exc}") from None


def resources_dir() -> Path:
    """``resources/``: beside the packages in a checkout or editable install, else where a wheel
    install puts its data files (``<prefix>/share/gauapp/resources``)."""
    beside = Path(__file__).resolve().parents[1] / "resources"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "gauapp" / "resources"


BUILTIN_LABELSETS = ("coco-stuff", "ade20k", "cityscapes", "landscape")


def load_labelset(name_or_path: str | Path) -> LabelSet:
    """A built-in set by name (``coco-stuff``, ``ade20k``, ``cityscapes``, ``landscape``) or a
    JSON file in the same format."""
    key = str(name_or_path)
    if key in BUILTIN_LABELSETS:
        path = resources_dir() / "labelsets" / f"{key}.json"
    else:
        path = Path(name_or_path)
    if not path.is_file():
        raise LabelSetError(f"no label set {key!r} (built-in: {', '.join(BUILTIN_LABELSETS)}; "
                            "or give a JSON file)")
    return LabelSet.from_json(path.read_text(encoding="utf-8"))
