"""Where a model runs: the device (`auto` -> cuda / mps / cpu) and the memory layout it runs fastest in."""
from __future__ import annotations

import torch

from dae_core.errors import DaeError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else mps, else cpu; an unavailable explicit device is refused."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DaeError("device 'cuda' was asked for but no CUDA GPU is available; use auto or cpu")
    return torch.device(name)


def place(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a model to `device`, in the memory layout its convolutions run fastest in there.

    On CPU that is channels-last (NHWC): oneDNN then skips a reorder between the plain and its
    blocked layout around every layer (an epoch took 2-17% less time in three in-process A/Bs;
    `benchmarks/bench_choices.py` repeats one). Training and loading both use it, so a model
    gives bit-identical outputs before saving and after loading; only the strides differ.
    Elsewhere it is the plain layout, also for a model that was channels-last on the CPU: CUDA's
    fused Adam wants a parameter and its moments in one layout.
    """
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    return model.to(device).to(memory_format=layout)
