"""One stage of ConSinGAN training: optimizers, learning-rate schedule and the iteration.

An iteration, as the official ``train_single_scale``:

1. draw the stage-0 input (noise, or the augmented / naive image) and the noise of stages > 0;
2. ``Dsteps`` critic updates on ``-D(real) + D(fake) + GP``, the fake being G(noise);
3. the generator update on ``-D(fake) + alpha * MSE(G(fixed noise), real)``; officially one
   backward followed by ``Gsteps`` optimizer steps on that same gradient (``official_g_steps``),
   or ``Gsteps`` real steps, each with its own forward and backward.

Adam (beta1, 0.999) for both; both learning rates drop by ``gamma`` at 80 % of the stage, as the
official ``MultiStepLR(milestones=[0.8 * niter])``, which only fires when ``0.8 * niter`` is a
whole number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from models.consingan.model import ConSinGANModel
from models.consingan.network import Discriminator

from .critic import critic_for
from .generator import GeneratorPass, param_groups
from .settings import TrainSettings



def lr_factor(iteration: int, niter: int, gamma: float) -> float:
    """The official MultiStepLR factor for the ``iteration``-th iteration (0-based)."""
    milestone = 0.8 * niter
    return gamma if float(milestone).is_integer() and iteration >= milestone else 1.0


@dataclass
class StageInputs:
    """What an iteration draws: ``stage0()`` gives the stage-0 input; ``noise_shapes`` the shapes
    of the stage > 0 noise; all drawn from ``gen`` (on the training device)."""

    stage0: Callable[[], torch.Tensor]
    noise_shapes: Sequence[tuple[int, ...]]
    gen: torch.Generator
    device: torch.device

    def draw(self) -> list[torch.Tensor]:
        noise = [self.stage0()]
        for shape in self.noise_shapes:
            noise.append(torch.randn(shape, generator=self.gen, device=self.device))
        return noise

    def interpolation_weight(self) -> torch.Tensor:
        return torch.rand(1, 1, generator=self.gen, device=self.device)


@dataclass
class StageRun:
    """Stage ``depth`` of ``model`` (already grown to depth + 1 stages, noise_amp set)."""

    model: ConSinGANModel
    D: Discriminator
    settings: TrainSettings
    depth: int
    inputs: StageInputs
    optG: torch.optim.Optimizer = field(init=False)
    optD: torch.optim.Optimizer = field(init=False)

    def __post_init__(self):
        s, G = self.settings, self.model.generator
        G.train()
        self.D.train()
        self.real = self.model.reals[self.depth]
        # foreach: one multi-tensor update instead of a Python loop over parameters
        self.optD = torch.optim.Adam(self.D.parameters(), lr=s.lr_d, betas=(s.beta1, 0.999),
                                     foreach=True)
        groups = param_groups(G, self.depth, s.lr_g, s.lr_scale, s.train_depth)
        self.optG = torch.optim.Adam(groups, lr=s.lr_g, betas=(s.beta1, 0.999), foreach=True)
        self.base_lrs = ([g["lr"] for g in self.optG.param_groups],
                         [g["lr"] for g in self.optD.param_groups])
        self.passes = GeneratorPass(G, self.depth, s.train_depth, self.model.reals_shapes,
                                    self.model.noise_amp, list(self.model.fixed_noise))
        self.critic = critic_for(self.D, s.lambda_grad)
        self.last_fake: torch.Tensor | None = None

    # ----- schedule ----------------------------------------------------------------------------
    def set_lr(self, iteration: int) -> None:
        f = lr_factor(iteration, self.settings.niter, self.settings.gamma)
        for opt, bases in zip((self.optG, self.optD), self.base_lrs):
            for group, base in zip(opt.param_groups, bases):
                group["lr"] = base * f

    # ----- the iteration -----------------------------------------------------------------------
    def iteration(self, index: int) -> dict[str, torch.Tensor]:
        """Train iteration ``index`` (0-based, for the schedule); returns the losses as 0-dim
        tensors (no host sync)."""
        self.set_lr(index)
        noise = self.inputs.draw()
        weights = [self.inputs.interpolation_weight() for _ in range(self.settings.Dsteps)]
        return self.step(noise, weights)

    def step(self, noise: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]):
        s = self.settings
        fake = self.passes.sample(noise, times=s.Dsteps)
        fake_d = fake.detach()
        for a in weights:
            err_real, err_fake, gp = self.critic.d_step(self.real, fake_d, a)
            self.optD.step()
        self.last_fake = fake_d
        err_g, rec_loss = self._generator_steps(noise, fake)
        return {"D_real": -err_real, "D_fake": err_fake, "gradient_penalty": gp,
                "G_adv": err_g, "reconstruction": rec_loss}

    def _generator_steps(self, noise, fake):
        s = self.settings
        steps = 1 if s.official_g_steps else s.Gsteps
        for k in range(steps):
            if k:
                fake = self.passes.sample(noise)
            err_g, grad_fake = self.critic.g_grad(fake.detach())
            tensors, grads = [fake], [grad_fake]
            rec_loss = torch.zeros((), device=fake.device)
            if s.alpha != 0:
                rec = self.passes.reconstruct()
                rec_loss = s.alpha * F.mse_loss(rec, self.real)
                tensors.append(rec_loss)
                grads.append(None)
            self.optG.zero_grad(set_to_none=True)
            torch.autograd.backward(tensors, grads)
            for _ in range(s.Gsteps if s.official_g_steps else 1):
                self.optG.step()
        return err_g, rec_loss.detach()

    # ----- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"optG": self.optG.state_dict(), "optD": self.optD.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optG.load_state_dict(state["optG"])
        self.optD.load_state_dict(state["optD"])
