"""training.losses and training.metrics: values on hand-computed inputs, weight loading, errors.

The VGG19 and Inception-v3 files used here are randomly initialised networks saved to a temporary
folder: they test only the loading path (key names, errors), never what a pretrained network
would give. No weights are downloaded.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from models.errors import LabelSetError
from models.labelsets import LabelClass, LabelSet
from training.errors import TrainingError, WeightsFileError
from training.losses import (GANLoss, VGG19Features, VGGLoss, feature_matching,
                             kl_divergence)
from training.metrics import (activation_statistics, class_color_stats, color_stats_distance,
                              fid, frechet_distance, laplacian_pyramid, sliced_wasserstein)

REAL = torch.tensor([0.5, 2.0, -1.0])
FAKE = torch.tensor([-2.0, 0.0, 1.0])


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# ----------------------------------------------------------------------------- GAN losses

def test_hinge_on_tensors():
    loss = GANLoss("hinge")
    assert loss.convention == "spade"
    real, fake = loss.discriminator_terms(REAL, FAKE)
    assert real.item() == pytest.approx((0.5 + 0 + 2) / 3)   # relu(1 - real)
    assert fake.item() == pytest.approx((0 + 1 + 2) / 3)     # relu(1 + fake)
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(2.5 / 3 + 1)  # SPADE: sum
    assert loss.generator(FAKE).item() == pytest.approx(1 / 3)  # -mean(fake)


def test_lsgan_on_tensors():
    loss = GANLoss("lsgan")
    assert loss.convention == "pix2pixhd"
    real, fake = loss.discriminator_terms(REAL, FAKE)
    assert real.item() == pytest.approx((0.25 + 1 + 4) / 3)
    assert fake.item() == pytest.approx((4 + 0 + 1) / 3)
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(0.5 * (1.75 + 5 / 3))
    assert loss.generator(FAKE).item() == pytest.approx((9 + 1 + 0) / 3)


def test_vanilla_on_tensors():
    loss = GANLoss("vanilla")
    want_real = np.mean([_softplus(-x) for x in REAL.tolist()])
    want_fake = np.mean([_softplus(x) for x in FAKE.tolist()])
    real, fake = loss.discriminator_terms(REAL, FAKE)
    assert real.item() == pytest.approx(want_real, rel=1e-5)
    assert fake.item() == pytest.approx(want_fake, rel=1e-5)
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(0.5 * (want_real + want_fake),
                                                                  rel=1e-5)
    assert loss.generator(FAKE).item() == pytest.approx(
        np.mean([_softplus(-x) for x in FAKE.tolist()]), rel=1e-5)


def test_official_aliases_and_bad_mode():
    assert GANLoss("ls").mode == "lsgan" and GANLoss("original").mode == "vanilla"
    with pytest.raises(TrainingError):
        GANLoss("wasserstein-ish")
    with pytest.raises(TrainingError):
        GANLoss("hinge", convention="other")


def _multiscale(pred0: torch.Tensor, pred1: torch.Tensor) -> list[list[torch.Tensor]]:
    feat = torch.zeros(1, 2, 3, 3)
    return [[feat, pred0], [feat, pred1]]


def test_multiscale_lists_mean_for_spade_sum_for_pix2pixhd():
    real = _multiscale(REAL, torch.tensor([1.0, 3.0]))    # hinge real terms: 2.5/3 and 0
    fake = _multiscale(FAKE, torch.tensor([-1.0, -1.0]))  # hinge fake terms: 1 and 0
    spade = GANLoss("hinge")
    assert spade.discriminator_terms(real, fake)[0].item() == pytest.approx(2.5 / 3 / 2)
    assert spade.discriminator(real, fake).item() == pytest.approx((2.5 / 3 + 1) / 2)
    assert spade.generator(fake).item() == pytest.approx((1 / 3 + 1) / 2)

    hd = GANLoss("lsgan")  # pix2pixHD: sum over scales, D halved
    r0, r1 = 1.75, ((0 + 4) / 2)
    f0, f1 = 5 / 3, 1.0
    assert hd.discriminator_terms(real, fake)[0].item() == pytest.approx(r0 + r1)
    assert hd.discriminator(real, fake).item() == pytest.approx(0.5 * (r0 + r1 + f0 + f1))
    # a plain list of per-scale predictions is read the same way
    assert hd.loss([REAL, torch.tensor([1.0, 3.0])], True).item() == pytest.approx(r0 + r1)
    assert GANLoss("hinge", convention="pix2pixhd").generator(fake).item() == pytest.approx(
        1 / 3 + 1)


def test_gan_loss_with_discriminator_output():
    from models.discriminators import MultiscaleDiscriminator

    torch.manual_seed(0)
    d = MultiscaleDiscriminator(3, ndf=8, n_layers=2, num_D=2, style="spade",
                                norm="spectralinstance")
    out = d(torch.randn(2, 3, 32, 32))
    value = GANLoss("hinge").generator(out)
    assert value.dim() == 0 and value.item() == pytest.approx(
        -(out[0][-1].mean() + out[1][-1].mean()).item() / 2, rel=1e-5)
    with pytest.raises(TrainingError):
        GANLoss("hinge").generator([])


# ----------------------------------------------------------------------------- FM, KL

def _features(value: float, requires_grad: bool = False):
    outs = []
    for _ in range(2):  # 2 scales, 2 intermediate features + prediction each
        feats = [torch.full((1, 4, 5, 5), value, requires_grad=requires_grad) for _ in range(2)]
        outs.append(feats + [torch.zeros(1, 1, 5, 5)])
    return outs


def test_feature_matching_values_and_detached_real():
    real = _features(0.0, requires_grad=True)
    same = feature_matching(_features(0.0), _features(0.0))
    assert same.item() == 0.0
    fake = _features(1.0, requires_grad=True)
    value = feature_matching(real, fake)  # 4 terms of L1 = 1, each x 10 / num_D(2)
    assert value.item() == pytest.approx(20.0)
    assert feature_matching(real, fake, lambda_feat=1.0, layer_weight=0.5).item() == \
        pytest.approx(1.0)
    value.backward()
    assert all(f.grad is None for scale in real for f in scale[:-1])  # no gradient to real
    assert all(f.grad is not None for scale in fake for f in scale[:-1])
    with pytest.raises(TrainingError):
        feature_matching(REAL, FAKE)


def test_kl_divergence():
    zeros = torch.zeros(2, 8)
    assert kl_divergence(zeros, zeros).item() == 0.0
    # mu = 1, logvar = 0: -0.5 * (1 + 0 - 1 - 1) = 0.5 per element, summed
    assert kl_divergence(torch.ones(2, 8), zeros).item() == pytest.approx(8.0)


# ----------------------------------------------------------------------------- VGG

@pytest.fixture(scope="module")
def random_vgg_file(tmp_path_factory):
    """A RANDOMLY initialised torchvision VGG19 with torchvision's key names (features only:
    the classifier is 480 MB and unused). For the loading path only."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.vgg19(weights=None)
    state = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    path = tmp_path_factory.mktemp("vgg") / "vgg19_random.pth"
    torch.save(state, path)
    return path, state


def test_vgg_loss_loads_torchvision_names_and_is_zero_for_identical(random_vgg_file):
    path, state = random_vgg_file
    loss = VGGLoss(path)
    assert torch.equal(loss.vgg.slice5[-2].weight, state["features.28.weight"])  # conv5_1
    assert torch.equal(loss.vgg.slice1[0].bias, state["features.0.bias"])
    torch.manual_seed(1)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert loss(x, x.clone()).item() == 0.0
    y = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    value = loss(y, x)
    assert value.item() > 0
    value.backward()
    assert y.grad is not None and not any(p.requires_grad for p in loss.vgg.parameters())
    assert VGGLoss(path, normalize_input=True)(x, x).item() == 0.0


def test_vgg_loads_official_slice_names_and_safetensors(random_vgg_file, tmp_path):
    from safetensors.torch import save_file

    path, state = random_vgg_file
    official = VGG19Features.from_file(path).state_dict()  # slice1.0.weight ... as SPADE's VGG19
    assert "slice5.28.weight" in official
    torch.save(official, tmp_path / "official.pth")
    net = VGG19Features.from_file(tmp_path / "official.pth")
    assert torch.equal(net.slice3[3].weight, state["features.10.weight"])
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "vgg.safetensors"))
    assert torch.equal(VGG19Features.from_file(tmp_path / "vgg.safetensors").slice2[0].weight,
                       state["features.2.weight"])


def test_vgg_file_errors(tmp_path, random_vgg_file, caplog):
    with pytest.raises(WeightsFileError, match="no such file"):
        VGGLoss(tmp_path / "missing.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(WeightsFileError, match="cannot read"):
        VGGLoss(tmp_path / "corrupt.pth")
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsFileError, match="do not fit"):
        VGGLoss(tmp_path / "wrong.pth")
    _, state = random_vgg_file
    bad = dict(state)
    bad["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(WeightsFileError, match="features.0.weight|slice1.0.weight"):
        VGGLoss(tmp_path / "shape.pth")
    with caplog.at_level(logging.WARNING, logger="training.losses"):
        assert VGGLoss.maybe(None) is None
    assert any("VGG" in r.getMessage() for r in caplog.records)
    with pytest.raises(WeightsFileError):
        VGGLoss.maybe(tmp_path / "missing.pth")


# ----------------------------------------------------------------------------- SWD

def _textures(n: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Smooth random colour textures in 60..190 (room for colour shifts without clipping)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = torch.from_numpy(rng.random((1, 3, size // 8, size // 8))).float()
        fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic",
                                               align_corners=False)[0]
        fine = fine + 0.15 * torch.from_numpy(rng.random((3, size, size))).float()
        out.append((60 + 130 * fine.clamp(0, 1)).permute(1, 2, 0).numpy().astype(np.uint8))
    return out


def _shift(images, delta):
    return [np.clip(img.astype(int) + np.array(delta), 0, 255).astype(np.uint8) for img in images]


def test_laplacian_pyramid_reconstructs():
    x = torch.rand(2, 3, 40, 36) * 255
    pyr = laplacian_pyramid(x, 3)
    assert [tuple(p.shape[2:]) for p in pyr] == [(40, 36), (20, 18), (10, 9)]
    # reconstruct: upsample (zeros + 4 x binomial) the low-pass and add each band back
    from training.metrics import _blur
    img = pyr[-1]
    for band in pyr[-2::-1]:
        up = torch.zeros(*img.shape[:2], img.shape[2] * 2, img.shape[3] * 2)
        up[:, :, ::2, ::2] = img
        img = _blur(up, 4.0)[:, :, :band.shape[2], :band.shape[3]] + band
    assert torch.allclose(img, x, atol=1e-3)


def test_swd_identical_zero_shift_positive_monotonic_deterministic():
    a = _textures(6)
    same = sliced_wasserstein(a, [img.copy() for img in a], seed=3)
    assert same.mean == pytest.approx(0.0, abs=1e-9) and len(same.distances) == 3
    assert same.resolutions == [64, 32, 16]
    small = sliced_wasserstein(a, _shift(a, (12, 0, -12)), seed=3)
    large = sliced_wasserstein(a, _shift(a, (40, 0, -40)), seed=3)
    assert small.mean > 1.0
    assert large.mean > small.mean and large.distances[-1] > small.distances[-1]
    again = sliced_wasserstein(a, _shift(a, (12, 0, -12)), seed=3)
    assert again == small
    assert sliced_wasserstein(a, _shift(a, (12, 0, -12)), seed=4).mean != small.mean
    # an independent set of the same textures is far closer than a strongly shifted one
    other = sliced_wasserstein(a, _textures(6, seed=1), seed=3)
    assert other.mean < large.mean


def test_swd_accepts_float_tensors_and_official_normalisation():
    a = _textures(4, seed=2)
    b = _shift(a, (25, 25, 0))
    as_tensor = lambda imgs: torch.stack([torch.from_numpy(i).permute(2, 0, 1).float() / 127.5 - 1
                                          for i in imgs])
    r_uint8 = sliced_wasserstein(a, b, seed=0)
    r_float = sliced_wasserstein(as_tensor(a), as_tensor(b), seed=0)
    assert r_float.distances == pytest.approx(r_uint8.distances, rel=1e-3, abs=1e-3)
    official = sliced_wasserstein(a, b, normalize="per_set", seed=0)
    assert official.mean < r_uint8.mean  # per-set normalisation hides most of a colour shift
    assert sliced_wasserstein(a, a, normalize="per_set").mean == pytest.approx(0.0, abs=1e-9)
    # different set sizes and image sizes work (the larger set is subsampled)
    mixed = sliced_wasserstein(a + [_textures(1, size=48)[0]], b[:2], seed=0)
    assert mixed.resolutions == [48, 24] and mixed.mean > 0
    with pytest.raises(TrainingError):
        sliced_wasserstein([np.zeros((4, 4, 3), np.uint8)], [np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(TrainingError):
        sliced_wasserstein([np.zeros((32, 32, 3), np.float32)], a)


# ----------------------------------------------------------------------------- colour stats

def test_class_color_stats_two_classes():
    img = np.zeros((8, 8, 3), np.uint8)
    labels = np.zeros((8, 8), np.int64)
    labels[:, :4], labels[:, 4:] = 3, 7
    img[:, :4] = (10, 20, 30)
    img[0::2, 4:] = (100, 100, 100)
    img[1::2, 4:] = (200, 0, 50)
    labelset = LabelSet("test", (LabelClass(3, "sky", (0, 0, 255)),
                                 LabelClass(7, "grass", (0, 255, 0))))
    stats = class_color_stats([img], [labels], labelset)
    assert set(stats) == {3, 7}
    assert stats[3].name == "sky" and stats[3].count == 32
    assert stats[3].mean == pytest.approx((10, 20, 30)) and stats[3].std == pytest.approx((0, 0, 0))
    assert stats[7].name == "grass" and stats[7].count == 32
    assert stats[7].mean == pytest.approx((150, 50, 75)) and stats[7].std == pytest.approx((50, 50, 25))
    # float tensors in [-1, 1] give the same colours; a second image accumulates
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1
    both = class_color_stats(torch.stack([t, t]), torch.from_numpy(np.stack([labels, labels])))
    assert both[7].count == 64 and both[7].mean == pytest.approx((150, 50, 75), abs=1e-3)
    assert both[3].name == "class 3"
    assert class_color_stats([img], [labels], ignore_ids=[3]).keys() == {7}
    dist = color_stats_distance(stats, class_color_stats([_shift([img], (3, 4, 0))[0]], [labels]))
    assert dist == pytest.approx({3: 5.0, 7: 5.0})
    with pytest.raises(LabelSetError):
        class_color_stats([img], [np.full((8, 8), 5)], labelset)
    with pytest.raises(TrainingError):
        class_color_stats([img], [labels[:4]])


# ----------------------------------------------------------------------------- FID

def test_frechet_distance_closed_forms():
    # diagonal (commuting) covariances: |dmu|^2 + sum (sqrt a - sqrt b)^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    want = 5.0 + ((1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-12)
    # 2x2 non-commuting: tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))
    s1 = np.array([[2.0, 0.8], [0.8, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 3.0]])
    tr_root = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    want = np.trace(s1) + np.trace(s2) - 2 * tr_root
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(want, rel=1e-10)
    # same (singular, high-dimensional) covariance: only the means count
    rng = np.random.default_rng(0)
    f = rng.standard_normal((50, 300))  # rank 50 < 300
    mu, sigma = activation_statistics(f)
    shift = rng.standard_normal(300)
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(shift @ shift, rel=1e-6)
    # samples of two Gaussians with known covariances approach the closed form
    x = rng.multivariate_normal([0, 0], s1, size=200_000)
    y = rng.multivariate_normal([1, 0], s2, size=200_000)
    est = frechet_distance(*activation_statistics(x), *activation_statistics(y))
    assert est == pytest.approx(1.0 + want, abs=0.03)
    with pytest.raises(TrainingError):
        activation_statistics(np.zeros((1, 4)))


@pytest.fixture(scope="module")
def random_inception_file(tmp_path_factory):
    """A RANDOMLY initialised torchvision inception_v3 (with its AuxLogits and fc keys), saved
    for the loading path only: its FID values mean nothing."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path_factory.mktemp("inception") / "inception_random.pth"
    torch.save(net.state_dict(), path)
    return path


def test_fid_with_random_inception(random_inception_file, tmp_path):
    a = _textures(3, size=48, seed=5)
    same = fid(a, [img.copy() for img in a], random_inception_file, batch_size=2)
    different = fid(a, _shift(a, (80, -40, 0)), random_inception_file)
    # a random network's features are tiny (~1e-8), so compare with the distance of a shifted set
    assert different > 0 and abs(same) <= 1e-6 * different
    with pytest.raises(WeightsFileError, match="Inception"):
        fid(a, a, None)
    with pytest.raises(WeightsFileError, match="no such file"):
        fid(a, a, tmp_path / "missing.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsFileError, match="do not fit"):
        fid(a, a, tmp_path / "wrong.pth")
