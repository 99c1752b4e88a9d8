"""The shipped harmonization example opens as an untitled painting and harmonizes with the
bundled model, found by the painting's fingerprint (what a new user gets with Help → Open the
harmonization example, then Ctrl+H)."""
from __future__ import annotations

import pytest

from gauapp import fileactions, harmonize_action
from gauapp.harmonization import find_model, parse_role, plan
from gauapp.modelstore import bundled_models_dir
from models.labelsets import resources_dir

from app_window import close_window, open_window, wait_job

EXAMPLE = resources_dir() / "examples" / "harmonize-boat.ora"
MODEL = bundled_models_dir() / "autumn-harmonization.safetensors"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    monkeypatch.setattr(harmonize_action, "user_models_dir",
                        lambda create=False: tmp_path / "user-models")
    w = open_window(qtbot, tmp_path, tmp_path / "models", show=False, size=None)
    yield w
    close_window(w)


def test_example_files_are_shipped():
    assert EXAMPLE.is_file() and MODEL.is_file()


def test_example_opens_untitled_and_harmonizes_with_the_bundled_model(window, qtbot):
    assert fileactions.open_example(window, "harmonize-boat.ora")
    doc = window.document
    assert window.session.path is None  # Save asks: the shipped file is never overwritten
    names = [layer.name for layer in doc.layers]
    assert names == ["Autumn painting", "Rowing boat (pasted)"]
    boat = doc.layers[-1]
    assert doc.active_uid == boat.uid and parse_role(boat.role)[0] == "pasted"
    task = plan(doc, boat.uid, None)
    assert find_model({}, harmonize_action.model_folders(window), task) == MODEL
    job = harmonize_action.start(window, ask=False)
    assert job is not None
    wait_job(qtbot, job, timeout=60000)
    assert job.state == "finished", job.error
    result = doc.active_layer
    assert parse_role(result.role)[0] == "harmonized" and not boat.visible
    window.undo_action.trigger()
    assert boat.visible and len(doc.layers) == 2
