"""Any image file -> an MNIST-like digit (28x28, white on black, centred); arrays -> PNG bytes."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from dae_core.errors import DaeError

MAX_PIXELS = 16_000_000  # decoded at full size: at most 64 MB even as RGBA (e.g. 4000x4000)
MAX_BYTES = 50 * 1024 * 1024
WORK_SIDE = 2000  # larger images are shrunk to fit 2000x2000 before the float maths


class ImageError(DaeError):
    """A file that is not a usable image."""


def _open(data: bytes) -> Image.Image:
    """The first frame, decoded at no more than MAX_PIXELS: the header's size is checked before
    any pixel is decoded, and a large JPEG is decoded at 1/2, 1/4 or 1/8 scale (Image.draft)."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_BYTES:
        raise ImageError(f"the file is larger than {MAX_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning is ours to act on: the size is checked below, after draft.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # reads the header only
            width, height = img.size
            img.draft(None, (WORK_SIDE, WORK_SIDE))  # JPEG only; other formats ignore it
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(_too_large(width, height))
            img = next(iter(ImageSequence.Iterator(img)))  # first frame of a GIF / APNG / TIFF
            img.load()
    except Image.DecompressionBombError:  # Pillow's hard limit, hit while reading the header
        raise ImageError(_too_large()) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning, EOFError) as e:
        detail = "unknown format" if isinstance(e, UnidentifiedImageError) else str(e)[:80]
        raise ImageError(f"not a readable image ({detail})") from None
    return img


def _too_large(width: int | None = None, height: int | None = None) -> str:
    size = f"{width}x{height} pixels" if width else "far too many pixels"
    return (f"the image is too large ({size}; DAE Lab reads up to {MAX_PIXELS // 10**6} million, "
            "e.g. 4000x4000)")


def _to_gray(img: Image.Image) -> np.ndarray:
    """Float grayscale in [0, 1], any mode (16-bit, CMYK, palette, alpha over white)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # A float image may hold NaN or infinities: NaN is taken as 0, the infinities clip.
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=np.inf, neginf=0.0)
        peak = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        return np.clip(a / peak, 0.0, 1.0)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """Grayscale [0,1] (H, W) -> (28, 28) float32: ink white on black, fit in 20x20, centred by mass.

    The MNIST recipe (LeCun et al.): digits size-normalised to a 20x20 box and centred by their
    centre of mass in a 28x28 field. Dark-on-light inputs (ink on paper) are inverted first.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip(gray - background, 0.0, 1.0)
    ys, xs = np.nonzero(ink > 0.1 * ink.max()) if ink.max() > 0 else ([], [])
    if len(ys):
        ink = ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    scale = 20.0 / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    small = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize(size, Image.LANCZOS),
                       dtype=np.float64) / 255.0
    out = np.zeros((28, 28))
    total = small.sum()
    cy, cx = ((np.indices(small.shape) * small).sum(axis=(1, 2)) / total if total > 0
              else (np.array(small.shape) - 1) / 2)
    top = int(np.clip(round(13.5 - cy), 0, 28 - small.shape[0]))
    left = int(np.clip(round(13.5 - cx), 0, 28 - small.shape[1]))
    out[top: top + small.shape[0], left: left + small.shape[1]] = small
    peak = out.max()
    return (out / peak if peak > 0 else out).astype(np.float32)


def load_digit(source: bytes | str | Path) -> np.ndarray:
    """An image file (bytes or path) of any common format and size -> (28, 28) float32 in [0, 1]."""
    if isinstance(source, (str, Path)):
        try:
            source = Path(source).read_bytes()
        except OSError as e:
            raise ImageError(f"cannot read {source}: {e.strerror or e}") from None
    img = _open(source)
    try:
        if max(img.size) > WORK_SIDE:
            img.thumbnail((WORK_SIDE, WORK_SIDE))  # in place: no second full-size copy
        gray = _to_gray(img)
    except (ValueError, OSError) as e:  # a mode Pillow cannot convert (LAB, ...)
        why = " ".join(str(e).split())[:80]
        raise ImageError(f"not a readable image ({img.mode} pixels: {why})") from None
    return to_mnist(gray)


def to_png(image: np.ndarray, scale: int = 1) -> bytes:
    """(H, W) float in [0, 1] -> PNG bytes, optionally enlarged with nearest-neighbour pixels."""
    img = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
