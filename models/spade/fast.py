"""Fast SPADE inference for painted label maps.

Most of SPADE's cost is in the label-map branch of every SPADE norm (``mlp_shared`` then the
γ/β convs). Its input is one-hot and piecewise constant, so:

* wherever the (2k-1)x(2k-1) neighbourhood of a pixel (k = kernel size) holds one code and lies
  inside the image, γ and β are per-code constants — tabulated once per model;
* ``mlp_shared`` is only needed where a pixel's k x k window is mixed or leaves the image, and
  there it depends only on that window: each distinct window is computed once (an
  ``embedding_bag`` of weight columns);
* γ/β near boundaries are sums over taps of (actv row x tap weight) products, where an actv row is
  a present code's constant, a distinct window's value or the zero padding: one small matmul per
  norm, then an ``embedding_bag`` per exact pixel.

A "code" is a pixel's one-hot channel, plus ``label_channels`` when its instance-edge bit is set.
The eval-mode batch norm is folded into the tables: ``out = x * A[code] + B[code]``. The main
convolutions run unchanged, in channels-last layout. Results equal the plain path to ~1e-6.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from .generator import SPADEGenerator
from .norm import SPADE


@dataclass
class _NormTables:
    taps: torch.Tensor         # (k*k*(K+1), hidden): mlp_shared weight column per (tap, code)
    shared_bias: torch.Tensor  # (hidden,)
    actv_const: torch.Tensor   # (K, hidden): relu(mlp_shared) inside a one-code region
    const: torch.Tensor        # (K, 2C): per-code [scale, shift] for interior pixels
    gb_taps: torch.Tensor      # (hidden, k*k*2C): the γ|β conv weight, columns (tap, channel)
    gb_bias: torch.Tensor      # (2C,), with the +1 of (1 + γ) folded in
    bn_scale: torch.Tensor | None  # eval batch norm as x*scale + shift (None: instance norm)
    bn_shift: torch.Tensor | None


@dataclass
class _Level:
    """Where the exact work is needed at one resolution, and how to gather it.

    ``B``: pixels whose k*k code window is mixed or leaves the image (their mlp_shared output is
    not a per-code constant); each distinct window ("config") is computed once. ``E``: pixels
    within k//2 of B, whose γ/β need the conv; it is a sum over taps of per-(tap, actv row)
    vectors, where an actv row is a present code, a B config, or the zero padding.
    """
    codes: torch.Tensor       # (N, h, w) long
    exact: torch.Tensor       # (|E|,) flat pixel indices
    present: torch.Tensor     # (P,) codes present at this level
    config_idx: torch.Tensor  # (U, k*k) rows into ``taps`` for each distinct B window
    exact_idx: torch.Tensor   # (|E|, k*k) rows into the per-norm (actv row, tap) table
    rows: int                 # P + U + 1 actv rows


class FastSPADE:
    """Runs a ``SPADEGenerator`` on integer label maps with the tabulated SPADE branches.

    Tables are built lazily per (device, dtype) and reused across calls; build a new FastSPADE
    when the generator's weights change. The main convolutions' weights are switched to
    channels-last in place (same values; the plain forward still works): with NCHW weights, every
    call would reorder each of them to match the channels-last activations.
    """

    def __init__(self, generator: SPADEGenerator):
        self.generator = generator
        _channels_last_weights(generator)
        opt = generator.options
        self.label_channels = opt.label_channels
        self.use_edges = not opt.no_instance
        self.num_codes = self.label_channels * (2 if self.use_edges else 1)
        self.kernel = opt.spade_kernel
        self._tables: dict[tuple, dict[int, _NormTables]] = {}

    # ---------------------------------------------------------------- tables
    def _norms(self) -> list[SPADE]:
        return [m for m in self.generator.modules() if isinstance(m, SPADE)]

    @torch.no_grad()
    def _build_tables(self, device, dtype) -> dict[int, _NormTables]:
        L, k = self.label_channels, self.kernel
        tables = {}
        for norm in self._norms():
            conv = norm.mlp_shared[0]
            w = conv.weight.detach().to(device=device, dtype=torch.float32)  # (hid, Cin, k, k)
            hid = w.shape[0]
            cols = w.permute(2, 3, 1, 0).reshape(k * k, w.shape[1], hid)  # (tap, Cin, hid)
            per_code = cols[:, :L]
            if self.use_edges:  # an edge pixel activates its class channel and the edge channel
                per_code = torch.cat([per_code, per_code + cols[:, L:L + 1]], 1)
            taps = torch.cat([per_code, per_code.new_zeros(k * k, 1, hid)], 1)  # zero row: outside
            bias_s = conv.bias.detach().to(device=device, dtype=torch.float32)
            actv_const = torch.relu(per_code.sum(0) + bias_s)  # (K, hid)
            wg = torch.cat([norm.mlp_gamma.weight, norm.mlp_beta.weight], 0).detach().to(
                device=device, dtype=torch.float32)  # (2C, hid, k, k)
            gb_taps = wg.permute(1, 2, 3, 0).reshape(hid, k * k * wg.shape[0])
            gb_bias = torch.cat([norm.mlp_gamma.bias + 1, norm.mlp_beta.bias]).detach().to(
                device=device, dtype=torch.float32)
            const = actv_const @ wg.sum((2, 3)).t() + gb_bias  # (K, 2C): [1+γ, β]
            scale = shift = None
            if norm.param_free == "batch" and not norm.training:
                bn = norm.param_free_norm
                scale = torch.rsqrt(bn.running_var.to(device, torch.float32) + bn.eps)
                shift = -bn.running_mean.to(device, torch.float32) * scale
                const = _fold_bn(const, scale, shift)
            cast = (lambda t: None if t is None else t.to(dtype))
            tables[id(norm)] = _NormTables(
                cast(taps.reshape(-1, hid)), cast(bias_s), cast(actv_const), cast(const),
                cast(gb_taps), cast(gb_bias), cast(scale), cast(shift))
        return tables

    def tables(self, device, dtype) -> dict[int, _NormTables]:
        key = (torch.device(device), dtype)
        if key not in self._tables:
            self._tables[key] = self._build_tables(*key)
        return self._tables[key]

    # ---------------------------------------------------------------- per-resolution plan
    def _plan(self, codes: torch.Tensor) -> _Level:
        """Find the pixels that need exact work at this resolution and their gather indices."""
        n, h, w = codes.shape
        k, r, K = self.kernel, self.kernel // 2, self.num_codes
        dev = codes.device
        c = codes[:, None].float()
        mixed = F.max_pool2d(c, 2 * r + 1, 1, r) != -F.max_pool2d(-c, 2 * r + 1, 1, r)
        in_b = mixed[:, 0]
        in_b[:, :r] = True
        in_b[:, h - r:] = True
        in_b[:, :, :r] = True
        in_b[:, :, w - r:] = True
        in_e = F.max_pool2d(in_b[:, None].float(), 2 * r + 1, 1, r)[:, 0] > 0

        hp, wp = h + 2 * r, w + 2 * r
        dy, dx = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-r, r + 1), indexing="ij")
        offsets = (dy * wp + dx).reshape(-1).to(dev)  # tap offsets in padded coordinates

        def padded_flat(mask):
            nn_, yy, xx = mask.nonzero(as_tuple=True)
            return nn_ * hp * wp + (yy + r) * wp + (xx + r), nn_ * h * w + yy * w + xx

        # distinct code windows of the B pixels (K stands for "outside the image")
        pad_codes = F.pad(codes, (r, r, r, r), value=K).reshape(-1)
        b_pflat, _ = padded_flat(in_b)
        windows = pad_codes[b_pflat[:, None] + offsets]
        configs, config_of_b = _unique_rows(windows, K + 1)
        config_idx = configs + torch.arange(k * k, device=dev) * (K + 1)

        # actv row of every padded pixel: its code's row, its B config's row, or the zero row
        present = torch.unique(codes)
        P, U = present.numel(), configs.shape[0]
        lut = torch.zeros(K + 1, dtype=torch.long, device=dev)
        lut[present] = torch.arange(P, device=dev)
        row_map = F.pad(lut[codes], (r, r, r, r), value=P + U).reshape(-1)
        row_map[b_pflat] = P + config_of_b
        rows = P + U + 1
        e_pflat, e_flat = padded_flat(in_e)
        exact_idx = row_map[e_pflat[:, None] + offsets] * (k * k) + torch.arange(k * k, device=dev)
        return _Level(codes, e_flat, present, config_idx, exact_idx, rows)

    # ---------------------------------------------------------------- forward
    def _norm(self, norm: SPADE, t: _NormTables, x: torch.Tensor, lv: _Level) -> torch.Tensor:
        n, C, h, w = x.shape
        ab = F.embedding(lv.codes.reshape(-1), t.const)  # (N*h*w, 2C)
        if lv.exact.numel():
            actv_b = torch.relu(F.embedding_bag(lv.config_idx, t.taps, mode="sum") + t.shared_bias)
            actv = torch.cat([t.actv_const[lv.present], actv_b, actv_b.new_zeros(1, actv_b.shape[1])])
            per_tap = actv @ t.gb_taps  # (rows, k*k*2C): each row's contribution through each tap
            exact = F.embedding_bag(lv.exact_idx, per_tap.reshape(-1, 2 * C), mode="sum") + t.gb_bias
            if t.bn_scale is not None:
                exact = _fold_bn(exact, t.bn_scale, t.bn_shift)
            ab[lv.exact] = exact
        a = ab[:, :C].reshape(n, h, w, C)
        b = ab[:, C:].reshape(n, h, w, C)
        if t.bn_scale is None:
            x = norm.param_free_norm(x)
        out = torch.addcmul(b, x.permute(0, 2, 3, 1), a)  # NHWC, contiguous
        return out.permute(0, 3, 1, 2)  # a channels-last view in NCHW order

    def _block(self, block, x: torch.Tensor, levels, tables) -> torch.Tensor:
        lv = levels[x.shape[2:]]
        if block.learned_shortcut:
            x_s = block.conv_s(self._norm(block.norm_s, tables[id(block.norm_s)], x, lv))
        else:
            x_s = x
        dx = F.leaky_relu_(self._norm(block.norm_0, tables[id(block.norm_0)], x, lv), 2e-1)
        dx = block.conv_0(dx)
        dx = F.leaky_relu_(self._norm(block.norm_1, tables[id(block.norm_1)], dx, lv), 2e-1)
        return block.conv_1(dx).add_(x_s)

    @torch.no_grad()
    def __call__(self, labels: torch.Tensor, edges: torch.Tensor | None = None,
                 z: torch.Tensor | None = None, generator: torch.Generator | None = None,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
        """labels: (N, H, W) long model-space ids (validated by the caller); edges: (N, H, W)
        bool instance edges (required when the model uses them). Returns (N, 3, H, W)."""
        G = self.generator
        if self.use_edges and edges is None:
            raise InputError("this model takes an instance-edge map")
        device = labels.device
        dtype = dtype or next(G.parameters()).dtype
        tables = self.tables(device, dtype)
        codes = labels + self.label_channels * edges.long() if self.use_edges else labels

        sizes, (h, w) = [], labels.shape[1:]
        sh, sw = G.latent_grid(h, w)
        for upsample, _ in G.stages():
            if upsample:
                sh, sw = sh * 2, sw * 2
            sizes.append((sh, sw))
        levels = {}
        for size in dict.fromkeys(sizes):
            c = F.interpolate(codes[:, None].float(), size=size, mode="nearest")[:, 0].long()
            levels[torch.Size(size)] = self._plan(c)

        if G.options.use_vae:
            x = G.initial_features(torch.empty(labels.shape[0], 0, h, w, device=device, dtype=dtype),
                                   z, generator)
        else:
            seg = _one_hot_small(codes, self.label_channels, self.use_edges, G.latent_grid(h, w),
                                 dtype)
            x = G.fc(seg)
        x = x.contiguous(memory_format=torch.channels_last)
        for upsample, block in G.stages():
            if upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self._block(block, x, levels, tables)
        x = G.conv_img(F.leaky_relu(x, 2e-1))
        return torch.tanh(x).contiguous()


@torch.no_grad()
def _channels_last_weights(generator: SPADEGenerator) -> None:
    for m in generator.modules():
        if isinstance(m, torch.nn.Conv2d) and m.weight.dim() == 4:
            m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)


def _unique_rows(rows: torch.Tensor, base: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(rows, dim=0, return_inverse=True)`` for small non-negative ints, via 1-D
    keys (much faster than the row-wise unique): the first columns are packed into one int64
    key, uniqued, and the remaining columns packed beside that key's index."""
    if rows.shape[0] == 0:
        return rows, rows.new_zeros(0)
    bits = max(1, (base - 1).bit_length())
    split = min(rows.shape[1], 62 // bits)
    weights = base ** torch.arange(split, device=rows.device)
    keys = (rows[:, :split] * weights).sum(1)
    rest = rows[:, split:]
    if rest.shape[1]:
        _, head = torch.unique(keys, return_inverse=True)
        tail_w = base ** torch.arange(rest.shape[1], device=rows.device)
        keys = head * base ** rest.shape[1] + (rest * tail_w).sum(1)
    uniq, inverse = torch.unique(keys, return_inverse=True)
    out = rows.new_empty(uniq.shape[0], rows.shape[1])
    out[inverse] = rows
    return out, inverse


def _fold_bn(ab: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """[1+γ, β] -> [scale(1+γ), shift(1+γ) + β] so that out = x*A + B includes the batch norm."""
    C = scale.shape[0]
    g1, beta = ab[:, :C], ab[:, C:]
    return torch.cat([g1 * scale, torch.addcmul(beta, g1, shift)], 1)


def _one_hot_small(codes, label_channels, use_edges, size, dtype) -> torch.Tensor:
    """The one-hot input of the first conv, at the coarsest grid (tiny, so built densely)."""
    c = F.interpolate(codes[:, None].float(), size=size, mode="nearest")[:, 0].long()
    labels = c % label_channels
    seg = torch.zeros(c.shape[0], label_channels + (1 if use_edges else 0), *size,
                      dtype=dtype, device=c.device)
    seg.scatter_(1, labels[:, None], 1.0)
    if use_edges:
        seg[:, -1] = (c >= label_channels).to(dtype)
    return seg
