"""pix2pixHD training (NVIDIA/pix2pixHD ``pix2pixHD_model`` + ``train.py``), written anew.

Global generator first (``--netG global``); then the local enhancer (``--netG local --ngf 32``)
initialised from the trained global generator (``load_global``: its ``model.N`` weights fill the
enhancer's global part), training only the local part (``model{n_local_enhancers}_*``) for the first
``niter_fix_global`` epochs, then everything with a fresh Adam, as the official code does.

One step: G once; the multiscale D on (label, fake) and (label, real); LSGAN (or vanilla with
``no_lsgan``), D loss ``0.5 * (fake + real)``; G loss GAN + feature matching (lambda_feat *
4 / (n_layers_D + 1) / num_D per layer) + VGG x lambda_feat; G updated, then D. Adam lr 0.0002,
betas (0.5, 0.999), constant for ``niter`` epochs then linear to 0 over ``niter_decay``.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from models.bundle import ModelBundle
from models.discriminators import MultiscaleDiscriminator
from models.errors import ModelError
from models.pix2pixhd import build_global, build_local, normalize_options as model_options

from . import semantic
from .errors import TrainingError
from .losses import GANLoss, VGGLoss, feature_matching
from .trainer import Trainer, frozen, init_weights, linear_decay

DEFAULTS: dict[str, Any] = dict(
    netG="global", label_nc=None, contain_dontcare_label=None, no_instance=False, labelset=None,
    output_nc=3, ngf=None, n_downsample_global=4, n_blocks_global=9, n_local_enhancers=1,
    n_blocks_local=3, norm="instance", ndf=64, n_layers_D=3, num_D=2, no_lsgan=False,
    lambda_feat=10.0, no_ganFeat_loss=False, no_vgg_loss=False, vgg_weights=None,
    lr=0.0002, beta1=0.5, niter=100, niter_decay=100, niter_fix_global=0, load_global=None,
    init_type="normal", init_gain=0.02,
)


def normalize_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TrainingError(f"unknown pix2pixHD option(s): {', '.join(unknown)}")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if o["netG"] not in ("global", "local"):
        raise TrainingError(f"netG must be global or local, not {o['netG']!r}")
    if o["ngf"] is None:
        o["ngf"] = 64 if o["netG"] == "global" else 32
    if o["netG"] == "global":
        o["n_local_enhancers"] = 0
    elif int(o["n_local_enhancers"]) < 1:
        raise TrainingError("a local enhancer needs n_local_enhancers >= 1")
    if o["load_global"] and o["netG"] != "local":
        raise TrainingError("load_global initialises a local enhancer: use it with --netG local")
    return semantic.label_options(o, semantic.resolve_labelset(o["labelset"]))


def _arch_options(o: dict[str, Any]) -> dict[str, Any]:
    keys = ("label_nc", "contain_dontcare_label", "no_instance", "output_nc", "ngf",
            "n_downsample_global", "n_blocks_global", "n_local_enhancers", "n_blocks_local",
            "norm")
    return model_options({k: o[k] for k in keys}, o["netG"])


class Pix2PixHDTrainer(Trainer):
    family = "pix2pixhd"
    multi_input = ("D",)
    required_keys = ("label", "image")

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__()
        self.options = normalize_options(options or {})
        self.labelset = semantic.resolve_labelset(self.options["labelset"])
        self.global_fixed = False
        self.native_size: tuple[int, int] | None = None
        self.gan: GANLoss | None = None
        self.vgg: VGGLoss | None = None

    def input_description(self) -> str:
        return "pix2pixHD trains on label -> image samples (build_dataset('paired' / ...))"

    @property
    def channels(self) -> int:
        return semantic.label_channels(self.options)

    # ------------------------------------------------------------------ build
    def build(self, options: dict[str, Any] | None = None) -> None:
        if options is not None and options is not self.options:
            self.options = normalize_options(options)
            self.labelset = semantic.resolve_labelset(self.options["labelset"])
        o = self.options
        arch = _arch_options(o)
        try:
            G = (build_global if o["netG"] == "global" else build_local)(arch)["G"]
        except ModelError as exc:
            raise TrainingError(str(exc)) from None
        init_weights(G, o["init_type"], float(o["init_gain"]))
        if o["load_global"]:
            _load_global(G, Path(o["load_global"]))
        D = MultiscaleDiscriminator(int(arch["input_nc"]) + int(o["output_nc"]), int(o["ndf"]),
                                    int(o["n_layers_D"]), o["norm"], int(o["num_D"]),
                                    get_interm_feat=not o["no_ganFeat_loss"], style="pix2pixhd")
        init_weights(D, o["init_type"], float(o["init_gain"]))
        self.modules = {"G": G, "D": D}
        self.global_fixed = o["netG"] == "local" and int(o["niter_fix_global"]) > 0
        self.optimizers = {"G": self._adam(self._g_params()), "D": self._adam(D.parameters())}
        self.schedulers = {n: self._scheduler(opt, 0) for n, opt in self.optimizers.items()}
        self.gan = GANLoss("vanilla" if o["no_lsgan"] else "lsgan", convention="pix2pixhd")
        self.vgg = None if o["no_vgg_loss"] else VGGLoss.maybe(o["vgg_weights"])

    def _adam(self, params) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=float(self.options["lr"]),
                                betas=(float(self.options["beta1"]), 0.999))

    def _scheduler(self, opt: torch.optim.Optimizer, epoch: int):
        o = self.options
        factor = linear_decay(int(o["niter"]), int(o["niter_decay"]))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        if epoch:  # join the schedule where the run is
            sched.last_epoch = epoch
            for group, base in zip(opt.param_groups, sched.base_lrs):
                group["lr"] = base * factor(epoch)
            sched._last_lr = [g["lr"] for g in opt.param_groups]
        return sched

    def _g_params(self) -> list[torch.nn.Parameter]:
        G = self.modules["G"]
        if not self.global_fixed:
            return list(G.parameters())
        prefix = f"model{int(self.options['n_local_enhancers'])}"
        return [p for n, p in G.named_parameters() if n.startswith(prefix)]

    def attach(self, runtime, ema_decay=None) -> None:
        super().attach(runtime, ema_decay)
        if self.vgg is not None:
            self.vgg.to(runtime.device)

    def on_epoch_start(self, epoch: int) -> None:
        if self.global_fixed and epoch >= int(self.options["niter_fix_global"]):
            self._unfix(epoch)

    def _unfix(self, epoch: int) -> None:
        """Official ``update_fixed_params``: a fresh Adam over every generator parameter."""
        self.global_fixed = False
        self.optimizers["G"] = self._adam(self._g_params())
        self.schedulers["G"] = self._scheduler(self.optimizers["G"], epoch)
        if self.runtime.amp:
            self.runtime.scalers["G"] = torch.amp.GradScaler(self.runtime.device.type)

    def extra_state(self) -> dict[str, Any]:
        return {"global_fixed": self.global_fixed,
                "native_size": list(self.native_size) if self.native_size else None}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.global_fixed and not state.get("global_fixed", self.global_fixed):
            self._unfix(0)  # the optimizer and scheduler states are loaded next
        size = state.get("native_size")
        self.native_size = tuple(size) if size else self.native_size

    # ------------------------------------------------------------------ steps
    def check_batch(self, batch: dict[str, Any]) -> None:
        super().check_batch(batch)
        semantic.check_labels(batch, self.channels)
        grid = self.modules["G"].grid
        h, w = batch["image"].shape[2:]
        if h % grid or w % grid:
            raise TrainingError(f"this generator needs sides that are multiples of {grid}; the "
                                f"samples are {w}x{h} (set --load_size, --crop_size or the "
                                "preprocess mode)")
        self.native_size = (int(h), int(w))

    def train_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        o = self.options
        seg = semantic.generator_input(batch, self.channels, not o["no_instance"])
        real = batch["image"]
        with self.autocast():
            fake = self.net("G")(seg)
            pred_fake_d, pred_real = self.net("D")(torch.cat([seg, fake.detach()], 1),
                                                   torch.cat([seg, real], 1))
            d_real, d_fake = self.gan.discriminator_terms(pred_real, pred_fake_d)
            d_loss = 0.5 * (d_real + d_fake)
            D = self.modules["D"]
            with frozen(D):
                pred_fake = D(torch.cat([seg, fake], 1))
            losses = {"G_GAN": self.gan.generator(pred_fake)}
            if not o["no_ganFeat_loss"]:
                losses["G_Feat"] = feature_matching(
                    pred_real, pred_fake, float(o["lambda_feat"]),
                    layer_weight=4.0 / (int(o["n_layers_D"]) + 1))
            if self.vgg is not None:
                losses["G_VGG"] = self.vgg(fake.float(), real.float()) * float(o["lambda_feat"])
            g_loss = sum(losses.values())
        self.optimize("G", g_loss)
        self.optimize("D", d_loss)
        losses.update(D_real=d_real, D_fake=d_fake)
        return {k: v.detach() for k, v in losses.items()}

    @torch.no_grad()
    def run_export_generator(self, batch: dict[str, Any]) -> torch.Tensor:
        seg = semantic.generator_input(batch, self.channels, not self.options["no_instance"])
        return self.export_module("G")(seg)

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.export_module("G").eval()
        fake = self.run_export_generator(batch).float()
        return semantic.shown_labels(batch, self.channels, self.labelset), fake, batch["image"]

    # ------------------------------------------------------------------ export
    def export_bundle(self) -> ModelBundle:
        o = self.options
        G = self.export_module("G")
        state = OrderedDict((f"G.{k}", v.detach().cpu().clone())
                            for k, v in G.state_dict().items())
        options = _arch_options(o)
        if self.native_size:  # else the architecture's default stays
            options["native_size"] = list(self.native_size)
        if self.labelset is not None:
            options["labelset"] = self.labelset.name
        name = "pix2pixhd_global" if o["netG"] == "global" else "pix2pixhd_local"
        return ModelBundle(name, options, state, self.labelset)


def _load_global(local_G: torch.nn.Module, path: Path) -> None:
    """Copy a trained global generator's ``model.N`` weights into the enhancer's global part
    (the global generator minus its last 3 layers; same indices)."""
    from models.importers import import_model

    try:
        bundle = import_model(path)
    except ModelError as exc:
        raise TrainingError(f"--load_global: {exc}") from None
    if bundle.architecture != "pix2pixhd_global":
        raise TrainingError(f"--load_global {path}: a {bundle.architecture} model, not a "
                            "pix2pixHD global generator")
    target = local_G.state_dict()
    loaded, mismatched = {}, []
    for key, value in bundle.state.items():
        name = key[len("G."):]
        if name in target:
            if target[name].shape == value.shape:
                loaded[name] = value
            else:
                mismatched.append(f"{name} {tuple(value.shape)} vs {tuple(target[name].shape)}")
    if mismatched or not loaded:
        raise TrainingError(
            f"--load_global {path}: the global generator does not fit this enhancer's global part"
            f" (its ngf must be 2**n_local_enhancers times --ngf, same label channels and "
            f"downsamplings){': ' + '; '.join(mismatched[:4]) if mismatched else ''}")
    local_G.load_state_dict(loaded, strict=False)
