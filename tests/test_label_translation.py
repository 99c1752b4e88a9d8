"""Translating a painting between label sets: the class matching, the document's undoable
change, and the window (offer on model switch, no render of misread ids, undo)."""
from __future__ import annotations

import numpy as np
import pytest

from gauapp.document.document import Document
from gauapp.document.layers import TRANSPARENT
from models.labelsets import load_labelset
from models.labeltranslate import SAME_ID, SAME_NAME, STAND_IN, UNMATCHED, plain_name, translation

LANDSCAPE = load_labelset("landscape")
ADE = load_labelset("ade20k")
CITY = load_labelset("cityscapes")


def ids(ls, *names):
    return [ls.by_name(n).id for n in names]


def test_plain_names():
    assert plain_name("Sky-other") == "sky"
    assert plain_name("water-other") == "water"
    assert plain_name(" dirt  track ") == "dirt track"


def test_landscape_to_coco_stuff_is_the_identity():
    tr = translation(LANDSCAPE, load_labelset("coco-stuff"))
    assert tr.is_identity and {m.how for m in tr.matches} == {SAME_ID}


@pytest.mark.parametrize("source,target,how", [
    ("sky-other", "sky", SAME_NAME), ("sea", "sea", SAME_NAME), ("tree", "tree", SAME_NAME),
    ("water-other", "water", SAME_NAME), ("mountain", "mountain", SAME_NAME),
    ("clouds", "sky", STAND_IN), ("dirt", "earth", STAND_IN), ("bush", "plant", STAND_IN),
    ("unlabeled", "unknown", SAME_NAME)])
def test_landscape_to_ade20k(source, target, how):
    m = translation(LANDSCAPE, ADE).match(LANDSCAPE.by_name(source).id)
    assert (m.target.name, m.how) == (target, how)


def test_cityscapes_has_no_water_so_it_becomes_unlabeled():
    tr = translation(LANDSCAPE, CITY)
    sea = tr.match(LANDSCAPE.by_name("sea").id)
    assert sea.how == UNMATCHED and sea.target.name == "unlabeled"
    assert tr.match(LANDSCAPE.by_name("tree").id).target.name == "vegetation"
    assert "no match" in sea.describe()


def test_apply_maps_every_pixel_and_keeps_transparent():
    tr = translation(LANDSCAPE, ADE)
    sky, sea, tree = ids(LANDSCAPE, "sky-other", "sea", "tree")
    data = np.array([[sky, sea], [tree, TRANSPARENT]], np.int16)
    out = tr.apply(data)
    assert out.dtype == np.int16 and out.tolist() == [ids(ADE, "sky", "sea"),
                                                      [ADE.by_name("tree").id, TRANSPARENT]]
    assert data[0, 0] == sky  # a new array


def test_ade20k_back_to_landscape():
    tr = translation(ADE, LANDSCAPE)
    assert tr.match(ADE.by_name("earth").id).target.name == "dirt"
    assert tr.match(ADE.by_name("lake").id).target.name == "water-other"
    assert tr.match(ADE.by_name("bed").id).how == UNMATCHED


def test_document_translation_is_one_undo_step():
    doc = Document(64, 48, LANDSCAPE, background_class=LANDSCAPE.by_name("sky-other").id)
    sea, grass = ids(LANDSCAPE, "sea", "grass")
    data = np.full((48, 64), TRANSPARENT, np.int16)
    data[30:, :] = sea
    doc.add_label_layer("water", data)
    top = np.full((48, 64), TRANSPARENT, np.int16)
    top[40:, 10:20] = grass
    doc.add_label_layer("grass", top)
    doc.set_layer_props(doc.active_uid, locked=True)
    seen = []
    doc.labelset_changed.connect(seen.append)
    before = doc.composite_labels().copy()
    change = doc.translate_labels(translation(LANDSCAPE, ADE))
    assert doc.labelset is ADE and seen == [ADE]
    after = doc.composite_labels()
    assert (after[35, 0], after[45, 15], after[0, 0]) == tuple(ids(ADE, "sea", "grass", "sky"))
    assert doc.background_class == ADE.by_name("sky").id
    doc.check_labels(after)  # valid in the new set
    stroke = doc.paint_labels(doc.layers[0].uid, (0, 0, np.ones((2, 2), bool)),
                              ADE.by_name("tree").id)  # a class only the new set has
    doc.revert(stroke)
    doc.revert(change)
    assert doc.labelset is LANDSCAPE and seen[-1] is LANDSCAPE
    assert doc.background_class == LANDSCAPE.by_name("sky-other").id
    assert np.array_equal(doc.composite_labels(), before)
    doc.apply(change)
    assert np.array_equal(doc.composite_labels(), after)


def test_translated_project_reopens_in_the_new_label_set(tmp_path):
    from gauapp.document.ora import load_ora, save_ora
    doc = Document(32, 24, LANDSCAPE)
    doc.add_label_layer("sea", np.full((24, 32), LANDSCAPE.by_name("sea").id, np.int16))
    doc.translate_labels(translation(LANDSCAPE, ADE))
    save_ora(doc, tmp_path / "p.ora")
    loaded = load_ora(tmp_path / "p.ora").document
    assert loaded.labelset.name == "ade20k"
    assert np.array_equal(loaded.composite_labels(), doc.composite_labels())


def test_document_refuses_a_translation_from_another_set():
    from gauapp.document.errors import DocumentError
    doc = Document(32, 32, ADE)
    with pytest.raises(DocumentError, match="landscape"):
        doc.translate_labels(translation(LANDSCAPE, ADE))


# ------------------------------------------------------------------ in the window
@pytest.fixture(scope="module")
def ade_model_dir(tmp_path_factory, reference_weights):
    """A models folder holding the reference ADE20K SPADE (ngf 16) as our model file."""
    from app_window import reference_model_folder

    return reference_model_folder(tmp_path_factory, reference_weights, "spade/ade20k_ngf16",
                                  "ade-reference")


def test_window_offers_translation_and_renders_only_translated_paintings(
        qtbot, tmp_path, ade_model_dir, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from gauapp import fileactions
    from gauapp.modelstore import list_models
    from gauapp.scripted import paint_landscape

    from app_window import close_window, open_window

    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    window = open_window(qtbot, tmp_path, ade_model_dir)
    try:
        assert window.model.labelset == "landscape"  # the bundled default
        assert not window.translate_action.isEnabled()
        edit = [a for a in window.translate_action.associatedObjects() if hasattr(a, "title")][0]
        texts = [a.text() for a in edit.actions()]  # with the edit actions, Settings last
        assert texts[-2:] == ["", "&Settings…"] and texts[-3] == window.translate_action.text()
        paint_landscape(window)
        steps = window.session.undo.count()
        ade = next(m for m in list_models(str(ade_model_dir)) if m.labelset == "ade20k")
        window.set_model(ade)
        tr = window.pending_translation
        assert tr is not None and tr.target.name == "ade20k"
        assert window.translate_action.isEnabled()
        assert "ade20k" in window.result_view.placeholder and window.result_view.image is None
        # the painting's COCO-Stuff ids are not sent to the ADE20K model
        submitted = []
        window.engine.submit = lambda *a, **k: submitted.append(a) or 0
        window.generate_now()
        assert submitted == []
        del window.engine.submit
        box = window.translate_question
        assert box.isVisible() and "sky-other → sky" in box.informativeText()
        box.button(QMessageBox.No).click()  # keep as it is: nothing changes
        assert window.document.labelset.name == "landscape"
        landscape_model = next(
            m for m in list_models(str(ade_model_dir)) if m.labelset == "landscape")
        window.translate_action.trigger()
        stale = window.translate_question
        window.set_model(landscape_model)  # the question no longer applies
        assert window.pending_translation is None
        stale.button(QMessageBox.Yes).click()
        assert window.document.labelset.name == "landscape"
        window.set_model(ade)
        window.palette.set_current_class(LANDSCAPE.by_name("clouds").id)
        window.translate_action.trigger()
        window.translate_question.button(QMessageBox.Yes).click()
        doc = window.document
        assert doc.labelset.name == "ade20k" and window.pending_translation is None
        assert window.palette.labelset().name == "ade20k"
        assert window.palette.current_class() == ADE.by_name("sky").id  # carried by meaning
        labels = doc.composite_labels()
        y, x = np.argwhere(labels == ADE.by_name("sea").id)[0]
        assert tuple(window.session.display.rgba[y, x, :3]) == ADE.by_name("sea").color
        assert window.session.undo.count() == steps + 1
        assert set(np.unique(doc.composite_labels())) <= {c.id for c in doc.labelset.classes}
        with qtbot.waitSignal(window.engine.result, timeout=60_000) as blocker:
            window.generate_now()
        assert blocker.args[1].shape == (256, 256, 3)
        window.undo_action.trigger()  # back to the landscape classes: misread again
        assert doc.labelset.name == "landscape" and window.pending_translation is not None
        assert window.palette.labelset().name == "landscape"
        assert tuple(window.session.display.rgba[y, x, :3]) == LANDSCAPE.by_name("sea").color
    finally:
        close_window(window)
