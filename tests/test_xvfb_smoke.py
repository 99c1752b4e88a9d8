"""Smoke test: the real application on an X display (Xvfb), painted with the mouse."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("xvfb-run") is None and not os.environ.get("CI"),
                    reason="xvfb-run is not installed (CI installs it)")
def test_real_app_paints_generates_saves_and_reopens(tmp_path, reference_weights):
    from models.importers import import_model
    from models.modelfile import save_model_file

    models = tmp_path / "models"
    models.mkdir()
    save_model_file(import_model(reference_weights("spade/coco_ngf16") / "latest_net_G.pth"),
                    models / "coco-reference.safetensors")
    home = tmp_path / "home"  # keep the app's config, data and QSettings out of the real home
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_STATE_HOME=str(home / ".state"),
               XDG_CACHE_HOME=str(home / ".cache"), QT_QPA_PLATFORM="xcb",
               PYTHONPATH=str(REPO))
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", sys.executable,
                          str(REPO / "scripts" / "smoke_app.py"), str(models), str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "platform: xcb" in run.stdout
    assert "ok:" in run.stdout
    assert (tmp_path / "smoke.png").stat().st_size > 10_000
