"""The optimizer of every training loop: fused Adam, its learning-rate schedules (the curves of
PyTorch's OneCycleLR and CosineAnnealingLR in closed form, so a resumed or graph-captured run sets
the rate of any step) and one update step."""
from __future__ import annotations

import math

import torch


def adam(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam over `params` on `device`. The fused kernel updates all parameters in one call: fewer
    launches on GPU, faster on CPU too, and no host read of each parameter's step count."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def make_optimizer(model: torch.nn.Module, cfg, device: torch.device) -> torch.optim.Adam:
    return adam(model.parameters(), cfg.lr, device)


# OneCycleLR's defaults (Smith & Topor, 2017), which the onecycle schedule has always used: warm up
# over the first 30% of the steps from lr/25 to lr, then anneal to lr/25/1e4, with Adam's beta1
# moving the other way (0.95 -> 0.85 -> 0.95).
WARMUP, DIV, FINAL_DIV, BETA1 = 0.3, 25.0, 1e4, (0.95, 0.85)


def _cos(start: float, end: float, pct: float) -> float:
    """Cosine annealing from `start` (pct 0) to `end` (pct 1), as OneCycleLR computes it."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def schedule_at(cfg, step: int, total: int) -> tuple[float, float | None]:
    """(learning rate, Adam beta1 or None to leave it) of optimizer step `step` (0-based) in a run
    planned for `total` steps, in closed form: the curves of PyTorch's OneCycleLR (above) and
    CosineAnnealingLR (lr -> 0 at step `total`), or the constant cfg.lr.

    A run continued past its plan trains at the plan's final rate: the annealing has settled the
    weights into a minimum, and going back to a warm-up or peak rate would throw that away.
    """
    step = min(step, total - 1)
    if cfg.schedule == "cosine":
        return cfg.lr * (1 + math.cos(math.pi * step / total)) / 2, None
    if cfg.schedule == "onecycle":
        start = cfg.lr / DIV
        warm = WARMUP * total - 1  # OneCycleLR: the warm-up's last step, a float
        if step <= warm:
            pct = step / warm
            return _cos(start, cfg.lr, pct), _cos(BETA1[0], BETA1[1], pct)
        pct = (step - warm) / (total - 1 - warm)
        return _cos(cfg.lr, start / FINAL_DIV, pct), _cos(BETA1[1], BETA1[0], pct)
    return cfg.lr, None


def set_schedule(optimizer: torch.optim.Optimizer, cfg, step: int, total: int) -> float:
    """Give every parameter group the rate (and beta1) of step `step`; returns the rate. Where a
    group holds its rate as a tensor (a CUDA graph reads it there), the rate is written into it."""
    lr, beta1 = schedule_at(cfg, step, total)
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
        if beta1 is not None:
            group["betas"] = (beta1, *group["betas"][1:])
    return lr


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimizer step on `loss`'s gradients -> the loss, detached (no autograd graph outlives
    its step). The eager step of `fit` and the step a CUDA graph captures (graphed.StepGraph)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()
