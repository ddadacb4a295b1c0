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


class StrideTwoConv(torch.autograd.Function):
    """Conv2d(CB -> CS) (transposed=False) or ConvTranspose2d(CS -> CB) (transposed=True), 3x3,
    stride 2, padding p, output padding op (transposed only), (CS, CB) in native.TAP_CHANNELS;
    the weight is (CS, CB, 3, 3) either way. Conv2d maps the big grid (B, CB, Hb, Wb) to the
    small one (B, CS, h, w); the transposed layer maps small to big. Each one's input gradient
    is the other's forward, and they share the weight gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias, p, op, transposed):
        B, _, H, W = x.shape
        if transposed:
            shape = (B, weight.shape[1], 2 * H + 1 - 2 * p + op, 2 * W + 1 - 2 * p + op)
        else:
            shape = (B, weight.shape[0], (H + 2 * p - 3) // 2 + 1, (W + 2 * p - 3) // 2 + 1)
        x = x.contiguous(memory_format=CL)
        y = torch.empty(shape, memory_format=CL)
        _through(transposed, x, y, weight, bias.contiguous(), p)
        ctx.save_for_backward(x, weight)
        ctx.p, ctx.transposed = p, transposed
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        gy = gy.contiguous(memory_format=CL)
        gx = torch.empty_like(x, memory_format=CL)
        _through(not ctx.transposed, gy, gx, weight, None, ctx.p)
        small, big = (x, gy) if ctx.transposed else (gy, x)
        gw = torch.empty(3, 3, small.shape[1], big.shape[1])
        _call("wgrad", small, big, ctx.p, small, big, gw)
        return gx, gw.permute(2, 3, 0, 1), gy.sum((0, 2, 3)), None, None, None


def _through(up: bool, src: torch.Tensor, dst: torch.Tensor, weight, bias, p: int) -> None:
    """dst = the layer applied to src: `up` scatters a small grid into a big one, else gathers."""
    if up:
        _call("up", src, dst, p, src, weight.permute(2, 3, 0, 1).contiguous(), bias, dst)  # (ky, kx, CS, CB)
    else:
        _call("down", dst, src, p, src, weight.permute(2, 3, 1, 0).contiguous(), bias, dst)  # (ky, kx, CB, CS)


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
