"""Data-parallel training under ``torchrun`` (or any launcher that sets RANK / WORLD_SIZE), and the
seeded sampler that makes the data order a function of (seed, epoch) so resume is exact.

Single-process runs use the same sampler with one replica, so a run's data order does not depend
on how it is launched beyond the number of processes.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler, Sampler


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # we initialised the process group, so we destroy it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> DistContext:
    """Join the process group if the launcher asked for one (``WORLD_SIZE`` > 1) or use the one a
    caller already initialised; NCCL on CUDA, gloo on the CPU."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(),
                           int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistContext()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return DistContext(dist.get_rank(), dist.get_world_size(),
                       int(os.environ.get("LOCAL_RANK", "0")), owns_group=True)


def local_device(device: torch.device, ctx: DistContext) -> torch.device:
    """Under torchrun each process takes the GPU of its local rank."""
    if ctx.enabled and device.type == "cuda" and device.index is None:
        torch.cuda.set_device(ctx.local_rank)
        return torch.device("cuda", ctx.local_rank)
    return device


def wrapper(ctx: DistContext, device: torch.device):
    """A function turning a module into its DDP wrapper, or None when not distributed."""
    if not ctx.enabled:
        return None
    ids = [device.index] if device.type == "cuda" else None

    def wrap(module: nn.Module) -> nn.Module:
        # Buffers (running statistics, spectral-norm vectors) follow rank 0 at each forward.
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)
    return wrap


def broadcast_buffers(modules: dict[str, nn.Module], ctx: DistContext) -> None:
    """Make running statistics rank 0's everywhere (DDP only syncs them at the next forward), so
    every rank ends with the same state."""
    if not ctx.enabled:
        return
    for net in modules.values():
        for buf in net.buffers():
            dist.broadcast(buf.data, src=0)


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on one (e.g. Ctrl+C seen by one process only)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def cleanup(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


class ResumableSampler(Sampler[int]):
    """DistributedSampler's order for (seed, epoch), starting ``skip`` samples into the epoch.

    The permutation depends only on (seed, epoch, dataset length, number of processes), so a run
    resumed mid-epoch sees exactly the samples the interrupted run would have seen next.
    """

    def __init__(self, dataset: Dataset, ctx: DistContext, seed: int, shuffle: bool = True):
        self.inner = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank,
                                        shuffle=shuffle, seed=seed, drop_last=False)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.inner.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.inner), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)

    @property
    def per_epoch(self) -> int:
        return len(self.inner)
