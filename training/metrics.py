"""Image-set metrics for judging a trained model: SWD, per-class colour statistics, FID.

Images are given as uint8 ``(H, W, 3)`` numpy arrays (a list, or one ``(N, H, W, 3)`` array), or
as float tensors ``(3, H, W)`` / ``(N, 3, H, W)`` in [-1, 1] (the generators' output range);
uint8 tensors ``(3, H, W)`` / ``(N, 3, H, W)`` are read as 0..255.

- ``sliced_wasserstein``: the SWD of Karras et al. 2018 (Progressive GAN): a Laplacian pyramid
  per image (5x5 binomial filter, mirrored borders, down to 16 px), 128 random 7x7 patches per
  image and level, descriptors normalised per colour channel, 4 x 128 random unit directions, the
  mean absolute difference of the sorted projections; reported x 1e3 per level and their mean, as
  the official code does. Two choices differ from the official script, both documented in the
  function: descriptors are normalised with the statistics of both sets together (the official
  code normalises each set by its own, which makes SWD blind to a global colour shift), and
  image i of both sets draws its patches at the same places (common random numbers: less
  noise, and identical sets give exactly 0).
- ``class_color_stats``: mean, std and pixel count of the colours under each class of a label map.
- ``fid``: Fréchet Inception Distance with torchvision's Inception-v3 loaded from a user file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import compare_keys, read_tensors, strip_prefixes
from models.errors import ArchitectureMismatchError, ModelError
from models.labelsets import LabelSet, load_labelset

from .errors import TrainingError, WeightsFileError

ImageSet = Union[torch.Tensor, np.ndarray, Sequence[Union[np.ndarray, torch.Tensor]]]


def _one_image(img, what: str) -> torch.Tensor:
    """One image as a (3, H, W) float32 tensor in 0..255."""
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TrainingError(f"{what}: numpy images must be uint8 (H, W, 3), got "
                                f"{img.dtype} {img.shape}")
        return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()
    if isinstance(img, torch.Tensor):
        if img.dim() != 3 or img.shape[0] != 3:
            raise TrainingError(f"{what}: tensor images must be (3, H, W), got {tuple(img.shape)}")
        if img.dtype == torch.uint8:
            return img.float()
        if not img.is_floating_point():
            raise TrainingError(f"{what}: tensor images must be float in [-1, 1] or uint8")
        return ((img.detach().float() + 1.0) * 127.5).clamp(0.0, 255.0)
    raise TrainingError(f"{what}: an image must be a numpy array or a tensor, "
                        f"not {type(img).__name__}")


def as_image_list(images: ImageSet, what: str = "images") -> list[torch.Tensor]:
    """Any accepted image set -> list of (3, H, W) float32 CPU tensors in 0..255."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    elif isinstance(images, np.ndarray) or (isinstance(images, torch.Tensor) and images.dim() == 3):
        images = [images]
    elif isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise TrainingError(f"{what}: expected (N, 3, H, W), got {tuple(images.shape)}")
        images = list(images)
    out = [_one_image(img, what).cpu() for img in images]
    if not out:
        raise TrainingError(f"{what}: the image set is empty")
    return out


def _groups_by_size(images: list[torch.Tensor]) -> list[tuple[list[int], torch.Tensor]]:
    """Indices and stacked batch of each image size, so each size is filtered in one go."""
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        by_size.setdefault(tuple(img.shape[1:]), []).append(i)
    return [(idx, torch.stack([images[i] for i in idx])) for idx in by_size.values()]


# ----------------------------------------------------------------------------- SWD

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
_GAUSS5 = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """5x5 binomial filter per channel, mirrored borders (scipy's 'mirror' = torch 'reflect')."""
    k = (_GAUSS5 * gain).to(x).expand(x.shape[1], 1, 5, 5).contiguous()
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=x.shape[1])


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels, finest first; the last level is the remaining low-pass image."""
    pyramid = [x]
    for _ in range(1, levels):
        low = _blur(pyramid[-1])[:, :, ::2, ::2]
        up = x.new_zeros(*low.shape[:2], low.shape[2] * 2, low.shape[3] * 2)
        up[:, :, ::2, ::2] = low
        h, w = pyramid[-1].shape[2:]
        pyramid[-1] = pyramid[-1] - _blur(up, 4.0)[:, :, :h, :w]
        pyramid.append(low)
    return pyramid


def _patches(level: torch.Tensor, u: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 3, h, w) and uniform numbers u (n, k, 2) -> (n*k, 3, size, size) patches lying wholly
    inside the image (centres in [r, h - r), as the official code draws them)."""
    n, c, h, w = level.shape
    r = size // 2
    ys = (u[..., 0] * (h - 2 * r)).long().clamp(max=h - 2 * r - 1) + r
    xs = (u[..., 1] * (w - 2 * r)).long().clamp(max=w - 2 * r - 1) + r
    offs = torch.arange(-r, r + 1)
    yy, xx = ys[..., None] + offs, xs[..., None] + offs          # (n, k, size)
    b = torch.arange(n)[:, None, None, None]
    out = level.permute(0, 2, 3, 1)[b, yy[:, :, :, None], xx[:, :, None, :]]  # (n, k, s, s, c)
    return out.permute(0, 1, 4, 2, 3).reshape(-1, c, size, size)


def _normalise(desc: list[torch.Tensor]) -> list[torch.Tensor]:
    """Zero mean, unit std per colour channel with statistics pooled over ``desc``; flattened."""
    pooled = torch.cat(desc)
    mean = pooled.mean(dim=(0, 2, 3), keepdim=True)
    std = pooled.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return [((d - mean) / std).reshape(d.shape[0], -1) for d in desc]


def _swd(a: torch.Tensor, b: torch.Tensor, repeats: int, dirs: int,
         gen: torch.Generator) -> float:
    results = []
    for _ in range(repeats):
        d = torch.randn(a.shape[1], dirs, generator=gen)
        d = d / d.norm(dim=0, keepdim=True)
        pa, _ = torch.sort(a @ d, dim=0)
        pb, _ = torch.sort(b @ d, dim=0)
        results.append((pa - pb).abs().mean().item())
    return float(np.mean(results))


@dataclass(frozen=True)
class SWDResult:
    """SWD x 1e3 per pyramid level (finest first), their mean, and each level's smallest side."""
    distances: list[float]
    mean: float
    resolutions: list[int]


def sliced_wasserstein(images_a: ImageSet, images_b: ImageSet, *, nhood_size: int = 7,
                       nhoods_per_image: int = 128, dir_repeats: int = 4,
                       dirs_per_repeat: int = 128, levels: int | None = None,
                       min_resolution: int = 16, normalize: str = "joint",
                       seed: int = 0) -> SWDResult:
    """Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches.

    ``normalize="joint"`` (default) normalises the descriptors of both sets with their pooled
    per-channel mean/std, so colour shifts count; ``"per_set"`` is the official choice (each
    set by its own statistics). Patch places come from ``seed`` and are shared by image i of
    both sets; when the sets hold different numbers of patches, the larger is subsampled.
    Deterministic for a given seed. Sizes may differ between images.
    """
    if normalize not in ("joint", "per_set"):
        raise TrainingError(f"normalize must be 'joint' or 'per_set', not {normalize!r}")
    if nhood_size < 1 or nhood_size % 2 == 0:
        raise TrainingError(f"nhood_size must be odd and positive, got {nhood_size}")
    sets = [as_image_list(images_a, "images_a"), as_image_list(images_b, "images_b")]
    smallest = min(min(img.shape[1:]) for s in sets for img in s)
    if levels is None:
        levels, res = 0, smallest
        while res >= min_resolution:
            levels, res = levels + 1, res // 2
        levels = max(levels, 1)
    coarsest = -(-smallest // 2 ** (levels - 1))
    if coarsest < nhood_size:
        raise TrainingError(f"images of {smallest} px are too small for {levels} pyramid "
                            f"level(s) of {nhood_size}x{nhood_size} patches")

    gen = torch.Generator().manual_seed(int(seed))
    n_max = max(len(s) for s in sets)
    # One uniform draw per (level, image index): image i of both sets samples the same places.
    u = torch.rand(levels, n_max, nhoods_per_image, 2, generator=gen, dtype=torch.float64)
    desc: list[list[list[torch.Tensor]]] = [[[] for _ in range(levels)] for _ in sets]
    for si, images in enumerate(sets):
        per_image: list[list[torch.Tensor]] = [[None] * len(images) for _ in range(levels)]
        for idx, batch in _groups_by_size(images):
            for lvl, level in enumerate(laplacian_pyramid(batch, levels)):
                p = _patches(level, u[lvl, idx], nhood_size).view(len(idx), nhoods_per_image, 3,
                                                                  nhood_size, nhood_size)
                for j, i in enumerate(idx):
                    per_image[lvl][i] = p[j]
        for lvl in range(levels):
            desc[si][lvl] = torch.cat(per_image[lvl])

    distances, resolutions = [], []
    for lvl in range(levels):
        da, db = desc[0][lvl], desc[1][lvl]
        if normalize == "joint":
            da, db = _normalise([da, db])
        else:
            (da,), (db,) = _normalise([da]), _normalise([db])
        if da.shape[0] != db.shape[0]:
            n = min(da.shape[0], db.shape[0])
            da = da[torch.randperm(da.shape[0], generator=gen)[:n]]
            db = db[torch.randperm(db.shape[0], generator=gen)[:n]]
        distances.append(_swd(da, db, dir_repeats, dirs_per_repeat, gen) * 1e3)
        resolutions.append(-(-smallest // 2 ** lvl))
    return SWDResult(distances, float(np.mean(distances)), resolutions)


# ----------------------------------------------------------------------------- colour stats

@dataclass(frozen=True)
class ClassColorStats:
    """Colours (0..255 RGB) of the pixels of one class over a set of images."""
    id: int
    name: str
    count: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _label_list(label_maps, n: int) -> list[np.ndarray]:
    if isinstance(label_maps, (np.ndarray, torch.Tensor)) and label_maps.ndim == 2:
        label_maps = [label_maps]
    maps = [np.asarray(m.cpu() if isinstance(m, torch.Tensor) else m) for m in label_maps]
    if len(maps) != n:
        raise TrainingError(f"{n} image(s) but {len(maps)} label map(s)")
    for m in maps:
        if m.ndim != 2 or not np.issubdtype(m.dtype, np.integer):
            raise TrainingError(f"label maps must be integer (H, W) arrays, got {m.dtype} {m.shape}")
        if m.size and m.min() < 0:
            raise TrainingError(f"label maps hold a negative id ({int(m.min())})")
    return maps


def class_color_stats(images: ImageSet, label_maps, labelset: LabelSet | str | None = None,
                      ignore_ids: Sequence[int] = ()) -> dict[int, ClassColorStats]:
    """Per class present in ``label_maps`` (model-space ids, one (H, W) map per image): pixel
    count, mean and std (population) of R, G, B in 0..255 over all images. With a label set,
    ids must be its classes (LabelSetError otherwise) and the stats carry the class names."""
    imgs = as_image_list(images, "images")
    maps = _label_list(label_maps, len(imgs))
    if isinstance(labelset, str):
        labelset = load_labelset(labelset)
    size = max(int(m.max()) + 1 if m.size else 0 for m in maps)
    count = np.zeros(size, np.int64)
    sums, sq = np.zeros((3, size)), np.zeros((3, size))
    for img, m in zip(imgs, maps):
        if tuple(img.shape[1:]) != m.shape:
            raise TrainingError(f"image {tuple(img.shape[1:])} and label map {m.shape} differ "
                                "in size")
        if labelset is not None:
            labelset.check_ids(m)
        ids = m.reshape(-1).astype(np.int64)
        count += np.bincount(ids, minlength=size)
        px = img.reshape(3, -1).double().numpy()
        for c in range(3):
            sums[c] += np.bincount(ids, weights=px[c], minlength=size)
            sq[c] += np.bincount(ids, weights=px[c] ** 2, minlength=size)
    out: dict[int, ClassColorStats] = {}
    skip = {int(i) for i in ignore_ids}
    for cid in np.nonzero(count)[0]:
        cid = int(cid)
        if cid in skip:
            continue
        mean = sums[:, cid] / count[cid]
        std = np.sqrt(np.maximum(sq[:, cid] / count[cid] - mean ** 2, 0.0))
        name = labelset.get(cid).name if labelset is not None else f"class {cid}"
        out[cid] = ClassColorStats(cid, name, int(count[cid]), tuple(float(v) for v in mean),
                                   tuple(float(v) for v in std))
    return out


def color_stats_distance(stats_a: Mapping[int, ClassColorStats],
                         stats_b: Mapping[int, ClassColorStats]) -> dict[int, float]:
    """Euclidean distance (0..255 RGB units) between the class means of two stats, for every
    class present in both (e.g. generated images vs the photos of the same label maps)."""
    return {cid: float(np.linalg.norm(np.subtract(stats_a[cid].mean, stats_b[cid].mean)))
            for cid in sorted(set(stats_a) & set(stats_b))}


# ----------------------------------------------------------------------------- FID

class InceptionFeatures(nn.Module):
    """torchvision's Inception-v3 (weights from a user file), returning the 2048-d pool3
    features. Input (N, 3, H, W) in [-1, 1], resized to 299x299 bilinearly."""

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        # aux_logits off: the auxiliary head plays no part in pool3 features (its keys in the
        # file are ignored); fc is replaced so forward() stops at the pooled features.
        self.net = torchvision.models.inception_v3(weights=None, aux_logits=False,
                                                   init_weights=False, transform_input=False)
        self.net.fc = nn.Identity()
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path) -> "InceptionFeatures":
        """Load torchvision key names (``Conv2d_1a_3x3.conv.weight``...) from ``.pth``/``.pt``
        (``weights_only=True``) or ``.safetensors``; WeightsFileError if unusable."""
        path = Path(path)
        what = f"Inception-v3 weights {path}"
        try:
            state = strip_prefixes(read_tensors(path))
        except ModelError as exc:
            raise WeightsFileError(f"cannot read the {what}: {exc}") from None
        state = {k: v for k, v in state.items()
                 if not k.startswith(("AuxLogits.", "fc.", "net.fc.", "net.AuxLogits."))}
        state = {k[4:] if k.startswith("net.") else k: v for k, v in state.items()}
        model = cls()
        missing, unexpected, shapes = compare_keys(model.net, state)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected or shapes:
            mismatch = ArchitectureMismatchError(f"the {what} (torchvision inception_v3)",
                                                 missing, unexpected, shapes)
            raise WeightsFileError(str(mismatch))
        model.net.load_state_dict({k: v.float() if v.is_floating_point() else v
                                   for k, v in state.items()}, strict=False)
        return model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x)

    def train(self, mode: bool = True) -> "InceptionFeatures":
        return super().train(False)


def activation_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, rows are samples) in float64."""
    f = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features,
                   dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise TrainingError(f"need at least 2 feature vectors (rows), got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`` in float64.

    The product S1 S2 is not symmetric, so its square root (scipy's sqrtm in pytorch-fid) can
    pick up complex round-off. Instead: S1 S2 is similar to the symmetric PSD matrix
    ``A = S1^(1/2) S2 S1^(1/2)`` (same eigenvalues), so ``tr((S1 S2)^(1/2))`` is the sum of the
    square roots of A's eigenvalues; both S1^(1/2) and A's eigenvalues come from ``eigh``, with
    round-off negatives clipped to 0. Exact for singular covariances too (few samples).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise TrainingError(f"Fréchet distance: shapes differ ({mu1.shape}, {s1.shape}, "
                            f"{mu2.shape}, {s2.shape})")
    root1 = _psd_sqrt(s1)
    a = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((a + a.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


@torch.no_grad()
def inception_features(model: InceptionFeatures, images: ImageSet, batch_size: int = 32,
                       device: str | torch.device = "cpu") -> np.ndarray:
    """(N, 2048) float64 pool3 features of an image set."""
    imgs = as_image_list(images, "images")
    model = model.to(device)
    feats = []
    for start in range(0, len(imgs), batch_size):
        chunk = [F.interpolate(img[None], size=(299, 299), mode="bilinear", align_corners=False)
                 for img in imgs[start:start + batch_size]]  # sizes may differ between images
        x = torch.cat(chunk).to(device) / 127.5 - 1.0
        feats.append(model(x).double().cpu())
    return torch.cat(feats).numpy()


def fid(images_a: ImageSet, images_b: ImageSet, inception_weights: str | Path | None, *,
        batch_size: int = 32, device: str | torch.device = "cpu") -> float:
    """Fréchet Inception Distance between two image sets (at least 2 images each), with
    torchvision's Inception-v3 from ``inception_weights`` (no download: the file is required).
    Values are comparable between runs that use the same weights file; they match published
    FIDs only with the original TF-Inception weights and architecture, not torchvision's."""
    if inception_weights is None:
        raise WeightsFileError("FID needs an Inception-v3 weights file (torchvision's "
                               "inception_v3 layout); none was given and none can be downloaded")
    model = InceptionFeatures.from_file(inception_weights)
    stats = [activation_statistics(inception_features(model, s, batch_size, device))
             for s in (images_a, images_b)]
    return frechet_distance(*stats[0], *stats[1])
