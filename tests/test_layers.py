"""NarrowConvTranspose2d computes exactly what nn.ConvTranspose2d computes, forward and backward."""
import pytest
import torch
from torch import nn

from dae_core.layers import NarrowConvTranspose2d, _ByTaps, conv_transpose2d_by_taps, to_plain
from dae_core.model import DenoisingAutoencoder

CONFIGS = [  # in, out, kernel, stride, padding, output_padding, input size
    (8, 1, 3, 2, 1, 1, 14),  # the decoder's last layer
    (32, 16, 3, 2, 0, 0, 3),
    (3, 5, 4, 3, 2, 1, 6),
    (4, 2, 5, 2, 3, 0, 5),
    (2, 3, 3, 1, 1, 0, 4),
    (3, 2, 2, 2, 0, 1, 3),
]


@pytest.mark.parametrize("cin, cout, k, s, p, op, n", CONFIGS)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_by_taps_equals_conv_transpose2d(cin, cout, k, s, p, op, n, layout):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op).double()
    x = torch.randn(3, cin, n, n + 1, dtype=torch.float64).contiguous(memory_format=layout)
    out = conv_transpose2d_by_taps(x, ref.weight, ref.bias, ref.stride, ref.padding, ref.output_padding)
    assert out.shape == ref(x).shape
    torch.testing.assert_close(out, ref(x), rtol=1e-12, atol=1e-12)
    no_bias = conv_transpose2d_by_taps(x, ref.weight, None, ref.stride, ref.padding, ref.output_padding)
    torch.testing.assert_close(no_bias, ref(x) - ref.bias.view(1, -1, 1, 1), rtol=1e-12, atol=1e-12)


def test_narrow_layer_matches_pytorch_in_values_and_gradients():
    torch.manual_seed(0)
    fast = NarrowConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1).to(memory_format=torch.channels_last)
    ref = nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1)
    ref.load_state_dict(fast.state_dict())
    x = torch.rand(16, 8, 14, 14).contiguous(memory_format=torch.channels_last)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn(16, 1, 28, 28)
    y1, y2 = fast(x1), ref(x2)
    torch.testing.assert_close(y1, y2)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(fast.weight.grad, ref.weight.grad)
    torch.testing.assert_close(fast.bias.grad, ref.bias.grad)


def test_gradcheck_in_double():
    layer = NarrowConvTranspose2d(3, 1, 3, stride=2, padding=1, output_padding=1).double()
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    assert torch.autograd.gradcheck(lambda w, b: _ByTaps.apply(x.detach(), w, b, (2, 2), (1, 1), (1, 1)),
                                    (layer.weight, layer.bias))


def test_model_keeps_pytorch_state_dict_and_to_plain_restores_pytorch_layers():
    model = DenoisingAutoencoder(4)
    assert type(model.decoder.deconv[6]) is NarrowConvTranspose2d
    keys = list(model.state_dict())
    x = torch.rand(5, 1, 28, 28)
    before = model.eval()(x)
    to_plain(model)
    assert type(model.decoder.deconv[6]) is nn.ConvTranspose2d
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(model(x), before)


def test_wide_or_unusual_layers_fall_back_to_pytorch(monkeypatch):
    import dae_core.layers as layers

    monkeypatch.setattr(layers._ByTaps, "apply", lambda *a: pytest.fail("took the taps path"))
    NarrowConvTranspose2d(8, 2, 3, stride=2)(torch.rand(1, 8, 4, 4))
    NarrowConvTranspose2d(8, 1, 3, stride=2, dilation=2)(torch.rand(1, 8, 4, 4))
    NarrowConvTranspose2d(8, 1, 3, stride=2)(torch.rand(1, 8, 4, 4), output_size=[10, 10])
