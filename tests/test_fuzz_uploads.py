"""Uploads under generated hostile files (Hypothesis): an image of any mode, size and format, whole,
cut short or with bytes changed, becomes a 28×28 digit or one line of refusal; a checkpoint upload
of any content and any file name is listed or refused in one line, and what the session already
keeps (an accepted upload, the saved runs) stays as it was."""
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from dae_core.images import ImageError, load_digit
from corpus_guard import tree  # noqa: E402  (pytest puts tests/ on the path)
from fuzz_values import TEXTS, as_bytes, assert_one_line, fuzz, payloads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / "tests" / "data" / "corpus" / "checkpoints" / "latent_d8.pt"  # a valid checkpoint
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "I;16", "I", "F", "YCbCr", "LAB", "HSV"]
FORMATS = ["PNG", "TIFF", "BMP", "GIF", "WEBP", "JPEG", "ICO", "PPM", "TGA"]
ODD_PIXELS = [np.nan, np.inf, -np.inf, 1e38, -1e38, 2**31 - 1, -(2**31)]

# Pillow warns of a damaged TIFF tag it skips, torch of a sparse tensor it checks or of complex
# weights it casts: each file is then read or refused as the test expects.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
              pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants:UserWarning"),
              pytest.mark.filterwarnings("ignore:Casting complex values to real:UserWarning")]


@st.composite
def images(draw) -> bytes:
    """An image file: any mode and size up to 40×40 (float and 32-bit ones with extreme or NaN
    pixels), in any format that takes that mode; whole, cut short, or with a few bytes changed."""
    mode = draw(st.sampled_from(MODES))
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    img = Image.fromarray(pixels, "L").convert(mode) if mode not in ("I", "F") else Image.fromarray(
        pixels.astype(np.float32 if mode == "F" else np.int32), mode)
    if mode in ("I", "F") and draw(st.booleans()):
        img.putpixel((0, 0), draw(st.sampled_from(ODD_PIXELS)) if mode == "F" else 2**31 - 1)
    data = b""
    for fmt in draw(st.permutations(FORMATS)):
        try:
            buf = io.BytesIO()
            img.save(buf, format=fmt)
            data = buf.getvalue()
            break
        except (OSError, ValueError, KeyError, TypeError):
            continue  # this format does not take this mode
    how = draw(st.sampled_from(["whole", "cut", "changed"]))
    if how == "cut" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif how == "changed" and data:
        at = draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=4))
        changed = bytearray(data)
        for i in at:
            changed[i] = draw(st.integers(0, 255))
        data = bytes(changed)
    return data


FILES = st.one_of(images(), st.binary(max_size=64))
# A file's name as a browser sends it. Without NUL: Streamlit itself refuses such a name in its
# uploader, before any page code runs ("Filename cannot contain null bytes").
NAMES = TEXTS.map(lambda t: t.replace("\0", ""))


def _digit_or_one_line(data: bytes) -> None:
    try:
        digit = load_digit(data)
    except ImageError as e:
        assert_one_line(str(e))
    else:
        assert digit.shape == (28, 28) and digit.dtype == np.float32
        assert np.isfinite(digit).all() and digit.min() >= 0.0 and digit.max() <= 1.0


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=250)
@given(data=FILES)
@example(data=b"")
def test_any_image_file_is_a_digit_or_one_line(data):
    _digit_or_one_line(data)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_upload_runs")
    shutil.copy(ROOT / "checkpoints" / "reference-d4.pt", folder / "kept.pt")
    return folder


def _notices(at) -> list[str]:
    return [box.value for box in (*at.error, *at.warning, *at.caption, *at.sidebar.error,
                                  *at.sidebar.warning, *at.sidebar.caption)]


def test_any_checkpoint_upload_is_listed_or_refused_in_one_line(runs, monkeypatch):
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    at = AppTest.from_file(str(ROOT / "app_pages" / "0_Home.py"), default_timeout=120).run()
    uploader = at.file_uploader(key="checkpoint_upload")
    uploader.set_value(("kept.pt", KEPT.read_bytes(), "application/octet-stream")).run()
    kept = Path(at.session_state["session_uploads"]["kept"])
    before = tree(runs), tree(kept.parent)

    @fuzz(max_examples=4)
    @example(payload={"format": "dae-lab-checkpoint", "format_version": 1,
                      "config": {"lr": 10**400}}, name="www.example.com\n.pt")
    @given(payload=payloads(), name=NAMES.map(lambda t: t + ".pt"))
    def uploads(payload, name):
        at.file_uploader(key="checkpoint_upload").set_value(
            (name, as_bytes(payload), "application/octet-stream")).run()
        assert not at.exception, [e.value for e in at.exception]
        for text in _notices(at):
            assert_one_line(text, limit=2_000)
        listed = at.session_state["session_uploads"]
        assert listed["kept"] == str(kept) and kept.read_bytes() == KEPT.read_bytes()
        assert tree(runs) == before[0]
        assert set(tree(kept.parent)) >= set(before[1])  # an accepted file may join; none leaves

    uploads()


def test_any_image_upload_on_denoise_is_a_digit_or_one_line(monkeypatch, runs):
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    at = AppTest.from_file(str(ROOT / "app_pages" / "2_Denoise.py"), default_timeout=120).run()

    @fuzz(max_examples=4)
    @given(data=FILES, name=NAMES.map(lambda t: t + ".png"))
    def uploads(data, name):
        at.file_uploader(key="dn_upload").set_value((name, data, "image/png")).run()
        assert not at.exception, [e.value for e in at.exception]
        for text in _notices(at):
            assert_one_line(text, limit=2_000)

    uploads()
