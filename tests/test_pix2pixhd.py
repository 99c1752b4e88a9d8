"""pix2pixHD generators: parity with the official global generator, keys, importing, the local
enhancer's structure."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models import pix2pix
from models.checkpoint import load_strict, read_tensors, sub_state
from models.errors import ArchitectureMismatchError
from models.pix2pixhd import (GLOBAL_ARCHITECTURE, LOCAL_ARCHITECTURE, GlobalGenerator,
                              LocalEnhancer, build_global, build_local, detect_global,
                              detect_local, normalize_options)

REPO = Path(__file__).resolve().parents[1]
CASE = "pix2pixhd/global_ngf16"


def to_uint8(y: np.ndarray) -> np.ndarray:
    """The official util.tensor2im: truncating cast."""
    return ((np.transpose(y[0], (1, 2, 0)) + 1) / 2.0 * 255.0).clip(0, 255).astype(np.uint8)


def load_global_case(reference_weights):
    state = read_tensors(reference_weights(CASE) / "latest_net_G.pth")
    opts = GLOBAL_ARCHITECTURE.detect(state)
    net = GLOBAL_ARCHITECTURE.build(opts)["G"]
    load_strict(net, sub_state(GLOBAL_ARCHITECTURE.from_official(state, opts), "G"), CASE)
    return net, state, opts


_PARITY_SCRIPT = """
import json, sys
import numpy as np, torch
from PIL import Image
from models.checkpoint import load_strict, read_tensors, sub_state
from models.pix2pixhd import GLOBAL_ARCHITECTURE as A
ref_dir, weights = sys.argv[1], sys.argv[2]
state = read_tensors(weights)
opts = A.detect(state)
net = A.build(opts)["G"]
load_strict(net, sub_state(A.from_official(state, opts), "G"), "case")
x = torch.from_numpy(np.load(ref_dir + "/input.npz")["input"])
with torch.no_grad():
    y = net(x).numpy()
img = ((np.transpose(y[0], (1, 2, 0)) + 1) / 2.0 * 255.0).clip(0, 255).astype(np.uint8)
png = np.asarray(Image.open(ref_dir + "/output.png").convert("RGB"))
print(json.dumps({"max_diff": float(np.abs(y - np.load(ref_dir + "/output.npy")).max()),
                  "png_diff_pixels": int((img != png).any(-1).sum())}))
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="the reference kernels are x86 oneDNN AVX2 ones")
def test_global_parity_with_official_kernels(reference_dir, reference_weights):
    """The references were made on a machine whose oneDNN ran AVX2 kernels; with those the
    output is bit-identical. oneDNN reads its ISA limit once per process, hence a subprocess."""
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    weights = reference_weights(CASE) / "latest_net_G.pth"
    run = subprocess.run([sys.executable, "-c", _PARITY_SCRIPT, str(reference_dir / CASE),
                          str(weights)], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["max_diff"] <= 1e-5
    assert result["png_diff_pixels"] == 0


def test_global_parity_in_process(reference_dir, reference_weights):
    """With whatever kernels this process has (AVX-512 ones differ by rounding: ~1e-6 mean,
    ~1.2e-5 at most on this deep net), the output and the PNG agree to rounding."""
    net, _, _ = load_global_case(reference_weights)
    d = reference_dir / CASE
    x = torch.from_numpy(np.load(d / "input.npz")["input"])
    with torch.no_grad():
        y = net(x).numpy()
    ref = np.load(d / "output.npy")
    assert y.shape == ref.shape == (1, 3, 256, 512)
    assert np.abs(y - ref).max() <= 5e-5
    assert np.abs(y - ref).mean() <= 5e-6
    png = np.asarray(Image.open(d / "output.png").convert("RGB"))
    differing = (to_uint8(y) != png).any(-1)
    assert differing.mean() < 1e-3
    assert np.abs(to_uint8(y).astype(int) - png).max() <= 1


def test_detect_global_case(reference_dir, reference_weights):
    _, state, opts = load_global_case(reference_weights)
    meta = json.loads((reference_dir / CASE / "meta.json").read_text())["options"]
    assert opts["netG"] == "global" and opts["ngf"] == meta["ngf"]
    assert opts["n_downsample_global"] == meta["n_downsample_global"]
    assert opts["n_blocks_global"] == meta["n_blocks_global"]
    assert opts["label_nc"] == meta["label_nc"] and opts["no_instance"] == meta["no_instance"]
    assert opts["contain_dontcare_label"] is False and opts["norm"] == "instance"
    assert opts["labelset"] == "cityscapes"
    assert detect_local(state) is None
    assert pix2pix.detect(state) is None
    info = json.loads((reference_dir / CASE / "keys_net_G.json").read_text())
    net = build_global(opts)["G"]
    assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == \
        [[e[0], e[1]] for e in info["keys"]]


def test_full_size_keys_match_official(reference_dir):
    info = json.loads((reference_dir / "pix2pixhd" / "keys_full_global.json").read_text())
    args = info["define_G(input_nc, output_nc, ngf, netG, n_downsample_global, n_blocks_global, "
                "n_local_enhancers, n_blocks_local, norm)"]
    assert args[0] == 36 and args[3] == "global"
    net = build_global(dict(label_nc=35, ngf=args[2], n_downsample_global=args[4],
                            n_blocks_global=args[5], norm=args[8]))["G"]
    ours = [[k, list(v.shape), str(v.dtype)] for k, v in net.state_dict().items()]
    assert ours == [list(e) for e in info["keys"]]


def test_prefixed_and_stale_instance_keys_load():
    net = GlobalGenerator(10, 3, ngf=4, n_downsampling=3, n_blocks=2)
    old = OrderedDict(("module." + k, v) for k, v in net.state_dict().items())
    for name, mod in net.named_modules():
        if isinstance(mod, torch.nn.InstanceNorm2d):
            old[f"module.{name}.running_mean"] = torch.zeros(mod.num_features)
            old[f"module.{name}.running_var"] = torch.ones(mod.num_features)
    opts = GLOBAL_ARCHITECTURE.detect(old)
    assert opts["label_nc"] == 9 and opts["no_instance"] is False
    fresh = GLOBAL_ARCHITECTURE.build(opts)["G"]
    load_strict(fresh, sub_state(GLOBAL_ARCHITECTURE.from_official(old, opts), "G"), "old")
    x = torch.randn(1, 10, 32, 48)
    with torch.no_grad():
        assert torch.equal(fresh(x), net(x))


def test_wrong_architecture_raises(reference_weights):
    state = read_tensors(reference_weights(CASE) / "latest_net_G.pth")
    with pytest.raises(ArchitectureMismatchError) as err:
        load_strict(build_global(dict(label_nc=35, ngf=32))["G"], state, "ngf 16 into ngf 32")
    assert "model.1.weight" in str(err.value)
    with pytest.raises(ArchitectureMismatchError) as err:
        load_strict(build_global(dict(label_nc=35, ngf=16, n_blocks_global=6))["G"], state, "9 in 6")
    assert err.value.unexpected


def test_pix2pix_resnet_is_left_to_pix2pix():
    # A 3-channel ResNet with 2 downsamplings is structurally pix2pixHD too; it is an image model.
    cyclegan = pix2pix.build_generator(dict(netG="resnet_9blocks", ngf=4)).state_dict()
    assert detect_global(cyclegan) is None
    assert pix2pix.detect(cyclegan)["netG"] == "resnet_9blocks"


# ----------------------------------------------------------------- local enhancer
def _expected_local_keys(in_nc=5, ngf=4, out_nc=3):
    """Read off the official LocalEnhancer code for n_downsample_global 3, n_blocks_global 2,
    one enhancer with 3 blocks: the global part (ngf 8) minus pad/conv/tanh, then model1_1
    (pad, conv7, norm, relu, conv3 s2, norm, relu) and model1_2 (3 blocks, ConvT, norm, relu,
    pad, conv7, tanh)."""
    g = 2 * ngf
    convs = [("model.1", [g, in_nc, 7, 7]), ("model.4", [2 * g, g, 3, 3]),
             ("model.7", [4 * g, 2 * g, 3, 3]), ("model.10", [8 * g, 4 * g, 3, 3])]
    for b in (13, 14):
        convs += [(f"model.{b}.conv_block.{i}", [8 * g, 8 * g, 3, 3]) for i in (1, 5)]
    convs += [("model.15", [8 * g, 4 * g, 3, 3]), ("model.18", [4 * g, 2 * g, 3, 3]),
              ("model.21", [2 * g, g, 3, 3]),
              ("model1_1.1", [ngf, in_nc, 7, 7]), ("model1_1.4", [2 * ngf, ngf, 3, 3])]
    for b in range(3):
        convs += [(f"model1_2.{b}.conv_block.{i}", [2 * ngf, 2 * ngf, 3, 3]) for i in (1, 5)]
    convs += [("model1_2.3", [2 * ngf, ngf, 3, 3]), ("model1_2.7", [out_nc, ngf, 7, 7])]
    keys = []
    for name, shape in convs:
        keys += [[name + ".weight", shape], [name + ".bias", [shape[1] if name in (
            "model.15", "model.18", "model.21", "model1_2.3") else shape[0]]]]
    return keys


def test_local_enhancer_keys_follow_the_official_structure():
    net = LocalEnhancer(5, 3, ngf=4, n_downsample_global=3, n_blocks_global=2,
                        n_local_enhancers=1, n_blocks_local=3)
    assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == _expected_local_keys()


def test_local_enhancer_runs_and_round_trips():
    opts = dict(label_nc=4, ngf=4, n_downsample_global=3, n_blocks_global=2, n_blocks_local=3)
    net = build_local(opts)["G"]
    assert net.grid == 16
    x = torch.randn(1, 5, 32, 64)
    with torch.no_grad():
        y = net(x)
        assert y.shape == (1, 3, 32, 64) and y.abs().max() <= 1
        # forward = model1_2(model1_1(x) + global part(avgpool(x)))
        pooled = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        assert torch.allclose(pooled[..., 0, 0], x[..., :2, :2].mean((-1, -2)), atol=1e-6)
        manual = net.model1_2(net.model1_1(x) + net.model(pooled))
        assert torch.equal(y, manual)
    found = LOCAL_ARCHITECTURE.detect(net.state_dict())
    for key in ("ngf", "n_downsample_global", "n_blocks_global", "n_blocks_local", "label_nc"):
        assert found[key] == normalize_options(opts, "local")[key]
    assert found["n_local_enhancers"] == 1 and found["native_size"] == (1024, 2048)
    assert GLOBAL_ARCHITECTURE.detect(net.state_dict()) is None
    assert pix2pix.detect(net.state_dict()) is None
    rebuilt = LOCAL_ARCHITECTURE.build(found)["G"]
    load_strict(rebuilt, sub_state(LOCAL_ARCHITECTURE.from_official(net.state_dict(), found),
                                   "G"), "round trip")


def test_two_local_enhancers():
    net = LocalEnhancer(5, 3, ngf=4, n_downsample_global=2, n_blocks_global=1,
                        n_local_enhancers=2, n_blocks_local=1)
    keys = net.state_dict()
    assert list(keys["model.1.weight"].shape) == [16, 5, 7, 7]
    assert list(keys["model1_1.1.weight"].shape) == [8, 5, 7, 7]
    assert list(keys["model2_1.1.weight"].shape) == [4, 5, 7, 7]
    assert "model1_2.5.weight" not in keys and "model2_2.5.weight" in keys
    with torch.no_grad():
        assert net(torch.randn(1, 5, 32, 32)).shape == (1, 3, 32, 32)
    assert detect_local(keys)["n_local_enhancers"] == 2


def test_batch_norm_variant_and_defaults():
    net = build_global(dict(label_nc=6, no_instance=True, ngf=4, n_blocks_global=1,
                            norm="batch"))["G"]
    keys = net.state_dict()
    assert keys["model.1.weight"].shape[1] == 6 and "model.2.running_mean" in keys
    assert "model.1.bias" in keys  # pix2pixHD convs always have a bias
    found = detect_global(keys)
    assert found["norm"] == "batch" and found["n_downsample_global"] == 4
    default_local = build_local({})["G"].state_dict()
    assert list(default_local["model.1.weight"].shape) == [64, 36, 7, 7]  # --netG local --ngf 32
