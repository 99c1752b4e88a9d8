"""Shared fixtures: where the reference vectors are, and their regenerated checkpoints."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_DRIVER", "PySide6")

REPO = Path(__file__).resolve().parents[1]


def _reference_root() -> Path | None:
    env = os.environ.get("GAUAPP_REFERENCE")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "reference", REPO / "shared" / "reference"]
    for c in candidates:
        if (c / "README.md").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference``; in CI its absence is a failure, locally a skip."""
    root = _reference_root()
    if root is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/reference is missing: the parity tests cannot run")
        pytest.skip("reference vectors not found (set GAUAPP_REFERENCE)")
    return root


@pytest.fixture(scope="session")
def reference_weights(reference_dir):
    """``reference_weights(case)`` -> folder holding that case's checkpoints.

    The large synthetic checkpoints are not shipped; ``build_weights.py`` regenerates them bit for
    bit into a cache (``GAUAPP_TEST_CACHE`` or ``<repo>/.cache/reference_weights``) once.
    """
    cache = Path(os.environ.get("GAUAPP_TEST_CACHE", REPO / ".cache" / "reference_weights"))

    def get(case: str) -> Path:
        src = reference_dir / case
        if any(src.glob("latest_net_*.pth")):
            return src
        dst = cache / case
        if not any(dst.glob("latest_net_*.pth")):
            dst.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, str(reference_dir / "build_weights.py"), case,
                            "--out", str(cache)], check=True, capture_output=True)
        return dst

    return get
