"""Benchmark: SPADE's straightforward path against the fast tabulated path.

A coco-size generator (ngf 64, 184 input channels, random weights) renders a painted landscape
label map (a few large regions) at 256x256. Prints, for each device and precision, the median
time of both paths, their GFLOP/s (the straightforward path's FLOP count divided by the time, so
the two are comparable) and the speed-up, measured side by side in one run.

    python benchmarks/bench_spade.py [--size 256] [--repeats 7] [--threads N]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
from torch import nn

from models.labelmaps import instance_edges, semantic_input
from models.spade.fast import FastSPADE
from models.spade.generator import SPADEGenerator, SPADEOptions

# COCO-Stuff ids: sky-other, clouds, mountain, sea, grass, tree, sand
SKY, CLOUDS, MOUNTAIN, SEA, GRASS, TREE, SAND = 156, 105, 134, 154, 123, 168, 153


def painted_landscape(size: int) -> torch.Tensor:
    """Sky with a cloud, a mountain ridge, sea, a beach, grass and a tree, as a person paints."""
    h = w = size
    yy, xx = np.mgrid[:h, :w] / size
    lab = np.full((h, w), SKY, np.int64)
    lab[((yy - 0.15) / 0.06) ** 2 + ((xx - 0.3) / 0.15) ** 2 < 1] = CLOUDS
    ridge = 0.45 - 0.15 * np.exp(-((xx - 0.6) / 0.18) ** 2)
    lab[yy > ridge] = MOUNTAIN
    lab[yy > 0.55] = SEA
    lab[yy > 0.7 + 0.03 * np.sin(xx * 6)] = SAND
    lab[yy > 0.78] = GRASS
    lab[((yy - 0.7) / 0.12) ** 2 + ((xx - 0.15) / 0.07) ** 2 < 1] = TREE
    return torch.from_numpy(lab)[None]


def count_flops(model: nn.Module, *args) -> float:
    flops = 0.0

    def conv_hook(m, inp, out):
        nonlocal flops
        k = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
        flops += 2.0 * out.numel() * k

    def linear_hook(m, inp, out):
        nonlocal flops
        flops += 2.0 * out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(*args)
    for h in hooks:
        h.remove()
    return flops


def median_times(fns, repeats: int, device: torch.device) -> list[float]:
    """Median wall time of each function, calling them in turn (plain, fast, plain, ...) so that
    a busy or throttled machine slows both alike and the ratio stays fair."""
    times = [[] for _ in fns]
    for _ in range(repeats + 1):  # the first round warms up (tables, allocator, kernels)
        for fn, bucket in zip(fns, times):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            bucket.append(time.perf_counter() - t0)
    return [statistics.median(t[1:]) for t in times]


def make_generator(seed: int = 0) -> SPADEGenerator:
    torch.manual_seed(seed)
    G = SPADEGenerator(SPADEOptions(label_nc=182, contain_dontcare_label=True, no_instance=False,
                                    ngf=64))
    for m in G.modules():  # keep activations in a sane range, as trained weights are
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0, (2.0 / (m.weight[0].numel())) ** 0.5 * 0.5)
    return G.eval().requires_grad_(False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    G = make_generator()
    labels = painted_landscape(args.size)
    edges = instance_edges(labels)
    seg = semantic_input(labels, G.options.label_channels, True)
    flops = count_flops(G, seg)
    params = sum(p.numel() for p in G.parameters())
    print(f"SPADE coco-size generator: {params / 1e6:.1f} M parameters, "
          f"{flops / 1e9:.0f} GFLOP for {args.size}x{args.size} (straightforward path)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':<8}{'dtype':<10}{'plain s':>10}{'fast s':>10}{'plain GF/s':>12}"
          f"{'fast GF/s*':>12}{'speed-up':>10}{'max|diff|':>11}")

    configs = [(torch.device("cpu"), torch.float32)]
    if torch.cuda.is_available():
        configs += [(torch.device("cuda"), torch.float32), (torch.device("cuda"), torch.float16)]
    for device, dtype in configs:
        Gd = G.to(device=device, dtype=dtype)
        fast = FastSPADE(copy.deepcopy(Gd))  # it switches its copy's weights to channels-last
        s, lab, ed = seg.to(device, dtype), labels.to(device), edges.to(device)
        with torch.no_grad():
            plain_out = Gd(s)
            fast_out = fast(lab, ed)
            t_plain, t_fast = median_times([lambda: Gd(s), lambda: fast(lab, ed)],
                                           args.repeats, device)
        diff = float((plain_out.float() - fast_out.float()).abs().max())
        print(f"{device.type:<8}{str(dtype).replace('torch.', ''):<10}{t_plain:>10.3f}"
              f"{t_fast:>10.3f}{flops / t_plain / 1e9:>12.1f}{flops / t_fast / 1e9:>12.1f}"
              f"{t_plain / t_fast:>9.2f}x{diff:>11.2e}")
    print("* fast GF/s: the straightforward path's FLOPs divided by the fast path's time")


if __name__ == "__main__":
    main()
