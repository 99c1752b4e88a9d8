"""Benchmark: the time of one training iteration (G step + D step) of the real trainers.

- SPADE as the official COCO-Stuff model: ngf 64, 182 classes + dontcare + instance edges (184
  input channels), 256x256, 2-scale discriminator, hinge + feature matching + VGG19 (random VGG
  weights from a temporary file: the same work as real ones), batch 1 and the largest batch that
  fits in memory (measured on GPU by doubling until out-of-memory; estimated from memory growth
  on the CPU, where trying it would take minutes per step and could exhaust the machine);
- pix2pix unet_256 + 70x70 PatchGAN, batch 1;
- the landscape recipe (SPADE ngf 16, 183 label channels, 128x128, batch 4) on painted
  landscapes, side by side with the same batch holding one pixel of every class: training
  convolves only the label channels a batch uses, so the second case costs what convolving all
  of them (the official way) costs.

On the CPU, then, if CUDA is available, on the GPU in fp32 and with mixed precision (AMP).
Prints the median over ``--repeats`` iterations after one warm-up.

    python benchmarks/bench_training.py [--repeats 3] [--threads N] [--no-cpu-spade] [--no-vgg]
"""
from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_spade import painted_landscape  # noqa: E402
from training.losses import VGG19Features  # noqa: E402
from training.pix2pix import Pix2PixTrainer  # noqa: E402
from training.spade import SPADETrainer  # noqa: E402
from training.trainer import Runtime  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def spade_trainer(vgg: Path | None) -> SPADETrainer:
    opts = dict(label_nc=182, contain_dontcare_label=True, no_instance=False, ngf=64,
                crop_size=256, labelset="coco-stuff")
    if vgg is None:
        opts["no_vgg_loss"] = True
    else:
        opts["vgg_weights"] = str(vgg)
    return SPADETrainer(opts)


def spade_batch(n: int, device: torch.device) -> dict:
    labels = painted_landscape(256).repeat(n, 1, 1)
    return {"label": labels.to(device), "image": (torch.rand(n, 3, 256, 256) * 2 - 1).to(device)}


def landscape_recipe_batches(n: int = 4, size: int = 128) -> tuple[dict, dict]:
    """(painted landscapes, the same with one pixel of each of the 183 classes in a corner)."""
    labels = painted_landscape(size).repeat(n, 1, 1)
    image = torch.rand(n, 3, size, size) * 2 - 1
    every = labels.clone()
    corner = every[0, :14, :14].flatten()
    corner[:183] = torch.arange(183)  # 182 is the dontcare channel
    every[:, :14, :14] = corner.view(14, 14)
    return {"label": labels, "image": image}, {"label": every, "image": image}


def landscape_recipe_trainer() -> SPADETrainer:
    return SPADETrainer(dict(labelset="landscape", no_instance=True, ngf=16, ndf=32, num_D=2,
                             crop_size=128, no_vgg_loss=True, lambda_l1=10.0))


def pix2pix_batch(n: int, device: torch.device) -> dict:
    a = torch.rand(n, 3, 256, 256) * 2 - 1
    return {"A": a.to(device), "B": a.flip(-1).to(device)}


def time_steps(trainer, batch: dict, device: torch.device, repeats: int) -> float:
    trainer.train_mode(True)
    trainer.train_step(batch)  # warm-up (allocations, cuDNN autotuning)
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        trainer.train_step(batch)
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def attached(trainer, device: torch.device, amp: bool):
    torch.manual_seed(0)
    trainer.build()
    trainer.attach(Runtime(device=device, amp=amp))
    return trainer


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: KiB


def _free_memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024 ** 2
    return float("nan")


def largest_gpu_batch(vgg, device, amp, repeats, limit=256) -> tuple[int, float]:
    """Double the batch until CUDA runs out of memory; (largest that ran, its step time)."""
    best = (0, float("nan"))
    n = 2
    while n <= limit:
        trainer = None
        try:
            trainer = attached(spade_trainer(vgg), device, amp)
            best = (n, time_steps(trainer, spade_batch(n, device), device, repeats))
        except torch.OutOfMemoryError:
            break
        finally:
            del trainer
            gc.collect()
            torch.cuda.empty_cache()
        n *= 2
    return best


def report(name: str, seconds: float, batch: int) -> None:
    print(f"  {name:<44} batch {batch:>3}: {seconds * 1000:9.1f} ms/iter  "
          f"({seconds * 1000 / batch:8.1f} ms/image, {batch / seconds:6.2f} images/s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch default)")
    parser.add_argument("--no-cpu-spade", action="store_true",
                        help="skip the SPADE CPU case (about a minute per iteration)")
    parser.add_argument("--no-vgg", action="store_true", help="SPADE without the VGG loss")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    vgg = None
    if not args.no_vgg:
        from safetensors.torch import save_file

        vgg = Path(tmp.name) / "vgg19.safetensors"
        save_file({k: v.contiguous() for k, v in VGG19Features().state_dict().items()}, vgg)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"VGG loss {'on' if vgg else 'off'}")

    cpu = torch.device("cpu")
    print("CPU (fp32)")
    report("pix2pix unet_256", time_steps(attached(Pix2PixTrainer(), cpu, False),
                                          pix2pix_batch(1, cpu), cpu, args.repeats), 1)
    painted, every = landscape_recipe_batches()
    used = time_steps(attached(landscape_recipe_trainer(), cpu, False), painted, cpu,
                      args.repeats)
    all_channels = time_steps(attached(landscape_recipe_trainer(), cpu, False), every, cpu,
                              args.repeats)
    report("landscape recipe, label channels used", used, 4)
    report("landscape recipe, all 183 label channels", all_channels, 4)
    print(f"  -> convolving only the label channels used: {all_channels / used:.2f}x faster")
    if not args.no_cpu_spade:
        gc.collect()
        base = _rss_gb()
        report("SPADE coco ngf64 256^2", time_steps(attached(spade_trainer(vgg), cpu, False),
                                                    spade_batch(1, cpu), cpu, args.repeats), 1)
        one = _rss_gb()
        report("SPADE coco ngf64 256^2", time_steps(attached(spade_trainer(vgg), cpu, False),
                                                    spade_batch(2, cpu), cpu, 1), 2)
        per_image = max(_rss_gb() - one, 1e-3)
        est = int(max(1, 2 + (_free_memory_gb() - 1.0) // per_image))
        print(f"  SPADE peak memory: {one:.1f} GB at batch 1 (process before: {base:.1f} GB), "
              f"+{per_image:.1f} GB per extra image -> largest batch in the "
              f"{_free_memory_gb():.0f} GB free now: about {est} (estimate)")
    if not torch.cuda.is_available():
        print("no CUDA device: GPU figures skipped")
        return
    gpu = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(gpu)}")
    for amp in (False, True):
        label = "AMP" if amp else "fp32"
        report(f"pix2pix unet_256 ({label})",
               time_steps(attached(Pix2PixTrainer(), gpu, amp), pix2pix_batch(1, gpu), gpu,
                          max(args.repeats, 10)), 1)
        report(f"SPADE coco ngf64 256^2 ({label})",
               time_steps(attached(spade_trainer(vgg), gpu, amp), spade_batch(1, gpu), gpu,
                          max(args.repeats, 10)), 1)
        gc.collect()
        torch.cuda.empty_cache()
        n, seconds = largest_gpu_batch(vgg, gpu, amp, args.repeats)
        if n:
            report(f"SPADE coco ngf64 256^2 ({label}, largest)", seconds, n)


if __name__ == "__main__":
    main()
