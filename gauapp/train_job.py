"""Training a ConSinGAN on one image from the app: the part without widgets.

Each training is a *run*: a folder under ``<user data>/gauapp/training/`` holding ``run.json``
(name, mode, preset, settings, device, state), ``image.png`` (the training image, so a run can
always be resumed or inspected) and ``checkpoint/`` (the trainer's own checkpoint). Stopping
keeps the checkpoint; ``resumable_runs()`` lists what can go on. A finished run's model is
saved (``model.safetensors``) with a thumbnail and installed into the user's model library.

``train()`` is the background job's function (``gauapp.jobs``): it never touches Qt.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

MODES = ("generation", "retarget", "harmonization", "editing", "animation")
PRESETS = ("fast", "standard", "custom")
# The custom fields, with the official option names.
FIELDS: tuple[tuple[str, type], ...] = (
    ("train_stages", int), ("niter", int), ("max_size", int), ("min_size", int),
    ("lr_g", float), ("lr_d", float), ("lrelu_alpha", float), ("batch_norm", bool),
    ("nfc", int))
RUN_FILE, IMAGE_FILE, CHECKPOINT_DIR, MODEL_FILE = ("run.json", "image.png", "checkpoint",
                                                     "model.safetensors")
NEW, RUNNING, STOPPED, TRAINED, INSTALLED = "new", "running", "stopped", "trained", "installed"
FAILED = "failed"  # a run that cannot go on (its generator collapsed): not offered for resuming
LICENSE = "Trained by the user on their own image"


class TrainRunError(Exception):
    """A training run folder is missing or damaged; the message names the folder."""


def training_root() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("gauapp", appauthor=False)) / "training"


def slug(name: str) -> str:
    """A file-name-safe version of a model name."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return text[:60] or "model"


# ----- settings ---------------------------------------------------------------------------------
def make_settings(preset: str, mode: str, overrides: dict[str, Any] | None = None):
    """``TrainSettings`` for a preset ("custom" starts from "standard") with ``overrides``."""
    from training.consingan import TrainSettings

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (one of {', '.join(PRESETS)})")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    base = "standard" if preset == "custom" else preset
    return TrainSettings.preset(base, mode=mode, **dict(overrides or {}))


def settings_values(settings) -> dict[str, Any]:
    """The custom fields' values of a ``TrainSettings`` (those it has)."""
    return {name: getattr(settings, name) for name, _ in FIELDS if hasattr(settings, name)}


# ----- runs -------------------------------------------------------------------------------------
@dataclass
class TrainingRun:
    folder: Path
    name: str
    mode: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    seed: int = 0
    created: str = ""
    state: str = NEW
    completed_iterations: int = 0
    total_iterations: int = 0
    model_path: str = ""  # where the installed model went

    @property
    def checkpoint_dir(self) -> Path:
        return self.folder / CHECKPOINT_DIR

    @property
    def image_path(self) -> Path:
        return self.folder / IMAGE_FILE

    def describe(self) -> str:
        done = (f", {self.completed_iterations}/{self.total_iterations} iterations"
                if self.total_iterations else "")
        return f"{self.name} ({self.mode}, {self.state}{done}, {self.created})"

    def save(self) -> None:
        """Write run.json atomically, so a crash never leaves half a file."""
        data = asdict(self)
        data.pop("folder")
        fd, tmp = tempfile.mkstemp(prefix=".run-", suffix=".tmp", dir=self.folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.folder / RUN_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> "TrainingRun":
        folder = Path(folder)
        try:
            data = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "folder"}
            return cls(folder=folder, **known)
        except (OSError, ValueError, TypeError) as exc:
            raise TrainRunError(f"{folder}: not a readable training run ({exc})") from None


def new_run(name: str, image: np.ndarray, mode: str, preset: str,
            overrides: dict[str, Any] | None = None, device: str = "cpu", seed: int = 0,
            root: Path | None = None) -> TrainingRun:
    """A run folder with the image and settings; checks the settings before creating it."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"training image must be (H, W, 3) uint8, not {image.dtype} "
                         f"{image.shape}")
    make_settings(preset, mode, overrides)  # bad names or values fail here, not in the job
    root = Path(root) if root is not None else training_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{slug(name)}-{time.strftime('%Y%m%d-%H%M%S')}-",
                                   dir=root))
    Image.fromarray(image).save(folder / IMAGE_FILE)
    run = TrainingRun(folder, name.strip() or "model", mode, preset, dict(overrides or {}),
                      device, int(seed), time.strftime("%Y-%m-%d %H:%M"))
    run.save()
    return run


def resumable_runs(root: Path | None = None) -> list[TrainingRun]:
    """Runs that were stopped (or interrupted) with a checkpoint, newest first."""
    root = Path(root) if root is not None else training_root()
    runs = []
    if root.is_dir():
        for folder in root.iterdir():
            try:
                run = TrainingRun.load(folder)
            except TrainRunError:
                continue
            if run.state in (RUNNING, STOPPED) and run.checkpoint_dir.is_dir() \
                    and any(run.checkpoint_dir.iterdir()):
                runs.append(run)
    return sorted(runs, key=lambda r: (r.created, r.folder.name), reverse=True)


def saved_state(run: TrainingRun) -> str:
    """The state the job left in the run's folder ("" when unreadable): after a failure,
    FAILED means it cannot go on (collapsed), STOPPED that it ran out of memory."""
    try:
        return TrainingRun.load(run.folder).state
    except TrainRunError:
        return ""


def discard_if_unstarted(run: TrainingRun) -> bool:
    """Remove a run folder that never got going (a failed start): it holds only a copy of the
    image and the settings. True when removed."""
    import shutil

    try:
        state = TrainingRun.load(run.folder).state
    except TrainRunError:
        return False
    if state != NEW or (run.checkpoint_dir.is_dir() and any(run.checkpoint_dir.iterdir())):
        return False
    shutil.rmtree(run.folder, ignore_errors=True)
    return True


# ----- the job ----------------------------------------------------------------------------------
@dataclass
class TrainResult:
    run: TrainingRun
    finished: bool
    model_file: Path | None = None    # in the run folder
    thumbnail: np.ndarray | None = None
    installed: Path | None = None     # the model file in the library
    install_error: str = ""           # why installing failed (the model file stays)


def resolve_device(device: str) -> str:
    from models.devices import resolve_device as resolve

    return str(resolve(device))


def train(run: TrainingRun, ctx, resume: bool = False,
          install_into: str | Path | None = None) -> TrainResult:
    """Train (or go on training) until done or ``ctx.should_stop()``; the trainer saves its
    checkpoint either way. A finished run's model is written to ``model.safetensors`` and, with
    ``install_into`` (a library folder), installed there in this thread too (hashing and
    checking a model file is work the GUI thread should not do)."""
    from training.consingan import ConSinGANTrainer
    from training.errors import GeneratorCollapsed, TrainingOutOfMemory

    device = resolve_device(run.device)
    if resume:
        trainer = ConSinGANTrainer.resume(run.checkpoint_dir, device=device)
    else:
        image = np.asarray(Image.open(run.image_path).convert("RGB"))
        trainer = ConSinGANTrainer(image, make_settings(run.preset, run.mode, run.overrides),
                                   device=device, checkpoint_dir=run.checkpoint_dir,
                                   seed=run.seed)
    run.state, run.total_iterations = RUNNING, int(trainer.total_iterations)
    run.save()
    try:
        model = trainer.run(progress=ctx.report, should_stop=ctx.should_stop)
    except (GeneratorCollapsed, TrainingOutOfMemory) as exc:
        # A collapse cannot go on; out of memory can, from the last checkpoint (the dialog
        # offers it on the CPU).
        run.state = FAILED if isinstance(exc, GeneratorCollapsed) else STOPPED
        run.completed_iterations = int(trainer.completed_iterations)
        run.save()
        raise
    run.completed_iterations = int(trainer.completed_iterations)
    if not trainer.finished:
        run.state = STOPPED
        run.save()
        return TrainResult(run, False)
    path = run.folder / MODEL_FILE
    trainer.save_model(path, name=run.name, license=LICENSE, source=str(run.image_path))
    thumb = thumbnail(model, run.mode, run.seed)
    Image.fromarray(thumb).save(run.folder / "thumbnail.png")
    run.state = TRAINED
    run.save()
    result = TrainResult(run, True, path, thumb)
    if install_into is not None:
        try:
            install(result, install_into)
        except Exception as exc:  # the model file stays in the run folder: nothing is lost
            result.install_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return result


def thumbnail(model, mode: str, seed: int = 0) -> np.ndarray:
    """A random sample (generation-like modes) or the reconstruction (harmonization, editing)
    of a ``ConSinGANModel``, as (H, W, 3) uint8."""
    from models.devices import to_uint8_image

    out = model.reconstruct() if mode in ("harmonization", "editing") else \
        model.sample(generator=int(seed))
    return to_uint8_image(out)[0]


def install(result: TrainResult, library_root: str | Path | None = None) -> Path:
    """Put a finished run's model into the user's model library (``library_root``: the app's
    models folder) with its thumbnail; returns the installed model file."""
    from models.library import ModelLibrary

    run = result.run
    if result.installed is not None:  # already done (by train(install_into=...))
        return result.installed
    if result.model_file is None:
        raise TrainRunError(f"{run.folder}: the training has not finished, nothing to install")
    library = ModelLibrary(library_root)
    entry = library.import_(result.model_file, name=run.name)
    if result.thumbnail is not None:
        library.set_thumbnail(entry, result.thumbnail)
    run.state, run.model_path = INSTALLED, str(entry.path)
    run.save()
    result.installed = Path(entry.path)
    return result.installed


def sample(model_path: str | Path, seed: int, device: str = "cpu") -> np.ndarray:
    """A random sample (or, for harmonization/editing models, the reconstruction) of an
    installed ConSinGAN model file, as (H, W, 3) uint8."""
    from models.errors import InputError
    from models.modelfile import load_model_file
    from models.registry import build_networks

    bundle = load_model_file(model_path)
    if bundle.architecture != "consingan":
        raise InputError(f"{Path(model_path).name} is a {bundle.architecture} model, not a "
                         "single-image (ConSinGAN) model")
    model = build_networks(bundle, resolve_device(device))["G"]
    return thumbnail(model, model.train_mode, seed)
