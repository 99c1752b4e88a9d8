"""Colorization: the pipeline keeps the photo's own luminance at full size, and the app's
Filters → Colorize makes an undoable layer off the GUI thread."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

from models.bundle import ModelBundle
from models.color import lab_to_srgb, rgb_to_lab
from models.colorize import Colorizer, working_size
from models.errors import InputError
from models.modelfile import save_model_file
from models.pix2pix import build_generator

from app_window import close_window, open_window, wait_job

OPTIONS = dict(netG="unet_128", ngf=4, norm="instance", input_nc=1, output_nc=2,
               use_dropout=False, load_size=64)


def tiny_colorizer_bundle(seed=0, **changes) -> ModelBundle:
    opts = {**OPTIONS, **changes}
    torch.manual_seed(seed)
    G = build_generator(opts)
    state = OrderedDict((f"G.{k}", v.detach().clone()) for k, v in G.state_dict().items())
    return ModelBundle("pix2pix", opts, state)


def test_lab_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    back = np.round(lab_to_srgb(rgb_to_lab(rgb)) * 255).astype(np.uint8)
    assert np.abs(back.astype(int) - rgb).max() <= 1


def test_colorizer_keeps_luminance_and_size_any_shape():
    col = Colorizer(tiny_colorizer_bundle(), device="cpu")
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (37, 91), dtype=np.uint8)  # odd size, wide, 2-D grey
    out = col(grey)
    assert out.shape == (37, 91, 3) and out.dtype == np.uint8
    L_in = rgb_to_lab(np.repeat(grey[..., None], 3, 2))[..., 0]
    L_out = rgb_to_lab(out)[..., 0]
    # gamut clipping moves L a little for saturated colours; far less than detail would
    assert np.median(np.abs(L_out - L_in)) < 1.5


def test_working_size_keeps_aspect():
    assert working_size(300, 600, 256, 4) == (128, 256)
    assert working_size(10, 1000, 256, 8) == (8, 256)


def test_not_a_colorization_model_is_refused():
    bundle = tiny_colorizer_bundle(input_nc=3, output_nc=3)
    with pytest.raises(InputError, match="not a colorization model"):
        Colorizer(bundle, device="cpu")


@pytest.fixture
def colorize_window(qtbot, tmp_path, monkeypatch):
    from gauapp import fileactions

    models = tmp_path / "models"
    models.mkdir()
    save_model_file(tiny_colorizer_bundle(), models / "tiny-colorizer.safetensors")
    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    monkeypatch.setattr("gauapp.modelstore.bundled_models_dir", lambda: tmp_path / "none")
    monkeypatch.setattr("gauapp.modelstore.user_models_dir", lambda create=False: models)
    window = open_window(qtbot, tmp_path, models, show=False)
    yield window
    close_window(window)


def test_colorize_action_adds_layer_and_undoes(qtbot, colorize_window):
    from gauapp.colorize_action import colorization_models, colorize_active_layer

    w = colorize_window
    assert [m.name for m in colorization_models()] == ["tiny-colorizer"]
    grey = np.random.default_rng(2).integers(0, 256, (40, 50), dtype=np.uint8)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 200)])
    w._push(w.document.add_image_layer(rgba, name="old photo", x=5, y=7))
    n = len(w.document.layers)
    job = colorize_active_layer(w)
    assert job is not None
    wait_job(qtbot, job, timeout=20000)
    assert job.state == "finished", job.error
    top = w.document.layers[-1]
    assert top.name == "old photo (colorized)" and (top.x, top.y) == (5, 7)
    assert top.rgba.shape == (40, 50, 4) and (top.rgba[..., 3] == 200).all()
    w.session.undo.undo()
    assert len(w.document.layers) == n


def test_colorize_needs_an_image_layer(qtbot, colorize_window):
    from gauapp.colorize_action import colorize_active_layer

    w = colorize_window
    assert colorize_active_layer(w) is None
    assert "image layer" in w.statusBar().currentMessage()


def test_colorization_dataset_reads_several_folders(tmp_path):
    from PIL import Image

    from training.data import DatasetError, build_dataset

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        rgb = np.random.default_rng(len(name)).integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(tmp_path / name / f"{name}.png")
    ds = build_dataset("colorization", [tmp_path / "a", tmp_path / "b"], crop_size=32,
                       load_size=36)
    assert len(ds) == 2 and ds[0]["A"].shape == (1, 32, 32) and ds[1]["B"].shape == (2, 32, 32)
    with pytest.raises(DatasetError, match="only colorization"):
        build_dataset("aligned", [tmp_path / "a", tmp_path / "b"])
