"""The generator side of a stage: official weight init, which parts train at which learning rate,
and the forward split into frozen stages (no graph) and trained ones.

Work removed here, with the same numbers as the official code:

- frozen stages (and the head once it is frozen) run under ``no_grad``: the official code keeps
  ``requires_grad`` on the head after it leaves the optimizer, so every backward went down through
  the frozen stages to compute head gradients that were never used;
- the reconstruction's input to the first trained stage is fixed for a whole stage (fixed noise,
  frozen weights, batch statistics of a fixed input), so it is computed once per stage;
- the random sample is computed once per iteration instead of once per D step (G does not change
  during the D steps, and train-mode batch norm normalises with the batch's own statistics);
- the bicubic upsampling between stages is done with matrix products (``resize.py``).

Batch norm's running statistics are kept as the official run leaves them: a sample that stands for
k official forwards updates them with momentum ``1 - (1 - m)^k`` (and counts k batches), and the
cached frozen stages apply the reconstruction's update by hand every iteration.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

import torch
from torch import nn

from models.consingan.network import ConvBlock, GrowingGenerator

from .resize import BicubicResize


def official_init(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """``weights_init`` of the official code: conv weights N(0, 0.02), batch-norm weights
    N(1, 0.02) and biases 0; conv biases keep torch's default U(-1/sqrt(fan_in), +), all drawn
    from ``gen`` (CPU) in module order."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                if m.bias is not None:
                    bound = 1.0 / (m.weight[0].numel() ** 0.5)
                    m.bias.uniform_(-bound, bound, generator=gen)
                m.weight.normal_(0.0, 0.02, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.02, generator=gen)
                m.bias.zero_()
    return module


def batch_norms(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


@contextmanager
def repeated_forward(module: nn.Module, times: int):
    """Running statistics as if the forward inside ran ``times`` times on the same batch."""
    norms = batch_norms(module) if times != 1 else []
    saved = [n.momentum for n in norms]
    for n in norms:
        n.momentum = 1.0 - (1.0 - n.momentum) ** times
    try:
        yield
    finally:
        for n, m in zip(norms, saved):
            n.momentum = m
            n.num_batches_tracked.add_(times - 1)


def trained_parts(G: GrowingGenerator, depth: int, train_depth: int):
    """``(frozen body stages k, head trained?)``: the newest ``train_depth`` body stages train;
    the head trains while ``depth < train_depth``."""
    frozen = max(0, depth + 1 - train_depth)
    return frozen, depth < train_depth


def param_groups(G: GrowingGenerator, depth: int, lr_g: float, lr_scale: float,
                 train_depth: int) -> list[dict]:
    """The official groups: trained body stages oldest first at ``lr * lr_scale^(age)``, the
    head at ``lr * lr_scale^depth`` while it trains, the tail at ``lr``. Sets requires_grad."""
    frozen, head = trained_parts(G, depth, train_depth)
    G.requires_grad_(False)
    groups = []
    for j in range(frozen, depth + 1):
        G.body[j].requires_grad_(True)
        groups.append({"params": list(G.body[j].parameters()),
                       "lr": lr_g * lr_scale ** (depth - j)})
    if head:
        G.head.requires_grad_(True)
        groups.append({"params": list(G.head.parameters()), "lr": lr_g * lr_scale ** depth})
    G.tail.requires_grad_(True)
    groups.append({"params": list(G.tail.parameters()), "lr": lr_g})
    return groups


class GeneratorPass:
    """Forward passes of a stage's generator: frozen stages without a graph, the reconstruction's
    frozen part cached (``refresh`` recomputes it, e.g. after loading a checkpoint)."""

    def __init__(self, G: GrowingGenerator, depth: int, train_depth: int,
                 shapes: Sequence[Sequence[int]], noise_amp: torch.Tensor,
                 fixed_noise: Sequence[torch.Tensor]):
        self.G, self.depth = G, depth
        self.frozen, _ = trained_parts(G, depth, train_depth)
        self.shapes = [tuple(int(v) for v in s[-2:]) for s in shapes]
        self.noise_amp = noise_amp
        self.fixed_noise = list(fixed_noise)
        self.rec_prefix: torch.Tensor | None = None
        self.rec_stats: list[tuple[nn.BatchNorm2d, torch.Tensor, torch.Tensor]] = []
        self.resize = BicubicResize()
        self.refresh()

    def _stages(self, noise, start: int, stop: int, x=None, batch_stats: bool = False):
        for idx in range(start, stop):
            x = self.G.forward_stage(idx, x, noise[idx], self.shapes[idx],
                                     self.noise_amp[idx] if idx else 1.0, batch_stats,
                                     self.resize)
        return x

    def refresh(self) -> None:
        """Compute the reconstruction's frozen part with batch statistics, without touching the
        running ones, and record each frozen batch norm's batch mean and unbiased variance."""
        self.rec_prefix, self.rec_stats = None, []
        if not self.frozen:
            return
        blocks = [self.G.head] + [m for j in range(self.frozen) for m in self.G.body[j].children()]
        hooks = []

        def record(norm):
            def hook(_module, _inputs, out):
                flat = out.detach()
                self.rec_stats.append((norm, flat.mean(dim=(0, 2, 3)),
                                       flat.var(dim=(0, 2, 3), unbiased=True)))
            return hook

        for block in blocks:
            if isinstance(block, ConvBlock) and block.norm is not None:
                hooks.append(block.conv.register_forward_hook(record(block.norm)))
        was_training = self.G.training
        self.G.eval()
        try:
            with torch.no_grad():
                self.rec_prefix = self._stages(self.fixed_noise, 0, self.frozen, batch_stats=True)
        finally:
            self.G.train(was_training)
            for h in hooks:
                h.remove()

    def sample(self, noise: Sequence[torch.Tensor], times: int = 1) -> torch.Tensor:
        """G(noise) with a graph through the trained stages only; running statistics as if it
        ran ``times`` times."""
        with repeated_forward(self.G, times):
            x = None
            if self.frozen:
                with torch.no_grad():
                    x = self._stages(noise, 0, self.frozen)
            x = self._stages(noise, self.frozen, self.depth + 1, x)
            return self.G.forward_tail(x)

    def reconstruct(self) -> torch.Tensor:
        """G(fixed noise) from the cached frozen part; the frozen batch norms get the running-
        statistics update the official full forward would have made."""
        with torch.no_grad():
            for norm, mean, var in self.rec_stats:
                m = norm.momentum
                norm.running_mean.mul_(1 - m).add_(mean, alpha=m)
                norm.running_var.mul_(1 - m).add_(var, alpha=m)
                norm.num_batches_tracked.add_(1)
        x = self._stages(self.fixed_noise, self.frozen, self.depth + 1, self.rec_prefix)
        return self.G.forward_tail(x)
