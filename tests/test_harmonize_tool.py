"""Cut-and-paste and Harmonize in the real window (offscreen): select, copy, paste, move, scale,
flip, harmonize with the reference ConSinGAN harmonization model, make consistent, undo."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QTimer

from gauapp import edit_actions, fileactions, harmonization, harmonize_action, train_background
from gauapp.document.document import Document
from gauapp.document.selection import Selection, rect_mask
from gauapp.harmonization import (PASTED, find_model, load_model, new_role, parse_role, plan)
from gauapp.scripted import drag

from app_window import close_window, open_window, wait_job


def tiny_model_file(folder, mode: str, shapes=((12, 16), (16, 22)), seed: int = 0,
                    provenance=None, name=None):
    """A small random ConSinGAN of ``mode`` as a model file (for flows, not for quality)."""
    from models.consingan.architecture import bundle_from_model
    from models.consingan.model import ConSinGANModel
    from models.modelfile import save_model_file

    torch.manual_seed(seed)
    model = ConSinGANModel({"reals_shapes": [list(s) for s in shapes], "train_mode": mode,
                            "nfc": 8, "batch_norm": mode != "generation"})
    for k, (h, w) in enumerate(shapes):
        model.reals[k].copy_(torch.rand(1, 3, h, w) * 2 - 1)
        model.fixed_noise[k].copy_(torch.randn_like(model.fixed_noise[k]))
    path = folder / (name or f"tiny-{mode}.safetensors")
    save_model_file(bundle_from_model(model, provenance or {"source": "test"}), path)
    return path


@pytest.fixture(scope="module")
def ref(reference_dir):
    return reference_dir / "consingan" / "harmonization"


@pytest.fixture(scope="module")
def harm_file(tmp_path_factory, ref):
    from models.consingan.architecture import import_folder
    from models.modelfile import save_model_file

    path = tmp_path_factory.mktemp("harm") / "chelsea-harmonization.safetensors"
    save_model_file(import_folder(ref / "model"), path)
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from gauapp import train_job

    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    monkeypatch.setattr(harmonize_action, "user_models_dir",
                        lambda create=False: tmp_path / "user-models")
    monkeypatch.setattr(train_job, "training_root", lambda: tmp_path / "training")
    (tmp_path / "models").mkdir()
    w = open_window(qtbot, tmp_path, tmp_path / "models")
    yield w
    close_window(w)


def with_background(window, ref):
    """A canvas twice the reference image's size holding it (upscaled) as an image layer."""
    small = np.array(Image.open(ref / "train_image.png").convert("RGB"))
    h, w = small.shape[:2]
    fileactions.new_project(window, (2 * w, 2 * h))
    window.fit_view()
    big = np.array(Image.fromarray(small).resize((2 * w, 2 * h), Image.BICUBIC))
    window._push(window.document.add_image_layer(big, name="Background"))
    return big


def paste_region(window, x0, y0, x1, y1, to=None):
    window.selection.set(window.document, Selection.rect(x0, y0, x1, y1))
    assert edit_actions.copy(window) is not None
    edit_actions.paste(window)
    pasted = window.document.active_layer
    if to is not None:
        window._push(window.document.set_layer_props(pasted.uid, x=to[0], y=to[1]))
    return pasted


def test_select_copy_paste_move_scale_flip_undo(window, ref, qtbot):
    big = with_background(window, ref)
    doc = window.document
    window.select_tool("select_rect")
    drag(window.paint_view, [(10.0, 12.0), (40.0, 30.0)])
    sel = window.selection.current(doc)
    (x0, y0), (x1, y1) = sel.points
    assert sel.kind == "rect" and abs(x0 - 10) < 1 and abs(y1 - 30) < 1
    mask = rect_mask(doc.shape, x0, y0, x1, y1)
    by0, bx0, by1, bx1 = sel.bounds(doc.shape)
    window.copy_action.trigger()
    steps = window.session.undo.count()
    window.paste_action.trigger()
    pasted = doc.active_layer
    assert parse_role(pasted.role)[0] == "pasted" and window.current_tool == "move"
    assert (pasted.x, pasted.y) == (bx0, by0)  # our own copy pastes in place
    assert np.array_equal(pasted.rgba[..., :3], big[by0:by1, bx0:bx1])
    assert np.array_equal(pasted.rgba[..., 3], np.where(mask[by0:by1, bx0:bx1], 255, 0))
    assert window.session.undo.count() == steps + 1
    # Move: one drag, one undo step.
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2  # the middle: away from the corner handles
    drag(window.paint_view, [(cx, cy), (cx + 50.0, cy + 20.0)])
    moved = doc.layer(pasted.uid)
    assert abs(moved.x - (bx0 + 50)) <= 1 and abs(moved.y - (by0 + 20)) <= 1
    assert window.session.undo.count() == steps + 2
    window.undo_action.trigger()
    assert (doc.layer(pasted.uid).x, doc.layer(pasted.uid).y) == (bx0, by0)
    window.redo_action.trigger()
    assert (doc.layer(pasted.uid).x, doc.layer(pasted.uid).y) == (moved.x, moved.y)
    # Scale from the bottom-right handle with Shift-free drag: bigger, then undo is bit-exact.
    before = doc.layer(pasted.uid).rgba.copy()
    ly0, lx0, ly1, lx1 = doc.layer(pasted.uid).bounds
    drag(window.paint_view, [(float(lx1), float(ly1)), (lx1 + 12.0, ly1 + 6.0)])
    scaled = doc.layer(pasted.uid)
    assert scaled.rgba.shape[1] > before.shape[1] and (scaled.x, scaled.y) == (lx0, ly0)
    assert window.session.undo.count() == steps + 3
    window.undo_action.trigger()
    assert np.array_equal(doc.layer(pasted.uid).rgba, before)
    # Flip from the Layer menu, undo bit-exact.
    window.flip_h_action.trigger()
    assert np.array_equal(doc.layer(pasted.uid).rgba, before[:, ::-1])
    window.undo_action.trigger()
    assert np.array_equal(doc.layer(pasted.uid).rgba, before)
    # Lasso, select all, deselect.
    window.select_tool("lasso")
    drag(window.paint_view, [(20.0, 20.0), (60.0, 22.0), (40.0, 60.0), (20.0, 20.0)])
    assert window.selection.current(doc).kind == "lasso"
    assert window.paint_view.overlay() is not None
    window.deselect_action.trigger()
    assert window.selection.current(doc) is None and window.paint_view.overlay() is None
    window.select_all_action.trigger()
    assert window.selection.current(doc).kind == "all"


def test_paste_takes_another_applications_image(window, ref):
    from PySide6.QtWidgets import QApplication

    from gauapp.canvas import rgba_qimage

    with_background(window, ref)
    doc = window.document
    outside = np.zeros((300, 200, 4), np.uint8)  # taller than the canvas: scaled to fit
    outside[..., 0], outside[..., 3] = 200, 255
    QApplication.clipboard().setImage(rgba_qimage(outside).copy())
    edit_actions.paste(window)
    layer = doc.active_layer
    assert layer.rgba.shape[0] == doc.height and layer.rgba.shape[1] < doc.width
    assert layer.x == (doc.width - layer.rgba.shape[1]) // 2
    QApplication.clipboard().clear()


def test_harmonize_adds_an_undoable_layer_off_the_gui_thread(window, ref, harm_file, qtbot,
                                                              monkeypatch):
    with_background(window, ref)
    doc = window.document
    pasted = paste_region(window, 8, 8, 40, 36, to=(70, 30))
    key = parse_role(pasted.role)[1]
    ticks, seen = [0], {}
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(5)
    real = harmonization.harmonize

    def spy(model, task, seed=0):
        seen["main"] = threading.current_thread() is threading.main_thread()
        start, deadline = ticks[0], time.monotonic() + 5
        while ticks[0] < start + 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # the GUI thread must keep ticking meanwhile
        seen["gui_ticked"] = ticks[0] - start
        return real(model, task, seed)

    monkeypatch.setattr(harmonize_action, "harmonize", spy)
    steps = window.session.undo.count()
    job = harmonize_action.start(window, ask=False, model_path=harm_file)
    assert job is not None and window.job_indicator.isVisible()
    wait_job(qtbot, job)
    timer.stop()
    assert job.state == "finished", job.error
    assert seen["main"] is False and seen["gui_ticked"] >= 3
    result = doc.active_layer
    assert parse_role(result.role) == ("harmonized", key)
    assert doc.index_of(result.uid) == doc.index_of(pasted.uid) + 1
    assert not doc.layer(pasted.uid).visible and window.session.undo.count() == steps + 1
    # Exactly what the model gives for this composite, placed on the canvas.
    task = plan(doc, pasted.uid, None)
    expected = harmonization.harmonize(load_model(harm_file, "harmonization"), task)
    assert np.array_equal(result.rgba, expected.rgba)
    assert (result.x, result.y) == (expected.x, expected.y)
    assert result.rgba[..., 3].max() == 255  # fully the model's output where the object is
    assert doc.model_links[task.link] == str(harm_file)
    assert not window.job_indicator.isVisible()
    window.undo_action.trigger()
    assert all(la.uid != result.uid for la in doc.layers) and doc.layer(pasted.uid).visible
    window.redo_action.trigger()
    assert doc.layer(result.uid).visible and not doc.layer(pasted.uid).visible

    # Again: show the pasted layer, move it, harmonize through the dialog (model found by link).
    window._push(doc.set_layer_props(pasted.uid, visible=True, x=20, y=40))
    doc.set_active(pasted.uid)
    assert harmonize_action.start(window) is None
    dialog = window.harmonize_dialog
    assert dialog.model_path == harm_file and not dialog.train_box.isChecked()
    dialog.accept()
    job = window.job_indicator.current
    wait_job(qtbot, job)
    again = doc.active_layer
    assert again.uid != result.uid and parse_role(again.role) == ("harmonized", key)
    assert not doc.layer(result.uid).visible and not doc.layer(pasted.uid).visible
    window.undo_action.trigger()
    assert doc.layer(result.uid).visible and doc.layer(pasted.uid).visible


def test_make_consistent_uses_an_editing_model(window, ref, harm_file, tmp_path, qtbot):
    with_background(window, ref)
    doc = window.document
    pasted = paste_region(window, 50, 10, 80, 40, to=(10, 40))
    # A harmonization model is refused for editing, with the reason; nothing changes.
    steps = window.session.undo.count()
    job = harmonize_action.start(window, "editing", ask=False, model_path=harm_file)
    wait_job(qtbot, job)
    assert job.state == "failed" and "trained for harmonization" in window.last_error
    assert window.session.undo.count() == steps
    editing = tiny_model_file(tmp_path, "editing")
    doc.set_active(pasted.uid)
    job = harmonize_action.start(window, "editing", ask=False, model_path=editing, seed=3)
    wait_job(qtbot, job)
    assert job.state == "finished", job.error
    result = doc.active_layer
    assert parse_role(result.role) == ("consistent", parse_role(pasted.role)[1])
    assert not doc.layer(pasted.uid).visible
    task = plan(doc, pasted.uid, None, "editing")
    expected = harmonization.harmonize(load_model(editing, "editing"), task, seed=3)
    assert np.array_equal(result.rgba, expected.rgba)
    window.undo_action.trigger()
    assert doc.layer(pasted.uid).visible and all(la.uid != result.uid for la in doc.layers)


def test_without_a_background_or_a_model_the_user_is_told(window, ref):
    doc = window.document  # a fresh painting: label layers only
    window.selection.set(doc, Selection.rect(0, 0, 20, 20))
    edit_actions.copy(window)
    edit_actions.paste(window)
    steps = window.session.undo.count()
    assert harmonize_action.start(window, ask=False) is None
    assert "needs a background image" in window.last_error
    # With a generated image, that is the background; with no model known, it says so.
    window.session.generated = np.full((doc.height // 2, doc.width // 2, 3), 90, np.uint8)
    task = plan(doc, doc.active_uid, window.session.generated)
    assert task.background_name == "the generated image" and task.naive.shape[:2] == doc.shape
    assert harmonize_action.start(window, ask=False) is None
    assert "No harmonization model is known" in window.last_error
    assert window.session.undo.count() == steps
    # Layer → New layer from generated image: the generated image at the canvas size.
    window.layer_from_generated_action.trigger()
    layer = doc.active_layer
    assert layer.rgba.shape[:2] == doc.shape and (layer.rgba[..., :3] == 90).all()


def test_train_one_then_harmonize(window, ref, qtbot):
    pytest.importorskip("training.consingan")
    if not train_background.trainer_available():
        pytest.skip("ConSinGAN trainer not installed")
    with_background(window, ref)
    doc = window.document
    pasted = paste_region(window, 8, 8, 40, 36, to=(60, 30))
    task = plan(doc, pasted.uid, None)
    done = {}
    tiny = dict(train_stages=2, niter=2, max_size=32, min_size=16, nfc=8)
    texts = []

    def harmonize_then(p):
        done["job"] = harmonize_action.run(window, task, p, finetune=3)
        done["job"].progress.connect(lambda r: texts.append(r.get("text", "")))

    job = train_background.train_model(window, task, then=harmonize_then, overrides=tiny)
    assert job is not None and window.train_progress.isVisible()
    wait_job(qtbot, job, 300_000)
    assert job.state == "finished", job.error
    path = doc.model_links[task.link]
    # Installed in the models folder, and found again without the link (by its provenance).
    assert find_model({}, harmonize_action.model_folders(window), task) == Path(path)
    wait_job(qtbot, done["job"], 300_000)
    assert done["job"].state == "finished", done["job"].error
    assert parse_role(doc.active_layer.role)[0] == "harmonized"
    # The fine-tuning says how far it is and, once measured, how long is left.
    assert "Fine-tuning 1/3" in texts and any(t.startswith("Fine-tuning 3/3, about ")
                                               and t.endswith(" left") for t in texts), texts


def test_plan_picks_the_background_and_stacks_the_naive_composite():
    doc = Document(16, 16)
    doc.add_image_layer(np.full((16, 16, 3), 10, np.uint8), name="Photo")
    doc.add_image_layer(np.full((4, 4, 3), 50, np.uint8), x=0, y=0, role="harmonized k1")
    doc.add_image_layer(np.full((2, 2, 4), 255, np.uint8), x=6, y=6, role=new_role(PASTED))
    task = plan(doc, doc.active_uid, None)
    assert task.background_name == "Photo" and (task.background == 10).all()
    assert (task.naive[0, 0] == 50).all() and (task.naive[6, 6] == 255).all()
    assert (task.naive[10, 10] == 10).all() and task.origin == (0, 0)
    assert task.mask.sum() == 4 * 255 and task.mask[6:8, 6:8].all()
    # From a result layer, the pasted layer it came from is used.
    key = parse_role(doc.active_layer.role)[1]
    doc.add_image_layer(np.full((2, 2, 4), 1, np.uint8), role=f"harmonized {key}")
    assert plan(doc, doc.active_uid, None).pasted_uid == doc.layers[2].uid
    doc.set_layer_props(doc.layers[2].uid, x=40)  # off the background: said so
    with pytest.raises(harmonization.HarmonizeError, match="does not overlap"):
        plan(doc, doc.layers[2].uid, None)
    with pytest.raises(harmonization.HarmonizeError, match="label layer"):
        doc.add_label_layer()
        plan(doc, doc.active_uid, None)


def test_find_model_by_link_fingerprint_or_training_image(tmp_path):
    bg = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    doc = Document(16, 16)
    doc.add_image_layer(bg, name="bg")
    doc.add_image_layer(np.full((3, 3, 4), 255, np.uint8), x=2, y=2, role=new_role(PASTED))
    task = plan(doc, doc.active_uid, None)
    folder = tmp_path / "models"
    folder.mkdir()
    assert find_model({}, [folder, tmp_path / "missing"], task) is None
    tiny_model_file(folder, "editing", provenance={"background_sha256": task.fingerprint})
    assert find_model({}, [folder], task) is None  # the right image, the wrong mode
    by_print = tiny_model_file(folder, "harmonization", name="a.safetensors",
                               provenance={"background_sha256": task.fingerprint})
    assert find_model({}, [folder], task) == by_print
    by_print.unlink()
    Image.fromarray(bg).save(tmp_path / "image.png")
    by_image = tiny_model_file(folder, "harmonization", name="b.safetensors",
                               provenance={"source": str(tmp_path / "image.png")})
    assert find_model({}, [folder], task) == by_image
    other = tiny_model_file(tmp_path, "harmonization", name="linked.safetensors")
    assert find_model({task.link: str(other)}, [folder], task) == other
    assert find_model({task.link: str(tmp_path / "gone.safetensors")}, [folder], task) \
        == by_image


def test_cancel_from_the_status_bar_leaves_the_painting_alone(window, ref, harm_file, qtbot,
                                                              monkeypatch):
    with_background(window, ref)
    doc = window.document
    pasted = paste_region(window, 8, 8, 40, 36, to=(60, 30))
    cancelled = threading.Event()
    real = harmonize_action.load_model

    def slow_load(*args, **kwargs):
        cancelled.wait(5)  # hold the job until Cancel was pressed
        return real(*args, **kwargs)

    monkeypatch.setattr(harmonize_action, "load_model", slow_load)
    steps = window.session.undo.count()
    job = harmonize_action.start(window, ask=False, model_path=harm_file)
    assert window.job_indicator.cancel_button.isVisible()
    window.job_indicator.cancel_button.click()
    cancelled.set()
    wait_job(qtbot, job)
    assert job.state == "cancelled"
    assert window.session.undo.count() == steps and doc.layer(pasted.uid).visible
    assert not window.job_indicator.isVisible()


def test_keep_detail_adds_the_models_change_at_full_resolution():
    import torch.nn.functional as F

    from gauapp.harmonization import keep_detail

    rng = np.random.default_rng(0)
    naive = rng.integers(40, 200, (60, 90, 3), dtype=np.uint8)  # fine detail everywhere
    full = torch.from_numpy(naive).permute(2, 0, 1)[None].float() / 127.5 - 1
    small = F.interpolate(full, size=(20, 30), mode="bicubic", antialias=True)
    same = keep_detail(naive, small)
    assert np.abs(same.astype(int) - naive).max() <= 1  # no change: the detail is untouched
    warmer = small + torch.tensor([0.2, 0.0, -0.2]).view(1, 3, 1, 1)  # a colour shift
    out = keep_detail(naive, warmer).astype(int)
    shift = (out - naive.astype(int)).reshape(-1, 3).mean(0)
    assert abs(shift[0] - 25.5) < 1 and abs(shift[1]) < 1 and abs(shift[2] + 25.5) < 1


def test_the_result_mask_is_made_at_the_paintings_resolution():
    """A 400 px frame and a model working at 40 px: the alpha ring round the object is the
    official dilation (7 px) and blur (sigma 5, to 20 px) in the painting's pixels, not the
    model's ring upscaled tenfold."""
    from gauapp.harmonization import HarmonizeTask, result_patch

    h = w = 400
    mask = np.zeros((h, w), np.uint8)
    mask[150:250, 150:250] = 255
    naive = np.full((h, w, 3), 128, np.uint8)
    task = HarmonizeTask("harmonization", 1, "pasted", "k", "bg", naive, naive, mask, (10, 20))
    raw = torch.zeros(1, 3, 40, 40)
    soft = torch.ones(1, 3, 40, 40)  # what the upscaled model mask would be: everywhere
    clip = result_patch(task, raw, soft)
    alpha = np.zeros((h, w), np.uint8)
    y0, x0 = clip.y - 20, clip.x - 10
    alpha[y0:y0 + clip.rgba.shape[0], x0:x0 + clip.rgba.shape[1]] = clip.rgba[..., 3]
    assert (alpha[160:240, 160:240] == 255).all() and (alpha[150:250, 150:250] > 200).all()
    assert alpha[200, 150 - 7] > 100 and alpha[200, 150 - 7 - 21] == 0
    assert clip.rgba.shape[0] <= 100 + 2 * (7 + 20)
