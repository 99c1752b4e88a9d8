"""Selections, copying a region, moving/scaling/flipping image layers, model links (no Qt)."""
from __future__ import annotations

import numpy as np
import pytest

from gauapp.document.document import Document
from gauapp.document.errors import DocumentError, LayerLockedError, OraError
from gauapp.document.layers import TRANSPARENT
from gauapp.document.model_links import decode, encode, fingerprint, link_key
from gauapp.document.ora import load_ora, save_ora
from gauapp.document.selection import (Selection, copy_region, layer_on_canvas, mask_bounds,
                                       polygon_mask, rect_mask)
from gauapp.document.transform import (fit_size, flip_image_layer, resized_rgba,
                                       scale_image_layer, transform_image_layer)


def brute_polygon(shape, points):
    """Even-odd ray casting per pixel centre: the slow reference."""
    h, w = shape
    out = np.zeros(shape, bool)
    n = len(points)
    for r in range(h):
        for c in range(w):
            px, py = c + 0.5, r + 0.5
            inside = False
            for i in range(n):
                (xa, ya), (xb, yb) = points[i], points[(i + 1) % n]
                if (ya <= py) != (yb <= py):
                    x = xa + (py - ya) * (xb - xa) / (yb - ya)
                    if x < px:
                        inside = not inside
            out[r, c] = inside
    return out


def test_rect_mask_rounds_corners_and_clips():
    m = rect_mask((10, 12), 10.6, 7.2, 2.4, 1.5)  # reversed corners
    expected = np.zeros((10, 12), bool)
    expected[2:7, 2:11] = True
    assert np.array_equal(m, expected)
    assert not rect_mask((10, 12), 20, 20, 30, 30).any()
    assert rect_mask((10, 12), -5, -5, 3, 2).sum() == 3 * 2
    assert Selection.rect(0, 0, 3, 3).bounds((10, 12)) == (0, 0, 3, 3)
    assert Selection.everything().mask((4, 5)).all()


def test_polygon_mask_exact_shapes():
    square = polygon_mask((10, 10), [(2, 3), (7, 3), (7, 8), (2, 8)])
    assert np.array_equal(square, rect_mask((10, 10), 2, 3, 7, 8))
    # Right triangle with legs on the axes: pixel centres with x + y < 8 (x, y = c + .5, r + .5)
    tri = polygon_mask((10, 10), [(0, 0), (8, 0), (0, 8)])
    r, c = np.mgrid[0:10, 0:10]
    assert np.array_equal(tri, (c + 0.5) + (r + 0.5) < 8)
    assert polygon_mask((10, 10), [(1, 1), (2, 2)]).sum() == 0


@pytest.mark.parametrize("seed", range(6))
def test_polygon_mask_matches_ray_casting(seed):
    rng = np.random.default_rng(seed)
    pts = [tuple(p) for p in rng.uniform(-4, 28, size=(int(rng.integers(3, 12)), 2))]
    assert np.array_equal(polygon_mask((20, 24), pts), brute_polygon((20, 24), pts))


def test_figure_eight_lasso_selects_both_loops():
    pts = [(0, 0), (10, 10), (10, 0), (0, 10)]  # crossing at (5, 5)
    m = Selection.lasso(pts).mask((10, 10))
    assert m[5, 1] and m[5, 8] and not m[1, 5] and not m[8, 5]


def test_selection_validation():
    for make, text in ((lambda: Selection("circle"), "unknown selection kind"),
                       (lambda: Selection.lasso([(0, 0), (1, 1)]), "3..20000 points"),
                       (lambda: Selection.rect(0, 0, float("nan"), 1), "finite")):
        with pytest.raises(DocumentError, match=text):
            make()


def test_copy_region_of_an_offset_image_layer():
    doc = Document(16, 16)
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (6, 8, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    doc.add_image_layer(rgba, x=-2, y=3)
    canvas = layer_on_canvas(doc.active_layer, doc.shape)
    assert np.array_equal(canvas[3:9, 0:6], rgba[:, 2:])
    assert not canvas[:3].any() and not canvas[:, 6:].any()
    mask = polygon_mask(doc.shape, [(0, 3), (6, 3), (0, 9)])  # a triangle
    clip = copy_region(canvas, mask)
    y0, x0, y1, x1 = mask_bounds(mask)
    assert (clip.x, clip.y) == (x0, y0) and clip.rgba.shape == (y1 - y0, x1 - x0, 4)
    inside = mask[y0:y1, x0:x1]
    assert np.array_equal(clip.rgba[..., 3], np.where(inside, 255, 0))
    assert np.array_equal(clip.rgba[..., :3], canvas[y0:y1, x0:x1, :3])
    assert copy_region(canvas, np.zeros(doc.shape, bool)) is None
    assert copy_region(canvas, rect_mask(doc.shape, 10, 10, 14, 14)) is None  # transparent
    with pytest.raises(DocumentError, match="differ in size"):
        copy_region(canvas, np.ones((3, 3), bool))


def test_label_layer_copies_as_its_colours():
    from models.labelsets import load_labelset

    ls = load_labelset("landscape")
    doc = Document(16, 16, ls)
    data = np.full((16, 16), TRANSPARENT, np.int16)
    cls = ls.classes[0].id
    data[4:8, 4:8] = cls
    doc.add_label_layer(data=data)
    canvas = layer_on_canvas(doc.active_layer, doc.shape, ls)
    assert np.array_equal(canvas[5, 5, :3], ls.color_table()[cls]) and canvas[5, 5, 3] == 255
    assert canvas[0, 0, 3] == 0


def _layer_state(layer):
    return layer.rgba.copy(), layer.x, layer.y


def test_move_scale_flip_undo_redo_bit_exact():
    doc = Document(32, 32)
    rgba = np.random.default_rng(1).integers(0, 256, (7, 9, 4), dtype=np.uint8)
    doc.add_image_layer(rgba, x=3, y=4)
    uid = doc.active_uid
    states = [_layer_state(doc.layer(uid))]
    steps = [lambda: transform_image_layer(doc, uid, rgba, 10, -2, "Move"),
             lambda: scale_image_layer(doc, uid, 18, 5),
             lambda: flip_image_layer(doc, uid, True),
             lambda: flip_image_layer(doc, uid, False)]
    changes = []
    for step in steps:
        changes.append(step())
        states.append(_layer_state(doc.layer(uid)))
    assert states[1][1:] == (10, -2) and states[2][0].shape == (5, 18, 4)
    assert np.array_equal(states[3][0], states[2][0][:, ::-1])
    assert np.array_equal(states[4][0], states[3][0][::-1])
    for _ in range(2):  # undo all, redo all, twice: every state comes back exactly
        for i in range(len(changes) - 1, -1, -1):
            doc.revert(changes[i])
            got = _layer_state(doc.layer(uid))
            assert np.array_equal(got[0], states[i][0]) and got[1:] == states[i][1:]
        for i, change in enumerate(changes):
            doc.apply(change)
            got = _layer_state(doc.layer(uid))
            assert np.array_equal(got[0], states[i + 1][0]) and got[1:] == states[i + 1][1:]


def test_transform_refuses_what_it_cannot_do():
    doc = Document(32, 32)
    doc.add_image_layer(np.zeros((4, 4, 4), np.uint8))
    uid = doc.active_uid
    doc.set_layer_props(uid, locked=True)
    with pytest.raises(LayerLockedError):
        flip_image_layer(doc, uid, True)
    doc.add_label_layer()
    with pytest.raises(DocumentError, match="only image layers"):
        flip_image_layer(doc, doc.active_uid, True)
    with pytest.raises(DocumentError, match="cannot be scaled to 0x3"):
        resized_rgba(np.zeros((4, 4, 4), np.uint8), 0, 3)
    doc.set_layer_props(uid, locked=False)
    with pytest.raises(DocumentError, match="too large"):
        transform_image_layer(doc, uid, np.zeros((2049, 1, 4), np.uint8), 0, 0)
    with pytest.raises(DocumentError, match="integer pixel position"):
        transform_image_layer(doc, uid, np.zeros((2, 1, 4), np.uint8), 0.5, 0)
    assert fit_size(100, 50, 40, 40) == (40, 20) and fit_size(10, 5, 40, 40) == (10, 5)


def test_resize_keeps_transparent_edges_clean():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:, :2] = (255, 0, 0, 255)  # red left half, transparent black right half
    big = resized_rgba(rgba, 16, 16)
    seen = big[big[..., 3] > 8]
    assert (seen[:, 0] > 240).all()  # no dark fringe: premultiplied resampling


def test_roles_and_model_links_survive_ora(tmp_path):
    doc = Document(16, 16)
    doc.add_image_layer(np.full((4, 4, 4), 200, np.uint8), role="pasted abcd1234")
    key = link_key("harmonization", fingerprint(np.zeros((5, 5, 3), np.uint8)))
    doc.model_links[key] = str(tmp_path / "m.safetensors")
    save_ora(doc, tmp_path / "p.ora")
    back = load_ora(tmp_path / "p.ora").document
    assert back.layers[0].role == "pasted abcd1234"
    assert back.model_links == doc.model_links
    plain = Document(16, 16)
    save_ora(plain, tmp_path / "q.ora")
    assert load_ora(tmp_path / "q.ora").document.model_links == {}
    assert encode({}) is None


def test_bad_model_links_are_refused():
    for data in (b"[1, 2]", b"{\"painting:x\": \"y\"}", b"\xff", b"{\"editing:x\": 3}"):
        with pytest.raises(OraError, match="model-links"):
            decode(data)
    with pytest.raises(ValueError, match="unknown mode"):
        link_key("paint", "x")
    a = np.zeros((4, 5, 3), np.uint8)
    assert fingerprint(a) != fingerprint(np.zeros((5, 4, 3), np.uint8))
    assert fingerprint(a) == fingerprint(np.zeros((4, 5, 4), np.uint8))  # alpha ignored
