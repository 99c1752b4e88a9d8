"""BASELINE, not used for training: the official per-iteration work, re-implemented plainly.

``official_step`` does what ConSinGAN's ``train_single_scale`` does in one iteration, on a
``StageRun``'s networks and optimizers: the whole generator (every stage) is run again for each
of the ``Dsteps`` critic steps and for the reconstruction, the gradient penalty goes through
autograd's double backward, the head keeps ``requires_grad`` after it is frozen (so backward goes
down through the frozen stages), D's weight gradients are computed in G's step, Adam loops over
the parameters (torch's CPU default) and the losses are read back with ``.item()``.
``benchmarks/bench_consingan.py`` times it beside ``StageRun.step``; the tests check that both
give the same updates.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .stage import StageRun


def official_gradient_penalty(D, real, fake, a, lambda_grad):
    x = (a.reshape(()) * real + (1 - a.reshape(())) * fake).detach().requires_grad_(True)
    out = D(x)
    g = torch.autograd.grad(out, x, torch.ones_like(out), create_graph=True,
                            retain_graph=True, only_inputs=True)[0]
    return ((g.norm(2, dim=1) - 1) ** 2).mean() * lambda_grad


def official_step(run: StageRun, noise: Sequence[torch.Tensor],
                  weights: Sequence[torch.Tensor]) -> dict[str, float]:
    """One official iteration (learning rates as already set on ``run``)."""
    s, G, D = run.settings, run.model.generator, run.D
    model, real = run.model, run.real
    shapes, amps = model.reals_shapes, model.noise_amp
    head_frozen = not any(p.requires_grad for p in G.head.parameters())
    if head_frozen:  # officially the frozen head still asks for gradients
        G.head.requires_grad_(True)
    groups = run.optD.param_groups + run.optG.param_groups
    saved = [g["foreach"] for g in groups]
    for g in groups:  # torch's default Adam on the CPU: a loop over the parameters
        g["foreach"] = False
    try:
        for j, a in enumerate(weights):
            D.zero_grad()
            err_real = -D(real).mean()
            if j == len(weights) - 1:
                fake = G(list(noise), shapes, amps)
            else:
                with torch.no_grad():
                    fake = G(list(noise), shapes, amps)
            err_fake = D(fake.detach()).mean()
            gp = official_gradient_penalty(D, real, fake, a, s.lambda_grad)
            (err_real + err_fake + gp).backward()
            run.optD.step()
        err_g = -D(fake).mean()
        rec_loss = torch.zeros(())
        if s.alpha != 0:
            rec = G(list(model.fixed_noise), shapes, amps)
            rec_loss = s.alpha * F.mse_loss(rec, real)
        G.zero_grad()
        (err_g + rec_loss).backward()
        for _ in range(s.Gsteps):
            run.optG.step()
    finally:
        for g, f in zip(groups, saved):
            g["foreach"] = f
        if head_frozen:
            G.head.requires_grad_(False)
            G.head.zero_grad(set_to_none=True)
    return {"D_real": -err_real.item(), "D_fake": err_fake.item(),
            "gradient_penalty": gp.item(), "G_adv": err_g.item(),
            "reconstruction": float(rec_loss.item())}
