"""SPADE parity with the official outputs, for the plain and the fast path."""
from __future__ import annotations

import ast

import numpy as np
import pytest
import torch

from models.checkpoint import load_strict, read_tensors, sub_state
from models.errors import InputError
from models.labelmaps import instance_edges, semantic_input
from models.spade import architecture as spade_arch
from models.spade.fast import FastSPADE

CASES = ["coco_ngf16", "ade20k_ngf16", "cityscapes_ngf16"]


def load_case(reference_weights, case):
    folder = reference_weights(f"spade/{case}")
    g_state = read_tensors(folder / "latest_net_G.pth")
    opts = spade_arch.detect(g_state)
    opts.pop("labelset")
    e_state = read_tensors(folder / "latest_net_E.pth") if opts["use_vae"] else None
    state = spade_arch.from_official(g_state, opts, e_state)
    nets = spade_arch.build(opts)
    for name, net in nets.items():
        load_strict(net, sub_state(state, name), name).eval()
    return nets


def case_inputs(reference_dir, case):
    d = reference_dir / "spade" / case
    labels = torch.from_numpy(np.load(d / "label.npy").astype(np.int64))[None]
    inst = d / "instance.npy"
    instances = torch.from_numpy(np.load(inst).astype(np.int64))[None] if inst.exists() else None
    out = d / "output.npy"
    return labels, instances, np.load(out) if out.exists() else None


def png_matches(ours: np.ndarray, ref_png: np.ndarray, ref_float: np.ndarray) -> None:
    """uint8 outputs identical, except where the official float value sits within 1e-4 of a
    quantisation step (a 1e-6 difference from another torch build can flip the truncation)."""
    differ = ours != ref_png
    scaled = (ref_float[0].transpose(1, 2, 0) + 1) / 2 * 255
    at_step = np.abs(scaled - np.round(scaled)) < 1e-4 * 255
    assert not (differ & ~at_step).any(), f"{int((differ & ~at_step).sum())} pixels differ"
    assert np.abs(ours.astype(int) - ref_png).max() <= 1


@pytest.mark.parametrize("case", CASES)
def test_plain_and_fast_paths_reproduce_official_output(reference_dir, reference_weights, case):
    from PIL import Image

    G = load_case(reference_weights, case)["G"]
    labels, instances, ref = case_inputs(reference_dir, case)
    opt = G.options
    seg = semantic_input(labels, opt.label_channels, not opt.no_instance, instances)
    if not opt.no_instance:  # the official edge map agrees with ours
        edges = np.load(reference_dir / "spade" / case / "edges.npy")
        assert np.array_equal(instance_edges(instances)[0].numpy(), edges.astype(bool))
    with torch.no_grad():
        plain = G(seg)
        fast = FastSPADE(G)(labels, None if opt.no_instance else instance_edges(instances))
    assert np.abs(plain.numpy() - ref).max() <= 1e-4
    assert np.abs(fast.numpy() - ref).max() <= 1e-4
    ours = ((plain[0].permute(1, 2, 0).numpy() + 1) / 2 * 255).clip(0, 255).astype(np.uint8)
    png_matches(ours, np.asarray(Image.open(reference_dir / "spade" / case / "output.png")), ref)


def test_vae_encoder_and_z_input(reference_dir, reference_weights):
    d = reference_dir / "spade" / "coco_vae_ngf16"
    nets = load_case(reference_weights, "coco_vae_ngf16")
    G, E = nets["G"], nets["E"]
    labels, instances, _ = case_inputs(reference_dir, "coco_vae_ngf16")
    with torch.no_grad():
        mu, logvar = E(torch.from_numpy(np.load(d / "style_input.npy")))
        assert np.abs(mu.numpy() - np.load(d / "mu.npy")).max() <= 1e-4
        assert np.abs(logvar.numpy() - np.load(d / "logvar.npy")).max() <= 1e-4
        seg = semantic_input(labels, G.options.label_channels, True, instances)
        edges = instance_edges(instances)
        fast = FastSPADE(G)
        mu_ref = torch.from_numpy(np.load(d / "mu.npy"))
        ref_mu = np.load(d / "output_z_mu.npy")
        assert np.abs(G(seg, z=mu_ref).numpy() - ref_mu).max() <= 1e-4
        assert np.abs(fast(labels, edges, z=mu_ref).numpy() - ref_mu).max() <= 1e-4
        eps = torch.from_numpy(np.load(d / "eps.npy"))
        z = eps * torch.exp(0.5 * torch.from_numpy(np.load(d / "logvar.npy"))) + mu_ref
        ref_rp = np.load(d / "output_reparam.npy")
        assert np.abs(G(seg, z=z).numpy() - ref_rp).max() <= 1e-4


def _painting(h, w, classes, seed=0):
    """A few large regions, like a painted landscape: horizontal bands with a blob."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((h, w), np.int64)
    cuts = sorted(rng.integers(h // 6, h - h // 6, size=len(classes) - 2))
    bands = [0] + list(cuts) + [h]
    for i in range(len(bands) - 1):
        lab[bands[i]:bands[i + 1]] = classes[i]
    yy, xx = np.mgrid[:h, :w]
    lab[(yy - h * 0.6) ** 2 + (xx - w * 0.3) ** 2 < (min(h, w) * 0.15) ** 2] = classes[-1]
    return torch.from_numpy(lab)[None]


@pytest.mark.parametrize("case,size", [("coco_ngf16", (256, 384)), ("ade20k_ngf16", (128, 64)),
                                       ("cityscapes_ngf16", (128, 256))])
def test_fast_path_matches_plain_path_at_other_sizes(reference_weights, case, size):
    G = load_case(reference_weights, case)["G"]
    opt = G.options
    classes = [156, 134, 154, 123, 182] if opt.label_channels > 180 else [2, 3, 4, 5, 6]
    labels = torch.cat([_painting(*size, classes, 1), _painting(*size, classes, 2)])
    use_edges = not opt.no_instance
    with torch.no_grad():
        plain = G(semantic_input(labels, opt.label_channels, use_edges))
        fast = FastSPADE(G)(labels, instance_edges(labels) if use_edges else None)
    assert plain.shape == (2, 3, *size)
    assert np.abs(plain.numpy() - fast.numpy()).max() <= 1e-4


def test_output_size_must_fit_the_grid(reference_weights):
    G = load_case(reference_weights, "ade20k_ngf16")["G"]
    with pytest.raises(InputError, match="multiple of this model's grid of 32"):
        FastSPADE(G)(torch.zeros(1, 100, 64, dtype=torch.long))
    with pytest.raises(InputError, match="one-hot"):
        G(torch.zeros(1, 3, 64, 64))


def _state_from_key_list(path):
    state = {}
    for line in path.read_text().splitlines():
        key, shape, dtype = line.split("\t")
        shape = ast.literal_eval(shape)  # "(1024, 184, 3, 3)"
        state[key] = torch.ones(shape, dtype=torch.int64 if "int64" in dtype else torch.float32)
    return state


@pytest.mark.parametrize("dataset", ["coco", "ade20k", "cityscapes", "coco_vae"])
def test_full_size_official_key_lists_load_strictly(reference_dir, dataset):
    suffix = "_G" if dataset == "coco_vae" else ""
    state = _state_from_key_list(reference_dir / "spade" / f"keys_full_{dataset}{suffix}.txt")
    enc = (_state_from_key_list(reference_dir / "spade" / "keys_full_coco_vae_E.txt")
           if dataset == "coco_vae" else None)
    opts = spade_arch.detect(state)
    opts.pop("labelset")
    assert opts["ngf"] == 64 and opts["use_vae"] == (enc is not None)
    nets = spade_arch.build(opts)
    converted = spade_arch.from_official(state, opts, enc)
    for name, net in nets.items():
        load_strict(net, sub_state(converted, name), f"{dataset} {name}")
    assert sum(p.numel() for p in nets["G"].parameters()) > 90e6


def test_fast_path_in_reduced_precision(reference_weights):
    """The tables follow the requested dtype: bf16 (runs on the CPU too) stays close to fp32."""
    G = load_case(reference_weights, "ade20k_ngf16")["G"]
    labels = _painting(64, 64, [2, 3, 4, 5, 6])
    with torch.no_grad():
        ref = G(semantic_input(labels, G.options.label_channels, False))
        low = FastSPADE(G.to(torch.bfloat16))(labels, dtype=torch.bfloat16)
    assert low.dtype == torch.bfloat16
    diff = (low.float() - ref).abs()
    assert diff.mean() < 0.02 and diff.max() < 0.25


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_pipeline_on_gpu(reference_dir, reference_weights, precision):
    from models.importers import import_model
    from models.pipelines import LabelToImage

    bundle = import_model(reference_weights("spade/ade20k_ngf16") / "latest_net_G.pth")
    d = reference_dir / "spade" / "ade20k_ngf16"
    pipe = LabelToImage(bundle, device="cuda", precision=precision)
    out = pipe.generate_tensor(np.load(d / "label.npy").astype(np.int64)).float().cpu().numpy()
    tol = 1e-3 if precision == "fp32" else 0.1
    assert np.abs(out - np.load(d / "output.npy")).mean() <= tol / 10
    assert np.abs(out - np.load(d / "output.npy")).max() <= tol * 10


@pytest.mark.parametrize("upsampling,grid", [("normal", 32), ("more", 64), ("most", 128)])
@pytest.mark.parametrize("use_vae", [False, True])
def test_upsampling_variants_and_sizes(upsampling, grid, use_vae):
    """Tiny random generators of every upsampling depth: the grid, the native size, another
    size (the VAE's latent grid is resized to fit), and fast == plain."""
    from models.spade.generator import SPADEGenerator, SPADEOptions

    torch.manual_seed(0)
    opt = SPADEOptions(label_nc=5, contain_dontcare_label=True, no_instance=False, ngf=4,
                       num_upsampling_layers=upsampling, crop_size=256, use_vae=use_vae, z_dim=8)
    G = SPADEGenerator(opt)
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial running stats
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2)
    G.eval()
    assert opt.grid == grid and opt.native_size == (256, 256)
    z = torch.randn(2, 8)
    for size in [(256, 256), (grid, 3 * grid)]:
        labels = torch.cat([_painting(*size, [0, 1, 2, 3, 5], s) for s in (1, 2)])
        edges = instance_edges(labels)
        with torch.no_grad():
            plain = G(semantic_input(labels, opt.label_channels, True), z=z if use_vae else None)
            fast = FastSPADE(G)(labels, edges, z=z if use_vae else None)
        assert plain.shape == (2, 3, *size)
        assert np.abs(plain.numpy() - fast.numpy()).max() <= 1e-4


def test_present_label_channels_give_the_full_one_hot_result_and_gradients():
    """Training convolves only the label channels a batch uses: same output and same weight
    gradients as convolving the whole one-hot map (the absent channels add exact zeros)."""
    import torch.nn.functional as F
    from models.spade.generator import SPADEGenerator, SPADEOptions

    torch.manual_seed(0)
    G = SPADEGenerator(SPADEOptions(label_nc=20, ngf=4, no_instance=True, crop_size=64))
    seg = semantic_input(torch.cat([_painting(64, 96, [2, 7, 19], s) for s in (1, 2)]), 21, False)

    def full_onehot(generator):  # the official forward: every channel, resized per norm
        x = generator.fc(F.interpolate(seg, size=(2, 3)))
        for upsample, block in generator.stages():
            if upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, seg)
        return torch.tanh(generator.conv_img(F.leaky_relu(x, 2e-1)))

    outputs, grads = [], []
    for forward in (full_onehot, lambda g: g(seg)):
        G.zero_grad()
        out = forward(G)
        out.square().mean().backward()
        outputs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in G.parameters()]))
    assert torch.allclose(outputs[0], outputs[1], atol=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-4)
    shared = G.head_0.norm_0.mlp_shared[0].weight.grad
    assert shared[:, [0, 1, 3]].abs().max() == 0 and shared[:, 2].abs().max() > 0
