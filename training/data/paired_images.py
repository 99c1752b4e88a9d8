"""Image -> image datasets of pix2pix: ``aligned`` (A|B in one file), ``unaligned`` (A and B in
two folders, paired by name) and ``colorization`` (L -> ab in Lab space), plus the Lab conversion.

Samples are ``{"A": FloatTensor (C, H, W), "B": FloatTensor (C, H, W), "path": str}`` with A the
network input: the dataset applies `direction`, so a trainer always maps A to B.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.color import lab_to_rgb, lab_to_srgb, rgb_to_lab  # noqa: F401

from .transforms import (DatasetError, Options, Preprocess, SeededDataset, describe, image_size,
                         image_tensor, list_images, read_mode, read_rgb, require_dir)
from .labelled import AUTO_FULL_LIMIT, VERIFY_MODES, by_stem

DIRECTIONS = ("AtoB", "BtoA")
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


def _verify_mode(verify: str, n: int) -> str:
    if verify not in VERIFY_MODES:
        raise DatasetError(f"verify must be one of {', '.join(VERIFY_MODES)}, not {verify!r}")
    if verify == "auto":
        return "full" if n <= AUTO_FULL_LIMIT else "none"
    return verify


def _channels(value: Any, name: str) -> int:
    if value not in (1, 3):
        raise DatasetError(f"{name} must be 1 (grayscale) or 3 (RGB), not {value!r}")
    return int(value)


def _as(img: Image.Image, nc: int) -> Image.Image:
    return img.convert("L") if nc == 1 else img      # ITU-R 601 luma, as torchvision Grayscale


class _PairBase(SeededDataset):
    """Shared by aligned and unaligned: two views of one sample, one plan for both."""

    def __init__(self, preprocess: Preprocess, *, direction: str, input_nc: int, output_nc: int,
                 seed: int, max_dataset_size: int | None):
        super().__init__(preprocess, seed, max_dataset_size)
        if direction not in DIRECTIONS:
            raise DatasetError(f"direction must be AtoB or BtoA, not {direction!r}")
        self.direction = direction
        self.input_nc = _channels(input_nc, "input_nc")
        self.output_nc = _channels(output_nc, "output_nc")

    def _sample(self, a: Image.Image, b: Image.Image, rng: np.random.Generator,
                path: Path) -> dict[str, Any]:
        if self.direction == "BtoA":
            a, b = b, a
        plan = self.preprocess.plan(a.size, rng)
        return {"A": image_tensor(plan.apply(_as(a, self.input_nc), Image.BICUBIC)),
                "B": image_tensor(plan.apply(_as(b, self.output_nc), Image.BICUBIC)),
                "path": str(path)}


class AlignedDataset(_PairBase):
    """pix2pix ``aligned``: every file is A (left half) beside B (right half)."""

    def __init__(self, files: list[Path], preprocess: Preprocess, *, direction: str = "AtoB",
                 input_nc: int = 3, output_nc: int = 3, seed: int = 0, verify: str = "auto",
                 max_dataset_size: int | None = None, where: str = ""):
        super().__init__(preprocess, direction=direction, input_nc=input_nc,
                         output_nc=output_nc, seed=seed, max_dataset_size=max_dataset_size)
        self.files = self._limit(list(files))
        if not self.files:
            raise DatasetError(f"{where}: empty dataset (no images found)")
        if _verify_mode(verify, len(self.files)) != "none":
            for f in self.files:
                self._check_width(f, image_size(f)[0])

    @staticmethod
    def _check_width(path: Path, w: int) -> None:
        if w % 2:
            raise DatasetError(f"{path}: width {w} is odd, so it is not an A|B pair of two "
                               "equal halves")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, rng = self._locate(item)
        path = self.files[index]
        ab = read_rgb(path)
        w, h = ab.size
        self._check_width(path, w)
        half = w // 2
        return self._sample(ab.crop((0, 0, half, h)), ab.crop((half, 0, w, h)), rng, path)


class UnalignedDataset(_PairBase):
    """A and B as separate files of the same name in two folders (pix2pix's layout before
    ``combine_A_and_B``); a file without its partner is an error, not a random pairing."""

    def __init__(self, pairs: list[tuple[Path, Path]], preprocess: Preprocess, *,
                 direction: str = "AtoB", input_nc: int = 3, output_nc: int = 3, seed: int = 0,
                 verify: str = "auto", max_dataset_size: int | None = None, where: str = ""):
        super().__init__(preprocess, direction=direction, input_nc=input_nc,
                         output_nc=output_nc, seed=seed, max_dataset_size=max_dataset_size)
        self.pairs = self._limit(list(pairs))
        if not self.pairs:
            raise DatasetError(f"{where}: empty dataset (no images found)")
        if _verify_mode(verify, len(self.pairs)) != "none":
            for a, b in self.pairs:
                self._check_sizes(a, image_size(a), b, image_size(b))

    @staticmethod
    def _check_sizes(a: Path, wa: tuple[int, int], b: Path, wb: tuple[int, int]) -> None:
        if wa != wb:
            raise DatasetError(f"{b}: size {wb[0]}x{wb[1]} differs from its partner {a} "
                               f"({wa[0]}x{wa[1]})")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, rng = self._locate(item)
        pa, pb = self.pairs[index]
        a, b = read_rgb(pa), read_rgb(pb)
        self._check_sizes(pa, a.size, pb, b.size)
        return self._sample(a, b, rng, pa)


class ColorizationDataset(SeededDataset):
    """pix2pix ``colorization``: A = L/50 - 1 (1, H, W), B = ab/110 (2, H, W); the geometry is
    applied to the RGB photo before the Lab conversion, as the official dataset does."""

    def __init__(self, files: list[Path], preprocess: Preprocess, *, seed: int = 0,
                 verify: str = "auto", max_dataset_size: int | None = None, where: str = ""):
        super().__init__(preprocess, seed, max_dataset_size)
        files = list(files)
        if not files:
            raise DatasetError(f"{where}: empty dataset (no images found)")
        mode = _verify_mode(verify, len(files))
        if mode != "none":
            gray = [f for f in files if _is_gray(f, decode=mode == "full")]
            if gray:
                skipped = set(gray)
                files = [f for f in files if f not in skipped]
                if not files:
                    raise DatasetError(f"{where}: no colour photos, all {len(gray)} are "
                                       f"grayscale (e.g. {gray[0]})")
                warnings.warn(f"colorization: skipping {len(gray)} grayscale photo(s): "
                              f"{describe(gray)}", stacklevel=3)
        self.files = self._limit(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, rng = self._locate(item)
        path = self.files[index]
        rgb = read_rgb(path)
        plan = self.preprocess.plan(rgb.size, rng)
        lab = rgb_to_lab(np.asarray(plan.apply(rgb, Image.BICUBIC))).astype(np.float32)
        lab = torch.from_numpy(np.ascontiguousarray(lab.transpose(2, 0, 1)))
        return {"A": lab[:1] / 50.0 - 1.0, "B": lab[1:] / 110.0, "path": str(path)}


def _is_gray(path: Path, decode: bool) -> bool:
    if read_mode(path) in GRAY_MODES:
        return True
    if not decode:
        return False
    rgb = np.asarray(read_rgb(path))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


# sRGB <-> Lab lives in models.color (the app's colorize pipeline uses it too).


# --- builders ---

def _pair_options(opts: Options) -> dict[str, Any]:
    return {"direction": opts.get("direction", "AtoB"), "input_nc": opts.get("input_nc", 3),
            "output_nc": opts.get("output_nc", 3)}


def _tail(opts: Options) -> dict[str, Any]:
    out = {"seed": opts.get("seed", 0), "verify": opts.get("verify", "auto"),
           "max_dataset_size": opts.get("max_dataset_size", None)}
    opts.finish()
    return out


def _phase_dir(root: Path, opts: Options) -> Path:
    """The official ``dataroot/phase`` when it exists, else `root` itself."""
    phase = opts.get("phase", "train")
    return root / phase if (root / str(phase)).is_dir() else require_dir(root, "the images")


def build_aligned(root: Path, **options: Any) -> AlignedDataset:
    opts = Options("aligned", options)
    pre = opts.preprocess(grid=4)
    folder = _phase_dir(root, opts)
    pair = _pair_options(opts)
    return AlignedDataset(list_images(folder, recursive=True), pre, **pair, **_tail(opts),
                          where=str(folder))


def build_unaligned(root: Path, **options: Any) -> UnalignedDataset:
    opts = Options("unaligned", options)
    pre = opts.preprocess(grid=4)
    phase = str(opts.get("phase", "train"))
    for a_dir, b_dir in ((root / "A" / phase, root / "B" / phase),
                         (root / f"{phase}A", root / f"{phase}B"), (root / "A", root / "B")):
        if a_dir.is_dir() or b_dir.is_dir():
            break
    require_dir(a_dir, "the A images (A/, A/<phase>/ or <phase>A/)")
    require_dir(b_dir, f"the B images beside {a_dir}")
    a_files = by_stem(list_images(a_dir), a_dir)
    b_files = by_stem(list_images(b_dir), b_dir)
    for mine, theirs, other in ((a_files, b_files, b_dir), (b_files, a_files, a_dir)):
        lonely = sorted(set(mine) - set(theirs))
        if lonely:
            raise DatasetError(f"{describe([mine[k] for k in lonely])}: no file of the same "
                               f"name in {other}")
    pairs = [(a_files[k], b_files[k]) for k in sorted(a_files)]
    pair = _pair_options(opts)
    return UnalignedDataset(pairs, pre, **pair, **_tail(opts), where=str(a_dir))


def build_colorization(root: Path | list[Path], **options: Any) -> ColorizationDataset:
    """Any folder(s) of colour photos, searched recursively."""
    opts = Options("colorization", options)
    pre = opts.preprocess(grid=4)
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    files = []
    for folder in roots:
        require_dir(folder, "the photos")
        files += list_images(folder, recursive=True)
    return ColorizationDataset(files, pre, **_tail(opts),
                               where=", ".join(str(r) for r in roots))
