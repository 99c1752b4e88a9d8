"""``ConSinGANTrainer``: trains stage by stage, checkpoints, resumes, fine-tunes, reports.

Randomness comes from three generators seeded from ``seed``: weight init (CPU), noise and the
critic's interpolation weights (on the training device) and the harmonization/editing
augmentation (CPU). Their states are in every checkpoint, so a run stopped and resumed on the
same kind of device gives the same weights as one that never stopped (bit for bit on the CPU).
"""
from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from models.consingan.imresize import imresize_to_shape, uint8_to_tensor
from models.consingan.masks import image_to_tensor
from models.consingan.model import ConSinGANModel
from models.consingan.network import Discriminator
from models.consingan.official import export_folder
from models.consingan.pyramid import build_pyramid, pyramid_shapes
from models.devices import is_out_of_memory, resolve_device, to_uint8_image
from models.errors import InputError

from ..errors import GeneratorCollapsed, TrainingError, TrainingOutOfMemory
from . import state as ckpt
from .augment import harmonization_augment, image_for_augmentation, shuffle_grid, to_tensor
from .export import (cpu_state, discriminator_args, image_fingerprint, load_model, model_file,
                     official_parameters, provenance, read_rgb)
from .generator import official_init
from .progress import LossWindow, Timer, TrainProgress, is_flat, stage_costs
from .settings import TrainSettings
from .stage import StageInputs, StageRun

FINETUNE_MODES = ("harmonization", "editing")


class ConSinGANTrainer:
    """Train ConSinGAN on ``image`` (a path or an H x W x 3 uint8 array) with ``settings``;
    ``device`` is "cpu", "cuda", "cuda:N" or "auto"; with ``checkpoint_dir`` the run can stop
    and go on later (``resume``). See the package docstring for the whole API."""

    def __init__(self, image, settings: TrainSettings, device="cpu", checkpoint_dir=None,
                 seed: int = 0):
        if not isinstance(settings, TrainSettings):
            raise InputError(f"settings must be a TrainSettings, got {type(settings).__name__}")
        settings = settings.checked()
        rgb, source = read_rgb(image)
        self._init_common(settings, device, checkpoint_dir, seed, "train")
        self.source, self.fingerprint = source, image_fingerprint(rgb)
        self.reals = [r.to(self.device) for r in self._pyramid(rgb)]
        self.extra: dict = {}

    def _init_common(self, settings, device, checkpoint_dir, seed, kind) -> None:
        self.settings, self.kind, self.seed = settings, kind, int(seed)
        self.device = resolve_device(device)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.gen_init = torch.Generator().manual_seed(self.seed)
        self.gen_noise = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        self.gen_aug = torch.Generator().manual_seed(self.seed + 2)
        self.model: ConSinGANModel | None = None
        self.D: Discriminator | None = None
        self.stage_run: StageRun | None = None
        self.stage, self.iteration = -1, 0
        self.stage_G: list = []
        self.stage_D: list = []
        self.naive0: torch.Tensor | None = None
        self.window, self.timer = LossWindow(), Timer()
        self._saved_at: tuple[int, int] | None = None
        self.flat = False  # the samples at the last read-back were one flat colour

    def _pyramid(self, rgb) -> list[torch.Tensor]:
        s = self.settings
        h, w = rgb.shape[:2]
        shapes = pyramid_shapes(h, w, s.train_stages, s.min_size, s.max_size, s.train_mode)
        top = shapes[-1]
        if min(top) < s.min_size:
            raise InputError(f"the training image is {w}x{h} px ({top[1]}x{top[0]} after "
                             f"max_size {s.max_size}): its shorter side must be at least "
                             f"min_size {s.min_size}")
        if min(min(sh) for sh in shapes) < s.smallest_level():
            raise InputError(f"the pyramid's smallest level would be {shapes[0][1]}x"
                             f"{shapes[0][0]} px; the critic needs {s.smallest_level()} px")
        reals, _ = build_pyramid(uint8_to_tensor(rgb), s.train_stages, s.min_size, s.max_size,
                                 s.train_mode)
        return reals

    # ----- public state ------------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return 1 if self.kind == "finetune" else self.settings.train_stages

    @property
    def total_iterations(self) -> int:
        return self.num_stages * self.settings.niter

    @property
    def completed_iterations(self) -> int:
        return max(self.stage, 0) * self.settings.niter + (self.iteration if self.stage >= 0 else 0)

    @property
    def finished(self) -> bool:
        return self.stage == self.num_stages - 1 and self.iteration >= self.settings.niter

    @property
    def depth(self) -> int:
        """The model stage being trained (fine-tuning trains the last one)."""
        return len(self.reals) - 1 if self.kind == "finetune" else self.stage

    # ----- stages ------------------------------------------------------------------------------
    def _model_options(self, shapes) -> dict:
        s = self.settings
        return {"nfc": s.nfc, "num_layer": s.num_layer, "ker_size": s.ker_size,
                "padd_size": s.padd_size, "nc_im": 3, "activation": s.activation,
                "lrelu_alpha": s.lrelu_alpha, "batch_norm": s.batch_norm,
                "train_mode": s.train_mode, "noise_amp_init": s.noise_amp,
                "min_size": s.min_size, "max_size": s.max_size, "train_depth": s.train_depth,
                "lr_scale": s.lr_scale, "reals_shapes": [list(sh) for sh in shapes],
                "official_parameters": official_parameters(s.to_dict(), self.source, self.seed)}

    def _randn(self, *shape) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen_noise, device=self.device)

    def _first_fixed_input(self) -> torch.Tensor:
        """Stage 0's fixed input (official ``z_opt``)."""
        s, real0 = self.settings, self.reals[0]
        if s.train_mode == "animation":
            return self._randn(*real0.shape)
        if s.train_mode == "editing":
            return real0 + s.noise_scaling * self._randn(*real0.shape)
        return real0

    def start_stage(self) -> None:
        """Begin the next stage: grow G (a copy of the newest stage), draw its fixed noise, set
        its noise amplitude (0.1 * RMSE of the reconstruction without it), keep D's weights."""
        if self.kind == "finetune":
            self.stage, self.iteration = 0, 0
            self.stage_run = self._make_stage_run()
            return
        d, s = self.stage + 1, self.settings
        real = self.reals[d]
        if d == 0:
            model = ConSinGANModel(self._model_options([real.shape[2:]]))
            official_init(model.generator, self.gen_init)
            self.model = model.to(self.device)
            self.model.set_data([self._first_fixed_input()], [real], [1.0])
            D = Discriminator(**discriminator_args(self.model.options))
            self.D = official_init(D, self.gen_init).to(self.device)
        else:
            G = self.model.generator
            self.model.add_stage(real, self._randn(*G.noise_shape(d, *real.shape[2:])), 0.0)
            G.train()
            with torch.no_grad():
                rec = G(list(self.model.fixed_noise), self.model.reals_shapes,
                        self.model.noise_amp)
                self.model.noise_amp[d] = s.noise_amp * torch.sqrt(F.mse_loss(rec, real))
        self.stage, self.iteration = d, 0
        self.stage_run = self._make_stage_run()

    def _stage0_input(self) -> Callable[[], torch.Tensor]:
        s = self.settings
        h0, w0 = self.model.reals_shapes[0]

        def noisy(x):
            return x + s.noise_scaling * self._randn(1, 3, h0, w0)

        if self.kind == "finetune":
            naive = self.naive0
            return (lambda: noisy(naive)) if s.train_mode == "editing" else (lambda: naive)
        if s.train_mode in FINETUNE_MODES:
            base = image_for_augmentation(self.reals[0])
            if s.train_mode == "harmonization":
                return lambda: to_tensor(harmonization_augment(base, self.gen_aug)).to(self.device)
            return lambda: noisy(to_tensor(shuffle_grid(base, self.gen_aug)).to(self.device))
        return lambda: self._randn(1, 3, h0, w0)

    def _make_stage_run(self) -> StageRun:
        G, depth = self.model.generator, self.depth
        shapes = self.model.reals_shapes
        inputs = StageInputs(self._stage0_input(),
                             [G.noise_shape(k, *shapes[k]) for k in range(1, depth + 1)],
                             self.gen_noise, self.device)
        costs = self._costs()
        self.timer.restart(costs[self.stage] / costs[self.stage - 1]
                           if self.kind == "train" and self.stage > 0 else None)
        return StageRun(self.model, self.D, self.settings, depth, inputs)

    def _costs(self) -> list[float]:
        return stage_costs([r.shape[2:] for r in self.reals], self.settings.Dsteps)

    # ----- running -----------------------------------------------------------------------------
    def run(self, progress: Callable[[TrainProgress], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> ConSinGANModel:
        """Train until finished or ``should_stop()`` (checked between iterations); returns the
        model trained so far. A stopped run leaves a checkpoint (with ``checkpoint_dir``) and can
        go on with ``run()`` again or ``ConSinGANTrainer.resume``."""
        stop = should_stop or (lambda: False)
        with self._backend():
            try:
                if self.model is None:  # so that even a run stopped at once has a model
                    self.start_stage()
                while not self.finished:
                    if self.stage_run is None or self.iteration >= self.settings.niter:
                        if stop():
                            break
                        self.start_stage()
                    if stop():
                        break
                    self._one_iteration(progress)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                # Half an iteration's updates may be in the weights: keep the last checkpoint.
                raise TrainingOutOfMemory(self._out_of_memory_message()) from exc
            if not self.finished:
                self.save_checkpoint()
        return self.current_model()

    def _out_of_memory_message(self) -> str:
        h, w = self.reals[max(self.stage, 0)].shape[2:]
        saved = self.checkpoint_dir is not None and ckpt.path_in(self.checkpoint_dir).is_file()
        kept = "the last checkpoint is kept" if saved else "no checkpoint was saved"
        where = ("free GPU memory (close other programs that use it) or resume on the CPU"
                 if self.device.type == "cuda" else "close other programs or train smaller "
                 "(max_size)")
        device = "GPU" if self.device.type == "cuda" else self.device.type.upper()
        return (f"the {device} ran out of memory at stage {self.stage + 1} of "
                f"{self.num_stages} ({w}x{h} px); {kept}: {where}")

    def _one_iteration(self, progress) -> None:
        s, run = self.settings, self.stage_run
        losses = run.iteration(self.iteration)
        self.iteration += 1
        self.window.add(losses)
        self.timer.tick()
        end = self.iteration >= s.niter
        if self.iteration == 1 and not end:  # leave the stage's first iteration out of timing
            self.timer.restart(1.0)
        elif end or self.iteration % max(1, s.log_every) == 0 or self.iteration == 3:
            self.window.read()
            self.timer.measure()
            self.flat = is_flat(run.last_fake, run.real)
        if end and self.flat:  # before the stage is kept: a collapsed stage is not progress
            raise GeneratorCollapsed(self._collapse_message())
        preview = None
        if s.preview_every and (self.iteration % s.preview_every == 0 or end):
            preview = to_uint8_image(run.last_fake)[0]
        if end:
            self.stage_G.append(cpu_state(self.model.generator) if self.kind == "train" else None)
            self.stage_D.append(cpu_state(self.D))
            self.stage_run = None
        if end or (s.checkpoint_every and self.iteration % s.checkpoint_every == 0):
            self.save_checkpoint()
        if progress is not None:
            progress(self._progress(preview))

    def _collapse_message(self) -> str:
        retry = ("another seed" if self.settings.batch_norm else
                 "batch norm on (--batch_norm; in the app, Custom > Batch norm) or another seed")
        return (f"the generator collapsed at stage {self.stage + 1} of {self.num_stages}: its "
                f"samples are one flat colour, which training on cannot undo (a known ConSinGAN "
                f"failure, most often on dark images). Train again with {retry}")

    def _progress(self, preview) -> TrainProgress:
        s = self.settings
        later = 0.0
        if self.kind == "train":
            costs = self._costs()
            later = sum(s.niter * costs[d] / costs[self.stage]
                        for d in range(self.stage + 1, len(costs)))
        eta = self.timer.eta(s.niter - self.iteration, later)
        return TrainProgress(
            stage=self.stage, num_stages=self.num_stages, iteration=self.iteration,
            iterations_per_stage=s.niter, losses=dict(self.window.last),
            seconds_per_iteration=self.timer.seconds_per_iteration if eta is not None else None,
            eta_seconds=eta, preview=preview, completed_iterations=self.completed_iterations,
            total_iterations=self.total_iterations,
            warning=("The samples have gone flat: the generator may have collapsed. If they "
                     "stay so until the stage ends, training stops there." if self.flat else ""))

    def _backend(self):
        if self.device.type == "cuda":
            b = torch.backends.cudnn
            return b.flags(enabled=True, benchmark=True, deterministic=b.deterministic,
                           allow_tf32=b.allow_tf32)
        return contextlib.nullcontext()

    def current_model(self) -> ConSinGANModel:
        """A copy of the model as trained so far (eval mode, no gradients)."""
        if self.model is None:
            raise TrainingError("nothing has been trained yet: run() first")
        model = ConSinGANModel(copy.deepcopy(self.model.options)).to(self.device)
        model.load_state_dict(self.model.state_dict())
        return model.eval().requires_grad_(False)

    # ----- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        """Write the checkpoint (atomically) when the trainer has a folder; None otherwise."""
        if self.checkpoint_dir is None or self.model is None:
            return None
        if self._saved_at == (self.stage, self.iteration):
            return ckpt.path_in(self.checkpoint_dir)
        self._saved_at = (self.stage, self.iteration)
        return ckpt.save(self)

    @classmethod
    def resume(cls, checkpoint_dir, device="cpu") -> "ConSinGANTrainer":
        """The trainer as its last checkpoint left it (same settings, seed and progress)."""
        payload = ckpt.load(checkpoint_dir)
        self = cls.__new__(cls)
        settings = TrainSettings.from_dict(payload["settings"])
        self._init_common(settings, device, checkpoint_dir, payload["seed"], payload["kind"])
        ckpt.restore(self, payload)
        return self

    # ----- fine-tuning -------------------------------------------------------------------------
    @classmethod
    def finetune(cls, model, naive_image, iterations: int = 500, device="cpu",
                 checkpoint_dir=None, seed: int = 0, discriminator=None) -> "ConSinGANTrainer":
        """Fine-tune a harmonization/editing model on ``naive_image`` (path, uint8 array or
        tensor): only the last stage index trains (its ``train_depth`` body stages at the graded
        rates), with the naive image (resized to the coarsest level) as the stage-0 input.
        ``model``: a ConSinGANModel, our model file or an official folder; the critic comes from
        ``discriminator`` (module or state dict), else from the file/folder, else a fresh one."""
        base, critic, desc, base_prov = load_model(model)
        if base.train_mode not in FINETUNE_MODES:
            raise InputError(f"fine-tuning needs a harmonization or editing model; this one was "
                             f"trained for {base.train_mode}")
        settings = ckpt.settings_for_model(base.options, int(iterations))
        self = cls.__new__(cls)
        self._init_common(settings, device, checkpoint_dir, seed, "finetune")
        self.model = ConSinGANModel(copy.deepcopy(base.options)).to(self.device)
        self.model.load_state_dict(base.state_dict())
        self.reals = list(self.model.reals)
        if isinstance(naive_image, torch.Tensor):
            naive, naive_desc = image_to_tensor(naive_image, "naive image"), "tensor"
        else:
            rgb, naive_desc = read_rgb(naive_image, "naive image")
            naive = uint8_to_tensor(rgb)
        level0 = imresize_to_shape(naive, self.model.reals_shapes[0])
        self.naive0 = to_tensor(image_for_augmentation(level0)).to(self.device)
        self.D, fresh = ckpt.critic_module(critic if discriminator is None else discriminator,
                                           self.model.options,
                                           self.gen_init)
        self.D = self.D.to(self.device)
        self.source = str(base_prov.get("source") or desc)
        self.fingerprint = str(base_prov.get("background_sha256", ""))
        self.extra = {"fine_tuned_from": desc, "naive_image": naive_desc,
                      "fresh_critic": fresh}
        return self

    # ----- outputs -----------------------------------------------------------------------------
    def save_model(self, path, name: str = "", license: str = "", source: str = "") -> Path:
        """Our .safetensors model file: the model so far, with name, licence and provenance."""
        if self.model is None:
            raise TrainingError("nothing has been trained yet: run() first")
        prov = provenance(name or Path(path).stem, source or self.source, self.fingerprint,
                          self.settings.to_dict(), self.seed, self.completed_iterations,
                          {**self.extra, "finished": self.finished})
        return model_file(path, self.model, self.D, prov, license)

    def export_official(self, folder) -> Path:
        """The official folder layout (parameters.txt, <d>/netG.pth and netD.pth, fixed_noise,
        reals, noise_amp; no pickled G.pth)."""
        if self.model is None:
            raise TrainingError("nothing has been trained yet: run() first")
        n = self.model.num_stages
        if self.kind == "finetune":
            gens, dis = None, [None] * (n - 1) + [cpu_state(self.D)]
        else:
            gens = (self.stage_G + [None] * n)[:n]
            dis = (self.stage_D + [cpu_state(self.D)] + [None] * n)[:n]
        return export_folder(self.current_model().cpu(), folder, discriminators=dis,
                             stage_generators=gens)
