"""Autograd functions over the kernels of `kernels.c`; callers check shapes (dae_core/layers.py).

Activations come in and go out channels-last; weights are rearranged into the (ky, kx, ...)
order the kernels read, which costs microseconds on these small tensors.
"""
from __future__ import annotations

import ctypes

import torch
from torch.autograd.function import once_differentiable

from . import library

CL = torch.channels_last


def _p(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def _threads() -> int:
    return max(1, min(torch.get_num_threads(), 256))  # kernels.c keeps per-thread sums for <= 256


class Conv1(torch.autograd.Function):
    """Conv2d(1 -> 8, 3x3, stride 2, padding 1) on even H, W: (B, 1, H, W) -> (B, 8, H/2, W/2)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        B, _, H, W = x.shape
        x = x.contiguous()
        y = torch.empty(B, 8, H // 2, W // 2, memory_format=CL)
        w = weight.permute(2, 3, 1, 0).contiguous()  # (ky, kx, 1, 8)
        library().conv1_forward(_p(x), _p(w), _p(bias.contiguous()), _p(y), B, H, W, _threads())
        ctx.save_for_backward(x, weight)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        B, _, H, W = x.shape
        gy = gy.contiguous(memory_format=CL)
        gw, gb = torch.empty(3, 3, 8), torch.empty(8)
        library().conv1_backward(_p(x), _p(gy), _p(gw), _p(gb), B, H, W, _threads())
        gx = None
        if ctx.needs_input_grad[0]:  # the model's input never needs it; PyTorch computes it
            gx = torch.ops.aten.convolution_backward(gy, x, weight, None, [2, 2], [1, 1], [1, 1], False,
                                                     [0, 0], 1, [True, False, False])[0]
        return gx, gw.permute(2, 0, 1).unsqueeze(1), gb


def _call(kind: str, small: torch.Tensor, big: torch.Tensor, p: int, *tensors) -> None:
    """kernels.c's `up`, `down` or `wgrad` between grids small (B, CS, h, w) and big (B, CB, Hb, Wb)."""
    (B, cs, h, w), (_, cb, hb, wb) = small.shape, big.shape
    fn = getattr(library(), f"{kind}_{cs}_{cb}")
    if fn(*[None if t is None else _p(t) for t in tensors], B, h, w, hb, wb, p, _threads()):
        raise MemoryError(f"{kind}_{cs}_{cb} could not allocate its per-thread sums")


def _weight_grads(small, big, p, gy):
    """The weight (CS, CB, 3, 3) and bias (C of gy) gradients shared by both directions."""
    gw = torch.empty(3, 3, small.shape[1], big.shape[1])
    _call("wgrad", small, big, p, small, big, gw)
    return gw.permute(2, 3, 0, 1), gy.sum((0, 2, 3))


class Conv2dS2(torch.autograd.Function):
    """Conv2d(CB -> CS, 3x3, stride 2, padding p), (CS, CB) in native.TAP_CHANNELS:
    (B, CB, Hb, Wb) -> (B, CS, h, w). Its input gradient is the transposed layer's forward."""

    @staticmethod
    def forward(ctx, x, weight, bias, p):
        B, _, hb, wb = x.shape
        x = x.contiguous(memory_format=CL)
        y = torch.empty(B, weight.shape[0], (hb + 2 * p - 3) // 2 + 1, (wb + 2 * p - 3) // 2 + 1,
                        memory_format=CL)
        _call("down", y, x, p, x, weight.permute(2, 3, 1, 0).contiguous(), bias.contiguous(), y)
        ctx.save_for_backward(x, weight)
        ctx.p = p
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        gy = gy.contiguous(memory_format=CL)
        gx = torch.empty_like(x, memory_format=CL)
        _call("up", gy, x, ctx.p, gy, weight.permute(2, 3, 0, 1).contiguous(), None, gx)
        return (gx, *_weight_grads(gy, x, ctx.p, gy), None)


class ConvTranspose2dS2(torch.autograd.Function):
    """ConvTranspose2d(CS -> CB, 3x3, stride 2, padding p, output padding op), (CS, CB) in
    native.TAP_CHANNELS: (B, CS, h, w) -> (B, CB, Hb, Wb). Its input gradient is the Conv2d's forward."""

    @staticmethod
    def forward(ctx, x, weight, bias, p, op):
        B, _, h, w = x.shape
        x = x.contiguous(memory_format=CL)
        y = torch.empty(B, weight.shape[1], 2 * h + 1 - 2 * p + op, 2 * w + 1 - 2 * p + op, memory_format=CL)
        _call("up", x, y, p, x, weight.permute(2, 3, 0, 1).contiguous(), bias.contiguous(), y)
        ctx.save_for_backward(x, weight)
        ctx.p = p
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        gy = gy.contiguous(memory_format=CL)
        gx = torch.empty_like(x, memory_format=CL)
        _call("down", x, gy, ctx.p, gy, weight.permute(2, 3, 1, 0).contiguous(), None, gx)
        return (gx, *_weight_grads(x, gy, ctx.p, gy), None, None)


class UpConv1(torch.autograd.Function):
    """ConvTranspose2d(8 -> 1, 3x3, stride 2, padding 1, output padding 1):
    (B, 8, H, W) -> (B, 1, 2H, 2W)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        B, _, H, W = x.shape
        x = x.contiguous(memory_format=CL)
        y = torch.empty(B, 1, 2 * H, 2 * W)
        w = weight.permute(2, 3, 0, 1).contiguous()  # (ky, kx, 8, 1)
        library().upconv1_forward(_p(x), _p(w), _p(bias.contiguous()), _p(y), B, H, W, _threads())
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        B, _, H, W = x.shape
        gy = gy.contiguous()
        gx = torch.empty_like(x, memory_format=CL)
        gw, gb = torch.empty(3, 3, 8), torch.empty(1)
        library().upconv1_backward(_p(x), _p(w), _p(gy), _p(gx), _p(gw), _p(gb), B, H, W, _threads())
        return gx, gw.permute(2, 0, 1).unsqueeze(1), gb


class BatchNormTrain(torch.autograd.Function):
    """BatchNorm2d with the batch's statistics, C a multiple of 8 up to 64:
    returns y (B, C, H, W), and the batch mean and biased variance (C) for the running ones."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        B, C, H, W = x.shape
        x = x.contiguous(memory_format=CL)
        y = torch.empty_like(x, memory_format=CL)
        mean, invstd, var = torch.empty(C), torch.empty(C), torch.empty(C)
        library().bn_forward(_p(x), _p(weight.contiguous()), _p(bias.contiguous()), _p(y), _p(mean),
                             _p(invstd), _p(var), B * H * W, C, eps, _threads())
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, gy, _gmean, _gvar):
        x, weight, mean, invstd = ctx.saved_tensors
        B, C, H, W = x.shape
        gy = gy.contiguous(memory_format=CL)
        gx = torch.empty_like(x, memory_format=CL)
        gw, gb = torch.empty(C), torch.empty(C)
        library().bn_backward(_p(x), _p(gy), _p(weight.contiguous()), _p(mean), _p(invstd), _p(gx),
                              _p(gw), _p(gb), B * H * W, C, _threads())
        return gx, gw, gb, None
