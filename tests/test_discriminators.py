"""PatchGAN discriminators: official key names, number and shapes of outputs/feature maps."""
from __future__ import annotations

import pytest
import torch

from models.discriminators import MultiscaleDiscriminator, NLayerDiscriminator
from models.errors import InputError


def test_pix2pix_patchgan_keys_and_output():
    d = NLayerDiscriminator(6, ndf=64, n_layers=3, norm="batch")
    # The official basic D (70x70 PatchGAN) with BatchNorm.
    expected = ["model.0.weight", "model.0.bias", "model.2.weight"]
    for i in (3, 6, 9):
        expected += [f"model.{i}.{p}" for p in
                     ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
        if i < 9:
            expected.append(f"model.{i + 2}.weight")
    expected += ["model.11.weight", "model.11.bias"]
    assert sorted(d.state_dict()) == sorted(expected)
    assert d.state_dict()["model.8.weight"].shape == (512, 256, 4, 4)
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_pix2pix_patchgan_bias_rule():
    inst = NLayerDiscriminator(3, ndf=8, norm="instance").state_dict()
    none = NLayerDiscriminator(3, ndf=8, norm="none").state_dict()
    assert "model.2.bias" in inst and "model.2.bias" not in none
    assert "model.11.bias" in none
    sig = NLayerDiscriminator(3, ndf=8, n_layers=2, use_sigmoid=True)
    out = sig(torch.randn(2, 3, 64, 64))
    assert out.min() >= 0 and out.max() <= 1


def test_pix2pixhd_multiscale_features_and_keys():
    d = MultiscaleDiscriminator(39, ndf=8, n_layers=3, norm="instance", num_D=3)
    keys = d.state_dict()
    assert "scale0_layer0.0.weight" in keys and "scale2_layer4.0.bias" in keys
    assert "scale1_layer1.0.bias" in keys  # pix2pixHD keeps the bias before the norm
    assert keys["scale0_layer3.0.weight"].shape == (64, 32, 4, 4)
    out = d(torch.randn(1, 39, 256, 256))
    assert len(out) == 3 and all(len(scale) == 5 for scale in out)
    # padding 2: 256 -> 129 -> 65 -> 33 -> 34 (stride 1) -> 35
    assert [f.shape[-1] for f in out[0]] == [129, 65, 33, 34, 35]
    assert out[1][-1].shape[-1] == 19 and out[2][-1].shape[-1] == 11
    assert [f.shape[1] for f in out[0]] == [8, 16, 32, 64, 1]


def test_pix2pixhd_full_resolution_goes_to_the_highest_index():
    d = MultiscaleDiscriminator(3, ndf=4, n_layers=2, num_D=2)
    with torch.no_grad():
        d.scale1_layer3[0].bias.fill_(100.0)
        out = d(torch.randn(1, 3, 64, 64))
    assert out[0][-1].mean() > 50 and out[1][-1].mean() < 50


def test_pix2pixhd_without_intermediate_features():
    d = MultiscaleDiscriminator(3, ndf=4, n_layers=3, norm="batch", num_D=2,
                                get_interm_feat=False)
    keys = d.state_dict()
    assert "layer0.0.weight" in keys and "layer1.3.running_mean" in keys
    assert not any(k.startswith("scale") for k in keys)
    out = d(torch.randn(2, 3, 64, 64))
    assert len(out) == 2 and all(len(scale) == 1 for scale in out)


def test_spade_multiscale_features_and_keys():
    d = MultiscaleDiscriminator(186, ndf=8, n_layers=4, norm="spectralinstance", num_D=2,
                                style="spade")
    keys = d.state_dict()
    assert "discriminator_0.model0.0.weight" in keys
    assert "discriminator_1.model1.0.0.weight_orig" in keys
    assert "discriminator_1.model1.0.0.weight_u" in keys
    assert "discriminator_0.model1.0.0.bias" not in keys  # removed before the norm
    assert "discriminator_0.model4.0.bias" in keys
    out = d(torch.randn(1, 186, 256, 256))
    assert len(out) == 2 and all(len(scale) == 5 for scale in out)
    # strides 2, 2, 2, 1 (the last middle conv), then the 1-channel conv
    assert [f.shape[-1] for f in out[0]] == [129, 65, 33, 34, 35]
    assert [f.shape[1] for f in out[0]] == [8, 16, 32, 64, 1]
    assert out[1][0].shape[-1] == 65
    plain = MultiscaleDiscriminator(3, ndf=4, n_layers=4, norm="instance", num_D=2,
                                    style="spade", get_interm_feat=False)
    assert all(len(scale) == 1 for scale in plain(torch.randn(1, 3, 64, 64)))


def test_gradients_flow_for_feature_matching():
    d = MultiscaleDiscriminator(4, ndf=4, n_layers=2, num_D=2)
    x = torch.randn(1, 4, 32, 32, requires_grad=True)
    loss = sum(f.abs().mean() for scale in d(x) for f in scale)
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_options():
    with pytest.raises(InputError):
        MultiscaleDiscriminator(3, style="stylegan")
    with pytest.raises(InputError):
        NLayerDiscriminator(3, norm="group")


def test_multiscale_discriminator_on_present_channels_only():
    """A one-hot label map's absent channels can be left out of the input: the first convs use
    the matching weight columns and every feature and gradient is the same."""
    torch.manual_seed(0)
    d = MultiscaleDiscriminator(13, ndf=4, n_layers=3, norm="spectralinstance", num_D=2,
                                style="spade").eval()  # eval: no power iteration between calls
    full = torch.zeros(2, 13, 32, 32)
    full[:, 3, :16], full[:, 7, 16:] = 1, 1
    full[:, 10:] = torch.randn(2, 3, 32, 32)
    channels = torch.tensor([3, 7, 10, 11, 12])
    compact = full[:, channels].clone().requires_grad_(True)
    full.requires_grad_(True)
    feats = []
    for call in (lambda: d(full), lambda: d(compact, channels=channels)):
        d.zero_grad()
        out = call()
        sum(f.sum() for scale in out for f in scale).backward()
        feats.append(([f.detach() for scale in out for f in scale],
                      d.discriminator_0.model0[0].weight.grad.clone()))
    for a, b in zip(feats[0][0], feats[1][0]):
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(feats[0][1], feats[1][1], rtol=1e-4, atol=1e-4)
    assert torch.allclose(full.grad[:, channels], compact.grad, atol=1e-6)
