"""A transposed convolution that is faster on CPU when it has one output channel.

oneDNN computes a transposed convolution as the backward pass of a convolution, and for the
decoder's last layer (8 -> 1 channels, stride 2) that kernel is the slowest op of a training
step: 2.0-2.7 ms of ~20 ms at batch 256 (`python benchmarks/bench_ops.py`). The same sum can be
taken in two cheap steps: a 1x1 convolution gives every input pixel's k*k contributions at once
(a forward convolution, which oneDNN does well), and k*k strided adds place them in the output.
That forward takes 0.6-0.8 ms. The backward stays PyTorch's own (`aten.convolution_backward`).
On the decoder's wider layers (16 and 8 output channels) this form was no faster than oneDNN,
so only a layer with one output channel takes this path.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_transpose2d_by_taps(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             stride: tuple, padding: tuple, output_padding: tuple) -> torch.Tensor:
    """F.conv_transpose2d (groups 1, dilation 1) as a 1x1 convolution + one strided add per tap.

    Output (i*s + k - p) receives input pixel i through tap k. The result is channels-last.
    """
    B, _, H, W = x.shape
    c_out, kh, kw = weight.shape[1:]
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    Ho, Wo = (H - 1) * sh - 2 * ph + kh + oph, (W - 1) * sw - 2 * pw + kw + opw
    # (B, kh*kw*c_out, H, W): channel (ky, kx, c) is what pixel (i, j) adds at output (i*s+ky-p, j*s+kx-p)
    y = F.conv2d(x, weight.permute(2, 3, 1, 0).reshape(kh * kw * c_out, -1, 1, 1))
    if y.is_contiguous(memory_format=torch.channels_last):
        y = y.permute(0, 2, 3, 1).reshape(B, H, W, kh, kw, c_out)
    else:
        y = y.reshape(B, kh, kw, c_out, H, W).permute(0, 4, 5, 1, 2, 3)
    out = torch.empty(B, c_out, Ho, Wo, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    o = out.permute(0, 2, 3, 1)  # (B, Ho, Wo, c_out), a view
    if bias is None:
        o.zero_()
    else:
        o.copy_(bias.expand(B, Ho, Wo, c_out))
    for ky in range(kh):
        i0, i1 = _inputs_inside(ky, ph, sh, H, Ho)
        for kx in range(kw):
            j0, j1 = _inputs_inside(kx, pw, sw, W, Wo)
            if i1 > i0 and j1 > j0:
                oy, ox = i0 * sh + ky - ph, j0 * sw + kx - pw
                rows = slice(oy, oy + (i1 - i0 - 1) * sh + 1, sh)
                cols = slice(ox, ox + (j1 - j0 - 1) * sw + 1, sw)
                o[:, rows, cols] += y[:, i0:i1, j0:j1, ky, kx]
    return out


def _inputs_inside(k: int, p: int, s: int, n_in: int, n_out: int) -> tuple[int, int]:
    """The input indices [i0, i1) whose tap k lands inside the output: 0 <= i*s + k - p < n_out."""
    return max(0, (p - k + s - 1) // s), min(n_in, (n_out - k + p + s - 1) // s)


class _ByTaps(torch.autograd.Function):
    """Forward by taps; backward by PyTorch's convolution backward for the same layer."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding):
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding, output_padding, None if bias is None else list(bias.shape))
        return conv_transpose2d_by_taps(x, weight, bias, stride, padding, output_padding)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, output_padding, bias_shape = ctx.conv
        need = ctx.needs_input_grad
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad, x, weight, bias_shape, list(stride), list(padding), [1, 1], True, list(output_padding), 1,
            [need[0], need[1], bias_shape is not None and need[2]])
        return gx, gw, gb, None, None, None


class NarrowConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same parameters, same state dict) that runs by taps on CPU when it has
    one output channel (the case measured); elsewhere it is nn.ConvTranspose2d."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if (x.device.type != "cpu" or output_size is not None or x.dim() != 4 or self.out_channels != 1
                or self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros"):
            return super().forward(x, output_size)
        return _ByTaps.apply(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)


def to_plain(model: nn.Module) -> nn.Module:
    """Turn every NarrowConvTranspose2d of `model` into PyTorch's nn.ConvTranspose2d, in place
    (same parameters): the reference pipeline, or a measurement of this module's gain."""
    for m in model.modules():
        if type(m) is NarrowConvTranspose2d:
            m.__class__ = nn.ConvTranspose2d
    return model
