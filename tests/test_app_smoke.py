"""The application's entry points."""
import os
import subprocess
import sys
from pathlib import Path


def test_console_scripts_are_installed():
    """`pip install -e .` put both entry points beside the interpreter, and they run."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    app = subprocess.run([str(bin_dir / "gauapp"), "--version"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert app.returncode == 0 and app.stdout.startswith("gauapp "), app.stderr
    train = subprocess.run([str(bin_dir / "gauapp-train"), "convert", "--help"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert train.returncode == 0 and "weights_only=True" in train.stdout, train.stderr
