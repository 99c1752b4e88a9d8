"""The main window, driven like a user (offscreen): strokes, undo, fill, generation, files."""
from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from gauapp import fileactions
from gauapp.document import painting
from gauapp.document.layers import TRANSPARENT
from gauapp.scripted import drag, paint_landscape

from app_window import close_window, open_window, reference_model_folder


@pytest.fixture(scope="session")
def coco_model_dir(tmp_path_factory, reference_weights):
    """A models folder holding the reference COCO-Stuff SPADE (ngf 16) as our model file."""
    return reference_model_folder(tmp_path_factory, reference_weights, "spade/coco_ngf16",
                                  "coco-reference")


def make_window(qtbot, tmp_path, models_folder, live=False):
    window = open_window(qtbot, tmp_path, models_folder, live_default=live, device="auto")
    window.fit_view()
    return window


@pytest.fixture
def window(qtbot, tmp_path, coco_model_dir, monkeypatch):
    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    w = make_window(qtbot, tmp_path, coco_model_dir)
    yield w
    close_window(w)


def test_stroke_changes_exactly_the_expected_pixels_and_undoes(window):
    assert not window.live_action.isChecked() and not window.scheduler.enabled  # live off at start
    doc = window.document
    layer = doc.active_layer
    before = layer.data.copy()
    grass = doc.labelset.by_name("grass").id
    window.palette.set_current_class(grass)
    window.select_tool("brush")
    window.size_spin.setValue(10)
    points = [(100.0, 100.0), (220.0, 160.0)]
    drag(window.paint_view, points)
    y0, x0, mask = painting.stroke_mask((doc.height, doc.width), points, 5.0)
    expected = before.copy()
    expected[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]][mask] = grass
    # mouse positions pass through widget coordinates: allow sub-pixel rounding at the rim only
    differ = expected != layer.data
    assert differ.sum() <= 0.05 * mask.sum()
    assert (layer.data == grass).sum() > 0.9 * mask.sum()
    assert window.session.undo.count() == 1  # one drag, one step
    window.undo_action.trigger()
    assert np.array_equal(layer.data, before)
    window.redo_action.trigger()
    assert (layer.data == grass).any()


def test_fill_and_eraser(window):
    doc = window.document
    sea = doc.labelset.by_name("sea").id
    window.palette.set_current_class(sea)
    window.select_tool("rectangle")
    drag(window.paint_view, [(10, 10), (110, 60)])
    layer = doc.active_layer
    assert (layer.data == sea).sum() > 90 * 45
    window.palette.set_current_class(doc.labelset.by_name("sand").id)
    window.select_tool("fill")
    drag(window.paint_view, [(50, 30), (50, 30)])
    assert (layer.data == sea).sum() == 0
    window.select_tool("eraser")
    window.size_spin.setValue(20)
    drag(window.paint_view, [(50, 30), (60, 30)])
    assert (layer.data[20:40, 45:65] == TRANSPARENT).any()
    assert window.session.undo.count() == 3


def test_generate_shows_an_image(qtbot, window):
    paint_landscape(window)
    with qtbot.waitSignal(window.engine.result, timeout=60_000) as blocker:
        window.generate_now()
    image = blocker.args[1]
    assert image.dtype == np.uint8 and image.shape == (256, 256, 3)
    assert window.result_view.image is not None
    assert "ms" in window.status_time.text()


def test_project_round_trip_is_bit_exact(qtbot, window, tmp_path):
    paint_landscape(window)
    path = tmp_path / "painting.ora"
    fileactions.write_project(window, path)
    layers = [(l.kind, l.name, l.data.copy() if l.kind == "labels" else l.rgba.copy())
              for l in window.document.layers]
    assert fileactions.open_project(window, path)
    again = [(l.kind, l.name, l.data if l.kind == "labels" else l.rgba)
             for l in window.document.layers]
    assert [(k, n) for k, n, _ in layers] == [(k, n) for k, n, _ in again]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(layers, again))
    assert not window.document.modified


def test_bad_files_leave_the_document_untouched(qtbot, window, tmp_path):
    doc = window.document
    snapshot = [l.data.copy() for l in doc.layers if l.kind == "labels"]
    corrupt = tmp_path / "broken.ora"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip file")
    assert not fileactions.open_project(window, corrupt)
    assert "broken.ora" in window.last_error
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(small)
    assert not fileactions.import_label_map(window, small)
    assert "32x32" in window.last_error
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert not fileactions.import_image(window, text)
    assert window.document is doc
    assert [l.data for l in doc.layers if l.kind == "labels"].__len__() == len(snapshot)
    assert all(np.array_equal(a, l.data) for a, l in
               zip(snapshot, [l for l in doc.layers if l.kind == "labels"]))


def test_import_label_map_png(qtbot, window, tmp_path):
    doc = window.document
    ids = np.full((doc.height, doc.width), doc.labelset.by_name("sea").id, np.uint8)
    ids[: doc.height // 2] = doc.labelset.by_name("sky-other").id
    path = tmp_path / "labels.png"
    Image.fromarray(ids).save(path)  # a COCO-Stuff index PNG
    assert fileactions.import_label_map(window, path)
    assert np.array_equal(doc.active_layer.data, ids.astype(np.int16))


def test_live_mode_generates_after_painting(qtbot, tmp_path, coco_model_dir, monkeypatch):
    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    window = make_window(qtbot, tmp_path, coco_model_dir, live=True)
    try:
        window.palette.set_current_class(window.document.labelset.by_name("grass").id)
        with qtbot.waitSignal(window.engine.result, timeout=60_000):
            drag(window.paint_view, [(50, 400), (400, 420)])
        window.live_action.trigger()  # off
        assert not window.scheduler.enabled
    finally:
        close_window(window)


def test_without_any_model_the_app_still_paints_and_saves(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    monkeypatch.setattr("gauapp.modelstore.bundled_models_dir", lambda: tmp_path / "none")
    empty = tmp_path / "empty-models"
    empty.mkdir()
    window = make_window(qtbot, tmp_path, empty)
    try:
        assert window.model is None
        assert "No model" in window.result_view.placeholder
        assert not window.variation_action.isEnabled()
        paint_landscape(window)
        fileactions.write_project(window, tmp_path / "p.ora")
        assert (tmp_path / "p.ora").stat().st_size > 0
    finally:
        close_window(window)


def test_autosave_and_recovery(qtbot, tmp_path, coco_model_dir, monkeypatch):
    from gauapp import app as app_module
    from gauapp.autosave import find_recoverable

    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    window = make_window(qtbot, tmp_path, coco_model_dir)
    try:
        paint_landscape(window)
        assert window.autosaver.tick()
        saved = window.autosaver.path
        assert saved.exists()
        painted = window.document.active_layer.data.copy()
        # what a crash leaves: the file of a process that is gone
        crashed = saved.with_name("autosave-999999999.ora")
        saved.rename(crashed)
        saved.with_suffix(".json").rename(crashed.with_suffix(".json"))
        assert [r.path for r in find_recoverable(tmp_path / "autosave")] == [crashed]
        fileactions.new_project(window, (512, 512))
        monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.question",
                            lambda *a, **k: __import__("PySide6.QtWidgets").QtWidgets
                            .QMessageBox.Yes)
        app_module.offer_recovery(window, tmp_path / "autosave")
        assert window.document.modified
        assert any(np.array_equal(l.data, painted) for l in window.document.layers
                   if l.kind == "labels")
        assert not crashed.exists()
    finally:
        close_window(window)


def test_import_image_adds_an_undoable_layer(qtbot, window, tmp_path):
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    before = len(window.document.layers)
    assert fileactions.import_image(window, path)
    layer = next(l for l in window.document.layers if l.kind == "image")
    assert layer.name == "photo" and np.array_equal(layer.rgba[..., :3], pixels)
    window.session.undo.undo()
    assert len(window.document.layers) == before


def test_an_image_without_classes_is_not_rendered_until_something_is_painted(qtbot, tmp_path,
                                                                             coco_model_dir,
                                                                             monkeypatch):
    """A photo opened on its own has no class for the model: the result view says what to do
    instead of rendering "unlabeled" everywhere; the first stroke on a label layer renders, and
    hiding that layer clears the result again."""
    from gauapp.document import Document
    from gauapp.mainwindow import NOTHING_PAINTED_TEXT
    from gauapp.session import Session

    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    window = make_window(qtbot, tmp_path, coco_model_dir, live=True)
    try:
        doc = Document(256, 192, window.labelset)
        doc.add_image_layer(np.full((192, 256, 4), 200, np.uint8), name="Photo")
        window.set_session(Session(doc))
        assert not doc.has_label_content()
        submitted = []
        monkeypatch.setattr(window.engine, "submit",
                            lambda *a, **k: submitted.append(a) or -5)
        window.generate_now()
        qtbot.wait(400)  # longer than the live debounce
        assert submitted == [] and window.result_view.image is None
        assert window.result_view.placeholder == NOTHING_PAINTED_TEXT
        monkeypatch.undo()
        monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)

        window.session.undo.push_change(doc.add_label_layer("Paint"))
        window.palette.set_current_class(doc.labelset.by_name("grass").id)
        window.select_tool("brush")
        with qtbot.waitSignal(window.engine.result, timeout=60_000):
            drag(window.paint_view, [(20, 150), (230, 160)])
        qtbot.waitUntil(lambda: window.result_view.image is not None, timeout=10_000)
        assert doc.has_label_content() and window.result_view.placeholder != NOTHING_PAINTED_TEXT

        window.session.undo.push_change(doc.set_layer_props(doc.active_uid, visible=False))
        assert window.result_view.image is None and window.session.generated is None
        assert window.result_view.placeholder == NOTHING_PAINTED_TEXT
    finally:
        close_window(window)
