"""The critic's (D's) updates: WGAN loss with gradient penalty, and D's gradient for G's step.

The official D step is ``-D(real).mean() + D(fake).mean() + GP`` with
``GP = lambda * mean((|dD(x)/dx|_2 - 1)^2)`` over pixels (norm over channels) at
``x = a * real + (1 - a) * fake`` (``a ~ U(0, 1)``, one scalar); autograd does it with three D
forwards, a ``create_graph`` input gradient and a double backward that also pushes zeros back
through D's forward graph (the leaky ReLU's second derivative).

``FastCritic`` computes the same gradients with the work written out, for D made of
``conv -> leaky ReLU`` layers and a final conv (the official D with ``activation lrelu``):

- one forward of the batch ``[real, fake, x]``;
- one backward chain per sample: ``-1/N`` (real), ``+1/N`` (fake) and ``1`` (``x``, which
  gives ``g = dD(x)/dx``), input and weight gradients together where both are needed;
- the penalty's own chain back up through the convs (the leaky-ReLU masks are constants): its
  weight gradient pairs that chain with ``x``'s output gradient at each layer.

Same losses and gradients (to float rounding; checked against autograd in the tests) for about
30 conv-sized operations per D step instead of 36 (the zeros are not pushed through D's forward
graph), and G's step gets only D's input gradient (no D weight gradients that are thrown away).
``AutogradCritic`` is the plain autograd version, used for other activations.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.consingan.network import Discriminator


def critic_for(D: Discriminator, lambda_grad: float):
    """The fast critic when D is all leaky ReLUs, else the autograd one."""
    if D.head.act_name == "lrelu":
        return FastCritic(D, lambda_grad)
    return AutogradCritic(D, lambda_grad)


def penalty_and_grad(g: torch.Tensor, lambda_grad: float):
    """``lambda * mean((|g|_2 - 1)^2)`` (norm over channels) and its gradient with respect to g
    (0 where the norm is 0, as torch's norm backward)."""
    norm = g.norm(2, dim=1, keepdim=True)
    gp = ((norm - 1) ** 2).mean() * lambda_grad
    scale = (2.0 * lambda_grad / norm.numel()) * (norm - 1) / norm
    return gp, g * scale.masked_fill(norm == 0, 0)


def conv_backward(conv: nn.Conv2d, grad_out: torch.Tensor, inp: torch.Tensor, need_input: bool,
                  need_weight: bool):
    """(input gradient, weight gradient) of ``conv`` at ``inp`` for ``grad_out`` (None where not
    asked for). One sample at a time: oneDNN's backward kernels are slower on batches here."""
    gi, gw, _ = torch.ops.aten.convolution_backward(
        grad_out, inp, conv.weight.detach(), None, list(conv.stride), list(conv.padding),
        list(conv.dilation), False, [0, 0], 1, [need_input, need_weight, False])
    return gi, gw


class FastCritic:
    def __init__(self, D: Discriminator, lambda_grad: float):
        self.D = D
        self.lambda_grad = float(lambda_grad)
        self.convs: list[nn.Conv2d] = [D.head.conv] + [b.conv for b in D.body] + [D.tail]
        self.slope = float(D.head.lrelu.negative_slope)

    def _forward(self, x: torch.Tensor):
        """Every layer's input, the pre-activations of the leaky-ReLU layers, and the output."""
        inputs, pre = [x], []
        for conv in self.convs[:-1]:
            z = F.conv2d(inputs[-1], conv.weight.detach(), conv.bias.detach(),
                         padding=conv.padding)
            pre.append(z)
            inputs.append(F.leaky_relu(z, self.slope))
        tail = self.convs[-1]
        out = F.conv2d(inputs[-1], tail.weight.detach(), tail.bias.detach(), padding=tail.padding)
        return inputs, pre, out

    def _lrelu_back(self, grad: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.leaky_relu_backward(grad, z, self.slope, False)

    @torch.no_grad()
    def d_step(self, real: torch.Tensor, fake: torch.Tensor, a: torch.Tensor):
        """Set D's ``.grad`` to the gradient of ``-D(real).mean() + D(fake).mean() + GP`` with
        the interpolation weight ``a`` (a 1x1 tensor); returns the three terms (0-dim tensors)."""
        a = a.reshape(()).to(real)
        x = a * real + (1 - a) * fake
        inputs, pre, out = self._forward(torch.cat([real, fake, x]))
        n_out = out.shape[2] * out.shape[3]
        err_real, err_fake = -out[0].mean(), out[1].mean()
        last = len(self.convs) - 1
        # Output gradients of the samples: real -1/N, fake +1/N, x: ones (gives g = dD(x)/dx).
        grads = [torch.full_like(out[i:i + 1], v) for i, v in
                 enumerate((-1.0 / n_out, 1.0 / n_out, 1.0))]
        weight_grads, x_grads_out = [None] * (last + 1), [None] * (last + 1)
        for l in range(last, -1, -1):
            conv = self.convs[l]
            if l < last:
                grads = [self._lrelu_back(g, pre[l][i:i + 1]) for i, g in enumerate(grads)]
            x_grads_out[l] = grads[2]
            conv.bias.grad = grads[0].sum(dim=(0, 2, 3)) + grads[1].sum(dim=(0, 2, 3))
            new = []
            for i, g in enumerate(grads):
                gi, gw = conv_backward(conv, g, inputs[l][i:i + 1], l > 0 or i == 2, i < 2)
                if gw is not None:
                    weight_grads[l] = gw if weight_grads[l] is None else weight_grads[l] + gw
                new.append(gi)
            grads = new
        gp, u = penalty_and_grad(grads[2], self.lambda_grad)
        # The penalty's chain goes back up the layers: u is the gradient of GP w.r.t. the input
        # gradient of x at each layer; the weight gradient pairs it with x's output gradient.
        for l, conv in enumerate(self.convs):
            _, gw = conv_backward(conv, x_grads_out[l], u, False, True)
            conv.weight.grad = weight_grads[l] + gw
            if l < last:
                q = F.conv2d(u, conv.weight.detach(), padding=conv.padding)
                u = self._lrelu_back(q, pre[l][2:3])
        return err_real, err_fake, gp

    @torch.no_grad()
    def g_grad(self, fake: torch.Tensor):
        """``errG = -D(fake).mean()`` and its gradient with respect to ``fake``."""
        inputs, pre, out = self._forward(fake)
        last = len(self.convs) - 1
        grad = torch.full_like(out, -1.0 / (out.shape[2] * out.shape[3]))
        for l in range(last, -1, -1):
            if l < last:
                grad = self._lrelu_back(grad, pre[l])
            grad, _ = conv_backward(self.convs[l], grad, inputs[l], True, False)
        return -out.mean(), grad


class AutogradCritic:
    """The official computation through autograd (any activation)."""

    def __init__(self, D: Discriminator, lambda_grad: float):
        self.D = D
        self.lambda_grad = float(lambda_grad)

    def d_step(self, real: torch.Tensor, fake: torch.Tensor, a: torch.Tensor):
        self.D.zero_grad(set_to_none=True)
        err_real = -self.D(real).mean()
        err_fake = self.D(fake.detach()).mean()
        a = a.reshape(()).to(real)
        x = (a * real + (1 - a) * fake.detach()).requires_grad_(True)
        out = self.D(x)
        g = torch.autograd.grad(out, x, torch.ones_like(out), create_graph=True)[0]
        gp = ((g.norm(2, dim=1) - 1) ** 2).mean() * self.lambda_grad
        (err_real + err_fake + gp).backward()
        return err_real.detach(), err_fake.detach(), gp.detach()

    def g_grad(self, fake: torch.Tensor):
        x = fake.detach().requires_grad_(True)
        err = -self.D(x).mean()
        (grad,) = torch.autograd.grad(err, x)
        return err.detach(), grad
