"""The document model (gauapp/document): operations, undo/redo, composites, signals."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gauapp.document import (TRANSPARENT, Compound, Document, DocumentError, ImageLayer,
                             LabelLayer, LayerLockedError, PixelPatch, Signal, coalesce)
from gauapp.document.painting import flood_fill_mask, rect_mask, stroke_mask
from models.labelsets import load_labelset

SKY, SEA, GRASS, TREE, MOUNTAIN, UNLABELED = 156, 154, 123, 168, 134, 182


@pytest.fixture(scope="module")
def landscape():
    return load_labelset("landscape")


@pytest.fixture
def doc(landscape):
    return Document(64, 48, landscape)


def snapshot(d: Document):
    """Everything observable about a document, for bit-exact comparisons."""
    layers = []
    for layer in d.layers:
        arr = layer.data if isinstance(layer, LabelLayer) else layer.rgba
        layers.append((layer.uid, layer.kind, layer.name, layer.visible, layer.locked,
                       getattr(layer, "x", 0), getattr(layer, "y", 0),
                       getattr(layer, "opacity", 1.0), arr.shape, arr.tobytes()))
    return layers, d.active_uid, d.background_class


class Recorder:
    def __init__(self, *signals):
        self.calls = []
        for name, sig in signals:
            sig.connect(lambda *a, _n=name: self.calls.append((_n, a)))

    def names(self):
        return [n for n, _ in self.calls]


# --- basics ---

def test_signal_connect_emit_disconnect():
    s, got = Signal(), []
    s.connect(got.append)
    s.connect(got.append)         # once only
    s.emit(1)
    s.disconnect(got.append)
    s.disconnect(got.append)      # harmless
    s.emit(2)
    assert got == [1]
    with pytest.raises(TypeError):
        s.connect(42)


def test_package_does_not_import_qt():
    code = ("import sys, gauapp.document, gauapp.document.ora, gauapp.document.painting; "
            "assert not any(m.startswith(('PySide6', 'shiboken6')) for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("w, h", [(15, 64), (64, 15), (2049, 64), (64, 4096), (0, 0), (64.0, 64),
                                  ("64", 64), (True, 64)])
def test_canvas_size_limits(w, h):
    with pytest.raises(DocumentError, match="16..2048"):
        Document(w, h)


def test_canvas_size_extremes():
    assert Document(16, 2048).shape == (2048, 16)


def test_new_label_layer_is_transparent_and_active(doc):
    rec = Recorder(("layers", doc.layers_changed), ("active", doc.active_changed),
                   ("modified", doc.modified_changed))
    change = doc.add_label_layer()
    layer = doc.layers[0]
    assert isinstance(layer, LabelLayer) and layer.kind == "labels"
    assert layer.data.dtype == np.int16 and layer.data.shape == (48, 64)
    assert (layer.data == TRANSPARENT).all() and layer.name == "Labels 1"
    assert doc.active_uid == layer.uid and doc.modified
    assert rec.calls.count(("modified", (True,))) == 1 and ("active", (layer.uid,)) in rec.calls
    doc.revert(change)
    assert doc.layers == () and doc.active_uid is None


def test_uids_are_unique(doc):
    uids = {doc.add_label_layer().layer.uid for _ in range(5)}
    doc.duplicate_layer(doc.layers[0].uid)
    assert len({layer.uid for layer in doc.layers}) == 6 and len(uids) == 5


# --- painting and undo ---

def test_paint_changes_exactly_the_region_and_undo_is_bit_exact(doc):
    uid = doc.add_label_layer().layer.uid
    doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 63, 47), SEA)
    before = snapshot(doc)
    region = stroke_mask(doc.shape, [(10, 10), (30, 20)], 3.0)
    expected = doc.layer(uid).data.copy()
    y0, x0, m = region
    expected[y0:y0 + m.shape[0], x0:x0 + m.shape[1]][m] = SKY
    change = doc.paint_labels(uid, region, SKY)
    np.testing.assert_array_equal(doc.layer(uid).data, expected)
    after = snapshot(doc)
    doc.revert(change)
    assert snapshot(doc) == before
    doc.apply(change)
    assert snapshot(doc) == after


def test_paint_without_effect_returns_none(doc):
    uid = doc.add_label_layer().layer.uid
    region = rect_mask(doc.shape, 5, 5, 10, 10)
    assert doc.paint_labels(uid, region, SKY) is not None
    assert doc.paint_labels(uid, region, SKY) is None
    assert doc.paint_labels(uid, None, SKY) is None
    assert doc.paint_labels(uid, rect_mask(doc.shape, 100, 100, 120, 120), SKY) is None


def test_erase_with_transparent(doc):
    uid = doc.add_label_layer().layer.uid
    doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 9, 9), GRASS)
    doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 4, 9), TRANSPARENT)
    assert (doc.layer(uid).data[:10, :5] == TRANSPARENT).all()
    assert (doc.layer(uid).data[:10, 5:10] == GRASS).all()


def test_region_partly_outside_is_clipped(doc):
    uid = doc.add_label_layer().layer.uid
    m = np.ones((10, 10), bool)
    doc.paint_labels(uid, (-5, 60, m), SKY)
    assert (doc.layer(uid).data == SKY).sum() == 5 * 4
    assert (doc.layer(uid).data[:5, 60:] == SKY).all()


def test_pixel_patch_memory_is_bounded_by_the_changed_box(landscape):
    big = Document(2048, 2048, landscape)
    uid = big.add_label_layer().layer.uid
    change = big.paint_labels(uid, rect_mask(big.shape, 1000, 700, 1049, 749), SKY)
    assert isinstance(change, PixelPatch)
    assert change.nbytes == 2 * 50 * 50 * 2
    round_dab = big.paint_labels(uid, stroke_mask(big.shape, [(300.5, 300.5)], 25), SEA)
    assert round_dab.nbytes <= 2 * 50 * 50 * 2
    big.revert(round_dab)
    big.revert(change)
    assert (big.layer(uid).data == TRANSPARENT).all()


def test_only_changed_pixels_are_kept(doc):
    uid = doc.add_label_layer().layer.uid
    doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 63, 47), SEA)
    # a big region of which only a 3x2 corner differs
    doc.paint_labels(uid, rect_mask(doc.shape, 10, 10, 12, 11), SKY)
    change = doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 63, 47), SEA)
    assert change.bounds == (10, 10, 12, 13) and change.nbytes == 2 * 6 * 2


def test_label_ids_are_validated(doc):
    uid = doc.add_label_layer().layer.uid
    for bad in (0, 5, 255, 40000, -2):      # not classes of the landscape set
        with pytest.raises(DocumentError, match="not a class"):
            doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 1, 1), bad)
    with pytest.raises(DocumentError):
        doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 1, 1), 156.0)
    data = np.full(doc.shape, SKY, np.int32)
    data[3, 3] = 7
    with pytest.raises(DocumentError, match=r"\[7\]"):
        doc.add_label_layer(data=data)
    with pytest.raises(DocumentError, match="match the canvas"):
        doc.add_label_layer(data=np.full((10, 10), SKY))
    with pytest.raises(DocumentError):
        doc.set_background_class(TRANSPARENT)
    with pytest.raises(DocumentError):
        Document(64, 64, load_labelset("landscape"), background_class=3)


def test_without_label_set_any_int16_id_is_valid():
    d = Document(32, 32)
    uid = d.add_label_layer().layer.uid
    d.paint_labels(uid, rect_mask(d.shape, 0, 0, 3, 3), 32767)
    with pytest.raises(DocumentError):
        d.paint_labels(uid, rect_mask(d.shape, 0, 0, 3, 3), 32768)
    assert d.composite_labels()[0, 0] == 32767 and d.composite_labels()[20, 20] == 0
    assert d.label_colors().shape == (32, 32, 4)


def test_locked_layer_refuses_edits(doc):
    uid = doc.add_label_layer().layer.uid
    img = doc.add_image_layer(np.zeros((4, 4, 4), np.uint8)).layer.uid
    doc.set_layer_props(uid, locked=True)
    doc.set_layer_props(img, locked=True)
    with pytest.raises(LayerLockedError):
        doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 3, 3), SKY)
    with pytest.raises(LayerLockedError):
        doc.replace_pixels(uid, 0, 0, np.full((2, 2), SKY))
    with pytest.raises(LayerLockedError):
        doc.replace_pixels(img, 0, 0, np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(LayerLockedError):
        doc.set_layer_props(img, x=5)
    doc.set_layer_props(img, x=5, locked=False)       # unlocking and moving at once is fine
    doc.set_layer_props(uid, name="renamed", visible=False)  # not pixel edits
    assert issubclass(LayerLockedError, DocumentError)


def test_paint_on_image_layer_is_refused(doc):
    img = doc.add_image_layer(np.zeros((4, 4, 4), np.uint8)).layer.uid
    with pytest.raises(DocumentError, match="image layer"):
        doc.paint_labels(img, rect_mask(doc.shape, 0, 0, 3, 3), SKY)


def test_random_edit_sequence_undoes_and_redoes_bit_exactly(landscape):
    rng = np.random.default_rng(3)
    d = Document(80, 60, landscape)
    d.add_label_layer()
    states, changes = [snapshot(d)], []
    ids = [c.id for c in landscape.classes] + [TRANSPARENT]
    for step in range(60):
        labels = [layer for layer in d.layers if layer.kind == "labels"]
        images = [layer for layer in d.layers if layer.kind == "image"]
        op = step % 9
        if op in (0, 1, 2):
            target = labels[rng.integers(len(labels))].uid
            pts = rng.uniform(-10, 90, size=(3, 2))
            c = d.paint_labels(target, stroke_mask(d.shape, pts, rng.uniform(0.5, 8)),
                               int(rng.choice(ids)))
        elif op == 3:
            c = d.add_label_layer()
        elif op == 4:
            c = d.add_image_layer(rng.integers(0, 256, (20, 30, 4), dtype=np.uint8),
                                  x=int(rng.integers(-10, 70)), y=int(rng.integers(-10, 50)),
                                  opacity=float(rng.uniform(0, 1)))
        elif op == 5 and len(d.layers) > 1:
            c = d.move_layer(d.layers[0].uid, len(d.layers) - 1)
        elif op == 6 and images:
            c = d.replace_pixels(images[0].uid, 0, 0, rng.integers(0, 256, (8, 8, 3),
                                                                   dtype=np.uint8))
        elif op == 7:
            i = int(rng.integers(1, len(d.layers))) if len(d.layers) > 1 else None
            c = d.merge_down(d.layers[i].uid) if i and d.layers[i].kind == \
                d.layers[i - 1].kind else d.duplicate_layer(d.layers[0].uid)
        else:
            c = d.set_layer_props(d.layers[-1].uid, visible=bool(step % 2), name=f"n{step}")
        if c is not None:
            changes.append(c)
            states.append(snapshot(d))
    composite_end = d.composite_labels().copy()
    for c, state in zip(reversed(changes), reversed(states[:-1])):
        d.revert(c)
        assert snapshot(d) == state
    for c, state in zip(changes, states[1:]):
        d.apply(c)
        assert snapshot(d) == state
    np.testing.assert_array_equal(d.composite_labels(), composite_end)


def test_coalesced_stroke_is_one_small_undo_step(landscape):
    d = Document(512, 512, landscape)
    uid = d.add_label_layer().layer.uid
    before = snapshot(d)
    pts = [(100, 100), (110, 104), (121, 110), (130, 118), (138, 130)]
    parts = [d.paint_labels(uid, stroke_mask(d.shape, pts[i:i + 2], 4), SKY)
             for i in range(len(pts) - 1)]
    after = snapshot(d)
    step = coalesce(d, parts, "Brush")
    assert isinstance(step, PixelPatch) and step.description == "Brush"
    assert step.nbytes < 2 * 2 * 50 * 45
    d.revert(step)
    assert snapshot(d) == before
    d.apply(step)
    assert snapshot(d) == after
    assert coalesce(d, []) is None
    long = [d.paint_labels(uid, stroke_mask(d.shape, [(0, 0), (511, 511)], 1), SEA),
            d.paint_labels(uid, stroke_mask(d.shape, [(511, 0), (0, 511)], 1), SEA)]
    assert isinstance(coalesce(d, long), Compound)   # thin diagonals: keep the parts
    mixed = coalesce(d, [parts[0], d.add_label_layer()])
    assert isinstance(mixed, Compound)


# --- composites ---

def test_composite_top_wins_transparent_shows_through_hidden_ignored(doc):
    bottom = doc.add_label_layer().layer.uid
    top = doc.add_label_layer().layer.uid
    doc.paint_labels(bottom, rect_mask(doc.shape, 0, 0, 31, 47), SEA)
    doc.paint_labels(top, rect_mask(doc.shape, 16, 0, 47, 47), SKY)
    comp = doc.composite_labels()
    assert comp.dtype == np.int64 and comp.shape == (48, 64)
    assert comp[5, 5] == SEA and comp[5, 20] == SKY and comp[5, 40] == SKY
    assert comp[5, 60] == UNLABELED                  # nothing covers: the dontcare id
    doc.set_layer_props(top, visible=False)
    comp = doc.composite_labels()
    assert comp[5, 20] == SEA and comp[5, 40] == UNLABELED
    doc.set_background_class(GRASS)
    assert doc.composite_labels()[5, 40] == GRASS
    doc.set_layer_props(top, visible=True)
    doc.move_layer(top, 0)                            # now SEA is on top
    assert doc.composite_labels()[5, 20] == SEA and doc.composite_labels()[5, 40] == SKY


def test_background_defaults(landscape):
    assert Document(32, 32, landscape).effective_background == UNLABELED
    cityscapes = load_labelset("cityscapes")   # no dontcare id: its smallest id
    assert Document(32, 32, cityscapes).effective_background == 0
    assert Document(32, 32).effective_background == 0


def test_composite_is_cached_per_revision_and_read_only(doc):
    uid = doc.add_label_layer().layer.uid
    a = doc.composite_labels()
    assert doc.composite_labels() is a and not a.flags.writeable
    rev = doc.label_revision
    doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 3, 3), SKY)
    assert doc.label_revision > rev and doc.composite_labels()[0, 0] == SKY


def test_label_revision_tracks_only_label_changes(doc):
    uid = doc.add_label_layer().layer.uid
    img = doc.add_image_layer(np.zeros((8, 8, 4), np.uint8)).layer.uid
    rev = doc.label_revision
    doc.replace_pixels(img, 0, 0, np.full((2, 2, 4), 9, np.uint8))
    doc.set_layer_props(img, x=3, opacity=0.5)
    doc.set_layer_props(uid, name="sky", locked=True)
    doc.set_layer_props(uid, locked=False)
    assert doc.label_revision == rev
    for change in (lambda: doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 1, 1), SKY),
                   lambda: doc.set_layer_props(uid, visible=False),
                   lambda: doc.set_background_class(GRASS),
                   lambda: doc.add_label_layer(data=np.full(doc.shape, SEA))):
        rev = doc.label_revision
        change()
        assert doc.label_revision > rev


def test_changed_signal_reports_the_region(doc):
    uid = doc.add_label_layer().layer.uid
    got = []
    doc.changed.connect(got.append)
    doc.paint_labels(uid, rect_mask(doc.shape, 3, 4, 10, 20), SKY)
    assert got == [(4, 3, 21, 11)]
    img = doc.add_image_layer(np.zeros((10, 10, 4), np.uint8), x=-5, y=40).layer.uid
    got.clear()
    doc.replace_pixels(img, 40, -5, np.full((10, 10, 4), 200, np.uint8))
    assert got == [(40, 0, 48, 5)]                   # clipped to the canvas


def test_label_colors_use_the_label_set(doc, landscape):
    uid = doc.add_label_layer().layer.uid
    doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 9, 9), SKY)
    colors = doc.label_colors()
    assert colors.shape == (48, 64, 4) and colors.dtype == np.uint8
    assert tuple(colors[0, 0]) == landscape.get(SKY).color + (255,)
    assert tuple(colors[30, 30]) == landscape.get(UNLABELED).color + (255,)


def test_composite_image_opacity_order_clipping(doc):
    red = np.zeros((10, 10, 4), np.uint8)
    red[..., 0], red[..., 3] = 255, 255
    blue = np.zeros((10, 10, 3), np.uint8)
    blue[..., 2] = 255                               # RGB: opaque
    a = doc.add_image_layer(red, x=-5, y=-5).layer.uid
    b = doc.add_image_layer(blue, x=0, y=0, opacity=0.5).layer.uid
    out = doc.composite_image()
    assert out.shape == (48, 64, 4) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (128, 0, 128, 255)    # half blue over red
    assert tuple(out[7, 7]) == (0, 0, 255, 128)      # half blue over nothing
    assert tuple(out[20, 20]) == (0, 0, 0, 0)
    assert tuple(doc.composite_image()[4, 4]) == (128, 0, 128, 255)
    doc.set_layer_props(b, visible=False)
    assert tuple(doc.composite_image()[0, 0]) == (255, 0, 0, 255)
    assert tuple(doc.composite_image()[7, 7]) == (0, 0, 0, 0)
    doc.set_layer_props(a, x=100)                    # entirely outside
    assert not doc.composite_image().any()


def test_composite_image_keeps_colours_exact(doc):
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (48, 64, 4), dtype=np.uint8)
    px[..., 3] = rng.integers(1, 256, (48, 64))
    doc.add_image_layer(px)
    np.testing.assert_array_equal(doc.composite_image(), px)


# --- layer operations ---

def test_merge_down_labels(doc):
    bottom = doc.add_label_layer(name="bottom").layer.uid
    top = doc.add_label_layer(name="top").layer.uid
    doc.paint_labels(bottom, rect_mask(doc.shape, 0, 0, 31, 47), SEA)
    doc.paint_labels(top, rect_mask(doc.shape, 16, 0, 47, 47), SKY)
    composite = doc.composite_labels().copy()
    before = snapshot(doc)
    change = doc.merge_down(top)
    assert [layer.name for layer in doc.layers] == ["bottom"] and doc.active_uid == bottom
    np.testing.assert_array_equal(doc.composite_labels(), composite)
    merged = doc.layer(bottom).data
    assert merged[0, 5] == SEA and merged[0, 20] == SKY and merged[0, 60] == TRANSPARENT
    doc.revert(change)
    assert snapshot(doc) == before


def test_merge_down_images_covers_the_union(doc):
    a = np.zeros((10, 10, 4), np.uint8)
    a[..., 0], a[..., 3] = 200, 255
    b = np.zeros((4, 6, 4), np.uint8)
    b[..., 1], b[..., 3] = 100, 255
    low = doc.add_image_layer(a, x=2, y=3, opacity=0.5).layer.uid
    high = doc.add_image_layer(b, x=10, y=-2).layer.uid
    visible = doc.composite_image()
    before = snapshot(doc)
    change = doc.merge_down(high)
    (merged,) = doc.layers
    assert merged.uid == low and isinstance(merged, ImageLayer)
    assert (merged.x, merged.y, merged.rgba.shape) == (2, -2, (15, 14, 4))
    assert merged.opacity == 1.0
    np.testing.assert_array_equal(doc.composite_image(), visible)
    doc.revert(change)
    assert snapshot(doc) == before


def test_merge_down_errors(doc):
    lab = doc.add_label_layer().layer.uid
    img = doc.add_image_layer(np.zeros((4, 4, 4), np.uint8)).layer.uid
    with pytest.raises(DocumentError, match="no layer below"):
        doc.merge_down(lab)
    with pytest.raises(DocumentError, match="cannot merge"):
        doc.merge_down(img)
    lab2 = doc.add_label_layer(index=1).layer.uid
    doc.set_layer_props(lab, locked=True)
    with pytest.raises(LayerLockedError):
        doc.merge_down(lab2)


def test_remove_moves_active_to_a_neighbour(doc):
    a = doc.add_label_layer().layer.uid
    b = doc.add_label_layer().layer.uid
    c = doc.add_label_layer().layer.uid
    doc.set_active(b)
    change = doc.remove_layer(b)
    assert doc.active_uid == a and [layer.uid for layer in doc.layers] == [a, c]
    doc.revert(change)
    assert doc.active_uid == b and [layer.uid for layer in doc.layers] == [a, b, c]
    doc.set_active(a)
    doc.remove_layer(a)
    assert doc.active_uid == b                       # bottom layer: the one above
    doc.set_active(c)
    doc.remove_layer(b)
    assert doc.active_uid == c                       # not the active one: unchanged
    doc.remove_layer(c)
    assert doc.active_uid is None and doc.layers == ()
    with pytest.raises(DocumentError, match="no layer"):
        doc.remove_layer(c)


def test_duplicate_move_and_props(doc):
    a = doc.add_label_layer(name="base").layer.uid
    doc.paint_labels(a, rect_mask(doc.shape, 0, 0, 5, 5), TREE)
    dup = doc.duplicate_layer(a)
    copy = doc.layers[1]
    assert copy.name == "base copy" and copy.uid != a and doc.active_uid == copy.uid
    np.testing.assert_array_equal(copy.data, doc.layer(a).data)
    assert copy.data is not doc.layer(a).data
    move = doc.move_layer(copy.uid, 0)
    assert [layer.uid for layer in doc.layers] == [copy.uid, a]
    assert doc.move_layer(copy.uid, 0) is None
    with pytest.raises(DocumentError):
        doc.move_layer(copy.uid, 2)
    props = doc.set_layer_props(a, name="renamed", visible=False)
    assert (doc.layer(a).name, doc.layer(a).visible) == ("renamed", False)
    assert doc.set_layer_props(a, name="renamed") is None
    doc.revert(props)
    assert (doc.layer(a).name, doc.layer(a).visible) == ("base", True)
    doc.revert(move)
    doc.revert(dup)
    assert [layer.uid for layer in doc.layers] == [a]
    with pytest.raises(DocumentError, match="image layers"):
        doc.set_layer_props(a, opacity=0.5)
    with pytest.raises(DocumentError, match="unknown"):
        doc.set_layer_props(a, colour="red")
    img = doc.add_image_layer(np.zeros((4, 4, 4), np.uint8)).layer.uid
    with pytest.raises(DocumentError):
        doc.set_layer_props(img, opacity=1.5)
    with pytest.raises(DocumentError):
        doc.set_layer_props(img, x=1.5)


def test_new_layer_goes_above_the_active_one(doc):
    a = doc.add_label_layer().layer.uid
    b = doc.add_label_layer().layer.uid
    doc.set_active(a)
    c = doc.add_label_layer().layer.uid
    assert [layer.uid for layer in doc.layers] == [a, c, b]
    d = doc.add_label_layer(index=0).layer.uid
    assert doc.layers[0].uid == d
    with pytest.raises(DocumentError):
        doc.add_label_layer(index=9)


def test_replace_pixels_labels_and_images(doc):
    uid = doc.add_label_layer().layer.uid
    block = np.full((5, 6), SKY, np.int64)
    block[0, 0] = TRANSPARENT
    change = doc.replace_pixels(uid, 40, 60, block)  # partly outside: clipped
    data = doc.layer(uid).data
    assert (data[41:45, 60:64] == SKY).all() and (data[40, 61:64] == SKY).all()
    assert (data == SKY).sum() == 5 * 4 - 1
    assert doc.replace_pixels(uid, 40, 60, block) is None
    doc.revert(change)
    assert (doc.layer(uid).data == TRANSPARENT).all()
    with pytest.raises(DocumentError):
        doc.replace_pixels(uid, 0, 0, np.full((2, 2), 3))
    with pytest.raises(DocumentError):
        doc.replace_pixels(uid, 0, 0, np.full((2, 2), 156.0))
    img = doc.add_image_layer(np.zeros((20, 20, 4), np.uint8), x=10, y=5).layer.uid
    px = np.full((4, 4, 3), 77, np.uint8)
    change = doc.replace_pixels(img, 5, 10, px)     # canvas coords = the layer's corner
    rgba = doc.layer(img).rgba
    assert (rgba[:4, :4, :3] == 77).all() and (rgba[:4, :4, 3] == 255).all()
    assert change.nbytes == 2 * 4 * 4 * 4
    assert doc.replace_pixels(img, 0, 0, np.zeros((3, 3, 4), np.uint8)) is None  # outside it
    with pytest.raises(DocumentError):
        doc.replace_pixels(img, 0, 0, np.zeros((3, 3), np.uint8))


def test_image_layer_checks(doc):
    with pytest.raises(DocumentError, match="uint8"):
        doc.add_image_layer(np.zeros((4, 4, 4), np.float32))
    with pytest.raises(DocumentError, match="too large"):
        doc.add_image_layer(np.zeros((2049, 4, 4), np.uint8))
    with pytest.raises(DocumentError, match="opacity"):
        doc.add_image_layer(np.zeros((4, 4, 4), np.uint8), opacity=2)


def test_modified_flag(doc):
    got = []
    doc.modified_changed.connect(got.append)
    assert not doc.modified
    uid = doc.add_label_layer().layer.uid
    doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 1, 1), SKY)
    assert doc.modified and got == [True]
    doc.mark_saved()
    assert not doc.modified and got == [True, False]
    assert doc.paint_labels(uid, rect_mask(doc.shape, 0, 0, 1, 1), SKY) is None
    assert not doc.modified                          # nothing changed, nothing to save
    doc.set_layer_props(uid, name="x")
    assert doc.modified and got == [True, False, True]


def test_flood_fill_through_the_document(doc):
    uid = doc.add_label_layer().layer.uid
    doc.paint_labels(uid, rect_mask(doc.shape, 20, 0, 20, 47), MOUNTAIN)  # a wall
    change = doc.paint_labels(uid, flood_fill_mask(doc.layer(uid).data, 5, 5), SKY)
    data = doc.layer(uid).data
    assert (data[:, :20] == SKY).all() and (data[:, 21:] == TRANSPARENT).all()
    assert change.bounds == (0, 0, 48, 20)


def test_thin_long_stroke_is_stored_sparsely(landscape):
    big = Document(2048, 2048, landscape)
    uid = big.add_label_layer().layer.uid
    big.paint_labels(uid, rect_mask(big.shape, 0, 0, 2047, 2047), SEA)
    before = big.layer(uid).data.copy()
    change = big.paint_labels(uid, stroke_mask(big.shape, [(0, 0), (2047, 2047)], 0.5), SKY)
    assert change.sparse and change.bounds == (0, 0, 2048, 2048)
    assert change.nbytes == 2048 * (4 + 2 + 2)       # not the 16 MiB bounding box
    after = big.layer(uid).data.copy()
    assert (after != before).sum() == 2048
    big.revert(change)
    np.testing.assert_array_equal(big.layer(uid).data, before)
    big.apply(change)
    np.testing.assert_array_equal(big.layer(uid).data, after)


def test_sparse_image_patch_round_trips(doc):
    rng = np.random.default_rng(5)
    px = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)
    uid = doc.add_image_layer(px, x=3, y=-2).layer.uid
    block = px.copy()
    block[np.arange(40), np.arange(40)] ^= 0xFF          # only the diagonal changes
    change = doc.replace_pixels(uid, -2, 3, block)
    assert change.sparse and change.nbytes == 40 * (4 + 4 + 4)
    np.testing.assert_array_equal(doc.layer(uid).rgba, block)
    doc.revert(change)
    np.testing.assert_array_equal(doc.layer(uid).rgba, px)
