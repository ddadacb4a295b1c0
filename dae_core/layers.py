"""nn.Conv2d, nn.ConvTranspose2d and nn.BatchNorm2d that run dae_core/native's kernels on CPU.

Each is PyTorch's layer with the same parameters and state dict. On a CPU float32 input whose
layer is one of the shapes the kernels serve (the reference model's 3x3 stride-2 layers and
their BatchNorm in training), it calls them; anywhere else (CUDA, other shapes, no C compiler,
DAE_NATIVE=0) it is exactly PyTorch's layer. `to_plain` turns a model back into PyTorch's
classes: the reference pipeline, and the measure of what the kernels gain.
"""
from __future__ import annotations

import torch
from torch import nn

from . import native
from .native import ops


def _native_input(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4 and native.library() is not None


def _square_stride2(m: nn.Module) -> bool:
    """A 3x3, stride-2, undilated, ungrouped, zero-padded layer with a bias, padded 0 or 1 on both axes."""
    return (m.kernel_size == (3, 3) and m.stride == (2, 2) and m.dilation == (1, 1) and m.groups == 1
            and m.padding_mode == "zeros" and m.bias is not None and m.padding[0] == m.padding[1] <= 1)


class Conv2d(nn.Conv2d):
    """nn.Conv2d; native for 1 -> 8 channels (padding 1, even input) and the TAP_CHANNELS pairs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _native_input(x) and _square_stride2(self) and min(x.shape[-2:]) + 2 * self.padding[0] >= 3:
            p = self.padding[0]
            if (self.out_channels, self.in_channels) in native.TAP_CHANNELS:
                return ops.StrideTwoConv.apply(x, self.weight, self.bias, p, 0, False)
            if (self.in_channels, self.out_channels, p) == (1, 8, 1) and x.shape[-1] % 2 == x.shape[-2] % 2 == 0:
                return ops.Conv1.apply(x, self.weight, self.bias)
        return super().forward(x)


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d; native for 8 -> 1 channels (padding 1, output padding 1) and the
    TAP_CHANNELS pairs."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (_native_input(x) and output_size is None and _square_stride2(self)
                and self.output_padding[0] == self.output_padding[1] <= 1):
            p, op = self.padding[0], self.output_padding[0]
            if (self.in_channels, self.out_channels) in native.TAP_CHANNELS:
                return ops.StrideTwoConv.apply(x, self.weight, self.bias, p, op, True)
            if (self.in_channels, self.out_channels, p, op) == (8, 1, 1, 1):
                return ops.UpConv1.apply(x, self.weight, self.bias)
        return super().forward(x, output_size)


class BatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d; native in training mode (batch statistics) on 8 to 64 channels, a multiple of 8."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // max(x.shape[1], 1) if x.dim() == 4 else 0
        if not (_native_input(x) and self.training and self.track_running_stats and self.momentum is not None
                and self.affine and self.num_features % 8 == 0 and self.num_features <= 64 and rows > 1):
            return super().forward(x)
        y, mean, var = ops.BatchNormTrain.apply(x, self.weight, self.bias, self.eps)
        with torch.no_grad():  # what nn.BatchNorm2d does to its running statistics in training
            self.num_batches_tracked.add_(1)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * (rows / (rows - 1)), self.momentum)  # unbiased, as PyTorch keeps it
        return y


PLAIN = {Conv2d: nn.Conv2d, ConvTranspose2d: nn.ConvTranspose2d, BatchNorm2d: nn.BatchNorm2d}


def to_plain(model: nn.Module) -> nn.Module:
    """Turn every layer of this module into its PyTorch class, in place (same parameters)."""
    for m in model.modules():
        if type(m) in PLAIN:
            m.__class__ = PLAIN[type(m)]
    return model
