"""A painting whose label set is not the model's: translate its classes, or say why nothing renders.

The landscape palette uses COCO-Stuff ids; a model trained on ADE20K or Cityscapes reads the same
numbers as other classes. When the painting and the model disagree (``models.labeltranslate``
finds a translation that is not the identity), the painting is not sent to the model, the result
view says why, and picking the model offers Edit → Translate classes to the model, which converts
every label layer in one undo step (the palette follows the document's new label set).
"""
from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from models.labeltranslate import UNMATCHED, LabelTranslation, translation

from .menus import menu_named, settings_group_start


def install(window) -> None:
    window.pending_translation = None
    action = QAction("Translate classes to the &model…", window)
    action.setObjectName("translate-classes")
    action.setToolTip("Convert the painting's classes to those of the current model "
                      "(sky → sky, sea → sea, …), in one undo step")
    action.triggered.connect(lambda: ask_to_translate(window))
    edit = menu_named(window, "&Edit")
    edit.insertAction(settings_group_start(edit), action)
    window.translate_action = action


def needed_translation(window) -> LabelTranslation | None:
    """The translation from the document's label set to the model's, None when the painting's
    ids already mean the same classes to the model (or either side has no label set)."""
    doc = window.document
    if doc is None or doc.labelset is None or window.model is None:
        return None
    target = window.labelset
    if target is None or target == doc.labelset:
        return None
    tr = translation(doc.labelset, target)
    return None if tr.is_identity else tr


def refresh(window, offer: bool = False) -> None:
    """Re-check after the model or the document's label set changed; with ``offer``, ask the
    user (non-blocking) whether to translate."""
    window.pending_translation = tr = needed_translation(window)
    window.translate_action.setEnabled(tr is not None)
    if tr is not None:
        window.show_result(None)
    window.update_result_placeholder()
    if tr is not None and offer:
        ask_to_translate(window)


def waiting_text(tr: LabelTranslation, model_name: str) -> str:
    """What the result view says while the painting waits for a translation."""
    return (f"The painting uses the {tr.source.name} classes; {model_name} paints "
            f"{tr.target.name} classes.\nEdit → Translate classes to the model converts it.")


def follow_document(window, labelset) -> None:
    """The document's label set changed (a translation, or its undo): the painting view and the
    palette show the new set, the current class and Recent carried over by meaning."""
    window.session.display.set_labelset(labelset)
    palette = window.palette
    old, current, recent = palette.labelset(), palette.current_class(), palette.recent_classes()
    palette.set_labelset(labelset)
    if old is not None and labelset is not None and old != labelset:
        tr = translation(old, labelset)
        carry = {m.source.id: m.target.id for m in tr.matches if m.target is not None}
        palette.set_picks(carry.get(current), [carry[i] for i in recent if i in carry])
    refresh(window)


def describe(tr: LabelTranslation, used_ids) -> str:
    used = tr.used(used_ids)
    lines = [m.describe() for m in used]
    lost = [m.source.name for m in used if m.how == UNMATCHED]
    text = "\n".join(lines) if lines else "(the painting has no classes yet)"
    if lost:
        text += (f"\n\n{len(lost)} class(es) have no counterpart and become "
                 f"{tr.target.name}'s unlabeled class: {', '.join(lost)}.")
    return text


def ask_to_translate(window) -> None:
    tr = needed_translation(window)
    if tr is None:
        window.statusBar().showMessage("The painting already uses the model's classes", 5000)
        return
    doc = window.document
    box = QMessageBox(QMessageBox.Question, "Translate classes",
                      f"This painting uses the {tr.source.name} classes; the model "
                      f"{window.model.name} was trained on the {tr.target.name} classes and "
                      "would read them as other classes.\n\nTranslate the painting?",
                      QMessageBox.Yes | QMessageBox.No, window)
    box.setObjectName("translate-classes-question")
    box.setInformativeText(describe(tr, doc.composite_labels()))
    box.button(QMessageBox.Yes).setText("Translate")
    box.button(QMessageBox.No).setText("Keep as it is")
    box.buttonClicked.connect(lambda button: translate(window, tr) if
                              box.standardButton(button) == QMessageBox.Yes else None)
    box.open()  # non-blocking: tests and the live view go on
    window.translate_question = box


def translate(window, tr: LabelTranslation) -> None:
    """Apply ``tr`` to the open document (one undo step), if it still applies."""
    doc, now = window.document, needed_translation(window)
    if doc is None or now is None or (now.source, now.target) != (tr.source, tr.target):
        return  # an answer to a question the model or painting has since changed
    window._push(doc.translate_labels(tr))
    window.statusBar().showMessage(f"The painting now uses the {tr.target.name} classes", 5000)
