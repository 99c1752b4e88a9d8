"""scripts/consingan_evidence.py on a tiny random generation model: the sheet and the SWD table."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from test_harmonize_tool import tiny_model_file

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "consingan_evidence.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_evidence_writes_a_sheet_and_the_swd_of_samples_reconstruction_and_untrained(tmp_path):
    model = tiny_model_file(tmp_path, "generation", shapes=((16, 20), (20, 26)))
    out = tmp_path / "evidence"
    result = run(model, "--samples", 5, "--out", out)
    assert result.returncode == 0, result.stderr
    sheet = Image.open(out / "sheet.png")
    assert sheet.size == (6 * 30 + 4, 20 + 8)  # the training image and 5 samples in one row
    text = (out / "evidence.md").read_text()
    for row in ("samples of the model | 5 |", "reconstruction (fixed noise), repeated | 5 |",
                "untrained network, same shape | 5 |"):
        assert row in text


def test_evidence_refuses_a_harmonization_model(tmp_path):
    model = tiny_model_file(tmp_path, "harmonization")
    result = run(model, "--out", tmp_path / "evidence")
    assert result.returncode != 0 and "generation" in result.stderr


def test_log_table_gives_per_stage_medians_next_to_the_official_figures(tmp_path):
    log = tmp_path / "run.log"
    lines = ["stage 1/6 iteration 1/2000 ETA ?"]
    lines += [f"stage 1/6 iteration {i}/2000 {s} s/it ETA 01:00:00 D_real 0.5"
              for i, s in ((20, "0.100"), (40, "0.110"), (60, "0.090"))]
    lines += ["stage 2/6 iteration 20/2000 0.200 s/it ETA 00:50:00", "wrote model.safetensors"]
    log.write_text("\n".join(lines))
    script = REPO / "benchmarks" / "consingan_log_table.py"
    result = subprocess.run([sys.executable, str(script), str(log)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[2] == "| 1 | 3 | 0.100 | 0.090 | 0.165 | 1.65x |"
    assert rows[3] == "| 2 | 1 | 0.200 | 0.200 | 0.258 | 1.29x |"
    log.write_text("no timings here")
    result = subprocess.run([sys.executable, str(script), str(log)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "has no 'stage D/N" in result.stderr
