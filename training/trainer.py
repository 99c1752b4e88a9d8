"""What every model family's trainer shares: the Trainer interface, the runtime the loop hands it
(device, mixed precision, DDP wrappers), weight initialisation and the EMA of the generator.

The loop (``training.loop.run``) only talks to this interface, so checkpoints, resume, DDP and AMP
are written once for SPADE, pix2pix and pix2pixHD.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from models.bundle import ModelBundle

from .errors import TrainingError

Batch = dict[str, Any]
__all__ = ["Batch", "Runtime", "MultiInput", "Trainer", "TrainingError", "frozen",
           "init_weights", "linear_decay"]


@dataclass
class Runtime:
    """Where and how the trainer's steps run; built by the loop, never by a trainer.

    ``scalers`` hold one GradScaler per optimizer when mixed precision is on (CUDA only): a GAN's
    two losses have very different magnitudes, so they get separate loss scales.
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False
    rank: int = 0
    world_size: int = 1
    scalers: dict[str, "torch.amp.GradScaler"] = field(default_factory=dict)
    wrap: Callable[[nn.Module], nn.Module] | None = None  # DDP wrapper under torchrun

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.float16)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


class MultiInput(nn.Module):
    """Applies one network to several inputs in ONE forward call.

    DDP allows one forward per backward; pix2pix's discriminator sees the fake and the real batch
    separately (its batch norm must not mix them), so both calls go through this wrapper.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> tuple:
        return tuple(self.net(x) for x in inputs)


class Trainer:
    """One model family's training step. Subclasses set ``family`` and implement ``build``,
    ``train_step``, ``sample`` and ``export_bundle``.

    ``modules`` are the plain networks (checkpointed by name); ``wrapped`` the same networks as
    the step should call them (DDP wrappers under torchrun). ``ema_modules`` names the networks
    whose exponential moving average is kept and exported when EMA is on.
    """

    family: str = ""
    ema_modules: tuple[str, ...] = ("G",)
    sync_batchnorm: tuple[str, ...] = ()  # modules converted to SyncBatchNorm under DDP
    multi_input: tuple[str, ...] = ()     # modules called through MultiInput (see above)

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}
        self.modules: dict[str, nn.Module] = {}
        self.wrapped: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.runtime = Runtime()
        self.ema: dict[str, nn.Module] = {}

    # ----------------------------------------------------------------- to implement
    def build(self, options: dict[str, Any]) -> None:
        """Create networks, optimizers and schedulers (on the CPU; ``attach`` moves them)."""
        raise NotImplementedError

    def train_step(self, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input shown as RGB, output, target), each (N, 3, H, W) in [-1, 1]."""
        raise NotImplementedError

    def export_bundle(self) -> ModelBundle:
        """The generator (EMA weights when kept) as the app loads it."""
        raise NotImplementedError

    required_keys: tuple[str, ...] = ()

    def input_description(self) -> str:
        """What the dataset must provide; used in error messages."""
        return ""

    def check_batch(self, batch: Batch) -> None:
        """Validate the first batch of a run (on the CPU): a wrong dataset kind or label range is
        a clear error here rather than an index error deep in a network."""
        missing = [k for k in self.required_keys if k not in batch]
        if missing:
            raise TrainingError(f"the dataset's samples have no {', '.join(map(repr, missing))}"
                                f": {self.input_description()}")

    # ----------------------------------------------------------------- hooks with defaults
    def on_epoch_start(self, epoch: int) -> None:
        """Called before each epoch (again on resume): must be idempotent."""

    def on_epoch_end(self, epoch: int) -> None:
        for sched in self.schedulers.values():
            sched.step()

    def extra_state(self) -> dict[str, Any]:
        """Plain data (ints, floats, strings, lists, tensors) a resume needs besides the weights;
        loaded BEFORE the optimizers so a trainer can rebuild them first."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ----------------------------------------------------------------- used by the loop
    def attach(self, runtime: Runtime, ema_decay: float | None = None) -> None:
        """Move to the device, convert/wrap for DDP, create EMA copies and loss scalers."""
        self.runtime = runtime
        for name, net in self.modules.items():
            # SyncBatchNorm runs on CUDA only; on the CPU (gloo) each process normalises with
            # its own batch and DDP keeps rank 0's running statistics.
            cuda = runtime.device.type == "cuda"
            if runtime.distributed and cuda and name in self.sync_batchnorm:
                net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
                self.modules[name] = net
            net.to(runtime.device)
        for name in self.optimizers:
            _move_optimizer_state(self.optimizers[name], runtime.device)
        if ema_decay is not None:
            self.ema = {n: copy.deepcopy(self.modules[n]).eval().requires_grad_(False)
                        for n in self.ema_modules if n in self.modules}
        for name, net in self.modules.items():
            target = MultiInput(net) if name in self.multi_input else net
            has_grad = any(p.requires_grad for p in net.parameters())
            self.wrapped[name] = runtime.wrap(target) if (runtime.wrap and has_grad) else target
        if runtime.amp:
            self.runtime.scalers = {n: torch.amp.GradScaler(runtime.device.type)
                                    for n in self.optimizers}

    def net(self, name: str) -> nn.Module:
        """The network as the step calls it (DDP-wrapped under torchrun)."""
        return self.wrapped.get(name, self.modules[name])

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """zero_grad, backward (scaled under AMP), step: the one place losses meet optimizers."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        scaler = self.runtime.scalers.get(name)
        if scaler is None:
            loss.backward()
            opt.step()
            return
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.runtime.autocast()

    def update_ema(self, decay: float, step: int | None = None) -> None:
        """Shadow weights <- their moving average. With ``step`` (updates done so far) the decay
        warms up as ``min(decay, (1 + step) / (10 + step))``: without it a short run's average
        would still be mostly the random initial weights (0.999**560 = 57 % at step 560)."""
        if step is not None:
            decay = min(decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for name, shadow in self.ema.items():
                live = self.modules[name]
                for s, p in zip(shadow.parameters(), live.parameters()):
                    s.lerp_(p.detach(), 1.0 - decay)
                for s, b in zip(shadow.buffers(), live.buffers()):
                    s.copy_(b)

    def run_export_generator(self, batch: Batch) -> torch.Tensor:
        """The exported generator's output for ``batch``, in whatever mode its modules are in
        (``sample`` sets eval; ``recalibrate_ema`` puts batch norm in train mode)."""
        raise NotImplementedError

    @torch.no_grad()
    def recalibrate_ema(self, batches) -> int:
        """Re-estimate the batch-norm running statistics of the EMA copies on ``batches``.

        ``update_ema`` averages weights but copies the live network's statistics, which belong to
        the live weights: an exported EMA generator run with them (eval mode, as the app and the
        official test do) renders with the wrong normalisation. Running the EMA copies over real
        batches with batch norm in train mode and ``momentum=None`` (a cumulative average) gives
        them their own. Other layers (dropout) stay in eval mode. Returns how many batch-norm
        layers were re-estimated (0: nothing to do)."""
        norms = [m for shadow in self.ema.values() for m in shadow.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not norms:
            return 0
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        try:
            for batch in batches:
                self.run_export_generator(batch)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
                m.eval()
        return len(norms)

    def export_module(self, name: str) -> nn.Module:
        """The network to export: its EMA copy when kept, else the live one."""
        return self.ema.get(name, self.modules[name])

    def train_mode(self, train: bool = True) -> None:
        for net in self.modules.values():
            net.train(train)


@contextlib.contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """Parameters of ``nets`` need no gradient inside (e.g. D while G's loss is computed)."""
    params = [p for net in nets for p in net.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def _move_optimizer_state(opt: torch.optim.Optimizer, device: torch.device) -> None:
    for state in opt.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and k != "step":
                state[k] = v.to(device)


def init_weights(net: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """The official initialisations: convs/linears ``normal(0, gain)`` (pix2pix, pix2pixHD) or
    ``xavier_normal(gain)`` (SPADE), biases 0; affine norms ``weight ~ normal(1, gain)``, bias 0.
    Spectral-normed layers are initialised through ``weight_orig``."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = getattr(m, "weight_orig", None)
            w = m.weight if w is None else w
            with torch.no_grad():
                if kind == "normal":
                    nn.init.normal_(w, 0.0, gain)
                elif kind == "xavier":
                    nn.init.xavier_normal_(w, gain=gain)
                elif kind == "kaiming":
                    nn.init.kaiming_normal_(w, a=0, mode="fan_in")
                elif kind != "default":
                    raise TrainingError(f"unknown init_type {kind!r} (normal, xavier, kaiming, "
                                        "default)")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            with torch.no_grad():
                nn.init.normal_(m.weight, 1.0, gain)
                nn.init.zeros_(m.bias)
    return net


def linear_decay(niter: int, niter_decay: int, offset: int = 0, denominator_extra: int = 0
                 ) -> Callable[[int], float]:
    """The official "constant for ``niter`` epochs, then linear to ~0 over ``niter_decay``" rule
    as a LambdaLR factor of the 0-based epoch.

    SPADE and pix2pixHD lower the rate after each epoch past ``niter`` by ``lr / niter_decay``
    (``offset=0``); pix2pix's ``lambda_rule`` is ``1 - max(0, e + 1 - niter) / (niter_decay + 1)``
    (``offset=1, denominator_extra=1``).
    """
    def factor(epoch: int) -> float:
        if niter_decay <= 0:
            return 1.0
        return max(0.0, 1.0 - max(0, epoch + offset - niter) / float(niter_decay
                                                                      + denominator_extra))
    return factor
