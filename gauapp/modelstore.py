"""Which models the app can offer: bundled ones and those the user installed.

Bundled models live in ``resources/models/*.safetensors``; installed ones in the user's data
folder (``<user_data_dir>/gauapp/models``). Listing reads only each file's safetensors header
(a few kilobytes), never the weights, so it stays quick with many large models. A file that
cannot be read is still listed, with ``error`` saying why, so the user can see and remove it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from models.labelsets import resources_dir

MODEL_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself; ``error`` is non-empty when it is unusable."""

    path: Path
    name: str
    architecture: str = ""
    kind: str = ""             # "label2image" | "image2image" | "single_image" | "" (unknown)
    labelset: str = ""         # label set name, "" when the model has none
    license: str = ""
    size_bytes: int = 0
    is_bundled: bool = False
    native_size: tuple[int, int] | None = None  # (H, W) when the options say so
    uses_z: bool = False       # a VAE model: the seed picks the style
    has_encoder: bool = False  # it can take the style from an image
    task: str = ""             # "colorization" for an L -> ab pix2pix; ConSinGAN: its train mode
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def is_label2image(self) -> bool:
        return self.ok and self.kind == "label2image"


def bundled_models_dir() -> Path:
    return resources_dir() / "models"


def user_models_dir(create: bool = False) -> Path:
    from platformdirs import user_data_dir

    folder = Path(user_data_dir("gauapp", appauthor=False)) / "models"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_model_info(path: str | Path, is_bundled: bool = False) -> ModelInfo:
    """A model file's description from its metadata alone; never raises for a bad file."""
    path = Path(path)
    name = path.stem
    try:
        size = path.stat().st_size
    except OSError as exc:
        return ModelInfo(path, name, is_bundled=is_bundled,
                         error=f"cannot read the file ({exc.strerror or exc})")
    base = dict(path=path, name=name, size_bytes=size, is_bundled=is_bundled)
    try:
        from models.modelfile import FORMAT_VERSION, read_metadata

        meta = read_metadata(path)
    except Exception as exc:  # a truncated or foreign file must not break the model list
        return ModelInfo(**base, error=_first_line(exc))
    if meta.get("gauapp.format") != FORMAT_VERSION:
        return ModelInfo(**base, error="not a gauapp model file (convert it with "
                                       "`gauapp-train convert`)")
    architecture = meta.get("gauapp.architecture", "")
    try:
        options = json.loads(meta.get("gauapp.options") or "{}")
        labelset_json = meta.get("gauapp.labelset") or ""
        labelset = json.loads(labelset_json).get("name", "") if labelset_json else ""
        provenance = json.loads(meta.get("gauapp.provenance") or "{}")
    except (json.JSONDecodeError, AttributeError) as exc:
        return ModelInfo(**base, architecture=architecture,
                         error=f"model file metadata is malformed ({exc})")
    kind, error = _architecture_kind(architecture)
    if isinstance(provenance, dict) and provenance.get("name"):
        base["name"] = str(provenance["name"])
    # Only SPADE has a style latent; its importer refuses a VAE generator without its encoder.
    vae = architecture == "spade" and isinstance(options, dict) and bool(options.get("use_vae"))
    return ModelInfo(**base, architecture=architecture, kind=kind, labelset=labelset,
                     license=meta.get("gauapp.license", ""),
                     native_size=_native_size(architecture, options),
                     uses_z=vae, has_encoder=vae, task=_task(kind, options), error=error)


def _task(kind: str, options) -> str:
    if not isinstance(options, dict):
        return ""
    if kind == "image2image" and str(options.get("input_nc")) == "1" \
            and str(options.get("output_nc")) == "2":
        return "colorization"
    if kind == "single_image":
        return str(options.get("train_mode", ""))
    return ""


def read_labelset(path: str | Path):
    """The label set stored in a model file (``models.labelsets.LabelSet``), or None when the
    file has none or cannot be read."""
    from models.labelsets import LabelSet
    from models.modelfile import read_metadata

    try:
        text = read_metadata(path).get("gauapp.labelset") or ""
        return LabelSet.from_json(text) if text else None
    except Exception:  # the model list already shows why such a file is unusable
        return None


def _architecture_kind(name: str) -> tuple[str, str]:
    from models.errors import UnknownArchitectureError
    from models.registry import get_architecture

    try:
        return get_architecture(name).kind, ""
    except UnknownArchitectureError as exc:
        return "", _first_line(exc)


def _native_size(architecture: str, options) -> tuple[int, int] | None:
    """(H, W) the model was trained at: stored for pix2pixHD, derived from the crop options for
    SPADE; None when the options do not say."""
    if not isinstance(options, dict):
        return None
    try:
        if architecture == "spade":
            from models.spade.generator import SPADEOptions

            return tuple(SPADEOptions.from_dict(options).native_size)
        native = options.get("native_size")
        return (int(native[0]), int(native[1])) if native is not None else None
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _scan(folder: Path, is_bundled: bool) -> list[ModelInfo]:
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix == MODEL_SUFFIX and p.is_file())
    return [read_model_info(p, is_bundled) for p in files]


def list_models(user_dir: str | Path | None = None,
                bundled_dir: str | Path | None = None) -> list[ModelInfo]:
    """Bundled models first, then installed ones, each group sorted by file name."""
    bundled = Path(bundled_dir) if bundled_dir is not None else bundled_models_dir()
    user = Path(user_dir) if user_dir is not None else user_models_dir()
    found = _scan(bundled, True)
    if user.resolve() != bundled.resolve():
        found += _with_library_names(_scan(user, False), user)
    return found


def _with_library_names(models: list[ModelInfo], folder: Path) -> list[ModelInfo]:
    # The user folder is the model library (models/library.py): show the names given there.
    import dataclasses

    from models.library import manifest_names

    names = manifest_names(folder)
    return [dataclasses.replace(m, name=names[m.path.name]) if m.path.name in names else m
            for m in models]


def default_model(models: list[ModelInfo] | None = None) -> ModelInfo | None:
    """A bundled landscape label-to-image model if there is one, else the first usable
    label-to-image model, else None."""
    models = list_models() if models is None else models
    usable = [m for m in models if m.is_label2image]
    for m in usable:
        if m.is_bundled and m.labelset == "landscape":
            return m
    return usable[0] if usable else None
