"""Any image file -> an MNIST-like digit; broken files are a clean ImageError."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from dae_core import images
from dae_core.images import ImageError, load_digit, to_png


def _digit(size=140, mode="L", ink=0, paper=255):
    """A dark vertical stroke (a '1') with a foot, on light paper."""
    img = Image.new(mode, (size, size), paper)
    draw = ImageDraw.Draw(img)
    s = size / 140
    draw.rectangle([62 * s, 25 * s, 78 * s, 115 * s], fill=ink)
    draw.rectangle([50 * s, 105 * s, 90 * s, 115 * s], fill=ink)
    return img


def _bytes(img, fmt="PNG", **kwargs):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _looks_like_mnist(x):
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert x[12:16, 12:16].max() > 0.8  # the stroke is bright and centred
    for corner in (x[:4, :4], x[:4, -4:], x[-4:, :4], x[-4:, -4:]):
        assert corner.max() < 0.05  # background is black


@pytest.fixture(scope="module")
def reference():
    return load_digit(_bytes(_digit()))


def test_dark_digit_on_white_becomes_white_on_black(reference):
    _looks_like_mnist(reference)
    assert reference.max() == pytest.approx(1.0)
    ys, xs = np.nonzero(reference > 0.1)
    assert ys.max() - ys.min() + 1 <= 20 and ys.max() - ys.min() + 1 >= 18  # fit in the 20x20 box


def test_white_on_black_input_is_not_inverted(reference):
    x = load_digit(_bytes(_digit(ink=255, paper=0)))
    _looks_like_mnist(x)
    np.testing.assert_allclose(x, reference, atol=0.02)


def test_path_input(tmp_path, reference):
    path = tmp_path / "d.png"
    path.write_bytes(_bytes(_digit()))
    np.testing.assert_array_equal(load_digit(path), reference)
    np.testing.assert_array_equal(load_digit(str(path)), reference)


def test_rgba_with_transparent_background(reference):
    img = _digit(mode="RGBA", ink=(0, 0, 0, 255), paper=(255, 0, 0, 0))  # invisible red paper
    x = load_digit(_bytes(img))
    _looks_like_mnist(x)
    np.testing.assert_allclose(x, reference, atol=0.02)


def test_cmyk_jpeg():
    x = load_digit(_bytes(_digit(mode="CMYK", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0)), "JPEG"))
    _looks_like_mnist(x)


def test_16_bit_png(reference):
    a = (np.asarray(_digit(), np.uint16) * 257)  # 0..65535
    img = Image.fromarray(a)
    data = _bytes(img)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    x = load_digit(data)
    _looks_like_mnist(x)
    np.testing.assert_allclose(x, reference, atol=0.02)


def test_animated_gif_uses_the_first_frame(reference):
    frames = [_digit(mode="L").convert("P"), Image.new("L", (140, 140), 0).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 2
    x = load_digit(buf.getvalue())
    _looks_like_mnist(x)
    np.testing.assert_allclose(x, reference, atol=0.02)


def test_one_pixel_image():
    x = load_digit(_bytes(Image.new("L", (1, 1), 128)))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


def test_large_image(reference):
    x = load_digit(_bytes(_digit(size=3000), compress_level=1))
    _looks_like_mnist(x)
    assert np.abs(x - reference).mean() < 0.02  # the same digit, up to resampling at the edges


@pytest.mark.parametrize("data", [b"", b"this is not an image at all", b"\x89PNG\r\n\x1a\n"])
def test_non_images_raise_image_error(data):
    with pytest.raises(ImageError):
        load_digit(data)


def test_truncated_png_raises_image_error():
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    data = _bytes(Image.fromarray(noise))  # noise does not compress: the cut lands in pixel data
    with pytest.raises(ImageError):
        load_digit(data[: len(data) // 2])


def test_missing_file_raises_image_error(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        load_digit(tmp_path / "nope.png")


def test_to_png_round_trip():
    image = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(28, 28)
    png = Image.open(io.BytesIO(to_png(image, scale=3)))
    assert png.format == "PNG" and png.size == (84, 84)
    small = np.asarray(png, np.float32)[::3, ::3] / 255
    np.testing.assert_allclose(small, image, atol=1 / 255)


def _png_header(width, height):
    """A valid PNG signature and header claiming width x height, with a few bytes of pixels."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [5000, 9000, 30000])
def test_a_huge_header_is_refused_before_any_pixel_is_decoded(side, monkeypatch):
    data = _png_header(side, side)
    assert len(data) < 200
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: loads.append(im.size))
    with pytest.raises(ImageError, match=f"too large.*up to {images.MAX_PIXELS // 10**6} million"):
        load_digit(data)
    assert loads == []  # nothing was decoded


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch, reference):
    big = _digit(size=4200).resize((4200, 4200))
    monkeypatch.setattr(images, "MAX_PIXELS", 5_000_000)  # the JPEG's full size is over it
    x = load_digit(_bytes(big, "JPEG", quality=90))  # decoded at half size: 2100x2100 pixels
    _looks_like_mnist(x)
    assert np.abs(x - reference).mean() < 0.02
    with pytest.raises(ImageError, match="4200x4200 pixels"):
        load_digit(_bytes(big, compress_level=1))  # a PNG cannot be decoded smaller


def test_a_normal_digit_is_under_the_limits(reference):
    assert 140 * 140 < images.MAX_PIXELS and len(_bytes(_digit())) < images.MAX_BYTES
    _looks_like_mnist(reference)
