"""The background engine, the live scheduler and the model store.

Most tests use a fake model that sleeps in small steps and calls the engine's cancel check
between them, as the real generator's hooks do between blocks; one test runs a real SPADE file.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from gauapp.engine import OOM_NOTICE, Cancelled, Engine, ModelKey, load_label_to_image
from gauapp.live import LiveScheduler
from gauapp.logs import setup_logging, stop_logging
from gauapp.modelstore import (default_model, list_models, read_labelset, read_model_info,
                               user_models_dir)

FAIL_VALUE = 99


class FakeModel:
    native_size = (64, 64)
    grid = 16
    has_encoder = False
    uses_z = False

    def __init__(self, loader: "FakeLoader", key: ModelKey):
        self.loader, self.key = loader, key
        self.has_encoder = self.uses_z = loader.has_encoder
        self.check = lambda: None

    def encode_style(self, image, seed=None):
        self.loader.encoded.append(seed)
        return 200 + (seed or 0)  # stands for z; the fake paints it as the pixel value

    def attach_cancel(self, check):
        self.check = check

    def __call__(self, labels, size=None, seed=None, z=None):
        value = int(labels[0, 0])
        self.loader.calls.append(value)
        deadline = time.perf_counter() + self.loader.delays.get(value, self.loader.delay)
        while time.perf_counter() < deadline:
            self.check()
            time.sleep(0.002)
        if self.loader.oom_on_cuda and self.key.device.startswith("cuda"):
            raise self.loader.oom_on_cuda
        if value == FAIL_VALUE:
            raise ValueError("boom: bad labels\nsecond line of detail")
        self.loader.completed.append(value)
        self.loader.seeds.append(seed)
        return np.full((*size, 3), (value if z is None else z) % 256, np.uint8)


class FakeLoader:
    """loader(ModelKey) -> FakeModel; records the keys it was asked for and every call."""

    def __init__(self, delay=0.0, delays=None, oom_on_cuda=None, has_encoder=False):
        self.delay, self.delays, self.oom_on_cuda = delay, dict(delays or {}), oom_on_cuda
        self.has_encoder = has_encoder
        self.encoded: list = []          # seeds encode_style was called with
        self.seeds: list = []            # seeds of the finished calls
        self.keys: list[ModelKey] = []
        self.calls: list[int] = []       # label values the model started on
        self.completed: list[int] = []   # ... and those it finished

    def __call__(self, key: ModelKey) -> FakeModel:
        self.keys.append(key)
        return FakeModel(self, key)


def labels_of(value, shape=(64, 64)):
    return np.full(shape, value, np.int64)


@pytest.fixture
def make_engine(qtbot):
    engines = []

    def make(loader=None, model="fake.safetensors") -> Engine:
        engine = Engine(loader=loader)
        engine.set_model(model)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.shutdown()
        assert engine._thread.isFinished()  # no worker thread outlives its test


def collect(signal):
    got = []
    signal.connect(lambda *args: got.append(args))
    return got


# ------------------------------------------------------------------ engine
def test_newest_wins_and_stale_results_are_dropped(qtbot, make_engine):
    loader = FakeLoader(delay=0.2)
    engine = make_engine(loader)
    results = collect(engine.result)
    first = engine.submit(labels_of(0))
    qtbot.waitUntil(lambda: loader.calls == [0], timeout=2000)  # the worker is busy with it
    ids = [engine.submit(labels_of(v)) for v in range(1, 6)]
    assert ids == list(range(first + 1, first + 6))
    qtbot.waitUntil(lambda: not engine.is_busy, timeout=5000)
    qtbot.wait(50)
    assert [(i, int(img[0, 0, 0])) for i, img, _ in results] == [(ids[-1], 5)]
    assert loader.calls == [0, 5]      # 1..4 were superseded while pending: never run
    assert loader.completed == [0, 5]  # 0 ran to its end, but its result was stale: dropped
    assert engine.last_seconds == pytest.approx(0.2, abs=0.15)


@pytest.mark.parametrize("how", ["cancel", "live-off"])
def test_cancel_stops_the_running_generation_at_once(qtbot, make_engine, how):
    loader = FakeLoader(delays={1: 3.0})
    engine = make_engine(loader)
    results = collect(engine.result)
    state = {"labels": labels_of(1)}
    live = LiveScheduler(engine, lambda: (1, state["labels"]))
    if how == "cancel":
        engine.submit(labels_of(1))
    else:
        live.notify_changed()
    qtbot.waitUntil(lambda: loader.calls == [1], timeout=2000)
    idle_at = []
    engine.busy_changed.connect(lambda busy: idle_at.append(time.perf_counter()) if not busy
                                else None)
    start = time.perf_counter()
    engine.cancel() if how == "cancel" else live.set_enabled(False)
    qtbot.waitUntil(lambda: not engine.is_busy, timeout=500)
    stopped = idle_at[0] - start
    # the worker is free again: a new request is served at once
    with qtbot.waitSignal(engine.result, timeout=500) as blocker:
        engine.submit(labels_of(2))
    served = time.perf_counter() - start
    print(f"\n{how}: worker free after {stopped * 1000:.1f} ms, "
          f"next result after {served * 1000:.1f} ms")
    assert stopped < 0.5 and served < 0.5
    assert blocker.args[1][0, 0, 0] == 2
    qtbot.wait(300)
    assert [int(r[1][0, 0, 0]) for r in results] == [2]
    assert 1 not in loader.completed  # the cancelled forward pass really stopped


@pytest.mark.parametrize("error", [
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("CUDA error: out of memory"),
])
def test_out_of_memory_retries_on_the_cpu(qtbot, make_engine, error):
    loader = FakeLoader(oom_on_cuda=error)
    engine = make_engine(loader)
    engine.set_device("cuda")
    engine.set_precision("fp16")
    notices = collect(engine.notice)
    failures = collect(engine.failed)
    with qtbot.waitSignal(engine.result, timeout=3000) as blocker:
        engine.submit(labels_of(4))
    assert blocker.args[1].shape == (64, 64, 3)
    assert [(k.device, k.precision) for k in loader.keys] == [("cuda", "fp16"), ("cpu", "fp32")]
    qtbot.waitUntil(lambda: bool(notices), timeout=1000)
    assert notices == [(OOM_NOTICE,)] and not failures


def test_half_precision_on_cpu_falls_back_with_one_notice(qtbot, make_engine):
    loader = FakeLoader()
    engine = make_engine(loader)
    engine.set_device("cpu")
    engine.set_precision("fp16")
    notices = collect(engine.notice)
    for value in (1, 2):
        with qtbot.waitSignal(engine.result, timeout=2000):
            engine.submit(labels_of(value))
    assert len(notices) == 1 and "fp32" in notices[0][0]
    assert {k.precision for k in loader.keys} == {"fp32"}
    with pytest.raises(ValueError):
        engine.set_device("tpu")


def test_failure_is_reported_logged_and_the_engine_keeps_working(qtbot, make_engine, tmp_path):
    log_path = setup_logging(tmp_path / "logs" / "gauapp.log")
    try:
        engine = make_engine(FakeLoader())
        with qtbot.waitSignal(engine.failed, timeout=2000) as blocker:
            request_id = engine.submit(labels_of(FAIL_VALUE))
        assert blocker.args == [request_id, "boom: bad labels"]
        text = log_path.read_text(encoding="utf-8")
        assert "Traceback" in text and "second line of detail" in text
        with qtbot.waitSignal(engine.result, timeout=2000) as blocker:
            engine.submit(labels_of(3))
        assert blocker.args[1][0, 0, 0] == 3
    finally:
        stop_logging()


def test_missing_or_no_model_gives_a_clear_message(qtbot, make_engine, tmp_path):
    engine = make_engine(model=tmp_path / "gone.safetensors")  # the real loader
    assert engine.model_info is not None and engine.model_info.error
    with qtbot.waitSignal(engine.failed, timeout=2000) as blocker:
        engine.submit(labels_of(1))
    assert blocker.args[1].startswith("model file not found:")
    changed = collect(engine.model_changed)
    engine.set_model(None)
    assert changed == [(None,)]
    with qtbot.waitSignal(engine.failed, timeout=2000) as blocker:
        engine.submit(labels_of(1))
    assert "no model selected" in blocker.args[1]


@pytest.mark.parametrize("mode, shape", [("native", (64, 64)), ("canvas", (96, 128)),
                                         ("native-upscaled", (100, 130))])
def test_output_modes(qtbot, make_engine, mode, shape):
    engine = make_engine(FakeLoader())
    engine.set_output_mode(mode)
    with qtbot.waitSignal(engine.result, timeout=2000) as blocker:
        engine.submit(labels_of(5, (100, 130)))
    assert blocker.args[1].shape == (*shape, 3) and blocker.args[1].dtype == np.uint8


def test_model_cache_keeps_two_entries(qtbot, make_engine):
    loader = FakeLoader()
    engine = make_engine(loader)
    for path in ("a", "b", "a", "c", "a"):
        engine.set_model(path)
        with qtbot.waitSignal(engine.result, timeout=2000):
            engine.submit(labels_of(1))
    assert [k.path for k in loader.keys] == ["a", "b", "c"]  # "a" stayed: used most recently


def test_style_image_is_encoded_once_and_ignored_without_encoder(qtbot, make_engine):
    style = np.zeros((32, 32, 3), np.uint8)
    loader = FakeLoader(has_encoder=True)
    engine = make_engine(loader)
    for _ in range(2):
        with qtbot.waitSignal(engine.result, timeout=2000) as blocker:
            engine.submit(labels_of(1), style=style, seed=3)
        assert blocker.args[1][0, 0, 0] == 203
    assert loader.encoded == [3] and loader.seeds == [3, 3]  # encoded once, then cached

    plain = make_engine(FakeLoader())
    notices = collect(plain.notice)
    for _ in range(2):
        with qtbot.waitSignal(plain.result, timeout=2000) as blocker:
            plain.submit(labels_of(1), style=style)
        assert blocker.args[1][0, 0, 0] == 1
    qtbot.wait(20)
    assert len(notices) == 1 and "no style encoder" in notices[0][0]


# ------------------------------------------------------------------ live scheduler
class Doc:
    """A stand-in for the document: a revision and a label map."""

    def __init__(self, value=1):
        self.revision, self.labels = 1, labels_of(value)

    def snapshot(self):
        return self.revision, self.labels

    def paint(self, value):
        self.revision += 1
        self.labels = labels_of(value)


def test_live_unchanged_labels_are_not_rerendered(qtbot, make_engine):
    loader = FakeLoader()
    engine = make_engine(loader)
    doc = Doc()
    live = LiveScheduler(engine, doc.snapshot)

    def settle():
        qtbot.wait(80)
        qtbot.waitUntil(lambda: not engine.is_busy, timeout=2000)

    live.notify_changed()
    settle()
    assert loader.calls == [1]
    live.notify_changed()              # same revision
    settle()
    doc.revision += 1                  # new revision, same pixels (e.g. undo + redo)
    live.notify_changed()
    settle()
    assert loader.calls == [1]
    doc.paint(2)
    live.notify_changed()
    settle()
    assert loader.calls == [1, 2]
    live.generate_now()                # forced even though nothing changed
    settle()
    assert loader.calls == [1, 2, 2]


def test_live_request_options_and_no_document(qtbot, make_engine):
    loader = FakeLoader()
    engine = make_engine(loader)
    doc = Doc()
    live = LiveScheduler(engine, doc.snapshot)
    with qtbot.waitSignal(engine.result, timeout=2000):
        live.notify_changed()
    with qtbot.waitSignal(engine.result, timeout=2000):
        live.set_request_options(seed=7)  # same labels, other seed: renders again
    assert loader.seeds == [None, 7]
    empty = LiveScheduler(engine, lambda: (-1, None))  # no document open: nothing to render
    empty.notify_changed()
    empty.generate_now()
    qtbot.wait(50)
    assert loader.calls == [1, 1] and not engine.is_busy
    engine.shutdown()
    doc.paint(2)
    live.generate_now()  # after shutdown: quietly nothing
    with pytest.raises(RuntimeError):
        engine.submit(labels_of(1))


def test_live_fast_model_renders_immediately(qtbot, make_engine):
    engine = make_engine(FakeLoader())
    doc = Doc()
    live = LiveScheduler(engine, doc.snapshot)
    with qtbot.waitSignal(engine.result, timeout=2000):
        live.notify_changed()
    assert engine.last_seconds < LiveScheduler.FAST_SECONDS and live.delay_seconds() == 0
    doc.paint(2)
    start = time.perf_counter()
    with qtbot.waitSignal(engine.result, timeout=2000):
        live.notify_changed()
    assert time.perf_counter() - start < 0.2


def test_live_slow_model_coalesces_a_burst(qtbot, make_engine):
    loader = FakeLoader(delay=0.3)
    engine = make_engine(loader)
    doc = Doc()
    live = LiveScheduler(engine, doc.snapshot)
    results = collect(engine.result)
    with qtbot.waitSignal(engine.result, timeout=3000):
        live.generate_now()
    assert live.delay_seconds() == pytest.approx(0.15, abs=0.08)
    loader.calls.clear()
    for value in range(10, 20):
        doc.paint(value)
        live.notify_changed()
        qtbot.wait(10)
    qtbot.wait(300)
    qtbot.waitUntil(lambda: not engine.is_busy, timeout=3000)
    assert 1 <= len(loader.calls) <= 2
    assert loader.calls[-1] == 19 and int(results[-1][1][0, 0, 0]) == 19


def test_live_holds_one_request_while_generating(qtbot, make_engine):
    loader = FakeLoader(delay=0.25)
    engine = make_engine(loader)
    doc = Doc()
    live = LiveScheduler(engine, doc.snapshot)
    live.notify_changed()            # first change: no measurement yet, renders at once
    qtbot.waitUntil(lambda: loader.calls == [1], timeout=1000)
    for value in (2, 3, 4):
        doc.paint(value)
        live.generate_now()          # forced, but the first is still running: held here
    qtbot.wait(50)
    qtbot.waitUntil(lambda: not engine.is_busy, timeout=3000)
    assert loader.calls == [1, 4]
    assert loader.completed == [1, 4]  # the running one was not thrown away


# ------------------------------------------------------------------ a real model
@pytest.fixture(scope="module")
def ade20k_model_file(reference_weights, tmp_path_factory):
    from models.importers import import_model
    from models.modelfile import save_model_file

    src = reference_weights("spade/ade20k_ngf16") / "latest_net_G.pth"
    return save_model_file(import_model(src), tmp_path_factory.mktemp("model") / "m.safetensors")


def blob_labels(size=256, classes=150, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, classes, (size // 32, size // 32))
    return np.kron(coarse, np.ones((32, 32), np.int64))


def test_real_spade_model_on_cpu(qtbot, make_engine, ade20k_model_file):
    engine = make_engine(model=ade20k_model_file)
    assert engine.model_info.architecture == "spade" and engine.model_info.labelset == "ade20k"
    engine.set_device("cpu")
    with qtbot.waitSignal(engine.result, timeout=120_000) as blocker:
        engine.submit(blob_labels())
    _, image, seconds = blocker.args
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8 and seconds > 0
    assert image.std() > 0


def test_real_model_cancel_hooks_fire_between_blocks(ade20k_model_file):
    model = load_label_to_image(ModelKey(str(ade20k_model_file), "cpu", "fp32"))
    calls = []

    def check():
        calls.append(threading.get_ident())
        if len(calls) >= 3:
            raise Cancelled()

    model.attach_cancel(check)
    with pytest.raises(Cancelled):
        model(blob_labels(), size=(256, 256))
    assert len(calls) == 3  # stopped three modules in, not at the end


def test_real_vae_model_takes_a_style_image(qtbot, make_engine, reference_dir, reference_weights,
                                            tmp_path):
    from models.importers import import_model
    from models.modelfile import save_model_file

    case = reference_dir / "spade" / "coco_vae_ngf16"
    path = save_model_file(import_model(reference_weights("spade/coco_vae_ngf16")
                                        / "latest_net_G.pth"), tmp_path / "vae.safetensors")
    model = load_label_to_image(ModelKey(str(path), "cpu", "fp32"))
    assert model.has_encoder and model.uses_z
    mu = model.encode_style(case / "style.png")  # no seed: the style's mean
    assert np.abs(mu.numpy() - np.load(case / "mu.npy")).max() <= 1e-4

    engine = make_engine(model=path)
    assert engine.model_info.uses_z and engine.model_info.has_encoder
    engine.set_device("cpu")
    engine.set_output_mode("native")
    labels = np.load(case / "label.npy").astype(np.int64)
    images = []
    for style, seed in ((case / "style.png", None), (None, 1), (None, 2)):
        with qtbot.waitSignal(engine.result, timeout=60_000) as blocker:
            engine.submit(labels, style=style, seed=seed)
        images.append(blocker.args[1])
    assert images[0].shape == (*model.native_size, 3)
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])


# ------------------------------------------------------------------ model store
def _tiny_model(path, labelset="landscape", architecture="spade", **options):
    from models.bundle import ModelBundle
    from models.labelsets import load_labelset
    from models.modelfile import save_model_file

    bundle = ModelBundle(architecture, {"crop_size": 256, "label_nc": 10, **options},
                         {"G.weight": torch.zeros(4)},
                         load_labelset(labelset) if labelset else None,
                         {"source": "test"}, "CC0-1.0")
    return save_model_file(bundle, path)


def test_modelstore_lists_bundled_and_user_models(tmp_path):
    from safetensors.torch import save_file

    bundled, user = tmp_path / "bundled", tmp_path / "user"
    _tiny_model(bundled / "landscape.safetensors")
    _tiny_model(user / "ade.safetensors", labelset="ade20k")
    user.joinpath("broken.safetensors").write_bytes(b"this is not a model")
    save_file({"x": torch.zeros(2)}, str(user / "foreign.safetensors"))
    user.joinpath("notes.txt").write_text("ignored")

    models = list_models(user_dir=user, bundled_dir=bundled)
    assert [(m.name, m.is_bundled) for m in models] == [
        ("landscape", True), ("ade", False), ("broken", False), ("foreign", False)]
    land = models[0]
    assert (land.architecture, land.kind, land.labelset, land.license) == (
        "spade", "label2image", "landscape", "CC0-1.0")
    assert land.ok and land.size_bytes == (bundled / "landscape.safetensors").stat().st_size
    assert land.native_size == (256, 256)
    assert not models[2].ok and "not a readable safetensors file" in models[2].error
    assert "not a gauapp model file" in models[3].error
    assert default_model(models) is land
    assert default_model(models[1:]).name == "ade"        # no bundled: first label2image
    assert default_model(models[2:]) is None
    assert default_model([read_model_info(user / "ade.safetensors", is_bundled=True),
                          land]) is land                  # landscape preferred
    assert read_labelset(bundled / "landscape.safetensors").name == "landscape"
    assert read_labelset(user / "broken.safetensors") is None


def test_modelstore_reports_style_abilities(tmp_path):
    vae = read_model_info(_tiny_model(tmp_path / "vae.safetensors", use_vae=True))
    plain = read_model_info(_tiny_model(tmp_path / "plain.safetensors"))
    assert (vae.uses_z, vae.has_encoder, plain.uses_z, plain.has_encoder) == (
        True, True, False, False)


def test_modelstore_default_folders(tmp_path):
    assert user_models_dir().parts[-2:] in (("gauapp", "models"), ("gauapp", "Models")) \
        or user_models_dir().name == "models"
    assert list_models(user_dir=tmp_path / "nothing-here", bundled_dir=tmp_path / "nor-here") == []
    list_models()  # the real folders: must not raise, whatever is installed
    missing = read_model_info(tmp_path / "gone.safetensors")
    assert not missing.ok and missing.error
