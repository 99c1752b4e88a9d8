"""Cut-and-paste in the window: selection tools, Copy / Copy merged / Paste / Select all /
Deselect, Layer → New layer from generated image / Flip, and the Harmonize and gallery menus.

``install(window)`` adds everything; the pieces live in select_tools.py (tools),
document/selection.py (masks, copying), document/transform.py (move/scale/flip),
harmonize_action.py and gallery.py.
"""
from __future__ import annotations

import hashlib

import numpy as np
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QToolBar

from . import gallery, harmonize_action
from .canvas import rgba_qimage
from .menus import menu_named, settings_group_start
from .document.errors import DocumentError
from .document.selection import Clip, Selection, copy_region, layer_on_canvas
from .document.transform import fit_size, flip_image_layer, resized_rgba
from .harmonization import PASTED, new_role
from .select_tools import LassoSelectTool, MoveTool, RectSelectTool, SelectionState

TOOLS = (("select_rect", "Select", "M", "Rectangle select (M): drag a rectangle; Shift: square"),
         ("lasso", "Lasso", "L", "Lasso select (L): draw round the region"),
         ("move", "Move", "V", "Move (V) the active image layer; drag a corner to scale it "
                               "(Shift keeps the proportions)"))


def _say(window, text: str, ms: int = 6000) -> None:
    window.statusBar().showMessage(text, ms)


def _digest(image: QImage) -> str:
    image = image.convertToFormat(QImage.Format_RGBA8888)
    h = hashlib.sha256(f"{image.width()}x{image.height()}".encode())
    h.update(bytes(image.constBits())[:image.sizeInBytes()])
    return h.hexdigest()


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """(h, w, 4) uint8 straight-alpha copy of any QImage."""
    image = image.convertToFormat(QImage.Format_RGBA8888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    flat = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return flat.reshape(h, stride)[:, :w * 4].reshape(h, w, 4).copy()


# ----- copy / paste -----------------------------------------------------------------------------
def copy(window, merged: bool = False) -> Clip | None:
    """Copy the selection (everything when none) of the active layer, or with ``merged`` of
    what the painting view shows; also onto the system clipboard."""
    doc, state = window.document, window.selection
    sel = state.current(doc) or Selection.everything()
    if merged:
        source = window.session.display.rgba
    else:
        layer = doc.active_layer
        if layer is None:
            _say(window, "Nothing to copy: no layer is selected")
            return None
        source = layer_on_canvas(layer, doc.shape, doc.labelset)
    clip = copy_region(source, sel.mask(doc.shape))
    if clip is None:
        _say(window, "Nothing to copy: the selection holds only transparent pixels")
        return None
    state.clip = clip
    board = QApplication.clipboard()
    board.setImage(rgba_qimage(clip.rgba).copy())
    image = board.image()
    state.clip_digest = _digest(image) if not image.isNull() else ""
    h, w = clip.rgba.shape[:2]
    _say(window, f"Copied {w}x{h} pixels" + (" (merged)" if merged else ""), 3000)
    return clip


def clipboard_clip(window) -> tuple[Clip | None, bool]:
    """What Paste would paste, and whether it is our own copy (which pastes in place): another
    application's image on the system clipboard wins over the internal clipboard."""
    state = window.selection
    image = QApplication.clipboard().image()
    if not image.isNull() and _digest(image) != getattr(state, "clip_digest", None):
        return Clip(qimage_to_rgba(image), 0, 0), False
    return state.clip, state.clip is not None


def paste(window):
    """A new image layer ("pasted") above the active one: our copy where it was copied from,
    another application's image at the selection or centred, scaled down to fit the canvas."""
    doc = window.document
    clip, own = clipboard_clip(window)
    if clip is None:
        _say(window, "Nothing to paste: copy a region first (Ctrl+C), or copy an image in "
                     "another application")
        return None
    rgba, x, y = clip.rgba, clip.x, clip.y
    h, w = rgba.shape[:2]
    fw, fh = fit_size(w, h, doc.width, doc.height)
    if (fw, fh) != (w, h):
        rgba, own = resized_rgba(rgba, fw, fh, "bicubic"), False
    if not own or x >= doc.width or y >= doc.height or x + fw <= 0 or y + fh <= 0:
        sel = window.selection.current(doc)
        box = sel.bounds(doc.shape) if sel is not None else None
        x, y = (box[1], box[0]) if box else ((doc.width - fw) // 2, (doc.height - fh) // 2)
    try:
        change = doc.add_image_layer(rgba, name="Pasted", x=int(x), y=int(y),
                                     role=new_role(PASTED))
    except DocumentError as exc:
        _say(window, f"Cannot paste: {exc}")
        return None
    change.description = "Paste"
    window._push(change)
    window.select_tool("move")
    _say(window, "Pasted as a new layer: drag to move, drag a corner to scale, then Edit → "
                 "Harmonize (Ctrl+H)", 8000)
    return change


def select_all(window) -> None:
    window.selection.set(window.document, Selection.everything())


def deselect(window) -> None:
    window.selection.set(window.document, None)


# ----- layer operations -------------------------------------------------------------------------
def new_layer_from_generated(window):
    doc, generated = window.document, window.session.generated
    if generated is None:
        _say(window, "No generated image yet: choose a model and generate (Ctrl+Enter)")
        return None
    rgb = np.asarray(generated, np.uint8)
    if rgb.shape[:2] != doc.shape:  # the model's size may differ from the canvas
        rgb = resized_rgba(rgb, doc.width, doc.height, "bicubic")
    change = doc.add_image_layer(rgb, name="Generated image")
    change.description = "New layer from generated image"
    window._push(change)
    return change


def flip_active(window, horizontal: bool):
    doc = window.document
    try:
        change = flip_image_layer(doc, doc.active_uid, horizontal) \
            if doc.active_uid is not None else None
    except DocumentError as exc:
        _say(window, str(exc))
        return None
    if change is None:
        _say(window, "Select an image layer to flip")
        return None
    window._push(change)
    return change


# ----- wiring -----------------------------------------------------------------------------------
def _action(window, text, slot, shortcut=None, tip="") -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(lambda _=False: slot())
    return action


def _install_tools(window) -> None:
    state = window.selection
    window.tools["select_rect"] = RectSelectTool(window.tool_ctx, state)
    window.tools["lasso"] = LassoSelectTool(window.tool_ctx, state)
    window.tools["move"] = MoveTool(window.tool_ctx, lambda: window.transform.zoom)
    group = window.tool_actions["brush"].actionGroup()
    bar = window.findChild(QToolBar, "tools")
    first_separator = next((a for a in bar.actions() if a.isSeparator()), None) if bar else None
    for key, label, shortcut, tip in TOOLS:
        action = QAction(label, window, checkable=True)
        action.setShortcut(shortcut)
        action.setToolTip(tip)
        action.triggered.connect(lambda _=False, k=key: window.select_tool(k))
        if group is not None:
            group.addAction(action)
        if bar is not None:
            bar.insertAction(first_separator, action)
        window.tool_actions[key] = action


def install(window) -> None:
    window.selection = SelectionState(lambda: window.paint_view.update())
    window.paint_view.overlay = lambda: window.selection.outline(window.document)
    _install_tools(window)
    edit = menu_named(window, "&Edit")
    before = settings_group_start(edit)
    window.copy_action = _action(window, "&Copy", lambda: copy(window), QKeySequence.Copy,
                                 "Copy the selection of the active layer")
    window.copy_merged_action = _action(window, "Copy &merged", lambda: copy(window, True),
                                        "Ctrl+Shift+C", "Copy the selection as the painting "
                                        "view shows it (all visible layers)")
    window.paste_action = _action(window, "&Paste", lambda: paste(window), QKeySequence.Paste,
                                  "Paste as a new image layer")
    window.select_all_action = _action(window, "Select &all", lambda: select_all(window),
                                       QKeySequence.SelectAll)
    window.deselect_action = _action(window, "&Deselect", lambda: deselect(window),
                                     "Ctrl+Shift+A")
    actions = [None, window.copy_action, window.copy_merged_action, window.paste_action, None,
               window.select_all_action, window.deselect_action, None,
               *harmonize_action.actions(window)]
    for action in actions:
        if action is None:
            edit.insertSeparator(before)
        else:
            edit.insertAction(before, action)
    layer = menu_named(window, "&Layer")
    layer.addSeparator()
    window.layer_from_generated_action = _action(
        window, "New layer from &generated image", lambda: new_layer_from_generated(window),
        "Ctrl+Shift+G", "The generated image as an image layer: a background to paste onto "
        "and to harmonize with")
    layer.addAction(window.layer_from_generated_action)
    window.flip_h_action = _action(window, "Flip &horizontally", lambda: flip_active(window, True))
    window.flip_v_action = _action(window, "Flip &vertically", lambda: flip_active(window, False))
    layer.addAction(window.flip_h_action)
    layer.addAction(window.flip_v_action)
    gallery.install(window)
