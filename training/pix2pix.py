"""pix2pix training (junyanz/pytorch-CycleGAN-and-pix2pix ``pix2pix_model``), written anew.

One step: G(A) once; the conditional PatchGAN D on (A, fake) and (A, B) as two separate calls (its
batch norm must not mix them), D loss ``0.5 * (real + fake)``; then G's loss GAN + lambda_L1 * L1
(lambda_L1 100). Adam lr 0.0002, betas (0.5, 0.999); the official ``linear`` policy: constant for
``niter`` epochs, then ``1 - max(0, e + 1 - niter) / (niter_decay + 1)``. Weights ~ N(0, 0.02).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F

from models.bundle import ModelBundle
from models.discriminators import NLayerDiscriminator
from models.errors import InputError
from models.pix2pix import build_generator, normalize_options as model_options, set_test_mode

from .errors import TrainingError
from .losses import GANLoss
from .trainer import Trainer, frozen, init_weights, linear_decay

DEFAULTS: dict[str, Any] = dict(
    input_nc=3, output_nc=3, ngf=64, ndf=64, netG="unet_256", netD="basic", n_layers_D=3,
    norm="batch", no_dropout=False, init_type="normal", init_gain=0.02, gan_mode="vanilla",
    lambda_L1=100.0, lr=0.0002, beta1=0.5, beta2=0.999, niter=100, niter_decay=100,
    crop_size=256,
)


def normalize_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TrainingError(f"unknown pix2pix option(s): {', '.join(unknown)}")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if o["netD"] not in ("basic", "n_layers"):
        raise TrainingError(f"netD {o['netD']!r} is not supported (basic or n_layers)")
    if o["gan_mode"] not in ("vanilla", "lsgan", "hinge"):
        raise TrainingError(f"unknown gan_mode {o['gan_mode']!r} (vanilla, lsgan, hinge)")
    try:
        model_options(_generator_options(o))
    except InputError as exc:
        raise TrainingError(str(exc)) from None
    return o


def _generator_options(o: dict[str, Any]) -> dict[str, Any]:
    """The model's options; ``unet_<N>`` (N a power of two, e.g. unet_64 for small tests and
    thumbnails) is the U-Net of log2(N) levels, as unet_128 / unet_256 are."""
    net, extra = o["netG"], {}
    match = re.fullmatch(r"unet_(\d+)", net)
    if match and net not in ("unet_128", "unet_256"):
        size = int(match.group(1))
        if size < 32 or size & (size - 1):
            raise TrainingError(f"netG {net}: the size must be a power of two >= 32")
        net, extra = "unet", {"num_downs": size.bit_length() - 1}
    return dict(netG=net, input_nc=int(o["input_nc"]), output_nc=int(o["output_nc"]),
                ngf=int(o["ngf"]), norm=o["norm"], use_dropout=not o["no_dropout"],
                load_size=int(o["crop_size"]), **extra)


class Pix2PixTrainer(Trainer):
    family = "pix2pix"
    multi_input = ("D",)
    required_keys = ("A", "B")

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__()
        self.options = normalize_options(options or {})
        self.gan: GANLoss | None = None

    def input_description(self) -> str:
        return ("pix2pix trains on image -> image samples (build_dataset('aligned' / "
                "'colorization' / 'unaligned', ...))")

    def build(self, options: dict[str, Any] | None = None) -> None:
        if options is not None and options is not self.options:
            self.options = normalize_options(options)
        o = self.options
        kind, gain = o["init_type"], float(o["init_gain"])
        G = init_weights(build_generator(_generator_options(o)), kind, gain)
        n_layers = 3 if o["netD"] == "basic" else int(o["n_layers_D"])
        D = init_weights(NLayerDiscriminator(int(o["input_nc"]) + int(o["output_nc"]),
                                             int(o["ndf"]), n_layers, o["norm"]), kind, gain)
        self.modules = {"G": G, "D": D}
        betas = (float(o["beta1"]), float(o["beta2"]))
        self.optimizers = {n: torch.optim.Adam(m.parameters(), lr=float(o["lr"]), betas=betas)
                           for n, m in self.modules.items()}
        factor = linear_decay(int(o["niter"]), int(o["niter_decay"]), offset=1,
                              denominator_extra=1)
        self.schedulers = {n: torch.optim.lr_scheduler.LambdaLR(opt, factor)
                           for n, opt in self.optimizers.items()}
        self.gan = GANLoss(o["gan_mode"], convention="pix2pixhd")

    def check_batch(self, batch: dict[str, Any]) -> None:
        super().check_batch(batch)
        o = self.options
        for key, want in (("A", int(o["input_nc"])), ("B", int(o["output_nc"]))):
            if batch[key].dim() != 4 or batch[key].shape[1] != want:
                raise TrainingError(f"samples' {key} are {tuple(batch[key].shape[1:])}, the "
                                    f"model wants {want} channel(s) (--input_nc/--output_nc)")
        grid = getattr(self.modules["G"], "grid", 1)
        h, w = batch["A"].shape[2:]
        if h % grid or w % grid:
            raise TrainingError(f"{o['netG']} needs sides that are multiples of {grid}; the "
                                f"samples are {w}x{h} (set --load_size, --crop_size or the "
                                "preprocess mode)")

    def train_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        real_a, real_b = batch["A"], batch["B"]
        lam = float(self.options["lambda_L1"])
        with self.autocast():
            fake_b = self.net("G")(real_a)
            # --- discriminator: fake and real in two calls of one (DDP) forward
            pred_fake, pred_real = self.net("D")(torch.cat([real_a, fake_b.detach()], 1),
                                                 torch.cat([real_a, real_b], 1))
            d_real, d_fake = self.gan.discriminator_terms(pred_real, pred_fake)
            d_loss = self.gan.discriminator(pred_real, pred_fake)
        self.optimize("D", d_loss)
        with self.autocast():
            D = self.modules["D"]
            with frozen(D):
                pred = D(torch.cat([real_a, fake_b], 1))
            g_gan = self.gan.generator(pred)
            g_l1 = F.l1_loss(fake_b.float(), real_b.float()) * lam
            g_loss = g_gan + g_l1
        self.optimize("G", g_loss)
        return {"G_GAN": g_gan.detach(), "G_L1": g_l1.detach(), "D_real": d_real.detach(),
                "D_fake": d_fake.detach()}

    @torch.no_grad()
    def run_export_generator(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.export_module("G")(batch["A"])

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        G = self.export_module("G")
        # Batch statistics without dropout: the official test behaviour, minus its randomness;
        # running statistics are left alone.
        set_test_mode(G, "deterministic")
        try:
            fake = self.run_export_generator(batch).float()
        finally:
            set_test_mode(G, None)
        a, b = batch["A"], batch["B"]
        if a.shape[1] == 1 and b.shape[1] == 2:  # colorization: show L, L+ab out, L+ab target
            return a, _lab_rgb(a, fake), _lab_rgb(a, b)
        return a, fake, b

    def export_bundle(self) -> ModelBundle:
        G = self.export_module("G")
        state = OrderedDict((f"G.{k}", v.detach().cpu().clone())
                            for k, v in G.state_dict().items())
        options = model_options(_generator_options(self.options))
        return ModelBundle("pix2pix", options, state)


def _lab_rgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    from .data import lab_to_rgb

    rgb = torch.from_numpy(lab_to_rgb(L, ab)).permute(0, 3, 1, 2).float()
    return (rgb / 127.5 - 1).to(L.device)
