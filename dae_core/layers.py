"""A faster CPU path for the decoder's last layer, the same maths as nn.ConvTranspose2d.

oneDNN computes a stride-2 transposed convolution with its strided backward-data kernel, which
is slowest when the layer produces a single channel: the (B, 8, 14, 14) -> (B, 1, 28, 28) output
layer takes ~2-3 ms per batch of 256 here, the largest single cost of a training step. For that
layer this module computes the forward as one GEMM + col2im (ATen's `slow_conv_transpose2d`,
~3x faster) and the backward with oneDNN's direct-convolution kernels, which are fast:

    y = conv_transpose2d(x, w)   =>   dL/dx = conv2d(dL/dy, w)                (its adjoint)
                                      dL/dw = weight gradient of that conv2d with upstream x

Everything else (other devices, layers with several output channels, where oneDNN is as fast
or faster) goes through the stock implementation. `benchmarks/bench_train.py` measures the gain.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ConvTranspose2dCPU(torch.autograd.Function):
    """conv_transpose2d (groups 1, no dilation): GEMM + col2im forward, adjoint-conv backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding):
        x, weight = x.contiguous(), weight.contiguous()  # col2im's fast case is NCHW
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        ctx.has_bias = bias is not None
        return torch.ops.aten.slow_conv_transpose2d(
            x, weight, list(weight.shape[2:]), bias, stride, padding, output_padding, [1, 1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad_y, weight, None, ctx.stride, ctx.padding)
        if ctx.needs_input_grad[1]:
            # The conv2d above maps grad_y (shaped like y) to something shaped like x; the weight
            # gradient of a transposed convolution is that conv's weight gradient, with x upstream.
            grad_w = torch.ops.aten.convolution_backward(
                x, grad_y, weight, None, ctx.stride, ctx.padding, [1, 1], False,
                [0, 0], 1, [False, True, False])[1]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d with the same parameters and state dict; faster on CPU for 1 output channel."""

    def _fast_path(self, x: torch.Tensor) -> bool:
        return (x.device.type == "cpu" and x.dim() == 4 and self.out_channels == 1
                and self.groups == 1 and self.dilation == (1, 1) and self.padding_mode == "zeros")

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None or not self._fast_path(x):
            return super().forward(x, output_size)
        return _ConvTranspose2dCPU.apply(x, self.weight, self.bias, list(self.stride),
                                         list(self.padding), list(self.output_padding))
