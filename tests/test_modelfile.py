"""Our model file and `gauapp-train convert`: every reference kind converts to one .safetensors
that rebuilds the same network and gives the official output."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.errors import (ArchitectureMismatchError, ModelFileError, UnknownArchitectureError)
from models.importers import import_model
from models.modelfile import load_model_file, read_metadata, save_model_file
from models.pipelines import LabelToImage
from models.registry import build_networks
from training.cli import main as cli


def convert(src, out, *extra):
    assert cli(["convert", str(src), "-o", str(out), "--check", *extra]) == 0
    return load_model_file(out)


@pytest.mark.parametrize("case", ["coco_ngf16", "ade20k_ngf16", "cityscapes_ngf16"])
def test_spade_convert_and_render(tmp_path, reference_dir, reference_weights, case):
    bundle = convert(reference_weights(f"spade/{case}") / "latest_net_G.pth",
                     tmp_path / "model.safetensors")
    d = reference_dir / "spade" / case
    meta = read_metadata(tmp_path / "model.safetensors")
    assert json.loads(meta["gauapp.provenance"])["source"] == "latest_net_G.pth"
    expected_set = {"coco_ngf16": "coco-stuff", "ade20k_ngf16": "ade20k",
                    "cityscapes_ngf16": "cityscapes"}[case]
    assert bundle.labelset.name == expected_set
    labels = np.load(d / "label.npy").astype(np.int64)
    inst = d / "instance.npy"
    pipe = LabelToImage(bundle, device="cpu")
    out = pipe.generate_tensor(labels, instances=np.load(inst) if inst.exists() else None)
    assert np.abs(out.numpy() - np.load(d / "output.npy")).max() <= 1e-4
    # the dataset PNG goes through the label set's convention (COCO 255 -> 182, ADE20K v-1)
    from_png = pipe.generate_tensor(d / "label.png",
                                    instances=np.load(inst) if inst.exists() else None)
    assert np.abs(from_png.numpy() - np.load(d / "output.npy")).max() <= 1e-4


def test_spade_vae_convert_picks_up_encoder(tmp_path, reference_dir, reference_weights):
    bundle = convert(reference_weights("spade/coco_vae_ngf16") / "latest_net_G.pth",
                     tmp_path / "vae.safetensors")
    assert bundle.network_names() == ["E", "G"]
    pipe = LabelToImage(bundle, device="cpu")
    d = reference_dir / "spade" / "coco_vae_ngf16"
    mu, logvar = pipe.encode_style(d / "style.png")
    assert np.abs(mu.numpy() - np.load(d / "mu.npy")).max() <= 1e-4
    out = pipe.generate_tensor(np.load(d / "label.npy"), instances=np.load(d / "instance.npy"),
                               z=mu)
    assert np.abs(out.numpy() - np.load(d / "output_z_mu.npy")).max() <= 1e-4


def test_half_precision_file_is_smaller(tmp_path, reference_weights):
    src = reference_weights("spade/ade20k_ngf16") / "latest_net_G.pth"
    full = tmp_path / "full.safetensors"
    half = tmp_path / "half.safetensors"
    convert(src, full)
    convert(src, half, "--half")
    assert half.stat().st_size < 0.6 * full.stat().st_size


def test_pix2pix_convert(tmp_path, reference_dir):
    from models.pipelines import ImageToImage

    d = reference_dir / "pix2pix" / "unet256_batch_ngf16"
    bundle = convert(d / "latest_net_G.pth", tmp_path / "p2p.safetensors")
    G = build_networks(bundle)["G"]
    with torch.no_grad():
        out = G(torch.from_numpy(np.load(d / "input.npy")))
    assert np.abs(out.numpy() - np.load(d / "out_eval.npy")).max() <= 1e-4
    img = ImageToImage(bundle, device="cpu")(d / "input.png")
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8


def test_pix2pixhd_convert(tmp_path, reference_dir, reference_weights):
    d = reference_dir / "pix2pixhd" / "global_ngf16"
    bundle = convert(reference_weights("pix2pixhd/global_ngf16") / "latest_net_G.pth",
                     tmp_path / "hd.safetensors")
    G = build_networks(bundle)["G"]
    with torch.no_grad():
        out = G(torch.from_numpy(np.load(d / "input.npz")["input"]))
    assert np.abs(out.numpy() - np.load(d / "output.npy")).max() <= 1e-4


@pytest.mark.parametrize("mode", ["generation", "harmonization"])
def test_consingan_folder_convert(tmp_path, reference_dir, mode):
    d = reference_dir / "consingan" / mode
    bundle = convert(d / "model", tmp_path / "csg.safetensors")
    G = build_networks(bundle)["G"]
    with torch.no_grad():
        rec = G.reconstruct()
    assert np.abs(rec.numpy() - np.load(d / "reconstruction.npy")).max() <= 1e-4


def test_wrong_label_count_names_the_differences(tmp_path, reference_weights):
    src = reference_weights("spade/ade20k_ngf16") / "latest_net_G.pth"
    bundle = import_model(src)
    bundle.options["label_nc"] = 182
    bundle.options["no_instance"] = False
    with pytest.raises(ArchitectureMismatchError, match=r"mlp_shared\.0\.weight: file \(128, 151"):
        build_networks(bundle)


def test_a_label_set_with_more_ids_than_the_model_reads_is_refused(reference_weights):
    """An ADE20K model reads 151 classes: the COCO-Stuff set (ids up to 182) cannot name them;
    a set whose ids fit is taken as given."""
    from models.errors import InputError

    src = reference_weights("spade/ade20k_ngf16") / "latest_net_G.pth"
    with pytest.raises(InputError, match=r"'coco-stuff' has ids up to 182.*151 classes"):
        import_model(src, {"labelset": "coco-stuff"})
    assert import_model(src, {"labelset": "cityscapes"}).labelset.name == "cityscapes"
    assert import_model(src).labelset.name == "ade20k"


def test_model_file_errors(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelFileError, match="not a gauapp model file"):
        load_model_file(plain)
    odd = tmp_path / "odd.safetensors"
    save_file({"G.x": torch.zeros(2)}, str(odd),
              metadata={"gauapp.format": "1", "gauapp.architecture": "stylegan9",
                        "gauapp.options": "{}"})
    with pytest.raises(UnknownArchitectureError, match="stylegan9"):
        load_model_file(odd)
    broken = tmp_path / "broken.safetensors"
    save_file({"G.x": torch.zeros(2)}, str(broken),
              metadata={"gauapp.format": "1", "gauapp.architecture": "spade",
                        "gauapp.options": "{not json"})
    with pytest.raises(ModelFileError, match="malformed"):
        load_model_file(broken)


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    assert cli(["convert", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err
