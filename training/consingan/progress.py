"""What the trainer reports: ``TrainProgress``, the loss window and the time estimate.

Losses are summed as tensors on the training device and read back (one host sync) every
``log_every`` iterations; seconds per iteration are measured over the same windows, so on a GPU
the queue of launched work is included.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch


@dataclass
class TrainProgress:
    """Sent to the ``progress`` callback after every iteration.

    ``stage`` is 0-based; ``iteration`` is how many iterations of this stage are done
    (1..``iterations_per_stage``). ``losses`` are the means over the last read-back window
    (official meanings: ``D_real`` = mean D(real), ``D_fake`` = mean D(fake),
    ``gradient_penalty``, ``G_adv`` = -mean D(fake) at the G step, ``reconstruction`` =
    alpha * MSE). ``seconds_per_iteration`` and ``eta_seconds`` are None until measured; the ETA
    weighs the remaining stages by their estimated relative cost. ``preview`` is an
    ``H x W x 3`` uint8 random sample of the current stage every ``preview_every`` iterations,
    else None. A fine-tuning run is one stage (``stage`` 0 of 1). ``warning`` is non-empty while
    the current samples look collapsed (one flat colour)."""

    stage: int
    num_stages: int
    iteration: int
    iterations_per_stage: int
    losses: dict[str, float] = field(default_factory=dict)
    seconds_per_iteration: float | None = None
    eta_seconds: float | None = None
    preview: np.ndarray | None = None
    completed_iterations: int = 0
    total_iterations: int = 0
    warning: str = ""          # e.g. the samples have gone flat (see ``is_flat``)


class LossWindow:
    """Sums of 0-dim loss tensors since the last read-back."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.last: dict[str, float] = {}

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in losses.items():
            v = v.detach()
            self.sums[k] = v.clone() if k not in self.sums else self.sums[k] + v
        self.count += 1

    def read(self) -> dict[str, float]:
        """The window's means as floats (the host sync), and a fresh window."""
        if self.count:
            stacked = torch.stack([self.sums[k].float() for k in self.sums]).cpu().tolist()
            self.last = {k: v / self.count for k, v in zip(self.sums, stacked)}
        self.sums, self.count = {}, 0
        return dict(self.last)


FLAT_RATIO = 0.05  # a sample with less than 5 % of the real image's contrast is "flat"
SATURATED = 0.98   # |tanh| above this passes almost no gradient back


def is_flat(fake: torch.Tensor, real: torch.Tensor) -> bool:
    """Whether ``fake`` (N x 3 x H x W, in [-1, 1]) is a flat, saturated colour where ``real``
    is not: the collapse the official code shows on some images (tohinz/ConSinGAN#23: black
    samples; seen here on dark photos at stage 1 in 3 of 4 seeds). The generator's tanh is then
    pinned at +-1, so no gradient brings it back. An untrained generator is flat too, but near 0,
    where it learns; and a real image that is itself flat is never called collapsed.
    One host sync: call it where the trainer reads back anyway."""
    fake, real = fake.detach().float(), real.detach().float()
    stats = torch.stack([fake.std(dim=(2, 3)).mean(), real.std(dim=(2, 3)).mean(),
                         (fake.abs() > SATURATED).float().mean()]).cpu().tolist()
    spread_fake, spread_real, saturated = stats
    return spread_real > 0.02 and spread_fake < FLAT_RATIO * spread_real and saturated > 0.5


def stage_costs(shapes: Sequence[Sequence[int]], d_steps: int) -> list[float]:
    """Relative cost of an iteration at each stage: the critic's work on the stage's level
    (``d_steps`` updates of ~3 forward-sized passes each, plus the G step) and the generator's
    over every level so far."""
    areas = [float(h) * float(w) for h, w in shapes]
    return [3.0 * (d_steps + 1) * areas[d] + 3.0 * sum(areas[:d + 1]) for d in range(len(areas))]


class Timer:
    """Seconds per iteration over the last read-back window of the current stage. The first
    iteration of a stage (new shapes: kernels get set up) is left out; until a stage has its own
    measure, the previous stage's, scaled by the stages' relative cost, stands in."""

    def __init__(self):
        self.start = time.perf_counter()
        self.done = 0
        self.seconds_per_iteration: float | None = None

    def restart(self, scale: float | None = None) -> None:
        """A new window; ``scale`` carries the last measure over to a new stage (None: drop)."""
        self.start, self.done = time.perf_counter(), 0
        if scale is None or self.seconds_per_iteration is None:
            self.seconds_per_iteration = None
        else:
            self.seconds_per_iteration *= scale

    def tick(self) -> None:
        self.done += 1

    def measure(self) -> None:
        """Call right after a host sync (the loss read-back)."""
        now = time.perf_counter()
        if self.done:
            self.seconds_per_iteration = (now - self.start) / self.done
        self.start, self.done = now, 0

    def eta(self, remaining_here: int, later: float) -> float | None:
        """``later``: the later stages' iterations weighted by their cost relative to this one."""
        if self.seconds_per_iteration is None:
            return None
        return self.seconds_per_iteration * (remaining_here + later)
