"""The autoencoder's shapes and output range, for several code sizes and widths."""
import pytest
import torch

from dae_core.model import Decoder, DenoisingAutoencoder, Encoder


@pytest.mark.parametrize("width", [1, 2])
@pytest.mark.parametrize("d", [2, 4, 10])
def test_encoder_and_decoder_shapes(d, width):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 28)
    z = Encoder(d, width)(x)
    assert z.shape == (3, d)
    x_hat = Decoder(d, width)(torch.randn(3, d))
    assert x_hat.shape == (3, 1, 28, 28)
    assert (x_hat > 0).all() and (x_hat < 1).all()


@pytest.mark.parametrize("width", [1, 2])
def test_width_multiplies_channels(width):
    enc = Encoder(4, width)
    convs = [m for m in enc.conv if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8 * width, 16 * width, 32 * width]


def test_forward_is_decode_of_encode():
    torch.manual_seed(0)
    model = DenoisingAutoencoder(latent_dim=4).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        z = model.encode(x)
        assert z.shape == (5, 4) and model.latent_dim == 4
        assert torch.equal(model(x), model.decode(z))
