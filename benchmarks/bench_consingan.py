"""Seconds per ConSinGAN training iteration, stage by stage: our trainer beside the official-like
baseline (``training.consingan.baseline.official_step``, the official per-iteration work), run in
the same process on the same networks, iterations interleaved so that machine load hits both.

    python benchmarks/bench_consingan.py --iters 2            # generation and harmonization
    python benchmarks/bench_consingan.py --modes generation --stages 4 5 --device cuda

Each stage is reached by building the pyramid and growing the generator directly (stage d's
networks start from stage d-1's untrained weights): the work per iteration depends on the sizes,
not on the weights. Settings are the "standard" preset of each mode (official defaults; for
harmonization the recommended 3 stages, min_size 120, lrelu 0.3, batch norm). The official
figures (DESIGN §5, 2 CPU threads) are printed for comparison.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.consingan import ConSinGANTrainer, TrainSettings  # noqa: E402
from training.consingan.baseline import official_step  # noqa: E402

OFFICIAL = {"generation": [0.165, 0.258, 0.302, 0.640, 2.35, 4.94],
            "harmonization": [2.0, 3.4, 5.4]}
DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "chelsea.png"


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bench_mode(mode: str, args) -> list[tuple]:
    settings = TrainSettings.preset("standard", mode=mode, niter=10_000)
    trainer = ConSinGANTrainer(args.image, settings, device=args.device, seed=0)
    stages = args.stages if args.stages else range(settings.train_stages)
    rows = []
    for d in range(max(stages) + 1):
        trainer.start_stage()
        if d not in stages:
            continue
        run, dev = trainer.stage_run, trainer.device
        ours, base = [], []

        def step_ours(i=[0]):
            run.iteration(i[0])
            i[0] += 1

        def step_base():
            run.set_lr(0)
            noise = run.inputs.draw()
            weights = [run.inputs.interpolation_weight() for _ in range(settings.Dsteps)]
            official_step(run, noise, weights)

        for k in range(args.warmup + args.iters):
            t_ours, t_base = timed(step_ours, dev), timed(step_base, dev)
            if k >= args.warmup:
                ours.append(t_ours)
                base.append(t_base)
        h, w = trainer.reals[d].shape[2:]
        official = OFFICIAL.get(mode, [])
        rows.append((mode, d, f"{h}x{w}", statistics.median(ours), statistics.median(base),
                     official[d] if d < len(official) else None))
        print(f"{mode:13s} stage {d} {h:>3d}x{w:<3d}  ours {rows[-1][3]:7.3f} s/it  baseline "
              f"{rows[-1][4]:7.3f} s/it  ratio {rows[-1][4] / rows[-1][3]:5.2f}x", flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", default=str(DEFAULT_IMAGE))
    p.add_argument("--modes", nargs="+", default=["generation", "harmonization"])
    p.add_argument("--iters", type=int, default=2, help="timed iterations per stage and side")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    p.add_argument("--stages", type=int, nargs="*", help="only these stages (default: all)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (DESIGN's figures: 2)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
          f"image {args.image}; median of {args.iters} interleaved iterations after "
          f"{args.warmup} warm-up")
    rows = [r for mode in args.modes for r in bench_mode(mode, args)]
    print("\n| mode | stage | size | ours s/it | baseline s/it | ratio | official s/it (DESIGN) |")
    print("|---|---|---|---|---|---|---|")
    for mode, d, size, ours, base, official in rows:
        off = f"{official:.3g}" if official is not None else "-"
        print(f"| {mode} | {d} | {size} | {ours:.3f} | {base:.3f} | {base / ours:.2f}x | {off} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
