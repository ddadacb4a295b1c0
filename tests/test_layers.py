"""dae_core.layers computes what PyTorch's layers compute, forward and backward, with or without
the native kernels; anything the kernels do not serve goes to PyTorch."""
import copy
import os
import shutil

import pytest
import torch
from torch import nn

from dae_core import layers, native
from dae_core.model import DenoisingAutoencoder

needs_native = pytest.mark.skipif(native.library() is None, reason=native.status())
CL = torch.channels_last

SERVED = [  # (ours, PyTorch's twin, input shape): every layer shape the kernels serve, odd sizes included
    (layers.Conv2d(1, 8, 3, stride=2, padding=1), (3, 1, 28, 28)),
    (layers.Conv2d(1, 8, 3, stride=2, padding=1), (2, 1, 6, 10)),
    (layers.Conv2d(8, 16, 3, stride=2, padding=1), (3, 8, 14, 14)),
    (layers.Conv2d(8, 16, 3, stride=2, padding=1), (2, 8, 9, 6)),
    (layers.Conv2d(16, 32, 3, stride=2, padding=0), (3, 16, 7, 7)),
    (layers.Conv2d(16, 32, 3, stride=2, padding=0), (1, 16, 8, 5)),
    (layers.ConvTranspose2d(32, 16, 3, stride=2), (3, 32, 3, 3)),
    (layers.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), (2, 32, 4, 2)),
    (layers.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), (3, 16, 7, 7)),
    (layers.ConvTranspose2d(16, 8, 3, stride=2), (2, 16, 5, 3)),
    (layers.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1), (3, 8, 14, 14)),
    (layers.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1), (1, 8, 3, 5)),
    (layers.BatchNorm2d(8), (3, 8, 14, 14)),
    (layers.BatchNorm2d(16), (5, 16, 7, 7)),
    (layers.BatchNorm2d(32), (2, 32, 3, 3)),
]


def _twin(layer: nn.Module) -> nn.Module:
    plain = layers.to_plain(copy.deepcopy(layer))
    assert type(plain) in layers.PLAIN.values()
    return plain


def _run(layer, x, gy):
    x = x.clone().requires_grad_()
    y = layer(x)
    y.backward(gy)
    return y, [x.grad] + [p.grad for p in layer.parameters()]


@needs_native
@pytest.mark.parametrize("layer, shape", SERVED, ids=lambda v: str(v) if isinstance(v, tuple) else type(v).__name__)
def test_native_layer_matches_pytorch_in_values_gradients_and_statistics(layer, shape):
    torch.manual_seed(0)
    for p in layer.parameters():  # BatchNorm starts at (1, 0): make its affine part count
        nn.init.uniform_(p, -1, 1)
    ref = _twin(layer).train()
    layer.train()
    x = (torch.randn(shape) * 2 + 1).contiguous(memory_format=CL)
    gy = torch.randn_like(ref(x.clone()))
    ref = _twin(layer)  # fresh running statistics after the probe above
    (y, grads), (y_ref, grads_ref) = _run(layer, x, gy), _run(ref, x, gy)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-4)
    for name, buf in layer.named_buffers():  # BatchNorm's running mean / var and batch count
        torch.testing.assert_close(buf, dict(ref.named_buffers())[name], rtol=1e-5, atol=1e-6)


@needs_native
def test_layers_take_the_native_path_for_the_model_and_pytorch_elsewhere(monkeypatch):
    from dae_core.native import ops

    taken = []
    for name in ("Conv1", "StrideTwoConv", "UpConv1", "BatchNormTrain"):
        fn = getattr(ops, name)
        monkeypatch.setattr(fn, "apply", lambda *a, _apply=fn.apply, _name=name: taken.append(_name) or _apply(*a))
    DenoisingAutoencoder(4).train()(torch.rand(2, 1, 28, 28)).sum().backward()
    assert sorted(taken) == sorted(["Conv1", "StrideTwoConv", "BatchNormTrain", "StrideTwoConv",
                                    "StrideTwoConv", "BatchNormTrain", "StrideTwoConv", "BatchNormTrain", "UpConv1"])
    taken.clear()
    # shapes, modes and dtypes the kernels do not serve: PyTorch runs them
    layers.Conv2d(1, 8, 3, stride=2, padding=1)(torch.rand(1, 1, 7, 7))  # odd input
    layers.Conv2d(8, 16, 3, stride=1, padding=1)(torch.rand(1, 8, 6, 6))  # stride 1
    layers.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)(torch.rand(1, 8, 6, 6))
    layers.Conv2d(8, 24, 3, stride=2, padding=1)(torch.rand(1, 8, 6, 6))  # channels
    layers.Conv2d(1, 8, 3, stride=2, padding=1).double()(torch.rand(1, 1, 6, 6, dtype=torch.float64))
    layers.ConvTranspose2d(8, 2, 3, stride=2)(torch.rand(1, 8, 4, 4))
    layers.ConvTranspose2d(8, 1, 3, stride=2, dilation=2)(torch.rand(1, 8, 4, 4))
    layers.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1)(torch.rand(1, 8, 4, 4), output_size=[8, 8])
    layers.BatchNorm2d(8).eval()(torch.rand(2, 8, 3, 3))  # running statistics
    layers.BatchNorm2d(12)(torch.rand(2, 12, 3, 3))
    layers.BatchNorm2d(8, momentum=None)(torch.rand(2, 8, 3, 3))
    assert taken == []


def test_without_the_kernels_every_layer_is_pytorchs(monkeypatch):
    monkeypatch.setattr(native, "library", lambda: None)
    torch.manual_seed(0)
    model = DenoisingAutoencoder(4).train()
    ref = layers.to_plain(DenoisingAutoencoder(4)).train()
    ref.load_state_dict(model.state_dict())
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(model(x), ref(x))


def test_to_plain_keeps_the_state_dict_and_the_outputs():
    model = DenoisingAutoencoder(4).eval()
    keys = list(model.state_dict())
    x = torch.rand(5, 1, 28, 28)
    before = model(x)
    layers.to_plain(model)
    assert {type(m) for m in model.modules()}.isdisjoint(layers.PLAIN)
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)


@needs_native
def test_native_training_steps_are_deterministic_and_track_pytorch():
    def steps(plain: bool):
        torch.manual_seed(0)
        model = DenoisingAutoencoder(4).to(memory_format=CL)
        if plain:
            layers.to_plain(model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(1)
        x = torch.rand(64, 1, 28, 28, generator=g)
        losses = []
        for _ in range(5):
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, model.state_dict()

    (a, wa), (b, wb), (ref, _) = steps(False), steps(False), steps(True)
    assert a == b and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a[-1] < a[0]
    torch.testing.assert_close(torch.tensor(a), torch.tensor(ref), rtol=1e-4, atol=0)


def test_kernels_build_wherever_a_c_compiler_is_found():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: PyTorch's layers run (the test above covers that)")
    if os.environ.get("DAE_NATIVE") == "0":
        pytest.skip("the kernels are turned off (DAE_NATIVE=0)")
    assert native.library() is not None, native.status()
    assert native.status().startswith("native kernels: ")


def test_a_failed_build_leaves_pytorchs_layers_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.delenv("DAE_NATIVE", raising=False)
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setattr(native.shutil, "which", lambda name: "/bin/false" if name == "false" else None)
    assert native.library() is None
    assert native.status().startswith("PyTorch layers only: could not build the kernels: /bin/false failed")
    assert list(tmp_path.iterdir()) == []  # no half-written library left behind
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("DAE_NATIVE", "0")
    assert native.library() is None and "DAE_NATIVE=0" in native.status()
