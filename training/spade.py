"""SPADE training (NVlabs/SPADE ``pix2pix_model`` + ``pix2pix_trainer``), written anew.

One step: a generator update (hinge GAN + feature matching x lambda_feat + VGG x lambda_vgg
[+ KL x lambda_kld with the VAE encoder] [+ L1 to the photo x lambda_l1, ours, off by default]), then a discriminator update on a freshly generated fake,
fake and real going through the multiscale discriminator as ONE batch as officially. TTUR: G at
lr/2, D at 2*lr, Adam betas (0, 0.9); lr constant for ``niter`` epochs then linear to 0 over
``niter_decay``. Spectral norm sits where the official ``spectral*`` norms put it (G: conv_0,
conv_1, conv_s of every residual block; E: every conv; D: the middle convs) and is folded at
export, so the model file loads in the app's ``LabelToImage``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.bundle import ModelBundle
from models.discriminators import MultiscaleDiscriminator
from models.spade.encoder import ConvEncoder
from models.spade.generator import SPADEGenerator, SPADEOptions, SPADEResnetBlock
from models.spade.norm import fold_spectral_norm

from . import semantic
from .errors import TrainingError
from .losses import GANLoss, VGGLoss, feature_matching, kl_divergence
from .trainer import Trainer, frozen, init_weights, linear_decay

DEFAULTS: dict[str, Any] = dict(
    label_nc=None, contain_dontcare_label=None, no_instance=False, labelset=None,
    ngf=64, ndf=64, num_D=2, n_layers_D=4, norm_G="spectralspadesyncbatch3x3",
    norm_D="spectralinstance", norm_E="spectralinstance", num_upsampling_layers="normal",
    crop_size=256, aspect_ratio=1.0, use_vae=False, z_dim=256,
    lr=0.0002, beta1=None, beta2=None, no_TTUR=False, niter=50, niter_decay=0,
    gan_mode="hinge", lambda_feat=10.0, lambda_vgg=10.0, lambda_kld=0.05, lambda_l1=0.0,
    no_ganFeat_loss=False, no_vgg_loss=False, vgg_weights=None,
    init_type="xavier", init_variance=0.02,
)


def normalize_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TrainingError(f"unknown SPADE option(s): {', '.join(unknown)}")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    o = semantic.label_options(o, semantic.resolve_labelset(o["labelset"]))
    if o["beta1"] is None:  # official: (0, 0.9) with TTUR, (0.5, 0.999) with --no_TTUR
        o["beta1"] = 0.5 if o["no_TTUR"] else 0.0
    if o["beta2"] is None:
        o["beta2"] = 0.999 if o["no_TTUR"] else 0.9
    if o["gan_mode"] not in ("hinge", "ls", "lsgan", "original", "vanilla"):
        raise TrainingError(f"unknown gan_mode {o['gan_mode']!r} (hinge, ls, original)")
    if o["use_vae"] and int(o["crop_size"]) < 256:
        # The encoder sees 256x256 inputs and has its 6th layer only for crops >= 256 (as
        # officially): with smaller crops its features do not fit fc_mu / fc_var.
        raise TrainingError("use_vae needs crop_size >= 256 (the style encoder's layout)")
    try:
        SPADEOptions.from_dict(o)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    return o


def _spectral(module: nn.Module) -> nn.Module:
    return nn.utils.spectral_norm(module)


class SPADETrainer(Trainer):
    family = "spade"
    ema_modules = ("G", "E")
    sync_batchnorm = ("G",)  # the official 'spadesyncbatch' norm
    required_keys = ("label", "image")

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__()
        self.options = normalize_options(options or {})
        self.labelset = semantic.resolve_labelset(self.options["labelset"])
        self.vgg: VGGLoss | None = None
        self.gan: GANLoss | None = None

    def input_description(self) -> str:
        return ("SPADE trains on label -> image samples (build_dataset('paired' / "
                "'coco-stuff' / ...))")

    @property
    def spade_options(self) -> SPADEOptions:
        return SPADEOptions.from_dict(self.options)

    # ------------------------------------------------------------------ build
    def build(self, options: dict[str, Any] | None = None) -> None:
        if options is not None and options is not self.options:
            self.options = normalize_options(options)
            self.labelset = semantic.resolve_labelset(self.options["labelset"])
        o, so = self.options, self.spade_options
        gain = float(o["init_variance"])
        G = init_weights(SPADEGenerator(so), o["init_type"], gain)
        if "spectral" in o["norm_G"]:
            for block in G.modules():
                if isinstance(block, SPADEResnetBlock):
                    for name in ("conv_0", "conv_1", "conv_s"):
                        if hasattr(block, name):
                            _spectral(getattr(block, name))
        self.modules = {"G": G}
        g_params = list(G.parameters())
        if so.use_vae:
            E = init_weights(ConvEncoder(so.ngf, so.z_dim, so.crop_size), o["init_type"], gain)
            if "spectral" in o["norm_E"]:
                for i in range(1, E.num_layers + 1):
                    _spectral(getattr(E, f"layer{i}")[0])
            self.modules["E"] = E
            g_params += list(E.parameters())
        d_in = so.semantic_nc + 3
        D = MultiscaleDiscriminator(d_in, int(o["ndf"]), int(o["n_layers_D"]), o["norm_D"],
                                    int(o["num_D"]), get_interm_feat=True, style="spade")
        self.modules["D"] = init_weights(D, o["init_type"], gain)
        lr = float(o["lr"])
        g_lr, d_lr = (lr, lr) if o["no_TTUR"] else (lr / 2, lr * 2)
        betas = (float(o["beta1"]), float(o["beta2"]))
        self.optimizers = {"G": torch.optim.Adam(g_params, lr=g_lr, betas=betas),
                           "D": torch.optim.Adam(D.parameters(), lr=d_lr, betas=betas)}
        factor = linear_decay(int(o["niter"]), int(o["niter_decay"]))
        self.schedulers = {n: torch.optim.lr_scheduler.LambdaLR(opt, factor)
                           for n, opt in self.optimizers.items()}
        self.gan = GANLoss(o["gan_mode"], convention="spade")
        self.vgg = None if o["no_vgg_loss"] else VGGLoss.maybe(o["vgg_weights"])

    def attach(self, runtime, ema_decay=None) -> None:
        super().attach(runtime, ema_decay)
        if self.vgg is not None:
            self.vgg.to(runtime.device)

    # ------------------------------------------------------------------ steps
    def check_batch(self, batch: dict[str, Any]) -> None:
        super().check_batch(batch)
        so = self.spade_options
        semantic.check_labels(batch, so.label_channels)
        n, h, w = batch["label"].shape[0], *batch["label"].shape[-2:]
        if h % so.grid or w % so.grid:
            raise TrainingError(f"SPADE ({so.num_upsampling_layers}) needs sides that are "
                                f"multiples of {so.grid}; the samples are {w}x{h} (set "
                                "--load_size, --crop_size or the preprocess mode)")
        if so.param_free_norm == "batch" and n * (h // so.grid) * (w // so.grid) == 1:
            raise TrainingError(f"batch norm cannot train on {w}x{h} crops one at a time (a "
                                "1x1 first feature map): use --batchSize 2 or larger crops")

    def _inputs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        so = self.spade_options
        seg = semantic.generator_input(batch, so.label_channels, not so.no_instance)
        return seg, batch["image"]

    def _generate(self, seg: torch.Tensor, real: torch.Tensor, kld: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
        z, kld_loss = None, None
        if self.spade_options.use_vae:
            mu, logvar = self.net("E")(real)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            if kld:
                weight = float(self.options["lambda_kld"])
                kld_loss = kl_divergence(mu.float(), logvar.float()) * weight
        return self.net("G")(seg, z=z), kld_loss

    @staticmethod
    def _discriminator_input(seg: torch.Tensor, fake: torch.Tensor, real: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fake and real pairs (label map + image) as ONE batch, as officially, holding only the
        label channels present: the all-zero ones would cost most of the first conv's time."""
        present = (seg.amax(dim=(0, 2, 3)) != 0).nonzero().flatten()
        channels = torch.cat([present, torch.arange(seg.shape[1], seg.shape[1] + 3,
                                                    device=seg.device)])
        seg = seg.index_select(1, present)
        joint = torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real], 1)], 0)
        return joint, channels

    @staticmethod
    def _split(outputs: list[list[torch.Tensor]]) -> tuple[list, list]:
        """Fake and real halves of the joint discriminator batch."""
        fake = [[t[: t.shape[0] // 2] for t in scale] for scale in outputs]
        real = [[t[t.shape[0] // 2:] for t in scale] for scale in outputs]
        return fake, real

    def train_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        o = self.options
        seg, real = self._inputs(batch)
        losses: dict[str, torch.Tensor] = {}
        # --- generator (and encoder)
        with self.autocast():
            fake, kld = self._generate(seg, real, kld=True)
            D = self.modules["D"]
            with frozen(D):
                joint, channels = self._discriminator_input(seg, fake, real)
                pred_fake, pred_real = self._split(D(joint, channels=channels))
            losses["G_GAN"] = self.gan.generator(pred_fake)
            if not o["no_ganFeat_loss"]:
                losses["G_Feat"] = feature_matching(pred_real, pred_fake,
                                                    float(o["lambda_feat"]))
            if self.vgg is not None:
                losses["G_VGG"] = self.vgg(fake.float(), real.float()) * float(o["lambda_vgg"])
            if float(o["lambda_l1"]):
                losses["G_L1"] = F.l1_loss(fake.float(), real.float()) * float(o["lambda_l1"])
            if kld is not None:
                losses["KLD"] = kld
            g_loss = sum(losses.values())
        self.optimize("G", g_loss)
        # --- discriminator, on a new fake (new z) as the official code draws it
        with self.autocast():
            with torch.no_grad():
                fake, _ = self._generate(seg, real)
            joint, channels = self._discriminator_input(seg, fake.detach(), real)
            pred_fake, pred_real = self._split(self.net("D")(joint, channels=channels))
            d_real, d_fake = self.gan.discriminator_terms(pred_real, pred_fake)
            d_loss = d_real + d_fake
        self.optimize("D", d_loss)
        losses.update(D_real=d_real, D_fake=d_fake)
        return {k: v.detach() for k, v in losses.items()}

    @torch.no_grad()
    def run_export_generator(self, batch: dict[str, Any]) -> torch.Tensor:
        seg, real = self._inputs(batch)
        z = None
        if "E" in self.modules:
            z, _ = self.export_module("E")(real)  # the target's style: its mean latent
        return self.export_module("G")(seg, z=z)

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for name in ("G", "E"):
            if name in self.modules:
                self.export_module(name).eval()
        fake = self.run_export_generator(batch)
        shown = semantic.shown_labels(batch, self.spade_options.label_channels, self.labelset)
        return shown, fake.float(), batch["image"]

    # ------------------------------------------------------------------ export
    def export_bundle(self) -> ModelBundle:
        so = self.spade_options
        state: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name in ("G", "E"):
            if name in self.modules:
                folded = fold_spectral_norm(self.export_module(name).state_dict())
                state.update((f"{name}.{k}", v.detach().cpu().clone()) for k, v in folded.items())
        options = so.to_dict()
        if self.labelset is not None:
            options["labelset"] = self.labelset.name
        return ModelBundle("spade", options, state, self.labelset)
