"""A training step captured once as a CUDA graph and replayed: forward, loss, backward and Adam's
update in one launch, where eager PyTorch pays the host's time for each of their ~100 small kernels.

The step's random part (noise, augmentation) is drawn eagerly by the objective's `inputs`, so a
replayed step trains on exactly the inputs an eager step would; what is captured is the objective's
deterministic `loss_of` and the update. The recipe is PyTorch's whole-network capture (CUDA
semantics, "CUDA Graphs"): a few eager warm-up steps on a side stream, then `torch.cuda.graph`,
with Adam made capturable and its rate held in a device tensor that the schedule writes. Adam's
betas are numbers the captured update keeps, so a schedule that moves beta1 (onecycle) is refused.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch

from dae_core.errors import DaeError
from dae_core.optim import update

WARMUP_STEPS = 3  # eager steps before the capture (cuDNN's autotuning, Adam's state)


def cuda_warm_up(fn: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Run an eager step on a side stream, as capture wants the work before it to have been."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = fn()
    torch.cuda.current_stream().wait_stream(side)
    return out


def cuda_capture(fn: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
    """Record fn's kernels (nothing runs yet): (replay, the output tensor each replay rewrites)."""
    graph = torch.cuda.CUDAGraph()
    # thread_local: other threads of the process (another run, a page encoding digits) may use
    # the GPU while this one captures; only this thread's unsafe calls would spoil the capture.
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        out = fn()
    return graph.replay, out


class StepGraph:
    """Full batches of a run train through one captured step; `fit` uses it for compile_mode
    "cuda-graph" and runs the other batches (a short last one) eagerly on the same optimizer."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, objective,
                 device: torch.device):
        if not (hasattr(objective, "inputs") and hasattr(objective, "loss_of")):
            raise DaeError(f"{type(objective).__name__} has no inputs / loss_of: it cannot train as a CUDA graph")
        self.model, self.optimizer, self.objective = model, optimizer, objective
        self.real = device.type == "cuda"  # False: tests replay the recorded step as plain Python
        self.warm_up, self.capture = cuda_warm_up, cuda_capture
        self._static: tuple[torch.Tensor, ...] | None = None
        self._replay: Callable[[], None] | None = None
        self._loss: torch.Tensor | None = None
        self._warmed = 0
        # One rate per group, made once: the graph reads it at this address.
        self._rates = [torch.zeros((), device=device) for _ in optimizer.param_groups]

    def _train(self, *inputs: torch.Tensor) -> torch.Tensor:
        return update(self.optimizer, self.objective.loss_of(self.model, *inputs))

    def step(self, x: torch.Tensor, y: torch.Tensor | None, g: torch.Generator) -> torch.Tensor:
        """One optimizer step on a full batch; the loss (a tensor the next replay overwrites)."""
        inputs = self.objective.inputs(x, y, g)
        if self._warmed < WARMUP_STEPS:
            self._warmed += 1
            return self.warm_up(lambda: self._train(*inputs))
        if self._replay is None:
            self._static = tuple(t.clone() for t in inputs)
            self.optimizer.zero_grad(set_to_none=True)  # the captured backward makes the grads
            self._replay, self._loss = self.capture(lambda: self._train(*self._static))
        else:
            for static, new in zip(self._static, inputs):
                static.copy_(new)
        self._replay()
        return self._loss

    @contextmanager
    def installed(self):
        """Within: Adam capturable, its rate the device tensor the graph reads (the schedule writes
        into it); after: a plain float and the optimizer's own flag again, as a checkpoint stores them."""
        if not self.real:
            yield
            return
        groups = self.optimizer.param_groups
        saved = [group["capturable"] for group in groups]
        for group, rate in zip(groups, self._rates):
            rate.fill_(float(group["lr"]))
            group.update(lr=rate, capturable=True)
        try:
            yield
        finally:
            for group, capturable in zip(groups, saved):
                group.update(lr=float(group["lr"]), capturable=capturable)
