"""Write the bad-input corpus: odd and hostile uploads, checkpoints, settings and names.

    python tests/data/make_corpus.py [--out tests/data/corpus]

Every file is small (the largest are two ~360 KB checkpoints and a ~300 KB 8000x8000 JPEG) and
deterministic. manifest.json says, for each file, whether DAE Lab must accept it and which words
its refusal must contain; tests/test_corpus_cli.py and tests/test_corpus_ui.py read it, so a new
case is one row in CASES below. settings.json and names.json list bad training settings and
checkpoint names the same way.

The two code-carrying checkpoints run this line when unpickled without weights_only (a test
checks that they would, in a subprocess, and that DAE Lab never lets them):
    open($DAE_CORPUS_MARKER or /tmp/dae-lab-corpus-marker, "w").write("payload ran")
"""
from __future__ import annotations

import argparse
import io
import json
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from dae_core import checkpoint as ckpt_io
from dae_core.config import TrainConfig
from dae_core.data import load_digits
from dae_core.train import fit, new_state, prepare_data

OUT = Path(__file__).resolve().parent / "corpus"
MARKER_ENV = "DAE_CORPUS_MARKER"
DEFAULT_MARKER = "/tmp/dae-lab-corpus-marker"
PAYLOAD = ("import os; open(os.environ.get('DAE_CORPUS_MARKER') or '/tmp/dae-lab-corpus-marker', "
           "'w').write('payload ran')")
CREATED = "2026-01-01T00:00:00+00:00"  # fixed, so the files are byte-for-byte reproducible

# file -> (accepted?, words the one-line refusal must contain; for accepted files, what to check)
CASES = {
    "uploads/control_digit.png": (True, "a plain 140x140 digit, dark ink on white"),
    "uploads/empty.png": (False, "empty"),
    "uploads/not_an_image.png": (False, "not a readable image"),
    "uploads/svg_script.png": (False, "not a readable image"),
    "uploads/truncated.png": (False, "not a readable image"),
    "uploads/huge_8000x8000.png": (False, "too large"),
    "uploads/huge_8000x8000.jpg": (True, "decoded at 1/4 scale, then downscaled"),
    "uploads/bomb_20000x20000.png": (False, "too large"),
    "uploads/animated.gif": (True, "first frame only"),
    "uploads/cmyk.jpg": (True, "CMYK converted to gray"),
    "uploads/gray16.png": (True, "16-bit gray"),
    "uploads/rgba_transparent.png": (True, "alpha composited over white"),
    "uploads/one_pixel.png": (True, "1x1"),
    "checkpoints/pickle_code.pt": (False, "not a safe DAE Lab checkpoint"),
    "checkpoints/torch_zip_code.pt": (False, "not a safe DAE Lab checkpoint"),
    "checkpoints/random_bytes.pt": (False, "damaged or of another kind"),
    "checkpoints/empty.pt": (False, "empty"),
    "checkpoints/truncated.pt": (False, "damaged or of another kind"),
    "checkpoints/not_a_model.pt": (False, "not a DAE Lab checkpoint"),
    "checkpoints/bad_config.pt": (False, "bad config"),
    "checkpoints/wrong_shapes.pt": (False, "does not match its config"),
    "checkpoints/nan_weights.pt": (False, "NaN or infinite"),
    "checkpoints/format_v99.pt": (False, "format version 99"),
    "checkpoints/history_not_records.pt": (False, "training history"),
    "checkpoints/history_string_loss.pt": (False, "training history"),
    "checkpoints/metrics_not_a_card.pt": (False, "model card"),
    "checkpoints/latent_d8.pt": (True, "d=8"),
}

# Training settings TrainConfig must refuse: (field, value, CLI flag value); NaN/inf as strings.
SETTINGS = [(f, v) for f, values in {
    "epochs": [0, -1, 10**9],
    "lr": [0.0, -0.001, 1e9, "nan", "inf"],
    "batch_size": [0, -64, 10**9],
    "latent_dim": [0, -4, 10**6],
    "noise_strength": [-0.1, 1e9, "nan"],
    "width": [0, 1000],
    "train_subset": [-1],
    "val_fraction": [0.0, 1.0],
}.items() for v in values]

# Checkpoint names the app must refuse (the existing one is created by the test first).
NAMES = ["../x", "/etc/x", "a\x00b", "x" * 300, "taken", "", " ", ".hidden", "a/b", "..", "CON:"]


class _Payload:
    """Unpickles to a call of exec(PAYLOAD): the classic malicious-pickle gadget."""

    def __reduce__(self):
        return exec, (PAYLOAD,)


def _png(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def _digit(i: int, scale: int = 5) -> np.ndarray:
    """MNIST test digit i as float (28*scale, 28*scale) in [0, 1], white ink on black."""
    x = load_digits().test_images[i].numpy().astype(np.float64) / 255.0
    return np.kron(x, np.ones((scale, scale)))


def _gray(a: np.ndarray, mode: str = "L") -> Image.Image:
    return Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8), mode)


def uploads() -> dict[str, bytes]:
    seven, two = _digit(0), _digit(1)
    control = _png(_gray(1.0 - seven))  # ink on paper, like a scan
    huge = Image.new("L", (8000, 8000), 0)  # a 7 drawn with 700-px strokes
    ImageDraw.Draw(huge).line([(2500, 1500), (5500, 1500), (3500, 6500)], fill=255, width=700)
    huge_jpeg = io.BytesIO()
    huge.save(huge_jpeg, format="JPEG", quality=50, optimize=True)
    bomb = Image.new("1", (20000, 20000), 0)  # 400 Mpx: 50 MB decoded, 50 KB on disk
    frames = [_gray(seven).convert("P"), _gray(two).convert("P")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    cmyk = io.BytesIO()
    _gray(1.0 - seven).convert("RGB").convert("CMYK").save(cmyk, format="JPEG", quality=90)
    gray16 = Image.fromarray((seven * 65535).round().astype(np.uint16))  # mode I;16
    rgba = np.zeros((*seven.shape, 4), np.uint8)  # black ink, opaque only where the ink is
    rgba[..., 3] = (seven * 255).round().astype(np.uint8)
    return {
        "uploads/control_digit.png": control,
        "uploads/empty.png": b"",
        "uploads/not_an_image.png": b"Hello! I am a text file wearing a .png name.\n" * 20,
        "uploads/svg_script.png": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
                                  b"<script>alert(document.cookie)</script></svg>",
        "uploads/truncated.png": control[: len(control) // 2],
        "uploads/huge_8000x8000.png": _png(huge, optimize=True),
        "uploads/huge_8000x8000.jpg": huge_jpeg.getvalue(),
        "uploads/bomb_20000x20000.png": _png(bomb, optimize=True),
        "uploads/animated.gif": gif.getvalue(),
        "uploads/cmyk.jpg": cmyk.getvalue(),
        "uploads/gray16.png": _png(gray16),
        "uploads/rgba_transparent.png": _png(Image.fromarray(rgba, "RGBA")),
        "uploads/one_pixel.png": _png(Image.new("L", (1, 1), 255)),
    }


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _trained_payload(cfg: TrainConfig) -> dict:
    """A real checkpoint payload after a tiny run, without the optimizer (smaller files)."""
    state = new_state(cfg)
    for _ in fit(state, prepare_data(cfg, state.device)):
        pass
    payload = ckpt_io.to_payload(state, {"val_mse": state.history[-1]["val_loss"]})
    payload.pop("optimizer")
    payload["created"] = CREATED
    payload["history"] = [{**h, "seconds": 1.0, "images_per_s": 1000.0} for h in payload["history"]]
    return payload


def checkpoints() -> dict[str, bytes]:
    torch.manual_seed(0)
    # d=8: long enough (3 epochs on 2,400 digits) that each slider visibly moves the digit
    d8 = _trained_payload(TrainConfig(latent_dim=8, train_subset=3000, epochs=3, batch_size=64,
                                      device="cpu"))
    d4 = _trained_payload(TrainConfig(latent_dim=4, train_subset=1000, epochs=1, batch_size=64,
                                      device="cpu"))
    d8_bytes = _torch_bytes(d8)
    header = {"format": ckpt_io.FORMAT, "format_version": ckpt_io.FORMAT_VERSION,
              "config": TrainConfig(device="cpu").to_dict(), "created": CREATED}
    nan = {**d4, "model": dict(d4["model"])}
    weight = nan["model"]["decoder.fc.0.weight"].clone()
    weight[0, 0] = float("nan")
    nan["model"]["decoder.fc.0.weight"] = weight
    return {
        "checkpoints/pickle_code.pt": pickle.dumps({**header, "model": _Payload()}, protocol=2),
        "checkpoints/torch_zip_code.pt": _torch_bytes({**header, "model": _Payload()}),
        "checkpoints/random_bytes.pt": np.random.default_rng(0).bytes(4096),
        "checkpoints/empty.pt": b"",
        "checkpoints/truncated.pt": d8_bytes[: len(d8_bytes) // 2],
        "checkpoints/not_a_model.pt": _torch_bytes({"lr": 0.001, "epochs": 30,
                                                    "loss": [0.1, 0.05]}),
        "checkpoints/bad_config.pt": _torch_bytes({**header, "config": {"latent_dim": -4},
                                                   "model": {}}),
        # every weight name of the d=4 model, every shape wrong (a few bytes each)
        "checkpoints/wrong_shapes.pt": _torch_bytes({**header, "model": {
            k: torch.zeros(1) for k in d4["model"]}}),
        "checkpoints/nan_weights.pt": _torch_bytes(nan),
        "checkpoints/format_v99.pt": _torch_bytes({**header, "format_version": 99,
                                                   "model": {}, "future_field": "hello"}),
        # the record checks come before the weights': these files need none
        "checkpoints/history_not_records.pt": _torch_bytes({**header, "model": {},
                                                            "history": [1, "epoch 2"]}),
        "checkpoints/history_string_loss.pt": _torch_bytes({**header, "model": {}, "history": [
            {**h, "val_loss": "0.05"} for h in d4["history"]]}),
        "checkpoints/metrics_not_a_card.pt": _torch_bytes({**header, "model": {},
                                                           "metrics": [["val_mse", 0.05]]}),
        "checkpoints/latent_d8.pt": d8_bytes,
    }


def build(out: Path = OUT) -> Path:
    """Write every corpus file, manifest.json, settings.json and names.json under `out`."""
    torch.set_num_threads(1)  # same bytes on every machine with the same torch
    files = {**uploads(), **checkpoints()}
    assert set(files) == set(CASES), set(files) ^ set(CASES)
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    manifest = {name: {"accept": ok, "words": words} for name, (ok, words) in CASES.items()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    settings = [{"field": f, "value": v} for f, v in SETTINGS]
    (out / "settings.json").write_text(json.dumps(settings, indent=1) + "\n")
    (out / "names.json").write_text(json.dumps(NAMES, indent=1) + "\n")
    (out / "MARKER").write_text(f"${MARKER_ENV} or {DEFAULT_MARKER}\n")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=OUT)
    out = build(p.parse_args().out)
    files = [f for f in out.rglob("*") if f.is_file()]
    size_kb = sum(f.stat().st_size for f in files) / 1024
    print(f"wrote {len(files)} files, {size_kb:.0f} KB, to {out}")


if __name__ == "__main__":
    main()
