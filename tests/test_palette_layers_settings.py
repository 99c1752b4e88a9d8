"""The Classes and Layers docks and the settings file/dialog, offscreen with pytest-qt."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gauapp.palette import LANDSCAPE_GROUPS, MAX_RECENT, PaletteDock, landscape_labelset
from gauapp.settings import (AppSettings, SettingsDialog, add_recent_file, load_settings,
                             save_settings)
from models.labelsets import LabelClass, LabelSet, load_labelset


# --------------------------------------------------------------------------- palette
@pytest.fixture
def small_set() -> LabelSet:
    return LabelSet("small", (
        LabelClass(0, "sky", (120, 180, 250), "sky"),
        LabelClass(1, "Grass", (40, 160, 40), "plants"),
        LabelClass(2, "tree", (20, 90, 20), "plants"),
        LabelClass(3, "thing", (200, 0, 0), ""),
        LabelClass(4, "grassland-other", (90, 200, 90), "plants"),
    ))


@pytest.fixture
def palette(qtbot) -> PaletteDock:
    dock = PaletteDock()
    qtbot.addWidget(dock)
    dock.resize(300, 600)
    dock.show()
    return dock


def test_palette_groups_classes_under_headers(palette, small_set):
    palette.set_labelset(small_set)
    assert palette.headers() == ["Sky", "Plants", "Other"]
    assert palette.visible_class_ids() == [0, 1, 2, 4, 3]
    assert not palette.notice.isVisible()


def test_palette_search_filters_case_insensitively_across_groups(palette, small_set, qtbot):
    palette.set_labelset(small_set)
    palette.search.setText("GRASS")
    assert palette.visible_class_ids() == [1, 4]
    assert palette.headers() == ["Plants"]
    palette.search.setText("t")   # "thing" (other) and "tree" (plants); "sky" has no t
    assert palette.visible_class_ids() == [2, 4, 3]
    assert palette.headers() == ["Plants", "Other"]
    palette.search.setFocus()
    qtbot.keyClick(palette.search, Qt.Key_Escape)
    assert palette.search.text() == ""
    assert palette.visible_class_ids() == [0, 1, 2, 4, 3]


def test_palette_recent_most_recent_first_and_bounded(palette, small_set):
    palette.set_labelset(load_labelset("coco-stuff"))
    for cid in range(10):
        palette.set_current_class(cid)
    assert palette.recent_classes() == list(range(9, 1, -1))
    assert len(palette.recent_classes()) == MAX_RECENT
    palette.set_current_class(5)   # already recent: moves to the front, not duplicated
    assert palette.recent_classes()[:3] == [5, 9, 8]
    assert len(palette.recent_classes()) == MAX_RECENT
    assert palette.current_class() == 5
    assert palette.list.currentItem().text() == load_labelset("coco-stuff").get(5).name
    assert palette.set_current_class(9999) is False
    assert palette.current_class() == 5


def test_palette_landscape_first_for_coco_stuff(palette):
    coco = load_labelset("coco-stuff")
    palette.set_labelset(coco)
    headers = palette.headers()
    landscape_titles = [g.capitalize() for g in LANDSCAPE_GROUPS]
    assert headers[:len(LANDSCAPE_GROUPS) + 1] == landscape_titles + ["All classes"]
    land = landscape_labelset()
    first = [c.id for g in LANDSCAPE_GROUPS for c in land.classes if c.group == g and c.id in coco]
    ids = palette.visible_class_ids()
    assert ids[:len(first)] == first
    assert sorted(ids[len(first):]) == sorted(c.id for c in coco.classes)   # then all classes
    # a search lists a class once even though it appears in both sections
    palette.search.setText("sky")
    assert palette.visible_class_ids().count(156) == 1


def test_palette_other_sets_have_no_landscape_section(palette):
    palette.set_labelset(load_labelset("ade20k"))
    assert "All classes" not in palette.headers()


def test_palette_without_model_offers_landscape(palette, qtbot):
    palette.set_labelset(None)
    assert palette.notice.isVisible()
    assert "No model" in palette.notice.text()
    land = landscape_labelset()
    assert sorted(palette.visible_class_ids()) == sorted(c.id for c in land.classes)
    with qtbot.waitSignal(palette.class_chosen) as blocker:
        palette.set_current_class(134)
    assert blocker.args == [134]


def test_palette_click_and_keys_emit_class_chosen(palette, small_set, qtbot):
    palette.set_labelset(small_set)
    item = next(palette.list.item(i) for i in range(palette.list.count())
                if palette.list.item(i).text() == "tree")
    rect = palette.list.visualItemRect(item)
    with qtbot.waitSignal(palette.class_chosen) as blocker:
        qtbot.mouseClick(palette.list.viewport(), Qt.LeftButton, pos=rect.center())
    assert blocker.args == [2]
    assert palette.recent_classes() == [2]
    # arrows in the search box walk the visible rows (skipping headers)
    palette.search.setFocus()
    with qtbot.waitSignal(palette.class_chosen) as blocker:
        qtbot.keyClick(palette.search, Qt.Key_Down)
    assert blocker.args == [4]
    with qtbot.waitSignal(palette.class_chosen) as blocker:
        qtbot.keyClick(palette.search, Qt.Key_Down)
    assert blocker.args == [3]   # across the "Other" header
    qtbot.waitUntil(lambda: palette.recent_classes()[0] == 3, timeout=3000)  # settles into Recent
    # typing in the list goes to the search box; Enter picks the first match
    palette.list.setFocus()
    qtbot.keyClicks(palette.list, "sk")
    assert palette.search.text() == "sk"
    assert palette.visible_class_ids() == [0]
    with qtbot.waitSignal(palette.class_chosen) as blocker:
        qtbot.keyClick(palette.search, Qt.Key_Return)
    assert blocker.args == [0]
    assert palette.recent_classes()[0] == 0


def test_palette_keeps_current_and_recent_across_label_sets(palette):
    palette.set_labelset(None)
    palette.set_current_class(156)   # sky-other, also a COCO-Stuff class
    palette.set_current_class(134)
    palette.set_labelset(load_labelset("coco-stuff"))
    assert palette.current_class() == 134
    assert palette.recent_classes() == [134, 156]
    palette.set_labelset(load_labelset("cityscapes"))   # ids differ: 134 is not a class
    assert palette.current_class() is None
    assert palette.recent_classes() == []


# --------------------------------------------------------------------------- layers
from gauapp.document.document import Document          # noqa: E402
from gauapp.document.layers import TRANSPARENT          # noqa: E402
from gauapp.layers_panel import ROLE_UID, LayersDock     # noqa: E402


def _snapshot(doc: Document):
    """Everything the dock can change: order, names, flags, pixels, active layer."""
    return ([(la.uid, la.name, la.kind, la.visible, la.locked,
              getattr(la, "opacity", None),
              (la.data if la.kind == "labels" else la.rgba).tobytes()) for la in doc.layers],
            doc.active_uid)


@pytest.fixture
def doc_and_dock(qtbot):
    doc = Document(64, 48, load_labelset("landscape"))
    doc.add_label_layer("ground")
    data = np.full((48, 64), TRANSPARENT, np.int16)
    data[:10] = 156
    doc.add_label_layer("sky", data=data)
    changes: list = []
    dock = LayersDock()
    qtbot.addWidget(dock)
    dock.resize(280, 360)
    dock.set_document(doc, changes.append)
    dock.show()
    return doc, dock, changes


def _row_uids(dock: LayersDock) -> list[int]:
    return [dock.list.item(i).data(ROLE_UID) for i in range(dock.list.count())]


def _undo_all(doc: Document, changes: list) -> None:
    for change in reversed(changes):
        doc.revert(change)
    changes.clear()


def test_layers_dock_lists_top_first_and_selects(doc_and_dock):
    doc, dock, changes = doc_and_dock
    assert _row_uids(dock) == [la.uid for la in reversed(doc.layers)]
    assert dock.list.currentItem().text() == "sky"   # the active layer
    ground = doc.layers[0].uid
    dock.list.setCurrentRow(1)
    assert doc.active_uid == ground
    assert changes == []                              # selecting is not an undoable edit
    doc.set_active(doc.layers[1].uid)                 # and the document drives the list
    assert dock.list.currentRow() == 0


def test_layers_dock_operations_push_changes_that_revert(doc_and_dock):
    doc, dock, changes = doc_and_dock
    before = _snapshot(doc)
    dock.act_new.trigger()
    assert len(doc.layers) == 3 and len(changes) == 1
    assert _row_uids(dock) == [la.uid for la in reversed(doc.layers)]
    dock.act_duplicate.trigger()
    assert len(doc.layers) == 4 and doc.layers[-1].name.endswith("copy")
    dock.act_move_down.trigger()
    names = lambda: [la.name for la in doc.layers]   # noqa: E731
    assert names() == ["ground", "sky", "Labels 3 copy", "Labels 3"]
    dock.act_merge_down.trigger()                      # the copy into "sky"
    assert names() == ["ground", "sky", "Labels 3"]
    assert dock.list.currentItem().text() == "sky"
    dock.act_delete.trigger()
    assert names() == ["ground", "Labels 3"]
    assert len(changes) == 5
    assert _row_uids(dock) == [la.uid for la in reversed(doc.layers)]
    _undo_all(doc, changes)
    assert _snapshot(doc) == before
    assert _row_uids(dock) == [la.uid for la in reversed(doc.layers)]


def test_layers_dock_merge_down_merges_labels(doc_and_dock):
    doc, dock, changes = doc_and_dock
    ground, sky = doc.layers
    doc.paint_labels(ground.uid, (0, 0, np.ones((48, 64), bool)), 126)
    before = _snapshot(doc)
    assert dock.act_merge_down.isEnabled()
    dock.act_merge_down.trigger()
    assert [la.uid for la in doc.layers] == [ground.uid]
    assert (doc.layers[0].data[:10] == 156).all() and (doc.layers[0].data[10:] == 126).all()
    assert not dock.act_merge_down.isEnabled()      # now the bottom layer
    assert "bottom" in dock.act_merge_down.toolTip()
    assert not dock.act_delete.isEnabled()          # the only layer
    _undo_all(doc, changes)
    assert _snapshot(doc) == before


def test_layers_dock_disables_merge_across_kinds(doc_and_dock):
    doc, dock, changes = doc_and_dock
    doc.add_image_layer(np.full((8, 8, 4), 200, np.uint8), "photo")
    assert dock.list.currentItem().text() == "photo"
    assert not dock.act_merge_down.isEnabled()
    assert "an image layer into a label layer" in dock.act_merge_down.toolTip()
    assert not dock.act_move_up.isEnabled() and dock.act_move_down.isEnabled()
    assert dock.opacity_slider.isEnabled()
    dock.list.setCurrentRow(1)                      # a label layer: no opacity
    assert not dock.opacity_slider.isEnabled()


def test_layers_dock_reorder_by_drop_position_and_buttons(doc_and_dock):
    doc, dock, changes = doc_and_dock
    doc.add_label_layer("top")
    names = lambda: [la.name for la in reversed(doc.layers)]   # noqa: E731
    before = _snapshot(doc)
    assert names() == ["top", "sky", "ground"]
    dock.move_to_row(doc.layers[-1].uid, 2)        # what a drop onto the last row does
    assert names() == ["sky", "ground", "top"]
    assert [dock.list.item(i).text() for i in range(3)] == names()
    dock.act_move_up.trigger()                     # "top" is still selected
    assert names() == ["sky", "top", "ground"]
    assert len(changes) == 2
    _undo_all(doc, changes)
    assert _snapshot(doc) == before


def test_layers_dock_drop_moves_through_the_document(doc_and_dock):
    from PySide6.QtCore import QMimeData, QPointF
    from PySide6.QtGui import QDropEvent

    doc, dock, changes = doc_and_dock
    doc.add_label_layer("top")
    names = lambda: [la.name for la in reversed(doc.layers)]   # noqa: E731

    class Drop(QDropEvent):   # a drop that came from the list itself, as a real drag does
        def source(self):
            return dock.list

    def drop_on(row: int, lower_half: bool) -> None:
        rect = dock.list.visualItemRect(dock.list.item(row))
        y = rect.bottom() - 3 if lower_half else rect.top() + 3
        dock.list.dropEvent(Drop(QPointF(rect.center().x(), y), Qt.MoveAction, QMimeData(),
                                 Qt.LeftButton, Qt.NoModifier))

    dock.list.setCurrentRow(0)                   # drag "top" below "ground"
    drop_on(2, lower_half=True)
    assert names() == ["sky", "ground", "top"]
    assert dock.list.currentItem().text() == "top"
    drop_on(0, lower_half=False)                 # and back above "sky"
    assert names() == ["top", "sky", "ground"]
    assert len(changes) == 2
    _undo_all(doc, changes)
    assert names() == ["top", "sky", "ground"]


def test_layers_dock_visibility_lock_rename_opacity(doc_and_dock, qtbot):
    doc, dock, changes = doc_and_dock
    sky = doc.layers[1]
    rect = dock.list.visualItemRect(dock.list.item(0))
    eye = rect.topLeft() + type(rect.topLeft())(16, rect.height() // 2)
    qtbot.mouseClick(dock.list.viewport(), Qt.LeftButton, pos=eye)
    assert sky.visible is False and len(changes) == 1
    assert dock.list.item(0).data(Qt.UserRole + 2) is False
    dock.toggle(sky.uid, "locked")
    assert sky.locked is True
    dock.rename(sky.uid, "clouds")
    assert sky.name == "clouds" and dock.list.item(0).text() == "clouds"
    change = doc.add_image_layer(np.zeros((4, 4, 4), np.uint8), "img")
    changes.append(change)
    dock.opacity_spin.setValue(40)
    assert doc.layers[-1].opacity == pytest.approx(0.4)
    assert dock.opacity_slider.value() == 40
    # a slider drag is one undo step
    n = len(changes)
    dock.opacity_slider.setSliderDown(True)          # emits sliderPressed
    for v in (50, 60, 70):
        dock.opacity_slider.setValue(v)
    dock.opacity_slider.setSliderDown(False)         # emits sliderReleased
    assert len(changes) == n + 1 and doc.layers[-1].opacity == pytest.approx(0.7)
    _undo_all(doc, changes)
    assert sky.visible and not sky.locked and sky.name == "sky"


def test_layers_dock_thumbnails_follow_paint(doc_and_dock, qtbot):
    doc, dock, changes = doc_and_dock
    ground = doc.layers[0]
    thumb = dock.list.item(1).data(Qt.UserRole + 5).toImage()
    assert thumb.pixelColor(5, 20).alpha() == 0      # transparent before painting
    doc.paint_labels(ground.uid, (0, 0, np.ones((48, 64), bool)), 126)
    qtbot.waitUntil(lambda: dock.list.item(1).data(Qt.UserRole + 5).toImage()
                    .pixelColor(5, 20).alpha() == 255, timeout=2000)
    hill = landscape_labelset().get(126).color
    c = dock.list.item(1).data(Qt.UserRole + 5).toImage().pixelColor(5, 20)
    assert (c.red(), c.green(), c.blue()) == hill


def test_layers_dock_detaches(doc_and_dock):
    doc, dock, changes = doc_and_dock
    other = Document(32, 32)
    other.add_label_layer("only")
    dock.set_document(other, changes.append)       # switching documents selects nothing stale
    assert [dock.list.item(i).text() for i in range(dock.list.count())] == ["only"]
    assert other.active_uid == other.layers[0].uid and doc.active_uid == doc.layers[1].uid
    dock.set_document(None, None)
    assert dock.list.count() == 0
    doc.add_label_layer("later")                    # the old document no longer reaches it
    assert dock.list.count() == 0
    assert not dock.act_new.isEnabled()


# --------------------------------------------------------------------------- settings
def test_settings_round_trip(tmp_path):
    path = tmp_path / "cfg" / "settings.json"
    s = AppSettings(models_folder=str(tmp_path / "models"), device="cpu", precision="bf16",
                    autosave_minutes=5, live_default=False, output_mode="canvas",
                    background_class=156, recent_files=["/a.ora"])
    save_settings(s, path)
    assert load_settings(path) == s
    assert not list(path.parent.glob(".settings-*"))   # no temp file left behind
    assert load_settings(tmp_path / "missing.json") == AppSettings()


def test_settings_corrupt_or_invalid_fall_back(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="gauapp.settings"):
        assert load_settings(path) == AppSettings()
    assert "not valid JSON" in caplog.text
    path.write_text(json.dumps({"device": "tpu", "precision": "fp16", "autosave_minutes": -3,
                                "live_default": "yes", "background_class": True,
                                "recent_files": ["/x", 3, "/x", "/y"], "colour": "red"}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gauapp.settings"):
        s = load_settings(path)
    d = AppSettings()
    assert (s.device, s.precision, s.autosave_minutes) == (d.device, "fp16", d.autosave_minutes)
    assert s.live_default is True and s.background_class is None
    assert s.recent_files == ["/x", "/y"]
    for word in ("device", "autosave_minutes", "live_default", "colour"):
        assert word in caplog.text
    path.write_text("[1, 2]")
    assert load_settings(path) == AppSettings()


def test_add_recent_file_moves_to_front_and_caps(tmp_path):
    s = AppSettings()
    for i in range(12):
        add_recent_file(s, tmp_path / f"{i}.ora")
    add_recent_file(s, tmp_path / "5.ora")
    assert len(s.recent_files) == 10
    assert s.recent_files[0] == str(tmp_path / "5.ora")
    assert s.recent_files[1] == str(tmp_path / "11.ora")
    assert s.recent_files.count(str(tmp_path / "5.ora")) == 1


def test_settings_dialog_returns_edited_values(qtbot, tmp_path):
    start = AppSettings(models_folder=str(tmp_path), recent_files=["/r.ora"])
    dialog = SettingsDialog(start, cuda_available=False)
    qtbot.addWidget(dialog)
    cuda = dialog.device.model().item(2)
    assert dialog.device.itemData(2) == "cuda" and not cuda.isEnabled()
    assert "CUDA" in cuda.toolTip()
    dialog.device.setCurrentIndex(1)
    dialog.precision.setCurrentIndex(dialog.precision.findData("fp16"))
    dialog.output_mode.setCurrentIndex(dialog.output_mode.findData("native-upscaled"))
    dialog.autosave.setValue(0)
    dialog.live_default.setChecked(False)
    dialog.background.setValue(156)
    dialog.models_folder.setText(str(tmp_path / "m"))
    new = dialog.settings()
    assert new == AppSettings(models_folder=str(tmp_path / "m"), device="cpu", precision="fp16",
                              autosave_minutes=0, live_default=False,
                              output_mode="native-upscaled", background_class=156,
                              recent_files=["/r.ora"])
    assert start.device == "auto"                   # the input is not changed
    assert dialog.autosave.text() == "Off"


def test_settings_dialog_keeps_cuda_when_available(qtbot):
    dialog = SettingsDialog(AppSettings(device="cuda"), cuda_available=True)
    qtbot.addWidget(dialog)
    assert dialog.device.model().item(2).isEnabled()
    assert dialog.settings().device == "cuda"
    dialog2 = SettingsDialog(AppSettings(device="cuda"), cuda_available=False)
    qtbot.addWidget(dialog2)
    assert dialog2.settings().device == "auto"      # cuda chosen but gone: falls back


def test_layers_dock_inline_rename(doc_and_dock, qtbot):
    from PySide6.QtWidgets import QLineEdit

    doc, dock, changes = doc_and_dock
    item = dock.list.item(0)
    dock.list.editItem(item)
    editor = dock.list.findChild(QLineEdit)
    assert editor is not None and editor.text() == "sky"
    editor.setText("  clouds ")
    qtbot.keyClick(editor, Qt.Key_Return)
    qtbot.waitUntil(lambda: doc.layers[1].name == "clouds", timeout=2000)
    assert len(changes) == 1 and dock.list.item(0).text() == "clouds"
    doc.revert(changes.pop())
    assert dock.list.item(0).text() == "sky"
