"""The background inference engine (the live-render scheduler is in ``live.py``).

``Engine`` is the GUI-side façade; one long-lived ``_Worker`` runs the networks on its own
QThread. The two share only a locked single-slot mailbox (``_PendingSlot``) and talk through
queued signals, so the worker never touches a widget. Newest wins: a request that was
superseded before the worker took it is never run, and results older than the newest
submission (or cancelled) are dropped on the GUI side, where the check cannot race.
"""
from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

log = logging.getLogger("gauapp.engine")

OUTPUT_MODES = ("native", "canvas", "native-upscaled")
PRECISIONS = ("fp32", "fp16", "bf16")
CACHE_ENTRIES = 2
OOM_NOTICE = "GPU out of memory: this image was generated on the CPU"
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class Cancelled(Exception):
    """Raised inside a forward pass (by a hook) to abandon a cancelled request at once."""


class ModelNotFound(FileNotFoundError):
    """The selected model file does not exist (moved, deleted, or never installed)."""


class ModelKey(NamedTuple):
    path: str
    device: str     # "cpu", "cuda" or "cuda:N": already resolved, never "auto"
    precision: str  # "fp32" on the CPU


# ------------------------------------------------------------------ the default model adapter
class LabelToImageModel:
    """What the engine needs from a model: ``__call__(labels, size=, seed=, z=) -> uint8
    (H, W, 3)`` and ``native_size``, ``grid``, ``has_encoder``, ``uses_z``; optionally
    ``encode_style(image, seed)`` and ``attach_cancel(check)``. Test fakes provide the same."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.native_size = tuple(pipeline.native_size)
        self.grid = int(pipeline.grid)
        self.has_encoder = bool(pipeline.has_encoder)
        self.uses_z = bool(pipeline.uses_z)

    def __call__(self, labels, size=None, seed=None, z=None) -> np.ndarray:
        return self.pipeline(labels, size=size, seed=seed, z=z)

    def encode_style(self, image, seed=None):
        """z for a style image: its mean, or (with a seed) a draw around it as SPADE's
        test-time reparameterisation does, for variations of the same style."""
        import torch

        mu, logvar = self.pipeline.encode_style(image)
        if seed is None:
            return mu
        gen = torch.Generator(device=mu.device).manual_seed(int(seed))
        eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)

    def attach_cancel(self, check: Callable[[], None]) -> None:
        # The fast path calls each block's convolutions directly rather than the block, so a
        # hook on the top-level children alone would not fire there: hook every module. The
        # check is one integer comparison, invisible next to a convolution.
        nets = [self.pipeline.generator] + ([self.pipeline.nets["E"]] if self.has_encoder else [])
        for net in nets:
            for module in net.modules():
                module.register_forward_pre_hook(lambda _module, _args: check())


def load_label_to_image(key: ModelKey) -> LabelToImageModel:
    """The default loader: a model file (or official checkpoint) -> fast-path LabelToImage."""
    path = Path(key.path)
    if not path.exists():
        raise ModelNotFound(f"model file not found: {path}")
    from models.importers import import_model
    from models.pipelines import LabelToImage

    return LabelToImageModel(LabelToImage(import_model(path), device=key.device,
                                          precision=key.precision, fast=True))


# ------------------------------------------------------------------ shared state
@dataclass(frozen=True)
class _Request:
    id: int
    labels: np.ndarray
    model_path: str | None
    device: str
    precision: str
    output_mode: str
    canvas_size: tuple[int, int]  # (H, W)
    seed: int | None = None
    style: Any = field(default=None, compare=False)


class _PendingSlot:
    """The one pending request, the running one's id and the cancel mark, under one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: _Request | None = None
        self._running_id = 0
        self._cancelled_through = 0  # every request id <= this one is cancelled

    def put(self, request: _Request) -> None:
        with self._lock:
            self._pending = request  # a request still waiting here is superseded: never run

    def take(self) -> _Request | None:
        with self._lock:
            request, self._pending = self._pending, None
            self._running_id = request.id if request else 0
            return request

    def done(self) -> None:
        with self._lock:
            self._running_id = 0

    def cancel(self, through_id: int) -> None:
        with self._lock:
            self._pending = None
            self._cancelled_through = max(self._cancelled_through, through_id)

    def is_cancelled(self, request_id: int) -> bool:
        return request_id <= self._cancelled_through  # an int read: atomic, no lock needed

    def is_idle(self) -> bool:
        with self._lock:
            return self._pending is None and self._running_id == 0


class _ModelCache:
    """Small LRU of loaded models keyed by (path, device, precision); owned by the Engine so
    that it can be emptied once the worker thread has stopped."""

    def __init__(self, entries: int = CACHE_ENTRIES):
        self.entries = entries
        self._models: OrderedDict[ModelKey, Any] = OrderedDict()

    def get(self, key: ModelKey):
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
        return model

    def put(self, key: ModelKey, model) -> None:
        self._models[key] = model
        evicted = False
        while len(self._models) > self.entries:
            self._models.popitem(last=False)
            evicted = True
        if evicted:
            _release_gpu_memory()

    def clear(self) -> None:
        self._models.clear()
        _release_gpu_memory()


def _release_gpu_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _is_out_of_memory(exc: BaseException) -> bool:
    from models.devices import is_out_of_memory  # torch is loaded by now: a model ran

    return is_out_of_memory(exc)


def _short_message(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def _output_size(mode: str, native: tuple[int, int], grid: int, canvas: tuple[int, int]):
    if mode == "canvas":  # the generator is fully convolutional: any multiple of its grid
        return tuple(max(grid, int(round(s / grid)) * grid) for s in canvas)
    return tuple(native)


def _upscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if image.shape[:2] == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.LANCZOS))


# ------------------------------------------------------------------ the worker (own thread)
class _Worker(QObject):
    finished = Signal(int, object, float)
    failed = Signal(int, str)
    notice = Signal(str)
    idle = Signal()

    def __init__(self, slot: _PendingSlot, cache: _ModelCache, loader):
        super().__init__()
        self._slot, self._cache, self._loader = slot, cache, loader
        self._current_id = 0
        self._style_z: tuple[tuple, Any] | None = None  # ((model key, style token, seed), z)
        self._warned_no_encoder: set[ModelKey] = set()

    def check_cancel(self) -> None:
        """Called between generator blocks (hooks) and by models: ends a cancelled request."""
        if self._slot.is_cancelled(self._current_id):
            raise Cancelled()

    @Slot()
    def process(self) -> None:
        while (request := self._slot.take()) is not None:
            self._current_id = request.id
            try:
                self._run(request)
            finally:
                self._current_id = 0
                self._slot.done()
        self.idle.emit()

    def _run(self, request: _Request) -> None:
        try:
            image, seconds = self._generate(request, request.device, request.precision)
        except Cancelled:
            return
        except Exception as exc:  # the engine must keep working whatever one request does
            if not (_is_out_of_memory(exc) and request.device != "cpu"):
                log.exception("request %d failed", request.id)
                self.failed.emit(request.id, _short_message(exc))
                return
            log.warning("request %d: out of memory on %s, retrying on the CPU",
                        request.id, request.device)
        else:
            self.finished.emit(request.id, image, seconds)
            return
        # Out of memory: retried here, outside the except block, so that the traceback (and
        # the GPU tensors its frames hold) is gone before the cache is emptied.
        _release_gpu_memory()
        try:
            image, seconds = self._generate(request, "cpu", "fp32")
        except Cancelled:
            return
        except Exception as exc:
            log.exception("request %d failed on the CPU too", request.id)
            self.failed.emit(request.id, _short_message(exc))
            return
        self.notice.emit(OOM_NOTICE)
        self.finished.emit(request.id, image, seconds)

    def _model(self, key: ModelKey):
        model = self._cache.get(key)
        if model is None:
            start = time.perf_counter()
            model = self._loader(key)
            if hasattr(model, "attach_cancel"):
                model.attach_cancel(self.check_cancel)
            self._cache.put(key, model)
            log.info("loaded %s on %s (%s) in %.2f s", key.path, key.device, key.precision,
                     time.perf_counter() - start)
        return model

    def _generate(self, request: _Request, device: str, precision: str):
        if request.model_path is None:
            raise ModelNotFound("no model selected: choose one in the model list")
        key = ModelKey(request.model_path, device, precision)
        model = self._model(key)
        self.check_cancel()  # loading takes seconds: a cancel during it ends the request here
        start = time.perf_counter()
        size = _output_size(request.output_mode, model.native_size, model.grid,
                            request.canvas_size)
        z = self._style(model, key, request) if request.style is not None else None
        image = model(request.labels, size=size, seed=request.seed, z=z)
        if request.output_mode == "native-upscaled":
            image = _upscale(image, request.canvas_size)
        return image, time.perf_counter() - start

    def _style(self, model, key: ModelKey, request: _Request):
        if not getattr(model, "has_encoder", False):
            if key not in self._warned_no_encoder:
                self._warned_no_encoder.add(key)
                self.notice.emit("this model has no style encoder: the style image is ignored")
            return None
        style = request.style
        if isinstance(style, (str, Path)):
            path = Path(style)
            token = ("file", str(path), path.stat().st_mtime_ns)
        else:
            array = np.ascontiguousarray(style)
            token = ("array", array.shape, hashlib.blake2b(array.tobytes(),
                                                           digest_size=16).hexdigest())
        cache_key = (key, token, request.seed)
        if self._style_z is None or self._style_z[0] != cache_key:
            self._style_z = (cache_key, model.encode_style(style, request.seed))
        return self._style_z[1]


# ------------------------------------------------------------------ the GUI-side façade
class Engine(QObject):
    """Runs label maps through the selected model on a background thread.

    ``loader(ModelKey) -> model`` builds models (default: ``load_label_to_image``); tests pass
    fakes. Call ``shutdown()`` before the application exits (also wired to aboutToQuit).
    """

    result = Signal(int, object, float)  # request id, uint8 (H, W, 3), seconds
    failed = Signal(int, str)            # request id, one-line message
    notice = Signal(str)
    busy_changed = Signal(bool)
    model_changed = Signal(object)       # modelstore.ModelInfo or None
    _wake = Signal()

    def __init__(self, loader: Callable[[ModelKey], Any] | None = None, parent=None):
        super().__init__(parent)
        self._slot = _PendingSlot()
        self._cache = _ModelCache()
        self._last_id = 0
        self._busy = False
        self._closed = False
        self._last_seconds: float | None = None
        self._model_path: str | None = None
        self._model_info = None
        self._device, self._resolved_device = "auto", None
        self._precision = "fp32"
        self._output_mode = "canvas"
        self._precision_notice_given = False

        self._thread = QThread()
        self._thread.setObjectName("gauapp-engine")
        self._worker = _Worker(self._slot, self._cache, loader or load_label_to_image)
        self._worker.moveToThread(self._thread)
        self._wake.connect(self._worker.process, Qt.QueuedConnection)
        self._worker.finished.connect(self._on_finished, Qt.QueuedConnection)
        self._worker.failed.connect(self._on_failed, Qt.QueuedConnection)
        self._worker.notice.connect(self.notice, Qt.QueuedConnection)
        self._worker.idle.connect(self._on_idle, Qt.QueuedConnection)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # --- settings (take effect from the next submit) ---
    def set_model(self, path: str | Path | None) -> None:
        from .modelstore import read_model_info

        self._model_path = str(path) if path is not None else None
        self._model_info = read_model_info(path) if path is not None else None
        self.model_changed.emit(self._model_info)

    def set_device(self, device: str) -> None:
        device = device.strip().lower()
        if not _DEVICE_PATTERN.match(device):
            raise ValueError(f"unknown device {device!r} (auto, cpu, cuda or cuda:N)")
        self._device, self._resolved_device = device, None
        self._precision_notice_given = False

    def set_precision(self, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
        self._precision = precision
        self._precision_notice_given = False

    def set_output_mode(self, mode: str) -> None:
        if mode not in OUTPUT_MODES:
            raise ValueError(f"unknown output mode {mode!r} (one of {', '.join(OUTPUT_MODES)})")
        self._output_mode = mode

    model_path = property(lambda self: self._model_path)
    model_info = property(lambda self: self._model_info)
    device = property(lambda self: self._device)
    precision = property(lambda self: self._precision)
    output_mode = property(lambda self: self._output_mode)
    is_busy = property(lambda self: self._busy)
    is_closed = property(lambda self: self._closed)
    last_request_id = property(lambda self: self._last_id)

    def labelset(self):
        """The selected model's label set (a custom one travels inside the model file)."""
        from .modelstore import read_labelset

        return read_labelset(self._model_path) if self._model_path else None

    @property
    def last_seconds(self) -> float | None:
        """How long the last finished generation took (None before the first)."""
        return self._last_seconds

    def _effective_device_precision(self) -> tuple[str, str]:
        if self._resolved_device is None:
            device = self._device
            if device == "auto":
                import torch
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self._resolved_device = device
        device, precision = self._resolved_device, self._precision
        if device == "cpu" and precision != "fp32":
            if not self._precision_notice_given:
                self._precision_notice_given = True
                self.notice.emit(f"{precision} runs on a GPU only: using fp32 on the CPU")
            precision = "fp32"
        return device, precision

    # --- requests ---
    def submit(self, labels: np.ndarray, *, seed: int | None = None, style=None,
               canvas_size: tuple[int, int] | None = None) -> int:
        """Queue ``labels`` (H, W) ints for rendering; returns the request id. ``canvas_size``
        is (H, W), by default the label map's; ``style`` is an image path or array."""
        if self._closed:
            raise RuntimeError("the engine has been shut down")
        labels = np.array(labels, copy=True)  # the document may change while the worker reads
        if labels.ndim != 2:
            raise ValueError(f"labels must be a (H, W) array, got shape {labels.shape}")
        device, precision = self._effective_device_precision()
        self._last_id += 1
        canvas = tuple(int(s) for s in (canvas_size or labels.shape))
        self._slot.put(_Request(self._last_id, labels, self._model_path, device, precision,
                                self._output_mode, canvas, seed, style))
        self._set_busy(True)
        self._wake.emit()
        return self._last_id

    def cancel(self) -> None:
        """Forget the pending request and stop the running one at its next block."""
        self._slot.cancel(self._last_id)
        if self._slot.is_idle():
            self._set_busy(False)

    def shutdown(self) -> None:
        """Stop the worker thread cleanly (the running request is cancelled, not killed)."""
        if self._closed:
            return
        self._closed = True
        self._slot.cancel(sys.maxsize)
        self._thread.quit()
        while not self._thread.wait(5000):  # a model load cannot be interrupted: wait for it
            log.warning("still waiting for the engine thread to stop")
        self._cache.clear()
        self._worker = None
        self._set_busy(False)

    # --- worker reports (queued: they run on the GUI thread) ---
    def _is_current(self, request_id: int) -> bool:
        return request_id == self._last_id and not self._slot.is_cancelled(request_id)

    def _on_finished(self, request_id: int, image, seconds: float) -> None:
        if self._slot.is_cancelled(request_id):
            return
        self._last_seconds = seconds  # a stale result still measures the model's speed
        if self._is_current(request_id):
            self.result.emit(request_id, image, seconds)

    def _on_failed(self, request_id: int, message: str) -> None:
        if self._is_current(request_id):
            self.failed.emit(request_id, message)

    def _on_idle(self) -> None:
        if self._slot.is_idle():
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
