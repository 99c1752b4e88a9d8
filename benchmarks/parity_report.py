"""Parity report: every reference case of ../shared/reference, run through our model files.

Each official checkpoint (or ConSinGAN folder) is imported, written as a gauapp model file, read
back, and run; the table gives max |ours - official| on the [-1, 1] scale and, for the PNG
cases, how many pixels of the uint8 image differ (and by how much at most).

    python benchmarks/parity_report.py [--reference ../shared/reference]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.devices import to_uint8_image
from models.importers import import_model
from models.modelfile import load_model_file, save_model_file
from models.pipelines import LabelToImage
from models.registry import build_networks

REPO = Path(__file__).resolve().parents[1]


def round_trip(source: Path, workdir: Path):
    """official file -> our model file -> bundle."""
    path = workdir / (source.parent.name + "_" + source.stem + ".safetensors")
    save_model_file(import_model(source), path)
    return load_model_file(path)


def weights_folder(reference: Path, case: str, cache: Path) -> Path:
    if any((reference / case).glob("latest_net_*.pth")):
        return reference / case
    if not any((cache / case).glob("latest_net_*.pth")):
        subprocess.run([sys.executable, str(reference / "build_weights.py"), case, "--out",
                        str(cache)], check=True, capture_output=True)
    return cache / case


def png_diff(ours: torch.Tensor, png: Path) -> str:
    ref = np.asarray(Image.open(png).convert("RGB")).astype(int)
    mine = to_uint8_image(ours)[0].astype(int)
    differ = (mine != ref).any(-1)
    return f"{int(differ.sum())} px (max {int(np.abs(mine - ref).max())})"


def spade_rows(reference: Path, cache: Path, work: Path):
    for case in ("coco_ngf16", "ade20k_ngf16", "cityscapes_ngf16", "coco_vae_ngf16"):
        d = reference / "spade" / case
        bundle = round_trip(weights_folder(reference, f"spade/{case}", cache) / "latest_net_G.pth",
                            work)
        inst = np.load(d / "instance.npy") if (d / "instance.npy").exists() else None
        labels = np.load(d / "label.npy").astype(np.int64)
        for fast in (False, True):
            pipe = LabelToImage(bundle, device="cpu", fast=fast)
            path = "fast" if fast else "plain"
            if case == "coco_vae_ngf16":
                mu, _ = pipe.encode_style(d / "style.png")
                if not fast:
                    yield (f"spade/{case}", "encoder mu", _maxdiff(mu, d / "mu.npy"), "")
                out = pipe.generate_tensor(labels, instances=inst, z=mu)
                yield (f"spade/{case}", f"output_z_mu ({path})",
                       _maxdiff(out, d / "output_z_mu.npy"), png_diff(out, d / "output_z_mu.png"))
                continue
            out = pipe.generate_tensor(labels, instances=inst)
            yield (f"spade/{case}", f"output ({path})", _maxdiff(out, d / "output.npy"),
                   png_diff(out, d / "output.png"))


def pix2pix_rows(reference: Path, work: Path):
    from models.pix2pix import set_test_mode

    for case in ("unet256_batch_ngf16", "unet128_batch_ngf16", "resnet9_instance_ngf16"):
        d = reference / "pix2pix" / case
        G = build_networks(round_trip(d / "latest_net_G.pth", work))["G"]
        x = torch.from_numpy(np.load(d / "input.npy"))
        for mode, name in (("eval", "out_eval"), ("deterministic", "out_bnbatch_nodrop")):
            if (d / f"{name}.npy").exists():
                set_test_mode(G, mode)
                with torch.no_grad():
                    yield (f"pix2pix/{case}", f"{name} ({mode})",
                           _maxdiff(G(x), d / f"{name}.npy"), "")


def pix2pixhd_rows(reference: Path, cache: Path, work: Path):
    d = reference / "pix2pixhd" / "global_ngf16"
    bundle = round_trip(weights_folder(reference, "pix2pixhd/global_ngf16", cache)
                        / "latest_net_G.pth", work)
    labels = np.load(d / "label.npy").astype(np.int64)
    out = LabelToImage(bundle, device="cpu").generate_tensor(  # at the map's own size
        labels, size=labels.shape, instances=np.load(d / "instance.npy"))
    yield ("pix2pixhd/global_ngf16", "output", _maxdiff(out, d / "output.npy"),
           png_diff(out, d / "output.png"))


def consingan_rows(reference: Path, work: Path):
    for mode in ("generation", "harmonization"):
        d = reference / "consingan" / mode
        model = build_networks(round_trip(d / "model", work))["G"]
        with torch.no_grad():
            yield (f"consingan/{mode}", "reconstruction", _maxdiff(model.reconstruct(),
                                                                   d / "reconstruction.npy"), "")
            if mode == "generation":
                noise = torch.load(d / "noise.pth", weights_only=True)
                yield (f"consingan/{mode}", "sample", _maxdiff(model(noise), d / "sample.npy"), "")
            else:
                naive = np.array(Image.open(d / "naive.png"))
                mask = np.array(Image.open(d / "naive_mask.png"))
                res = model.harmonize(naive, mask)
                yield (f"consingan/{mode}", "harmonized_raw",
                       _maxdiff(res.raw, d / "harmonized_raw.npy"), "")
                yield (f"consingan/{mode}", "harmonized_mask_composited",
                       _maxdiff(res.composited, d / "harmonized_mask_composited.npy"), "")


def _maxdiff(ours: torch.Tensor, ref: Path) -> float:
    return float(np.abs(ours.detach().float().cpu().numpy() - np.load(ref)).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    ap.add_argument("--cache", type=Path, default=REPO / ".cache" / "reference_weights")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; tolerance 1e-4")
    print(f"{'case':<32}{'output':<34}{'max|diff|':>11}  PNG pixels differing")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = [*spade_rows(args.reference, args.cache, work),
                *pix2pix_rows(args.reference, work),
                *pix2pixhd_rows(args.reference, args.cache, work),
                *consingan_rows(args.reference, work)]
    for case, what, diff, png in rows:
        worst = max(worst, diff)
        print(f"{case:<32}{what:<34}{diff:>11.2e}  {png}")
    print(f"worst: {worst:.2e} ({'within' if worst <= 1e-4 else 'OVER'} 1e-4)")


if __name__ == "__main__":
    main()
