"""Sketch layers, the pen, and the pix2pix filters (Sketch → photo, Image → image) in the app:
one undo step per stroke, results on new undoable layers made off the GUI thread, odd sizes
padded and cropped back, models of the wrong kind refused with the reason."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from models.bundle import ModelBundle
from models.errors import InputError
from models.modelfile import save_model_file

from app_window import close_window, open_window, wait_job

UNET = dict(netG="unet", num_downs=5, ngf=4, norm="batch", use_dropout=True)  # grid 32


def tiny_bundle(architecture="pix2pix", seed=0, **opts) -> ModelBundle:
    from models.registry import get_architecture

    opts = opts or dict(UNET)
    torch.manual_seed(seed)
    G = get_architecture(architecture).build(opts)["G"]
    state = OrderedDict((f"G.{k}", v.detach().clone()) for k, v in G.state_dict().items())
    return ModelBundle(architecture, opts, state)


@pytest.fixture
def models_dir(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    save_model_file(tiny_bundle(), folder / "tiny-edges2shoes.safetensors")
    save_model_file(tiny_bundle("pix2pixhd_global", label_nc=0, ngf=4, n_downsample_global=2,
                                n_blocks_global=1, native_size=[32, 64]),
                    folder / "tiny-day2night-hd.safetensors")
    save_model_file(tiny_bundle("pix2pixhd_global", label_nc=5, no_instance=True, ngf=4,
                                n_downsample_global=2, n_blocks_global=1),
                    folder / "labels-hd.safetensors")
    save_model_file(tiny_bundle(netG="unet", num_downs=5, ngf=4, input_nc=1, output_nc=2),
                    folder / "colorizer.safetensors")
    return folder


@pytest.fixture
def window(qtbot, tmp_path, models_dir, monkeypatch):
    from gauapp import fileactions

    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    monkeypatch.setattr("gauapp.modelstore.bundled_models_dir", lambda: tmp_path / "none")
    w = open_window(qtbot, tmp_path, models_dir, show=False, size=None)
    w.set_session(w.session.__class__(_small_document()))
    yield w
    close_window(w)


def _small_document():
    from gauapp.session import new_document
    from models.labelsets import load_labelset

    return new_document(70, 45, load_labelset("landscape"))  # odd sizes on purpose


def _wait(qtbot, job):
    assert job is not None
    wait_job(qtbot, job, timeout=30000)
    assert job.state == "finished", job.error


# ----- the sketch layer and the pen --------------------------------------------------------------
def test_sketch_layer_pen_stroke_is_one_undo_step(qtbot, window):
    from gauapp.pix2pix_tools import SKETCH_ROLE, new_sketch_layer

    w, doc = window, window.document
    n = len(doc.layers)
    new_sketch_layer(w)
    sketch = doc.active_layer
    assert sketch.kind == "image" and sketch.role == SKETCH_ROLE
    assert sketch.rgba.shape == (45, 70, 4) and (sketch.rgba == 255).all()
    assert w.current_tool == "pen" and w.tool_ctx.brush_size == 3
    steps = w.session.undo.count()
    pen = w.tools["pen"]
    pen.press(5.5, 10.5, Qt.NoModifier)
    for x in range(6, 40, 3):
        pen.move(x + 0.5, 10.5, Qt.NoModifier)
    pen.release(40.5, 10.5, Qt.NoModifier)
    assert w.session.undo.count() == steps + 1  # the whole drag
    ink = (sketch.rgba[..., :3] == 0).all(axis=2)
    assert ink[10, 5:40].all() and not ink[30].any()
    assert (sketch.rgba[..., 3] == 255).all()
    pen.press(20.5, 10.5, Qt.ControlModifier)  # Ctrl: white, rubs the line out
    pen.release(20.5, 10.5, Qt.ControlModifier)
    assert (sketch.rgba[10, 20, :3] == 255).all()
    w.session.undo.undo()
    w.session.undo.undo()
    assert (sketch.rgba == 255).all()
    w.session.undo.undo()
    assert len(doc.layers) == n


def test_pen_refuses_label_layers(window):
    w = window
    before = w.document.active_layer.data.copy()
    w.select_tool("pen")
    w.tools["pen"].press(5, 5, Qt.NoModifier)
    w.tools["pen"].release(5, 5, Qt.NoModifier)
    assert np.array_equal(w.document.active_layer.data, before)
    assert "image layers" in w.statusBar().currentMessage()


def test_sketch_role_survives_a_project_file(window, tmp_path):
    from gauapp.document.ora import load_ora, save_ora
    from gauapp.pix2pix_tools import new_sketch_layer

    new_sketch_layer(window)
    save_ora(window.document, tmp_path / "s.ora")
    roles = [getattr(la, "role", None) for la in load_ora(tmp_path / "s.ora").document.layers]
    assert roles == [None, None, "sketch"]  # label layers have no role


# ----- the filters -----------------------------------------------------------------------------
def test_sketch_to_photo_makes_an_undoable_layer_of_the_same_size(qtbot, window):
    from gauapp.pix2pix_tools import TranslateDialog, new_sketch_layer

    w, doc = window, window.document
    new_sketch_layer(w)
    sketch = doc.active_layer
    line = np.tile(np.array([0, 0, 0, 255], np.uint8), (3, 40, 1))
    w._push(doc.replace_pixels(sketch.uid, 10, 10, line))
    doc.set_active(doc.layers[0].uid)  # a label layer: the filter still finds the sketch
    n = len(doc.layers)
    dialog = TranslateDialog(w, prefer_sketch=True)
    assert dialog.model_combo.currentText().startswith("tiny-edges2shoes")
    names = [dialog.model_combo.itemText(i) for i in range(dialog.model_combo.count())]
    assert not any("labels-hd" in t or "colorizer" in t for t in names)  # wrong kinds hidden
    dialog.full.setChecked(True)
    job = dialog.run()
    _wait(qtbot, job)
    result = doc.layers[doc.index_of(sketch.uid) + 1]
    assert result.rgba.shape == (45, 70, 4) and result.name.startswith("Sketch 1 →")
    assert len(doc.layers) == n + 1
    w.session.undo.undo()
    assert len(doc.layers) == n


@pytest.mark.parametrize("size_mode", ["model", "full"])
def test_image_to_image_on_an_odd_sized_offset_layer(qtbot, window, models_dir, size_mode):
    from gauapp.pix2pix_tools import pick_source, start_translation

    w, doc = window, window.document
    rgb = np.random.default_rng(0).integers(0, 256, (37, 51, 3), dtype=np.uint8)
    w._push(doc.add_image_layer(rgb, name="photo", x=4, y=3))
    photo = doc.active_uid
    n = len(doc.layers)
    for model in ("tiny-edges2shoes", "tiny-day2night-hd"):
        job = start_translation(w, models_dir / f"{model}.safetensors",
                                pick_source(w, False), size_mode)
        _wait(qtbot, job)
        result = doc.layers[doc.index_of(photo) + 1]  # just above its source
        assert result.rgba.shape == (37, 51, 4) and (result.x, result.y) == (4, 3)
        assert result.name == f"photo → {model}"
        assert not np.array_equal(result.rgba[..., :3], rgb)
        doc.set_active(photo)
    assert len(doc.layers) == n + 2
    w.session.undo.undo()
    w.session.undo.undo()
    assert len(doc.layers) == n


def test_image_to_image_uses_the_generated_image_when_no_image_layer(qtbot, window, models_dir):
    from gauapp.pix2pix_tools import pick_source, start_translation

    w = window
    assert isinstance(pick_source(w, False), str)  # nothing to translate yet: a sentence
    w.session.generated = np.full((32, 32, 3), 90, np.uint8)
    source = pick_source(w, False)
    job = start_translation(w, models_dir / "tiny-edges2shoes.safetensors", source)
    _wait(qtbot, job)
    assert w.document.layers[-1].rgba.shape == (45, 70, 4)  # covers the canvas


def test_models_of_the_wrong_kind_are_refused_with_the_reason(qtbot, window, models_dir):
    from gauapp.pix2pix_tools import TranslateDialog

    dialog = TranslateDialog(window, prefer_sketch=False)
    assert not dialog.add_model_file(str(models_dir / "labels-hd.safetensors"))
    assert "label maps" in window.last_error
    assert not dialog.add_model_file(str(models_dir / "colorizer.safetensors"))
    assert "Colorize" in window.last_error


def test_translate_pads_to_the_grid_and_crops_back(tmp_path):
    from gauapp.image2image import load_image_model, padded_size, translate

    assert padded_size(37, 51, 32) == (64, 64) and padded_size(64, 32, 32) == (64, 32)
    m = load_image_model(save_model_file(tiny_bundle(), tmp_path / "m.safetensors"))
    assert m.grid == 32 and m.model_size(37, 51) == (32, 32)
    rgb = np.random.default_rng(1).integers(0, 256, (37, 51, 3), dtype=np.uint8)
    full = translate(m, rgb, "full")
    assert full.shape == (37, 51, 3) and full.dtype == np.uint8
    # Fully convolutional: the result is the run on the reflect-padded image, cropped.
    padded = np.pad(rgb, ((0, 27), (0, 13), (0, 0)), mode="reflect")
    assert np.array_equal(translate(m, padded, "full")[:37, :51], full)
    assert translate(m, rgb, "model").shape == (37, 51, 3)
    with pytest.raises(InputError, match="size mode"):
        translate(m, rgb, "tiles")


def test_pix2pixhd_model_size_keeps_the_aspect(tmp_path):
    from gauapp.image2image import load_image_model

    path = save_model_file(tiny_bundle("pix2pixhd_global", label_nc=0, ngf=4,
                                       n_downsample_global=2, n_blocks_global=1,
                                       native_size=[32, 64]), tmp_path / "hd.safetensors")
    m = load_image_model(path)
    assert m.grid == 4 and m.model_size(100, 200) == (32, 64) and m.model_size(37, 51) == (48, 64)


def test_load_refuses_wrong_kinds(tmp_path, models_dir):
    from gauapp.image2image import load_image_model, model_file_problem

    with pytest.raises(InputError, match="label maps"):
        load_image_model(models_dir / "labels-hd.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    assert model_file_problem(tmp_path / "junk.safetensors")
