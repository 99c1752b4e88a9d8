"""Training settings with the official option names (ConSinGAN ``config.py``/``main_train.py``).

``TrainSettings.preset(name, mode=..., **overrides)``:

- ``"standard"``: the official defaults for the mode. Harmonization uses the settings the official
  README recommends (3 stages, min_size 120, lrelu_alpha 0.3, 1000 iterations, batch norm);
  editing the README's (batch norm, 1000 iterations); animation the forced ``min_size 20`` of
  ``main_train.py``.
- ``"fast"``: the standard settings cut to 3 stages of 170 iterations (about 500 in all) on an
  image whose longest side is at most 160 px (min_size scaled along for harmonization), with
  batch norm in every mode: without it, generation on a dark photo collapsed to black samples in
  3 of 4 seeds (tohinz/ConSinGAN#23; the author's advice there is batch norm), and a quick run
  should not fail that way. "standard" keeps the official choice.

Overrides use the official names (``train_stages``, ``niter``, ``lr_g``, ...); an unknown name or a
value out of range raises ``InputError`` naming it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from models.consingan.network import ACTIVATIONS
from models.consingan.pyramid import TRAIN_MODES
from models.errors import InputError

PRESETS = ("fast", "standard")
FAST_STAGES, FAST_ITERATIONS, FAST_MAX_SIZE = 3, 170, 160

# What "standard" changes from the official defaults, per mode.
_STANDARD = {
    "generation": {},
    "retarget": {},
    "animation": {"min_size": 20},
    "harmonization": {"train_stages": 3, "min_size": 120, "lrelu_alpha": 0.3, "niter": 1000,
                      "batch_norm": True},
    "editing": {"batch_norm": True, "niter": 1000},
}


@dataclass
class TrainSettings:
    """Official names and defaults; the last group is ours (how the run is driven)."""

    train_mode: str = "generation"
    train_stages: int = 6
    niter: int = 2000           # iterations per stage
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5          # Adam betas are (beta1, 0.999)
    gamma: float = 0.1          # lr factor at 80 % of a stage
    Gsteps: int = 3
    Dsteps: int = 3
    lambda_grad: float = 0.1    # WGAN-GP weight
    alpha: float = 10.0         # reconstruction (MSE) weight
    nfc: int = 64
    ker_size: int = 3
    num_layer: int = 3
    padd_size: int = 0
    noise_amp: float = 0.1      # noise_amp_init: noise_amp[d] = noise_amp * RMSE
    min_size: int = 25
    max_size: int = 250
    train_depth: int = 3
    lr_scale: float = 0.1
    activation: str = "lrelu"
    lrelu_alpha: float = 0.05
    batch_norm: bool = False
    noise_scaling: float = 0.1  # editing: noise added to the stage-0 input (official constant)
    # ----- ours
    official_g_steps: bool = True   # one G backward, Gsteps optimizer steps on that gradient
    checkpoint_every: int = 100     # iterations between checkpoints (0: at stage ends only)
    preview_every: int = 50         # iterations between preview images (0: none)
    log_every: int = 10             # iterations between loss read-backs (host syncs)
    preset: str = "custom"

    # ----- construction ----------------------------------------------------------------------
    @classmethod
    def preset_values(cls, name: str, mode: str = "generation") -> dict[str, Any]:
        if name not in PRESETS:
            raise InputError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        if mode not in TRAIN_MODES:
            raise InputError(f"unknown train_mode {mode!r}; modes: {', '.join(TRAIN_MODES)}")
        values: dict[str, Any] = {"train_mode": mode, "preset": name, **_STANDARD[mode]}
        if name == "fast":
            min_size = values.get("min_size", cls.min_size)
            if mode == "harmonization":  # keep the standard min/max ratio (120 of 250)
                min_size = round(min_size * FAST_MAX_SIZE / cls.max_size)
            values.update(train_stages=FAST_STAGES, niter=FAST_ITERATIONS,
                          max_size=FAST_MAX_SIZE, min_size=min_size, batch_norm=True)
        return values

    @classmethod
    def preset(cls, name: str = "standard", mode: str = "generation",
               **overrides) -> "TrainSettings":
        """A preset for ``mode`` with ``overrides`` (official names) applied and checked."""
        values = cls.preset_values(name, mode)
        settings = cls(**values)
        return settings.with_overrides(**overrides) if overrides else settings.checked()

    def with_overrides(self, **overrides) -> "TrainSettings":
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise InputError(f"unknown ConSinGAN setting(s): {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}")
        values = {k: _coerce(k, v, type(getattr(self, k))) for k, v in overrides.items()
                  if v is not None}
        if values and "preset" not in values:
            values["preset"] = self.preset if self.preset == "custom" else f"{self.preset}+custom"
        return replace(self, **values).checked()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainSettings":
        known = {f.name for f in fields(cls)}
        return cls().with_overrides(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # ----- checks ----------------------------------------------------------------------------
    def checked(self) -> "TrainSettings":
        """Raise InputError naming the first unusable value; returns self."""
        if self.train_mode not in TRAIN_MODES:
            raise InputError(f"unknown train_mode {self.train_mode!r}; modes: "
                             f"{', '.join(TRAIN_MODES)}")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"unknown activation {self.activation!r}; known: "
                             f"{', '.join(ACTIVATIONS)}")
        positive = ("train_stages", "niter", "Gsteps", "Dsteps", "nfc", "num_layer", "min_size",
                    "max_size", "train_depth", "lr_g", "lr_d")
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.train_stages < 2:
            raise InputError(f"train_stages must be at least 2 (a pyramid), got "
                             f"{self.train_stages}")
        if self.ker_size - 2 * self.padd_size != 3:
            raise InputError(f"ker_size {self.ker_size} with padd_size {self.padd_size}: each "
                             "conv must trim one pixel per side (e.g. 3 and 0), as officially")
        for name in ("beta1", "lr_scale", "gamma"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("lambda_grad", "alpha", "noise_amp", "noise_scaling", "lrelu_alpha"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("checkpoint_every", "preview_every", "log_every"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be 0 or more, got {getattr(self, name)}")
        smallest = self.smallest_level()
        if self.min_size < smallest:
            raise InputError(f"min_size {self.min_size} is too small: the discriminator's "
                             f"{self.num_layer + 2} convolutions need levels of at least "
                             f"{smallest} px")
        if self.min_size > self.max_size:
            raise InputError(f"min_size {self.min_size} is larger than max_size {self.max_size}")
        return self

    def smallest_level(self) -> int:
        """The smallest side a level may have: the critic's convs trim 2 px each."""
        return 2 * (self.num_layer + 2) + 1

    @property
    def total_iterations(self) -> int:
        return self.train_stages * self.niter


def _coerce(name: str, value, kind: type):
    """``value`` as the field's type (CLI/JSON strings and ints for floats are fine)."""
    try:
        if kind is bool:
            if isinstance(value, str):
                text = value.strip().lower()
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise ValueError(value)
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise InputError(f"setting {name}: expected {kind.__name__}, got {value!r}") from None
