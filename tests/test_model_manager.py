"""Models → Model manager…: lists bundled and installed models, imports through the preview
(chosen or dropped), renames, removes, verifies, downloads from a local server (progress, wrong
bytes, cancel) without blocking the GUI thread, and moves the library when its folder changes."""
from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent

from model_server import ModelServer
from models.bundle import ModelBundle
from models.library import ModelLibrary
from models.modelfile import load_model_file, save_model_file

from app_window import close_window, open_window

PIX2PIX = dict(netG="unet", num_downs=5, ngf=4, norm="batch", use_dropout=False)
HD_LABELS = dict(label_nc=5, no_instance=True, ngf=4, n_downsample_global=2, n_blocks_global=1)


def tiny_model(path: Path, architecture: str = "pix2pix", seed: int = 0, name: str = "") -> Path:
    """A tiny real model file: pix2pix (image → image) or pix2pixHD (label map → image)."""
    from models.registry import get_architecture

    opts = dict(PIX2PIX if architecture == "pix2pix" else HD_LABELS)
    torch.manual_seed(seed)
    net = get_architecture(architecture).build(opts)["G"]
    state = OrderedDict((f"G.{k}", v.detach().clone()) for k, v in net.state_dict().items())
    provenance = {"name": name} if name else {}
    return save_model_file(ModelBundle(architecture, opts, state, None, provenance, "CC0-1.0"),
                           path)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from gauapp import fileactions

    monkeypatch.setattr("platformdirs.user_data_dir",
                        lambda appname=None, appauthor=None, *a, **k: str(tmp_path / "data"))
    monkeypatch.setattr(fileactions, "confirm_discard", lambda w: True)
    bundled = tmp_path / "bundled"
    tiny_model(bundled / "bundled-city.safetensors", "pix2pixhd_global", seed=9)
    monkeypatch.setattr("gauapp.modelstore.bundled_models_dir", lambda: bundled)
    w = open_window(qtbot, tmp_path, tmp_path / "lib", show=False, size=None)
    yield w
    close_window(w)


@pytest.fixture
def server():
    with ModelServer() as s:
        yield s


def open_manager(window, catalogue: Path | None = None):
    from gauapp.model_manager import open_model_manager

    manager = open_model_manager(window, catalogue)
    manager.downloads.download_options = {"backoff": 0.01}
    return manager


def texts(manager) -> list[str]:
    lst = manager.installed.list
    return [lst.item(i).text() for i in range(lst.count())]


def select(manager, name: str) -> None:
    rows = [i for i, t in enumerate(texts(manager)) if t.split("\n")[0] == name]
    assert rows, (name, texts(manager))
    manager.installed.list.setCurrentRow(rows[0])


def field(manager, key: str) -> str:
    return manager.installed.fields[key].text()


def wait_idle(qtbot, window, timeout=20000) -> None:
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=timeout)
    qtbot.wait(20)  # the jobs' ended signals are queued


# ----- listing --------------------------------------------------------------------------------
def test_lists_bundled_and_installed_models_with_details(window, qtbot, tmp_path):
    library = ModelLibrary(window.settings.models_folder)
    entry = library.import_(tiny_model(tmp_path / "src" / "shoes.safetensors"), name="Shoes")
    library.set_thumbnail(entry, np.full((20, 30, 3), (200, 30, 30), np.uint8))
    bundled = tmp_path / "bundled"
    Image.fromarray(np.full((16, 16, 3), (20, 200, 40), np.uint8)).save(
        bundled / "bundled-city.png")  # a bundled model's thumbnail sits beside it
    window.model_manager_action.trigger()
    manager = window.model_manager
    assert window.model_manager_action.shortcut().toString() == "Ctrl+Shift+M"
    assert manager.isVisible() and not manager.isModal()
    assert texts(manager) == ["bundled-city\nbundled (read-only) · label map → image",
                              "Shoes\nimage → image · " + texts(manager)[1].split(" · ")[1]]
    # each icon is the model's thumbnail: the library entry's (red), the bundled PNG (green)
    icon = manager.installed.list.item(1).icon().pixmap(64, 64).toImage()
    assert icon.pixelColor(32, 32).red() > 150 and icon.pixelColor(32, 32).green() < 80
    icon = manager.installed.list.item(0).icon().pixmap(64, 64).toImage()
    assert icon.pixelColor(32, 32).green() > 150 and icon.pixelColor(32, 32).red() < 80
    select(manager, "bundled-city")
    buttons = manager.installed.buttons
    assert buttons["use"].isEnabled() and not buttons["rename"].isEnabled()
    assert not buttons["remove"].isEnabled() and "bundled" in field(manager, "sha256")
    assert "read-only" in field(manager, "source") and field(manager, "added") == "—"
    select(manager, "Shoes")
    assert (field(manager, "name"), field(manager, "kind"), field(manager, "architecture")) == (
        "Shoes", "image → image", "pix2pix")
    assert field(manager, "sha256") == entry.sha256[:16] + "…"
    assert field(manager, "license") == "CC0-1.0" and "local file" in field(manager, "verified")
    assert f"{entry.size:,} bytes" in field(manager, "size") and field(manager, "added")
    assert not buttons["use"].isEnabled() and "label map → image" in buttons["use"].toolTip()
    manager.installed.copy_sha.click()
    from PySide6.QtGui import QGuiApplication
    assert QGuiApplication.clipboard().text() == entry.sha256


# ----- importing ------------------------------------------------------------------------------
def test_import_through_the_preview_then_use_it(window, qtbot, tmp_path, monkeypatch):
    from gauapp import fileactions, model_installed

    src = tiny_model(tmp_path / "src" / "city.safetensors", "pix2pixhd_global")
    monkeypatch.setattr(model_installed, "choose_import_paths", lambda parent, folder: [src])
    manager = open_manager(window)
    manager.installed.buttons["import"].menu().actions()[0].trigger()
    qtbot.waitUntil(lambda: manager.imports.dialog is not None, timeout=20000)
    dialog = manager.imports.dialog
    facts = dialog.facts.text()
    assert "pix2pixhd_global" in facts and "label map → image" in facts
    assert "gauapp model file" in facts and not dialog.member.isVisible()
    assert "no label set recognised" in dialog.warnings.text()
    assert dialog.name.text() == "city" and dialog.import_button.isEnabled()
    assert ModelLibrary(window.settings.models_folder).entries() == []  # nothing written yet
    dialog.name.setText("My city")
    dialog.import_button.click()
    qtbot.waitUntil(lambda: any(t.startswith("My city\n") for t in texts(manager)),
                    timeout=20000)
    [entry] = manager.library.entries()
    select(manager, "My city")
    assert field(manager, "kind") == "label map → image" and field(manager, "labelset") == "—"
    assert field(manager, "source") == "city.safetensors"
    assert "Imported 'My city'" in manager.message.text()
    # the app's model menu lists it, and Use paints with it
    fileactions._fill_models(window)
    assert any(a.text().startswith("My city") for a in window.models_menu.actions())
    manager.installed.buttons["use"].click()
    assert window.model.path == entry.path and window.model.name == "My city"
    # the same file again: the preview says so and Import waits for "anyway"
    manager.import_paths([src])
    qtbot.waitUntil(lambda: manager.imports.dialog is not None, timeout=20000)
    dialog = manager.imports.dialog
    assert "already in the library as 'My city'" in dialog.warnings.text()
    assert not dialog.import_button.isEnabled()
    dialog.reject()
    assert manager.imports.dialog is None and len(manager.library.entries()) == 1


def test_the_preview_corrects_what_the_weights_do_not_tell(window, qtbot, reference_weights):
    """An official SPADE checkpoint: its label set and size options are guesses the user can
    correct before importing; a label set that does not fit is refused and the preview stays."""
    src = reference_weights("spade/ade20k_ngf16") / "latest_net_G.pth"
    manager = open_manager(window)
    manager.import_paths([src])
    qtbot.waitUntil(lambda: manager.imports.dialog is not None, timeout=20000)
    dialog = manager.imports.dialog
    editors = dialog.adjust.editors
    assert not dialog.adjust.isHidden()
    assert editors["labelset"].currentText() == "ade20k"
    assert (editors["crop_size"].value(), editors["num_upsampling_layers"].currentText()) == (
        256, "normal")

    def choose(combo, text):
        combo.setCurrentText(text)
        combo.activated.emit(combo.currentIndex())

    def read_again():
        qtbot.waitUntil(lambda: not dialog.reading, timeout=20000)

    choose(editors["labelset"], "coco-stuff")  # ids up to 182 for 151 input classes
    read_again()
    assert "has ids up to 182" in dialog.busy.text() and dialog.busy.isVisible()
    assert dialog.adjust.editors["labelset"].currentText() == "ade20k"
    dialog.name.clear()
    qtbot.keyClicks(dialog.name, "Street scenes")  # typed, as a user does
    editors = dialog.adjust.editors
    editors["crop_size"].setValue(512)
    editors["crop_size"].editingFinished.emit()
    read_again()
    choose(dialog.adjust.editors["labelset"], "cityscapes")
    read_again()
    assert dialog.preview.hints == {"crop_size": 512, "labelset": "cityscapes"}
    assert "cityscapes" in dialog.facts.text() and "crop_size 512" in dialog.facts.text()
    assert dialog.name.text() == "Street scenes"  # a typed name survives the re-reads
    dialog.import_button.click()
    qtbot.waitUntil(lambda: len(manager.library.entries()) == 1, timeout=20000)
    [entry] = manager.library.entries()
    bundle = load_model_file(entry.path)
    assert entry.labelset == "cityscapes" and bundle.labelset.name == "cityscapes"
    assert bundle.options["crop_size"] == 512


def _drop(manager, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    manager.dropEvent(event)


def test_drop_an_archive_of_two_models_and_choose_one(window, qtbot, tmp_path):
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(tiny_model(tmp_path / "a.safetensors", seed=1), "models/a/first.safetensors")
        z.write(tiny_model(tmp_path / "b.safetensors", "pix2pixhd_global", seed=2),
                "models/b/second.safetensors")
    manager = open_manager(window)
    _drop(manager, [archive])
    qtbot.waitUntil(lambda: manager.imports.dialog is not None, timeout=20000)
    dialog = manager.imports.dialog
    choices = [dialog.member.itemText(i) for i in range(dialog.member.count())]
    assert len(choices) == 2 and not dialog.member.isHidden()
    assert dialog.preview.member == choices[0] and "pix2pix<" in dialog.facts.text() + "<"
    dialog.member.setCurrentIndex(1)
    dialog.member.activated.emit(1)
    assert not dialog.import_button.isEnabled()  # reading the other member
    qtbot.waitUntil(lambda: dialog.preview.member == choices[1], timeout=20000)
    assert "pix2pixhd_global" in dialog.facts.text() and dialog.import_button.isEnabled()
    dialog.import_button.click()
    qtbot.waitUntil(lambda: len(manager.library.entries()) == 1, timeout=20000)
    [entry] = manager.library.entries()
    assert entry.architecture == "pix2pixhd_global" and entry.source.endswith("second.safetensors")


def test_a_file_that_is_not_a_model_gives_one_clear_line(window, qtbot, tmp_path):
    junk = tmp_path / "notes_net_G.pth"
    junk.write_bytes(b"this is not a checkpoint")
    manager = open_manager(window)
    _drop(manager, [junk])
    qtbot.waitUntil(lambda: "Cannot import notes_net_G.pth" in manager.message.text(),
                    timeout=20000)
    assert "\n" not in manager.message.text() and manager.imports.dialog is None
    assert manager.library.entries() == []


# ----- editing --------------------------------------------------------------------------------
def test_rename_and_remove(window, qtbot, tmp_path, monkeypatch):
    from gauapp import model_views

    library = ModelLibrary(window.settings.models_folder)
    entry = library.import_(tiny_model(tmp_path / "src" / "m.safetensors"), name="Before")
    manager = open_manager(window)
    select(manager, "Before")
    monkeypatch.setattr(model_views, "ask_text", lambda *a: "After")
    manager.installed.buttons["rename"].click()
    qtbot.waitUntil(lambda: "After\n" in "".join(texts(manager)), timeout=20000)
    assert ModelLibrary(library.root).get(entry.id).name == "After"
    select(manager, "After")
    monkeypatch.setattr(model_views, "confirm", lambda *a: False)
    manager.installed.buttons["remove"].click()
    assert entry.path.exists()  # declined
    monkeypatch.setattr(model_views, "confirm", lambda *a: True)
    manager.installed.buttons["remove"].click()
    qtbot.waitUntil(lambda: len(texts(manager)) == 1, timeout=20000)
    assert not entry.path.exists() and ModelLibrary(library.root).entries() == []
    assert manager.message.text() == "Removed 'After'"


def test_verify_flags_a_changed_file(window, qtbot, tmp_path, monkeypatch):
    library = ModelLibrary(window.settings.models_folder)
    good = library.import_(tiny_model(tmp_path / "a.safetensors", seed=1), name="Good")
    bad = library.import_(tiny_model(tmp_path / "b.safetensors", seed=2), name="Bad")
    with open(bad.path, "r+b") as f:  # flip one byte of the weights
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    manager = open_manager(window)
    manager.installed.buttons["verify"].click()
    qtbot.waitUntil(lambda: bool(manager.check_results), timeout=20000)
    assert manager.check_results[good.id][0] and not manager.check_results[bad.id][0]
    assert "1 of 2 model(s) changed or missing: Bad" == manager.message.text()
    assert any(t.startswith("Bad\n") and t.endswith("✗ CHANGED") for t in texts(manager))
    assert any(t.startswith("Good\n") and t.endswith("✔ intact") for t in texts(manager))
    select(manager, "Bad")
    assert "sha256 differs" in field(manager, "check")
    # an export of the changed file is refused in one line, and writes nothing
    from gauapp import model_installed
    dest = tmp_path / "out.safetensors"
    monkeypatch.setattr(model_installed, "choose_export_path", lambda *a: dest)
    manager.installed.buttons["export"].click()
    qtbot.waitUntil(lambda: "failed" in manager.message.text(), timeout=20000)
    assert "sha256 differs" in manager.message.text() and not dest.exists()
    select(manager, "Good")
    manager.installed.buttons["export"].click()
    qtbot.waitUntil(lambda: dest.exists() and "Exported" in manager.message.text(),
                    timeout=20000)
    assert dest.read_bytes() == good.path.read_bytes()


# ----- downloads ------------------------------------------------------------------------------
def catalogue(tmp_path: Path, server, data: bytes, **extra) -> Path:
    base = dict(kind="image2image", architecture="pix2pix", description="A tiny test model.",
                license="CC0-1.0", format="safetensors")
    models = [dict(base, id="tiny", name="Tiny shoes", url=server.url("/tiny.safetensors"),
                   file_name="tiny.safetensors", size=len(data),
                   sha256=hashlib.sha256(data).hexdigest(), **extra),
              dict(base, id="loose", name="Loose facades", url=server.url("/loose.safetensors"),
                   file_name="loose.safetensors", license="CC BY-NC-SA 4.0")]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"format": 1, "models": models}))
    return path


class Ticks:
    """A 10 ms QTimer: the longest gap between its ticks shows whether the GUI thread froze."""

    def __init__(self):
        self.times = [time.monotonic()]
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return max(np.diff(self.times)) if len(self.times) > 1 else float("inf")


def select_catalogue(manager, entry_id: str) -> None:
    ids = [e.id for e in manager.downloads.entries]
    manager.downloads.list.setCurrentRow(ids.index(entry_id))


def test_download_shows_progress_and_installs(window, qtbot, tmp_path, server):
    data = tiny_model(tmp_path / "tiny.safetensors").read_bytes()
    server.files["/tiny.safetensors"] = data
    server.plan["/tiny.safetensors"] = ["drop:20000"]  # a broken connection, then a resume
    manager = open_manager(window, catalogue(tmp_path, server, data))
    tab = manager.downloads
    select_catalogue(manager, "loose")
    details = tab.details.text()
    assert "Unverified" in details and "cannot be checked against the published file" in details
    assert "Size</b>&nbsp;&nbsp;</td><td>unknown" in details
    select_catalogue(manager, "tiny")
    assert "Verified" in tab.details.text() and tab.download_button.isEnabled()
    ticks = Ticks()
    tab.download_button.click()
    row, job = tab.current
    shown = []
    job.progress.connect(lambda p: shown.append((p, row.status.text())))
    qtbot.waitUntil(lambda: row.done, timeout=30000)
    gap = ticks.stop()
    assert row.status.text() == "Installed as 'Tiny shoes'", row.status.text()
    assert shown and shown[-1][0].done == len(data)
    assert any("MB/s" in text and "left" in text for _, text in shown)
    assert server.ranges("/tiny.safetensors") == [None, "bytes=20000-"]
    [entry] = ModelLibrary(window.settings.models_folder).entries()
    assert (entry.verified, entry.catalogue_id, entry.name) == (True, "tiny", "Tiny shoes")
    assert any(t.startswith("Tiny shoes\n") for t in texts(manager))
    assert "installed · " in tab.list.item(0).text() and not tab.download_button.isEnabled()
    assert "Installed as Tiny shoes" in tab.details.text()
    assert gap < 0.5, f"the GUI thread stalled for {gap:.3f} s"


def test_unverified_download_is_marked_and_the_user_told(window, qtbot, tmp_path, server):
    data = tiny_model(tmp_path / "loose.safetensors", seed=3).read_bytes()
    server.files["/loose.safetensors"] = data
    manager = open_manager(window, catalogue(tmp_path, server, b"other"))
    select_catalogue(manager, "loose")
    row = manager.downloads.download_selected()
    qtbot.waitUntil(lambda: row.done, timeout=30000)
    assert "Installed as 'Loose facades'" in row.status.text()
    assert "unverified" in row.status.text() and "non-commercial" in row.status.text()
    assert "unverified" in manager.message.text()
    select(manager, "Loose facades")
    assert field(manager, "verified").startswith("unverified download")


def test_download_of_wrong_bytes_is_rejected_and_the_library_unchanged(window, qtbot, tmp_path,
                                                                        server):
    data = tiny_model(tmp_path / "tiny.safetensors").read_bytes()
    server.files["/tiny.safetensors"] = data
    server.plan["/tiny.safetensors"] = ["wrong"]
    library = ModelLibrary(window.settings.models_folder)
    first = library.import_(tiny_model(tmp_path / "other.safetensors", seed=5), name="Other")
    before = sorted(p.name for p in library.root.iterdir())
    manager = open_manager(window, catalogue(tmp_path, server, data))
    select_catalogue(manager, "tiny")
    row = manager.downloads.download_selected()
    qtbot.waitUntil(lambda: row.done, timeout=30000)
    assert row.status.text().startswith("Failed: ") and "sha256 mismatch" in row.status.text()
    assert "\n" not in row.status.text() and "b00020" in row.status.styleSheet()
    assert ModelLibrary(library.root).entries() == [first]
    assert sorted(p.name for p in library.root.iterdir() if p.name != ".downloads") == before
    assert manager.downloads.download_button.isEnabled()  # may be tried again


def test_cancel_mid_download_leaves_no_entry(window, qtbot, tmp_path, server):
    data = tiny_model(tmp_path / "tiny.safetensors").read_bytes()
    server.files["/tiny.safetensors"] = data
    server.plan["/tiny.safetensors"] = ["stall:3000"]
    manager = open_manager(window, catalogue(tmp_path, server, data))
    select_catalogue(manager, "tiny")
    ticks = Ticks()
    row = manager.downloads.download_selected()
    other = manager.downloads.download(manager.downloads.entries[1])
    assert other.status.text() == "Queued"  # one download at a time
    row.quiet.setInterval(200)  # no data for a while (3 s in the app): the row says so
    qtbot.waitUntil(lambda: "MB/s" in row.status.text(), timeout=10000)
    qtbot.waitUntil(lambda: "waiting…" in row.status.text(), timeout=10000)
    assert "MB/s" not in row.status.text()  # a stale rate is not shown
    row.cancel_button.click()
    assert row.status.text() == "Cancelling…"
    other.cancel_button.click()
    assert other.status.text() == "Cancelled before it started"
    qtbot.waitUntil(lambda: row.done, timeout=10000)
    gap = ticks.stop()
    assert row.status.text().startswith("Cancelled; the part downloaded so far is kept")
    assert ModelLibrary(window.settings.models_folder).entries() == []
    root = Path(window.settings.models_folder)
    assert not list(root.glob("*.safetensors"))
    assert [p.name.split("-", 1)[1] for p in (root / ".downloads").glob("*.part")] == [
        "tiny.safetensors.part"]  # kept for resuming
    assert gap < 0.5, f"the GUI thread stalled for {gap:.3f} s"
    wait_idle(qtbot, window)
    assert not manager.downloads.busy


# ----- the library folder setting -------------------------------------------------------------
def test_changing_the_library_folder_moves_the_models(window, qtbot, tmp_path, monkeypatch):
    from gauapp import model_manager
    from gauapp.settings import SettingsDialog, load_settings

    dialog = SettingsDialog(window.settings, window, cuda_available=False)
    assert dialog.models_folder.text() == window.settings.models_folder
    old = Path(window.settings.models_folder)
    entry = ModelLibrary(old).import_(tiny_model(tmp_path / "src" / "m.safetensors",
                                                 "pix2pixhd_global"), name="Mine")
    manager = open_manager(window)
    manager.use_model(entry.path)
    assert window.model.path == entry.path
    new = tmp_path / "elsewhere" / "library"
    monkeypatch.setattr(model_manager, "ask_move", lambda *a: None)
    assert model_manager.library_folder_changed(window, str(new)) == str(old)  # kept
    monkeypatch.setattr(model_manager, "ask_move", lambda *a: "move")
    assert model_manager.library_folder_changed(window, str(new)) == str(old)  # until moved
    qtbot.waitUntil(lambda: window.settings.models_folder == str(new), timeout=20000)
    assert load_settings(window.settings_path).models_folder == str(new)
    [moved] = ModelLibrary(new).entries()
    assert (moved.name, moved.sha256) == ("Mine", entry.sha256) and not entry.path.exists()
    assert manager.library.root == new and texts(manager)[1].startswith("Mine\n")
    assert window.model.path == moved.path
    # "use the new folder as it is": nothing moves, the caller saves the returned folder
    third = tmp_path / "third"
    monkeypatch.setattr(model_manager, "ask_move", lambda *a: "switch")
    assert model_manager.library_folder_changed(window, str(third)) == str(third)
    assert manager.library.root == third and len(texts(manager)) == 1
    assert ModelLibrary(new).entries() == [moved]


def test_the_settings_dialog_moves_the_library_through_the_window(window, qtbot, tmp_path,
                                                                  monkeypatch):
    import dataclasses

    from gauapp import model_manager
    from gauapp.settings import SettingsDialog

    old = window.settings.models_folder
    entry = ModelLibrary(old).import_(tiny_model(tmp_path / "src" / "m.safetensors"))
    new = tmp_path / "moved"
    monkeypatch.setattr(SettingsDialog, "edit", lambda settings, parent: dataclasses.replace(
        settings, models_folder=str(new), autosave_minutes=3))
    monkeypatch.setattr(model_manager, "ask_move", lambda *a: "move")
    window.open_settings()
    assert window.settings.autosave_minutes == 3  # the other settings apply at once
    qtbot.waitUntil(lambda: window.settings.models_folder == str(new), timeout=20000)
    assert [e.sha256 for e in ModelLibrary(new).entries()] == [entry.sha256]
    assert not entry.path.exists()
