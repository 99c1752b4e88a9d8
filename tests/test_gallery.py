"""Models → Generation gallery: seeded samples at other aspect ratios, added as a layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gauapp import fileactions, gallery

from app_window import close_window, open_window, wait_job

SHAPES = ((12, 16), (16, 22))


@pytest.fixture(scope="module")
def generation_file(tmp_path_factory):
    from models.consingan.architecture import bundle_from_model
    from models.consingan.model import ConSinGANModel
    from models.modelfile import save_model_file

    torch.manual_seed(0)
    model = ConSinGANModel({"reals_shapes": [list(s) for s in SHAPES], "nfc": 8,
                            "train_mode": "generation"})
    folder = tmp_path_factory.mktemp("gen")
    return save_model_file(bundle_from_model(model, {"source": "test"}),
                           folder / "tiny-generation.safetensors")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, generation_file):
    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    # only the tiny model: the bundled chelsea model samples at 167x250, too slow for these tests
    monkeypatch.setattr("gauapp.modelstore.bundled_models_dir", lambda: tmp_path / "none")
    w = open_window(qtbot, tmp_path, generation_file.parent, size=None)
    yield w
    close_window(w)


def test_gallery_samples_and_adds_a_layer(window, generation_file, qtbot):
    from models.devices import to_uint8_image
    from models.modelfile import load_model_file
    from models.registry import build_networks

    fileactions.new_project(window, (32, 24))
    window.gallery_action.trigger()
    dialog = window.gallery_dialog
    assert dialog.model_combo.currentData() == str(generation_file)  # listed from the folder
    dialog.count.setValue(3)
    dialog.seed.setValue(5)
    dialog.scale_w.setValue(1.5)
    dialog.scale_h.setValue(2.0)
    job = dialog.generate()
    wait_job(qtbot, job, timeout=60_000)
    assert job.state == "finished", job.error
    assert dialog.grid.count() == 3 and sorted(dialog.samples) == [5, 6, 7]
    model = build_networks(load_model_file(generation_file))["G"]
    expected = to_uint8_image(model.sample(generator=6, scale_h=2.0, scale_w=1.5))[0]
    assert np.array_equal(dialog.samples[6], expected)  # seeded: the same sample again
    assert expected.shape[:2] == (32, 33)  # 16x22 scaled by 2 x 1.5
    doc = window.document
    steps = window.session.undo.count()
    dialog.grid.setCurrentRow(1)
    dialog.add_button.click()
    layer = doc.active_layer
    # 33x32 does not fit the 32x24 canvas: scaled down to 25x24 (aspect kept), centred.
    assert layer.kind == "image" and layer.rgba.shape[:2] == (24, 25)
    assert (layer.x, layer.y) == (3, 0) and "seed 6" in layer.name
    assert window.session.undo.count() == steps + 1
    window.undo_action.trigger()
    assert all(la.uid != layer.uid for la in doc.layers)


def test_gallery_reports_a_bad_scale_and_a_missing_model(window, generation_file, qtbot):
    dialog = gallery.open_gallery(window)
    dialog.set_model(generation_file)
    dialog.scale_h.setValue(0.25)  # the smallest the dialog offers still samples
    dialog.scale_w.setValue(0.25)
    job = dialog.generate()
    wait_job(qtbot, job, timeout=60_000)
    assert job.state == "finished" and dialog.grid.count() == 8
    job = window.jobs.start("tiny", gallery.sample_job(generation_file, [0], 0.01, 1.0, "cpu"))
    wait_job(qtbot, job, timeout=60_000)
    assert job.state == "failed" and "coarsest level empty" in job.error
    dialog.model_combo.clear()
    assert dialog.generate() is None and "Choose" in dialog.status.text()
    dialog.grid.clear()
    assert dialog.add_selected() is None and "Pick a sample" in dialog.status.text()


def test_the_bundled_chelsea_model_is_listed_for_a_new_user(tmp_path):
    # a new user's gallery is not empty: the app ships a generation model (CC0 training image)
    (chelsea,) = [m for m in gallery.generation_models(str(tmp_path)) if m.is_bundled]
    assert chelsea.name == "chelsea-generation" and chelsea.task == "generation"
    assert chelsea.license.startswith("CC0") and chelsea.path.with_suffix(".png").is_file()


def test_an_empty_gallery_offers_training_and_lists_a_model_once_there_is_one(
        qtbot, tmp_path, monkeypatch, generation_file):
    import shutil

    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    monkeypatch.setattr("gauapp.modelstore.bundled_models_dir", lambda: tmp_path / "none")
    folder = tmp_path / "models"
    folder.mkdir()
    w = open_window(qtbot, tmp_path, folder, size=None)
    try:
        dialog = gallery.open_gallery(w)
        assert dialog.model_combo.count() == 0 and dialog.job is None
        assert not dialog.generate_button.isEnabled() and not dialog.add_button.isEnabled()
        assert dialog.train_button.isVisibleTo(dialog) and "Train one" in dialog.status.text()
        dialog.train_button.click()
        assert w.train_dialog.isVisible() and w.train_dialog.mode.currentData() == "generation"
        w.train_dialog.hide()
        # A model arrives (trained or copied in): opening the gallery again lists it and draws.
        shutil.copy(generation_file, folder / generation_file.name)
        assert gallery.open_gallery(w) is dialog
        assert dialog.model_combo.count() == 1 and not dialog.train_button.isVisibleTo(dialog)
        wait_job(qtbot, dialog.job, timeout=60_000)
        assert dialog.job.state == "finished" and dialog.grid.count() == 8
        assert dialog.add_button.isEnabled()  # the first sample is chosen
    finally:
        close_window(w)


def test_a_replaced_sampling_job_does_not_mix_into_the_new_grid(window, monkeypatch, qtbot):
    import threading

    reported = threading.Event()

    def quick_job(path, seeds, scale_h, scale_w, device):
        def work(ctx):
            for seed in seeds:
                ctx.report((seed, np.full((4, 6, 3), seed, np.uint8)))
            reported.set()
            return len(seeds)
        return work

    monkeypatch.setattr(gallery, "sample_job", quick_job)
    dialog = gallery.open_gallery(window)  # starts drawing 8 samples
    first = dialog.job
    assert reported.wait(10)  # its 8 reports wait in the GUI thread's queue
    dialog.count.setValue(2)
    dialog.seed.setValue(100)
    second = dialog.generate()  # replaces it: the queued reports must be dropped
    wait_job(qtbot, second, timeout=60_000)
    wait_job(qtbot, first, timeout=60_000)
    qtbot.wait(50)
    assert sorted(dialog.samples) == [100, 101] and dialog.grid.count() == 2
    assert dialog.status.text() == "2 samples"
