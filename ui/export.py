"""A decoder as plain arrays (BatchNorm folded in) and its numpy forward pass; the latent pad's map,
lift (pad point -> code) and projection (code -> pad point).

The browser explorer runs exactly `decode_arrays` in JavaScript (ui/explorer/explorer.js), so this
module is the reference both sides are tested against (tests/test_export.py, tests/e2e).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dae_core.errors import DaeError

# (stride, padding, output_padding) of the decoder's three ConvTranspose2d, in order (model.py).
DECONV_GEOMETRY = ((2, 0, 0), (2, 1, 1), (2, 1, 1))


def _fold(conv: nn.ConvTranspose2d, bn: nn.BatchNorm2d | None) -> tuple[np.ndarray, np.ndarray]:
    """(weight (C_in, C_out, k, k), bias (C_out,)) of conv followed by bn in eval mode."""
    w = conv.weight.detach().double().cpu().numpy()
    b = conv.bias.detach().double().cpu().numpy()
    if bn is not None:  # bn(y) = gamma * (y - mean) / sqrt(var + eps) + beta, per output channel
        scale = (bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)).numpy()
        w = w * scale[None, :, None, None]
        b = (b - bn.running_mean.detach().double().numpy()) * scale + bn.bias.detach().double().numpy()
    return w, b


def decoder_arrays(model) -> dict[str, np.ndarray]:
    """The decoder's weights as float32 arrays: fc{1,2}_{w,b} (out, in) and deconv{1,2,3}_{w,b}
    (C_in, C_out, 3, 3), each BatchNorm folded into the transposed convolution before it."""
    dec = model.decoder
    linears = [m for m in dec.fc if isinstance(m, nn.Linear)]
    layers = list(dec.deconv)
    convs = [(m, layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d)
              else None) for i, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)]
    if len(linears) != 2 or len(convs) != 3:
        raise DaeError("only the reference decoder (2 linear, 3 transposed-conv layers) exports")
    out = {}
    for i, lin in enumerate(linears, 1):
        out[f"fc{i}_w"] = lin.weight.detach().cpu().numpy()
        out[f"fc{i}_b"] = lin.bias.detach().cpu().numpy()
    for i, (conv, bn) in enumerate(convs, 1):
        if (conv.stride[0], conv.padding[0], conv.output_padding[0]) != DECONV_GEOMETRY[i - 1]:
            raise DaeError(f"transposed convolution {i} has an unexpected geometry")
        out[f"deconv{i}_w"], out[f"deconv{i}_b"] = _fold(conv, bn)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int,
                   out_pad: int) -> np.ndarray:
    """(N, C_in, H, W) -> (N, C_out, (H-1)*stride - 2*pad + k + out_pad, same for W): each input
    pixel adds w[c_in, :, ky, kx] times itself at (y*stride - pad + ky, x*stride - pad + kx)."""
    n, _, h, wd = x.shape
    k = w.shape[2]
    full = np.zeros((n, w.shape[1], (h - 1) * stride + k + out_pad, (wd - 1) * stride + k + out_pad),
                    dtype=np.result_type(x, w))
    for ky in range(k):
        for kx in range(k):
            full[:, :, ky: ky + (h - 1) * stride + 1: stride, kx: kx + (wd - 1) * stride + 1: stride] \
                += np.einsum("nihw,io->nohw", x, w[:, :, ky, kx])
    size = (h - 1) * stride - 2 * pad + k + out_pad
    return full[:, :, pad: pad + size, pad: pad + size] + b[None, :, None, None]


def decode_arrays(arrays: dict[str, np.ndarray], z: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Codes (N, d) -> images (N, 28, 28) in (0, 1), computed in `dtype` from decoder_arrays()."""
    a = {k: v.astype(dtype) for k, v in arrays.items()}
    h = np.maximum(np.asarray(z, dtype) @ a["fc1_w"].T + a["fc1_b"], 0)
    h = np.maximum(h @ a["fc2_w"].T + a["fc2_b"], 0)
    x = h.reshape(len(h), a["deconv1_w"].shape[0], 3, 3)
    for i, geometry in enumerate(DECONV_GEOMETRY, 1):
        x = conv_transpose(x, a[f"deconv{i}_w"], a[f"deconv{i}_b"], *geometry)
        if i < len(DECONV_GEOMETRY):
            x = np.maximum(x, 0)
    return (1 / (1 + np.exp(-x[:, 0]))).astype(dtype)


def pad_map(z: np.ndarray, n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """The latent pad's data: idx (n,) sorted rows of z drawn with `seed`; mean (d,) and axes
    (2, d) orthonormal, the first two principal components of all of z; xy (n, 2) = (z[idx] -
    mean) @ axes.T, the drawn codes' positions on the pad."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or len(z) < 2:
        raise DaeError(f"the latent pad needs codes of shape (N >= 2, d >= 2), got {z.shape}")
    mean = z.mean(0)
    _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
    axes = vt[:2] * np.sign(vt[:2].sum(1, keepdims=True) + 1e-12)  # a sign fixed by the data
    idx = np.sort(np.random.default_rng(seed).choice(len(z), min(n, len(z)), replace=False))
    xy = (z[idx] - mean) @ axes.T
    return {"idx": idx, "mean": mean.astype(np.float32), "axes": axes.astype(np.float32),
            "xy": xy.astype(np.float32)}


def map_positions(idx: np.ndarray, map_idx: np.ndarray, map_xy: np.ndarray) -> np.ndarray:
    """The positions (n, 2) float32 of training codes idx (n,) on a 2-D map that places codes
    map_idx (m,) (sorted) at map_xy (m, 2); a DaeError when the map leaves one of them out."""
    at = np.searchsorted(map_idx, idx)
    if np.any(at >= len(map_idx)) or np.any(map_idx[np.minimum(at, len(map_idx) - 1)] != idx):
        raise DaeError("the 2-D map does not place every drawn code")
    return np.asarray(map_xy, np.float32)[at]


def _nearest_weights(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights summing to 1) of the k smallest squared distances d2: 1 / (d2 + 1e-6)."""
    near = np.argsort(d2, kind="stable")[:k]
    w = 1.0 / (d2[near] + 1e-6)
    return near, w / w.sum()


def lift(p: np.ndarray, xy: np.ndarray, codes: np.ndarray, mean: np.ndarray | None = None,
         axes: np.ndarray | None = None, k: int = 8) -> np.ndarray:
    """A pad point p (2,) -> a code (d,): the inverse-square-distance weighted mean of the k drawn
    codes nearest p on the pad; on a PCA pad (mean, axes given) moved along the two axes so that
    it lands exactly on p (a UMAP pad has no axes: the mean stays as it is)."""
    near, w = _nearest_weights(((xy - p) ** 2).sum(1), k)
    zk = w @ codes[near]
    if axes is None:
        return zk
    return zk + (p - (zk - mean) @ axes.T) @ axes


def project(z: np.ndarray, xy: np.ndarray, codes: np.ndarray, mean: np.ndarray | None = None,
            axes: np.ndarray | None = None, k: int = 8) -> np.ndarray:
    """A code z (d,) -> its pad point (2,): on a PCA pad (mean, axes given) its coordinates on the
    two axes; on a UMAP pad (no transform) the inverse-square-distance weighted mean of the pad
    positions of the k drawn codes nearest z in the code space."""
    if axes is not None:
        return (z - mean) @ axes.T
    near, w = _nearest_weights(((codes - z) ** 2).sum(1), k)
    return w @ xy[near]
