"""The decoder's fast output layer is nn.ConvTranspose2d's maths, values and gradients alike."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dae_core.bench import stock_layers
from dae_core.layers import ConvTranspose2d, _ConvTranspose2dCPU
from dae_core.model import DenoisingAutoencoder
from dae_core.train import place


@pytest.mark.parametrize("stride,padding,output_padding,size", [(2, 1, 1, 4), (2, 0, 0, 3), (1, 1, 0, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_gradients_match_finite_differences(stride, padding, output_padding, size, bias):
    torch.manual_seed(0)
    x = torch.randn(2, 3, size, size, dtype=torch.double, requires_grad=True)
    w = torch.randn(3, 1, 3, 3, dtype=torch.double, requires_grad=True)
    b = torch.randn(1, dtype=torch.double, requires_grad=True) if bias else None

    def f(x, w, b):
        return _ConvTranspose2dCPU.apply(x, w, b, [stride] * 2, [padding] * 2, [output_padding] * 2)

    assert torch.autograd.gradcheck(f, (x, w, b))
    expected = F.conv_transpose2d(x, w, b, stride, padding, output_padding)
    assert torch.allclose(f(x, w, b), expected, atol=1e-12)


def _pair(out_channels):
    torch.manual_seed(0)
    fast = ConvTranspose2d(8, out_channels, 3, stride=2, padding=1, output_padding=1)
    stock = nn.ConvTranspose2d(8, out_channels, 3, stride=2, padding=1, output_padding=1)
    stock.load_state_dict(fast.state_dict())  # same parameters, same state-dict keys
    return fast, stock


def test_output_layer_matches_pytorch_values_and_gradients():
    fast, stock = _pair(1)
    x = torch.randn(16, 8, 14, 14)
    target = torch.rand(16, 1, 28, 28)
    outputs, grads = [], []
    for layer in (fast, stock):
        xi = x.clone().requires_grad_()
        y = layer(xi)
        F.mse_loss(torch.sigmoid(y), target).backward()
        outputs.append(y.detach())
        grads.append([xi.grad, layer.weight.grad, layer.bias.grad])
    assert "_ConvTranspose2dCPU" in type(fast(x).grad_fn).__name__  # the fast path ran
    assert torch.allclose(outputs[0], outputs[1], atol=1e-5)
    for g_fast, g_stock in zip(*grads):
        assert torch.allclose(g_fast, g_stock, rtol=1e-4, atol=1e-7)


def test_layers_with_several_output_channels_use_pytorch():
    fast, stock = _pair(8)
    x = torch.randn(2, 8, 7, 7)
    assert "_ConvTranspose2dCPU" not in type(fast(x).grad_fn).__name__
    assert torch.equal(fast(x), stock(x))


def test_the_benchmark_reference_runs_on_stock_layers_only():
    model = stock_layers(DenoisingAutoencoder(4))
    assert not any(isinstance(m, ConvTranspose2d) for m in model.modules())
    assert type(model.decoder.deconv[-1]) is nn.ConvTranspose2d


def test_models_are_placed_in_plain_layout():
    model = place(DenoisingAutoencoder(4).to(memory_format=torch.channels_last), torch.device("cpu"))
    assert all(p.is_contiguous() for p in model.parameters())
