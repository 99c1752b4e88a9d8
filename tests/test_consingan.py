"""ConSinGAN: parity with the official code's outputs, folder import/export, typed errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from models.consingan.architecture import (ARCHITECTURE, bundle_from_model, detect, export_bundle,
                                           folder_state, from_official, import_folder)
from models.consingan.imresize import imresize_to_shape, uint8_to_tensor
from models.consingan.masks import binary_dilation_disk, disk, gaussian_blur, gaussian_kernel
from models.consingan.model import ConSinGANModel
from models.consingan.network import Discriminator, GrowingGenerator
from models.consingan.official import (export_folder, load_folder, load_stage_networks,
                                       parse_parameters, read_folder)
from models.consingan.pyramid import build_pyramid, pyramid_shapes
from models.errors import (ArchitectureMismatchError, CheckpointError, InputError,
                           UnsafeCheckpointError)
from models.registry import build_networks, get_architecture

TOL = 1e-5
CASES = ("generation", "harmonization")


def maxdiff(a, b) -> float:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


@pytest.fixture(scope="module")
def cs(reference_dir):
    return reference_dir / "consingan"


@pytest.fixture(scope="module")
def gen_model(cs):
    return load_folder(cs / "generation" / "model")


@pytest.fixture(scope="module")
def harm_model(cs):
    return load_folder(cs / "harmonization" / "model")


@pytest.fixture(scope="module")
def naive(cs):
    d = cs / "harmonization"
    return np.array(Image.open(d / "naive.png")), np.array(Image.open(d / "naive_mask.png"))


# ----- pyramid and resize ---------------------------------------------------------------------
def test_pyramid_sizes_for_the_bench_image(reference_dir):
    bench = reference_dir.parent / "bench" / "chelsea.png"
    h, w = (300, 451)
    if bench.is_file():
        with Image.open(bench) as im:
            w, h = im.size
    assert pyramid_shapes(h, w) == [(25, 38), (31, 47), (41, 61), (60, 89), (115, 171),
                                    (167, 250)]


@pytest.mark.parametrize("case", CASES)
def test_reference_pyramids_and_reals(cs, case):
    meta = json.loads((cs / case / "meta.json").read_text())
    params = parse_parameters(cs / case / "model" / "parameters.txt")
    image = np.array(Image.open(cs / case / "train_image.png"))[:, :, :3]
    expected = [tuple(s[2:]) for s in meta["pyramid"]["reals_shapes"]]
    assert pyramid_shapes(*image.shape[:2], params["train_stages"], params["min_size"],
                          params["max_size"], params["train_mode"]) == expected
    reals, _ = build_pyramid(uint8_to_tensor(image), params["train_stages"], params["min_size"],
                             params["max_size"], params["train_mode"])
    official = torch.load(cs / case / "model" / "reals.pth", weights_only=True)
    for mine, theirs in zip(reals, official):
        assert maxdiff(mine, theirs) == 0.0


def test_imresize_naive_to_coarsest_level(cs, naive):
    out = imresize_to_shape(uint8_to_tensor(naive[0][:, :, :3]), (40, 60))
    assert maxdiff(out, np.load(cs / "harmonization" / "naive_input_level0.npy")) == 0.0


def test_dilation_and_blur_helpers():
    rng = np.random.default_rng(0)
    m = rng.random((23, 31)) > 0.97
    m[0, 0] = m[22, 30] = True
    fp = disk(4)
    brute = np.zeros_like(m)
    for y, x in zip(*np.nonzero(m)):
        for dy, dx in zip(*np.nonzero(fp)):
            yy, xx = y + dy - 4, x + dx - 4
            if 0 <= yy < 23 and 0 <= xx < 31:
                brute[yy, xx] = True
    assert (binary_dilation_disk(m, 4) == brute).all()
    k = gaussian_kernel(5.0)
    assert len(k) == 41 and abs(k.sum() - 1) < 1e-12 and np.allclose(k, k[::-1])
    flat = gaussian_blur(np.full((7, 9), 0.25))
    assert np.allclose(flat, 0.25)  # edge replication keeps a constant image constant


# ----- networks and parity --------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_every_stage_loads_strictly(cs, case):
    folder = cs / case / "model"
    data = read_folder(folder)
    model = load_folder(folder)
    for stage in range(3):
        G, D = load_stage_networks(folder, stage, model.options)
        assert isinstance(G, GrowingGenerator) and G.num_stages == stage + 1
        assert isinstance(D, Discriminator)
        sd = torch.load(folder / str(stage) / "netG.pth", weights_only=True)
        assert list(G.state_dict()) == list(sd)
    assert data.last_stage == 2


def test_generation_parity(cs, gen_model):
    d = cs / "generation"
    rec = gen_model.reconstruct()
    noise = torch.load(d / "noise.pth", weights_only=True)
    with torch.no_grad():
        sample = gen_model(noise)
    seeded = gen_model.sample(torch.Generator().manual_seed(2024))  # = official RNG order
    diffs = {"reconstruction": maxdiff(rec, np.load(d / "reconstruction.npy")),
             "sample": maxdiff(sample, np.load(d / "sample.npy")),
             "sample_seed_2024": maxdiff(seeded, np.load(d / "sample.npy"))}
    print("consingan generation max|diff|:", diffs)
    assert all(v <= TOL for v in diffs.values()), diffs
    assert maxdiff(gen_model.sample(2024), seeded) == 0.0


def test_harmonization_parity(cs, harm_model, naive):
    d = cs / "harmonization"
    before = {k: v.clone() for k, v in harm_model.state_dict().items()}
    res = harm_model.harmonize(naive[0], naive[1])  # default: train-mode BN, as officially
    eval_raw = harm_model.harmonize(naive[0], bn_mode="eval").raw
    diffs = {
        "naive_input_level0": maxdiff(res.stage0, np.load(d / "naive_input_level0.npy")),
        "harmonized_raw": maxdiff(res.raw, np.load(d / "harmonized_raw.npy")),
        "harmonized_raw_bn_eval_mode": maxdiff(eval_raw,
                                               np.load(d / "harmonized_raw_bn_eval_mode.npy")),
        "mask_dilated": maxdiff(res.mask, np.load(d / "mask_dilated.npy")),
        "harmonized_mask_composited": maxdiff(res.composited,
                                              np.load(d / "harmonized_mask_composited.npy")),
        "reconstruction": maxdiff(harm_model.reconstruct(), np.load(d / "reconstruction.npy")),
    }
    print("consingan harmonization max|diff|:", diffs)
    assert all(v <= TOL for v in diffs.values()), diffs
    # Batch statistics were used without touching the running ones, and the mode is unchanged.
    after = harm_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not harm_model.training


def test_harmonize_input_forms_agree(harm_model, naive):
    image, mask = naive
    a = harm_model.harmonize(image, mask)
    as_tensor = uint8_to_tensor(image)[0]
    bool_mask = mask[:, :, 0] > 0
    b = harm_model.harmonize(as_tensor, torch.from_numpy(bool_mask.astype(np.float32)))
    c = harm_model.harmonize(image[:, :, :3].copy(), bool_mask)
    assert maxdiff(a.composited, b.composited) == 0.0
    assert maxdiff(a.composited, c.composited) == 0.0
    assert harm_model.harmonize(image).composited is None


def test_edit_is_seeded_and_uses_a_wider_mask(harm_model, naive):
    image, mask = naive
    e1 = harm_model.edit(image, mask, generator=7)
    e2 = harm_model.edit(image, mask, generator=torch.Generator().manual_seed(7))
    h = harm_model.harmonize(image, mask)
    assert maxdiff(e1.raw, e2.raw) == 0.0
    assert maxdiff(e1.raw, h.raw) > 0
    assert (e1.mask > 0.5).sum() > (h.mask > 0.5).sum()  # radius 20 vs 7


@pytest.mark.parametrize("scale_h,scale_w", [(1.0, 2.0), (2.0, 1.0), (2.0, 2.0), (0.6, 1.5)])
def test_samples_at_other_sizes(gen_model, harm_model, scale_h, scale_w):
    for model in (gen_model, harm_model):
        h, w = model.reals_shapes[-1]
        out = model.sample(3, scale_h=scale_h, scale_w=scale_w)
        assert out.shape == (1, 3, int(h * scale_h), int(w * scale_w))
        assert torch.isfinite(out).all() and out.abs().max() <= 1


def test_grow_and_add_stage():
    opts = {"nfc": 8, "num_layer": 2, "reals_shapes": [[9, 12]], "batch_norm": True}
    model = ConSinGANModel(opts)
    g0 = model.generator.body[0].block1.conv.weight.detach().clone()
    model.add_stage(torch.zeros(1, 3, 12, 15), torch.randn(1, 8, 16, 19), 0.05)
    assert model.num_stages == 2 and model.options["reals_shapes"] == [[9, 12], [12, 15]]
    assert torch.equal(model.generator.body[1].block1.conv.weight, g0)
    assert "body.1.block0.norm.running_var" in model.generator.state_dict()
    assert model.sample(0).shape == (1, 3, 12, 15)
    rebuilt = ConSinGANModel(model.options)
    rebuilt.load_state_dict(model.state_dict(), strict=True)


# ----- bundles, registry, export --------------------------------------------------------------
def _outputs(model, naive):
    return [model.reconstruct(), model.sample(11), model.sample(5, 1.0, 1.5),
            model.harmonize(naive[0], naive[1]).composited]


@pytest.mark.parametrize("case", CASES)
def test_bundle_round_trip_through_registry(cs, case, naive, tmp_path):
    folder = cs / case / "model"
    direct = load_folder(folder)
    bundle = import_folder(folder)
    assert bundle.architecture == "consingan" and bundle.network_names() == ["G"]
    assert bundle.provenance["format"] == "official ConSinGAN folder"
    assert bundle.provenance["train_mode"] == case and bundle.license == ""
    json.dumps(bundle.options)  # options are JSON
    assert get_architecture("consingan") is not None and ARCHITECTURE.kind == "single_image"
    rebuilt = build_networks(bundle)["G"]
    for a, b in zip(_outputs(direct, naive), _outputs(rebuilt, naive)):
        assert maxdiff(a, b) == 0.0
    # The flattened folder state goes through detect/from_official to the same weights.
    flat = folder_state(folder)
    opts = detect(flat)
    assert opts["reals_shapes"] == bundle.options["reals_shapes"]
    assert opts["train_mode"] == case and opts["batch_norm"] == (case == "harmonization")
    state = from_official(flat, opts)
    assert set(state) == set(bundle.state)
    assert all(torch.equal(state[k].float(), bundle.state[k].float()) for k in state)
    assert detect(torch.load(folder / "2" / "netG.pth", weights_only=True)) is None
    # And through our model file.
    from models.modelfile import load_model_file, save_model_file
    path = save_model_file(bundle, tmp_path / "m.safetensors")
    again = build_networks(load_model_file(path))["G"]
    assert maxdiff(again.reconstruct(), direct.reconstruct()) == 0.0


@pytest.mark.parametrize("case", CASES)
def test_export_and_reimport(cs, case, naive, tmp_path):
    model = load_folder(cs / case / "model")
    out = export_folder(model, tmp_path / "exported")
    assert not (out / "G.pth").exists()
    amps = torch.load(out / "noise_amp.pth", weights_only=True)
    assert amps[0] == 1 and isinstance(amps[0], int) and amps[1].dim() == 0
    official = parse_parameters(cs / case / "model" / "parameters.txt")
    exported = parse_parameters(out / "parameters.txt")
    assert {k: v for k, v in exported.items() if k != "batch_norm"} == \
        {k: v for k, v in official.items() if k != "batch_norm"}
    assert bool(exported["batch_norm"]) == (case == "harmonization")
    again = load_folder(out)
    for a, b in zip(_outputs(model, naive), _outputs(again, naive)):
        assert maxdiff(a, b) == 0.0
    # The last stage's file is the full generator, loadable as an official state dict.
    sd = torch.load(out / "2" / "netG.pth", weights_only=True)
    assert all(torch.equal(sd[k], v) for k, v in model.generator.state_dict().items())
    # Via a bundle as well.
    out2 = export_bundle(import_folder(cs / case / "model"), tmp_path / "from_bundle")
    assert maxdiff(load_folder(out2).reconstruct(), model.reconstruct()) == 0.0
    with pytest.raises(CheckpointError, match="G.pth"):
        (tmp_path / "stale").mkdir()
        (tmp_path / "stale" / "G.pth").write_bytes(b"x")
        export_folder(model, tmp_path / "stale")


# ----- typed errors ---------------------------------------------------------------------------
def test_bad_inputs(harm_model, gen_model, naive):
    image, mask = naive
    cases = [
        (lambda: harm_model.harmonize(image[:, :, 0]), "HxWx3"),
        (lambda: harm_model.harmonize(image[:, :, :2].copy()), "HxWx3"),
        (lambda: harm_model.harmonize(torch.zeros(1, 4, 20, 20)), "3 colour channels"),
        (lambda: harm_model.harmonize(torch.zeros(1, 3, 20, 20) + 5), r"\[-1, 1\]"),
        (lambda: harm_model.harmonize(image.astype(np.float32)), "uint8"),
        (lambda: harm_model.harmonize("naive.png"), "numpy"),
        (lambda: harm_model.harmonize(image, np.ones((10, 10), bool)), "must match"),
        (lambda: harm_model.harmonize(image, np.zeros(mask.shape, np.uint8)), "empty"),
        (lambda: harm_model.harmonize(image, torch.full((43, 64), 2.0)), r"\[0, 1\]"),
        (lambda: harm_model.harmonize(image, mask, bn_mode="running"), "bn_mode"),
        (lambda: gen_model.sample(0, scale_h=0.0), "positive"),
        (lambda: gen_model.sample(0, scale_h=0.01), "empty"),
        (lambda: gen_model.sample("seed"), "generator"),
        (lambda: ConSinGANModel({"nfc": 8}), "reals_shapes"),
        (lambda: ConSinGANModel({"reals_shapes": [[9, 9]], "ker_size": 5}), "ker_size"),
        (lambda: ConSinGANModel({"reals_shapes": [[9, 9]], "train_mode": "paint"}), "train_mode"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()


def _copy(cs, tmp_path, case="generation"):
    dst = tmp_path / case
    shutil.copytree(cs / case / "model", dst)
    return dst


@pytest.mark.parametrize("name", ["reals.pth", "fixed_noise.pth", "noise_amp.pth",
                                  "parameters.txt", "2/netG.pth"])
def test_folder_with_a_missing_file(cs, tmp_path, name):
    folder = _copy(cs, tmp_path)
    (folder / name).unlink()
    if name == "2/netG.pth":
        # stage 2 vanishes: the lists now have one entry too many
        with pytest.raises(CheckpointError, match="3 entries"):
            import_folder(folder)
        return
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        import_folder(folder)


@pytest.mark.parametrize("name", ["reals.pth", "fixed_noise.pth", "noise_amp.pth", "2/netG.pth"])
def test_folder_with_a_corrupt_file(cs, tmp_path, name):
    folder = _copy(cs, tmp_path)
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=name.split("/")[-1].replace(".", r"\.")):
        import_folder(folder)


def test_folder_with_wrong_contents(cs, tmp_path):
    folder = _copy(cs, tmp_path)
    torch.save([torch.zeros(1, 3, 5, 5)], folder / "reals.pth")
    with pytest.raises(CheckpointError, match="reals.pth"):
        import_folder(folder)
    folder = _copy(cs, tmp_path / "b")
    torch.save({"not": "a list"}, folder / "noise_amp.pth")
    with pytest.raises(CheckpointError, match="noise_amp.pth"):
        import_folder(folder)
    folder = _copy(cs, tmp_path / "c")
    sd = torch.load(folder / "2" / "netG.pth", weights_only=True)
    sd.pop("tail.0.bias")
    torch.save(sd, folder / "2" / "netG.pth")
    with pytest.raises(ArchitectureMismatchError, match="tail.0.bias"):
        import_folder(folder)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_folder_with_only_a_pickled_module_is_refused(tmp_path):
    folder = tmp_path / "only_G"
    folder.mkdir()
    marker = tmp_path / "pwned"
    torch.save(_RunsCode(marker), folder / "G.pth")
    with pytest.raises(CheckpointError, match="G.pth"):
        import_folder(folder)
    assert not marker.exists()


def test_pickled_module_beside_a_good_folder_is_ignored(cs, tmp_path):
    folder = _copy(cs, tmp_path)
    marker = tmp_path / "pwned"
    torch.save(_RunsCode(marker), folder / "G.pth")
    import_folder(folder)
    assert not marker.exists()


def test_unsafe_data_file_is_refused(cs, tmp_path):
    folder = _copy(cs, tmp_path)
    marker = tmp_path / "pwned"
    torch.save([_RunsCode(marker)], folder / "fixed_noise.pth")
    with pytest.raises(UnsafeCheckpointError, match="fixed_noise.pth"):
        import_folder(folder)
    assert not marker.exists()


def test_bundle_helper_keeps_state(gen_model):
    b = bundle_from_model(gen_model, {"source": "test"})
    assert set(b.state) == {"G." + k for k in gen_model.state_dict()}
