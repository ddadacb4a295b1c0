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


def _run(name: str, *args):
    """Call kernel `name` of kernels.c with `args` and the thread count; tensors go as pointers.

    The tensors stay referenced by `args` until the call returns, so a temporary (a
    `.contiguous()` copy written inline) is never freed under the kernel.
    """
    ptrs = [ctypes.c_void_p(a.data_ptr()) if isinstance(a, torch.Tensor) else a for a in args]
    threads = max(1, min(torch.get_num_threads(), 256))  # kernels.c keeps per-thread sums for <= 256
    return getattr(library(), name)(*ptrs, threads)


class Conv1(torch.autograd.Function):
    """Conv2d(1 -> 8, 3x3, stride 2, padding 1) on even H, W: (B, 1, H, W) -> (B, 8, H/2, W/2)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        B, _, H, W = x.shape
        x = x.contiguous()
        y = torch.empty(B, 8, H // 2, W // 2, memory_format=CL)
        w = weight.permute(2, 3, 1, 0).contiguous()  # (ky, kx, 1, 8)
        _run("conv1_forward", x, w, bias.contiguous(), y, B, H, W)
        ctx.save_for_backward(x, weight)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        B, _, H, W = x.shape
        gy = gy.contiguous(memory_format=CL)
        gw, gb = torch.empty(3, 3, 8), torch.empty(8)
        _run("conv1_backward", x, gy, gw, gb, B, H, W)
        gx = None
        if ctx.needs_input_grad[0]:  # the model's input never needs it; PyTorch computes it
            gx = torch.ops.aten.convolution_backward(gy, x, weight, None, [2, 2], [1, 1], [1, 1], False,
                                                     [0, 0], 1, [True, False, False])[0]
        return gx, gw.permute(2, 0, 1).unsqueeze(1), gb


def _call(kind: str, small: torch.Tensor, big: torch.Tensor, p: int, *tensors) -> None:
    """kernels.c's `up`, `down` or `wgrad` between grids small (B, CS, h, w) and big (B, CB, Hb, Wb)."""
    (B, cs, h, w), (_, cb, hb, wb) = small.shape, big.shape
    if _run(f"{kind}_{cs}_{cb}", *tensors, B, h, w, hb, wb, p):
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
        _run("upconv1_forward", x, w, bias.contiguous(), y, B, H, W)
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
        _run("upconv1_backward", x, w, gy, gx, gw, gb, B, H, W)
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
        _run("bn_forward", x, weight.contiguous(), bias.contiguous(), y, mean, invstd, var, B * H * W, C, eps)
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
        _run("bn_backward", x, gy, weight.contiguous(), mean, invstd, gx, gw, gb, B * H * W, C)
        return gx, gw, gb, None
