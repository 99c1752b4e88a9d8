"""pix2pix generators: parity with the official outputs, key layout, importing, test modes."""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch

from models.checkpoint import load_strict, read_tensors, sub_state
from models.errors import ArchitectureMismatchError, InputError
from models.pix2pix import (ARCHITECTURE, ModeBatchNorm2d, build_generator,
                            clean_official_state, detect, set_test_mode)

TOL = 1e-5


def official_state(reference_dir, case):
    return read_tensors(reference_dir / "pix2pix" / case / "latest_net_G.pth")


def load_case(reference_dir, case):
    d = reference_dir / "pix2pix" / case
    state = official_state(reference_dir, case)
    opts = ARCHITECTURE.detect(state)
    opts["use_dropout"] = not json.loads((d / "meta.json").read_text())["options"]["no_dropout"]
    net = ARCHITECTURE.build(opts)["G"]
    load_strict(net, sub_state(ARCHITECTURE.from_official(state, opts), "G"), case)
    return net, d


@pytest.mark.parametrize("case,mode,output", [
    ("unet256_batch_ngf16", "eval", "out_eval.npy"),
    ("unet256_batch_ngf16", "deterministic", "out_bnbatch_nodrop.npy"),
    ("unet128_batch_ngf16", "eval", "out_eval.npy"),
    ("unet128_batch_ngf16", "deterministic", "out_bnbatch_nodrop.npy"),
    ("resnet9_instance_ngf16", "eval", "out_eval.npy"),
])
def test_parity_with_official(reference_dir, case, mode, output):
    net, d = load_case(reference_dir, case)
    set_test_mode(net, mode)
    x = torch.from_numpy(np.load(d / "input.npy"))
    with torch.no_grad():
        y = net(x).numpy()
    ref = np.load(d / output)
    assert y.shape == ref.shape
    assert np.abs(y - ref).max() <= TOL


@pytest.mark.parametrize("case", ["unet256_batch_ngf16", "unet128_batch_ngf16",
                                  "resnet9_instance_ngf16"])
def test_detect_reads_the_case_options(reference_dir, case):
    meta = json.loads((reference_dir / "pix2pix" / case / "meta.json").read_text())["options"]
    opts = detect(official_state(reference_dir, case))
    for key in ("netG", "norm", "ngf", "input_nc", "output_nc"):
        assert opts[key] == meta[key], key
    if opts["netG"].startswith("resnet"):
        assert opts["use_dropout"] == (not meta["no_dropout"])


@pytest.mark.parametrize("name", ["unet256_batch", "unet128_batch", "resnet9_instance"])
def test_full_size_keys_match_official(reference_dir, name):
    info = json.loads((reference_dir / "pix2pix" / f"keys_full_{name}.json").read_text())
    in_nc, out_nc, ngf, net_name, norm, dropout = info[
        "define_G(input_nc, output_nc, ngf, netG, norm, use_dropout)"]
    net = build_generator(dict(input_nc=in_nc, output_nc=out_nc, ngf=ngf, netG=net_name,
                               norm=norm, use_dropout=dropout))
    ours = [[k, list(v.shape), str(v.dtype)] for k, v in net.state_dict().items()]
    assert ours == [list(e) for e in info["keys"]]
    assert sum(v.numel() for v in net.state_dict().values()) == info["num_elements"]


@pytest.mark.parametrize("case", ["unet256_batch_ngf16", "resnet9_instance_ngf16"])
def test_case_keys_match_keys_net_G(reference_dir, case):
    info = json.loads((reference_dir / "pix2pix" / case / "keys_net_G.json").read_text())
    net, _ = load_case(reference_dir, case)
    ours = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert ours == [[e[0], e[1]] for e in info["keys"]]


def test_wrapper_prefix_and_stale_instance_norm_keys_load(reference_dir):
    case = "resnet9_instance_ngf16"
    ref_net, d = load_case(reference_dir, case)
    state = official_state(reference_dir, case)
    net = build_generator(detect(state))
    old = OrderedDict()
    for key, value in state.items():
        old["module." + key] = value
    # What pre-0.4 InstanceNorm layers saved: running stats without affine parameters.
    for name, mod in net.named_modules():
        if isinstance(mod, torch.nn.InstanceNorm2d):
            old[f"module.{name}.running_mean"] = torch.zeros(mod.num_features)
            old[f"module.{name}.running_var"] = torch.ones(mod.num_features)
            old[f"module._orig_mod.{name}.num_batches_tracked"] = torch.tensor(3)
    with pytest.raises(ArchitectureMismatchError):
        load_strict(build_generator(detect(state)), old, "raw")
    opts = ARCHITECTURE.detect(old)
    assert opts == detect(state)
    load_strict(net, sub_state(ARCHITECTURE.from_official(old, opts), "G"), case)
    x = torch.from_numpy(np.load(d / "input.npy"))
    with torch.no_grad():
        assert torch.equal(net(x), ref_net(x))


def test_missing_num_batches_tracked_is_tolerated(reference_dir):
    state = official_state(reference_dir, "unet128_batch_ngf16")
    old = OrderedDict((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    cleaned = clean_official_state(old)
    assert set(cleaned) == set(state)
    load_strict(build_generator(detect(old)), cleaned, "old file")


def test_wrong_architecture_raises_with_details(reference_dir):
    state128 = official_state(reference_dir, "unet128_batch_ngf16")
    net256 = build_generator(dict(netG="unet_256", ngf=16))
    with pytest.raises(ArchitectureMismatchError) as err:
        load_strict(net256, state128, "unet128 into unet256")
    assert err.value.missing and "missing" in str(err.value)
    net_ngf32 = build_generator(dict(netG="unet_128", ngf=32))
    with pytest.raises(ArchitectureMismatchError) as err:
        load_strict(net_ngf32, state128, "ngf 16 into ngf 32")
    assert err.value.shape_mismatches and "model.model.0.weight" in str(err.value)
    resnet6 = build_generator(dict(netG="resnet_6blocks", ngf=16))
    with pytest.raises(ArchitectureMismatchError):
        load_strict(resnet6, official_state(reference_dir, "resnet9_instance_ngf16"), "r9 in r6")


def _running_stats(net):
    return {k: v.clone() for k, v in net.state_dict().items()
            if k.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")}


def test_official_mode_is_seedable_and_modes_never_touch_running_stats(reference_dir):
    net, d = load_case(reference_dir, "unet256_batch_ngf16")
    before = _running_stats(net)
    assert before
    x = torch.from_numpy(np.load(d / "input.npy"))
    outs = {}
    with torch.no_grad():
        for mode in ("official", "deterministic", "eval"):
            set_test_mode(net, mode, seed=7)
            outs[mode] = net(x)
            for key, value in _running_stats(net).items():
                assert torch.equal(value, before[key]), (mode, key)
        set_test_mode(net, "official", seed=7)
        again = net(x)
        set_test_mode(net, "official", seed=8)
        other_seed = net(x)
        set_test_mode(net, "official", generator=torch.Generator().manual_seed(3))
        gen_a = net(x)
        set_test_mode(net, "official", generator=torch.Generator().manual_seed(3))
        gen_b = net(x)
        set_test_mode(net, "official")  # the global RNG, as the official test.py draws it
        torch.manual_seed(11)
        glob_a = net(x)
        torch.manual_seed(11)
        glob_b = net(x)
        net.train()  # even a train-mode module keeps its stats while a test mode is set
        set_test_mode(net, "deterministic")
        net(x)
    assert torch.equal(outs["official"], again)
    assert not torch.equal(outs["official"], other_seed)
    assert (outs["official"] - outs["deterministic"]).abs().max() > 1e-3
    assert torch.equal(gen_a, gen_b) and torch.equal(glob_a, glob_b)
    for key, value in _running_stats(net).items():
        assert torch.equal(value, before[key]), key


def test_no_mode_means_plain_torch_training_behaviour():
    net = build_generator(dict(netG="unet_128", ngf=4)).train()
    set_test_mode(net, "eval")
    set_test_mode(net, None)
    bn = next(m for m in net.modules() if isinstance(m, ModeBatchNorm2d))
    before = bn.running_mean.clone()
    net(torch.randn(1, 3, 128, 128)).mean().backward()
    assert not torch.equal(bn.running_mean, before)  # training updates the stats again
    with pytest.raises(InputError):
        set_test_mode(net, "sometimes")


def test_eval_mode_matches_torch_eval(reference_dir):
    net, d = load_case(reference_dir, "unet128_batch_ngf16")
    x = torch.from_numpy(np.load(d / "input.npy"))
    with torch.no_grad():
        set_test_mode(net, "eval")
        ours = net(x)
        set_test_mode(net, None)
        plain = net.eval()(x)
    assert torch.equal(ours, plain)


@pytest.mark.parametrize("opts", [
    dict(netG="unet", num_downs=6, ngf=4, norm="instance", input_nc=1, output_nc=2),
    dict(netG="unet_128", ngf=4, norm="none", use_dropout=False),
    dict(netG="resnet_6blocks", ngf=4, norm="batch", use_dropout=True),
    dict(netG="resnet", n_blocks=2, ngf=4, norm="none", input_nc=4, output_nc=1),
])
def test_detect_round_trips_built_networks(opts):
    net = build_generator(opts)
    found = detect(net.state_dict())
    for key, value in opts.items():
        if key == "use_dropout" and found["netG"].startswith("unet"):
            continue  # invisible in U-Net keys
        assert found[key] == value, key
    rebuilt = build_generator(found)
    load_strict(rebuilt, net.state_dict(), "round trip")
    size = 2 ** found.get("num_downs", 3)
    assert rebuilt(torch.randn(1, found["input_nc"], size, size)).shape[1] == found["output_nc"]


def test_conv_bias_follows_the_official_rule():
    inst = build_generator(dict(netG="resnet_6blocks", ngf=4, norm="instance")).state_dict()
    batch = build_generator(dict(netG="resnet_6blocks", ngf=4, norm="batch")).state_dict()
    none = build_generator(dict(netG="resnet_6blocks", ngf=4, norm="none")).state_dict()
    assert "model.1.bias" in inst and "model.1.bias" not in batch and "model.1.bias" not in none
    assert "model.23.bias" in batch  # the last conv (17 + n_blocks) always has one
    forced = build_generator(dict(netG="unet_128", ngf=4, norm="none", use_bias=True))
    assert "model.model.1.model.1.bias" in forced.state_dict()


def test_detect_rejects_other_networks():
    assert detect({"fc.weight": torch.zeros(2, 2)}) is None
    from models.pix2pixhd import GlobalGenerator
    assert detect(GlobalGenerator(36, 3, ngf=4, n_downsampling=4, n_blocks=2).state_dict()) is None


def test_unknown_generator_name():
    with pytest.raises(InputError):
        build_generator(dict(netG="unet_512x"))
