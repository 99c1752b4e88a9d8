"""What a run shows and records: a progress bar (it/s, ETA) on a terminal or plain log lines
otherwise, the JSONL log of losses, TensorBoard when it is installed, and sample grids.

No tqdm: a dozen lines of our own keep the dependency list as it is.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from PIL import Image


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """One redrawn line on a TTY; on a pipe or file a line every ``log_every`` steps."""

    def __init__(self, total: int, initial: int = 0, stream: TextIO | None = None,
                 log_every: int = 10, enabled: bool = True, width: int = 24):
        self.total, self.step, self.start_step = total, initial, initial
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every, self.enabled, self.width = max(1, log_every), enabled, width
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        done = self.step - self.start_step
        return done / elapsed if elapsed > 0 and done > 0 else 0.0

    def line(self, losses: dict[str, float] | None = None) -> str:
        rate = self.rate()
        eta = (self.total - self.step) / rate if rate > 0 else float("inf")
        frac = min(1.0, self.step / self.total) if self.total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        text = (f"[{bar}] {self.step}/{self.total} {rate:.2f} it/s "
                f"elapsed {_clock(time.perf_counter() - self.start)} ETA {_clock(eta)}")
        if losses:
            text += " " + " ".join(f"{k} {v:.3f}" for k, v in losses.items())
        return text

    def update(self, step: int, losses: dict[str, float] | None = None) -> None:
        self.step = step
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw >= 0.1 or step >= self.total:
                self.stream.write("\r" + self.line(losses) + "\x1b[K")
                self.stream.flush()
                self.last_draw = now
        elif step % self.log_every == 0 or step >= self.total:
            self.stream.write(self.line(losses) + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line that does not garble the bar."""
        if not self.enabled:
            return
        self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


class RunLog:
    """Averages losses over ``log_every`` steps and appends them to ``log.jsonl`` (and
    TensorBoard when ``torch.utils.tensorboard`` imports). Only rank 0 makes one."""

    def __init__(self, out_dir: Path, log_every: int = 10, tensorboard: bool = True):
        self.path = out_dir / "log.jsonl"
        self.log_every = max(1, log_every)
        self.sums: dict[str, float] = {}
        self.count = 0
        self.writer = _summary_writer(out_dir / "tensorboard") if tensorboard else None

    def add(self, step: int, epoch: int, losses: dict[str, Any], lrs: dict[str, float]
            ) -> dict[str, float] | None:
        """Returns the window's means when a record was written. Losses may be tensors: they are
        summed on their device and read back only here (no GPU sync per step)."""
        for k, v in losses.items():
            v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1
        if step % self.log_every:
            return None
        means = {k: float(v) / self.count for k, v in self.sums.items()}
        record: dict[str, Any] = {"step": step, "epoch": epoch, "time": time.time(),
                                  "losses": means, "lr": lrs}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for k, v in means.items():
                self.writer.add_scalar(f"loss/{k}", v, step)
            for k, v in lrs.items():
                self.writer.add_scalar(f"lr/{k}", v, step)
        self.sums, self.count = {}, 0
        return means

    def add_image(self, tag: str, image: np.ndarray, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _summary_writer(folder: Path):
    """TensorBoard's writer, or None when tensorboard is not installed (it is optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] with C in 1..3 -> (N, H, W, 3) uint8 (grey repeated to RGB)."""
    x = images.detach().float().cpu().clamp(-1, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    elif x.shape[1] == 2:
        x = torch.cat([x, torch.zeros_like(x[:, :1])], 1)
    x = ((x[:, :3] + 1) / 2 * 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def sample_grid(columns: list[torch.Tensor], pad: int = 2) -> np.ndarray:
    """One row per sample, one column per tensor (input | output | target), white padding."""
    arrays = [to_uint8(c) for c in columns]
    n = arrays[0].shape[0]
    h = max(a.shape[1] for a in arrays)
    w = sum(a.shape[2] for a in arrays) + pad * (len(arrays) - 1)
    grid = np.full((n * h + pad * (n - 1), w, 3), 255, np.uint8)
    for i in range(n):
        x = 0
        for a in arrays:
            grid[i * (h + pad): i * (h + pad) + a.shape[1], x: x + a.shape[2]] = a[i]
            x += a.shape[2] + pad
    return grid


def write_png(image: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
