"""Hypothesis strategies for what a hostile file or link may hold (numbers, text, junk, checkpoint
payloads), and the check every fuzz test makes of a refusal (pytest puts tests/ on the path).
Seeded: the same cases on every run."""
import io

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from dae_core.checkpoint import AUTOENCODER, make_payload
from dae_core.config import TrainConfig
from dae_core.model import DenoisingAutoencoder

# Seeded (derandomize), no per-case deadline (a page run takes a second), and the per-test
# folders of conftest's autouse fixture are fine to share between the cases of one test.
SEEDED = dict(derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def fuzz(max_examples: int):
    """@settings for a fuzz test: seeded, no deadline, `max_examples` cases."""
    return settings(max_examples=max_examples, **SEEDED)


# Numbers past a float (math.isfinite(10**400) raises OverflowError), past 64 bits, and past
# the 4,300 digits str() of an int accepts; non-finite and extreme floats.
HUGE_INTS = st.sampled_from([10**400, -10**400, 2**63, 2**64, -(2**63) - 1, 10**4000])
ODD_FLOATS = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, -0.0])
NUMBERS = st.one_of(st.integers(), HUGE_INTS, st.floats(), ODD_FLOATS, st.booleans(),
                    st.complex_numbers(max_magnitude=1e300))

# Text that must never act: Markdown, autolinks, HTML, control and line-breaking characters.
NASTY = ["www.example.com", "http://example.com/x", "https://evil.example/?a=1&b=2", "mailto:a@b.c",
         "a@example.com", "[click](http://x.y)", "![i](http://x.y/i.png)", "<script>alert(1)</script>",
         "<a href='http://x'>x</a>", "**bold**", "# heading", "1. list", "- item", "| a | b |",
         "`code`", "$x^2$", ":red[red]", ":material/error:", "\\", "\n", "\r\n", "\x00", "\x1b[31m",
         "\u2028", "\u202e", "\ufeff", " ", "", "gaussian", "cpu", "../../etc/passwd", "%0a%0d"]
TEXTS = st.one_of(st.text(max_size=40), st.sampled_from(NASTY),
                  st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "Zs"]),
                           max_size=20),
                  st.builds(lambda c, n: c * n, st.sampled_from(["x", "\n", "é", "w"]),
                            st.sampled_from([200, 5000])))

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.uint8,
          torch.bool, torch.complex64]


@st.composite
def tensors(draw, shape=None):
    """A small tensor of any dtype, some with NaN or infinity, or of a given shape."""
    shape = shape if shape is not None else tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    dtype = draw(st.sampled_from(DTYPES))
    t = torch.randn(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 9)))).to(dtype)
    if t.is_floating_point() and t.numel() and draw(st.booleans()):
        t.view(-1)[0] = draw(st.sampled_from([float("nan"), float("inf"), 1e30]))
    return t


# Ready-made tensors for junk values: drawing them is cheap (tensors() makes new ones).
SOME_TENSORS = [torch.zeros(()), torch.tensor(float("nan")), torch.tensor([1e30, float("inf")]),
                torch.arange(6).reshape(2, 3), torch.ones(2, dtype=torch.bool),
                torch.zeros(2, dtype=torch.complex64), torch.zeros(0), torch.zeros(3).to_sparse()]
LEAVES = st.one_of(st.none(), NUMBERS, TEXTS, st.binary(max_size=16), st.sampled_from(SOME_TENSORS))
JUNK = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(TEXTS, st.integers()), inner, max_size=4)), max_leaves=8)


def assert_one_line(message: str, limit: int = 500) -> None:
    """A refusal as the user reads it: one line of text, not a traceback, not a flood."""
    assert isinstance(message, str) and message.strip(), message
    assert len(message.splitlines()) == 1, message
    assert len(message) <= limit, message
    assert "Traceback" not in message and 'File "' not in message, message


# A valid tiny checkpoint, and hostile variants of it.
CONFIG = TrainConfig(latent_dim=2, device="cpu")
FIELDS = list(CONFIG.to_dict())
HISTORY = [{"epoch": e, "train_loss": 0.05 / e, "val_loss": 0.06 / e, "seconds": 1.5} for e in (1, 2)]
BASE = make_payload(AUTOENCODER, DenoisingAutoencoder(CONFIG.latent_dim, CONFIG.width), CONFIG,
                    HISTORY, {"val_mse": 0.03, "note": "shipped"})
WEIGHTS = list(BASE["model"])


def _set(where: dict, key, value) -> None:
    where[key] = value


@st.composite
def payloads(draw):
    """A valid tiny checkpoint's payload with one to three parts replaced by hostile values."""
    payload = copied(BASE)
    for _ in range(draw(st.integers(1, 3))):
        part = draw(st.sampled_from(["top", "config", "config", "metrics", "history", "model", "model"]))
        if part == "top":
            _set(payload, draw(st.sampled_from([*BASE, "optimizer"])), draw(JUNK))
        elif part == "config" and isinstance(payload.get("config"), dict):
            key = draw(st.one_of(st.sampled_from(FIELDS), TEXTS, st.integers()))
            _set(payload["config"], key, draw(st.one_of(NUMBERS, HUGE_INTS, TEXTS, JUNK)))
        elif part == "metrics" and isinstance(payload.get("metrics"), dict):
            key = draw(st.one_of(st.sampled_from(["val_mse", "kmeans_accuracy", "train_seconds"]), TEXTS))
            _set(payload["metrics"], key, draw(st.one_of(NUMBERS, HUGE_INTS, TEXTS, JUNK)))
        elif part == "history" and isinstance(payload.get("history"), list) and payload["history"]:
            record = payload["history"][draw(st.integers(0, len(payload["history"]) - 1))]
            if isinstance(record, dict):
                key = draw(st.one_of(st.sampled_from(["epoch", "train_loss", "val_loss", "seconds"]), TEXTS))
                _set(record, key, draw(st.one_of(NUMBERS, HUGE_INTS, TEXTS, JUNK)))
        elif part == "model" and isinstance(payload.get("model"), dict):
            key = draw(st.one_of(st.sampled_from(WEIGHTS), TEXTS, st.integers()))
            like = BASE["model"].get(key) if isinstance(key, str) else None
            shape = st.just(tuple(like.shape)) if like is not None else st.none()
            _set(payload["model"], key, draw(st.one_of(shape.flatmap(lambda s: tensors(shape=s)), JUNK)))
    return payload


def copied(payload: dict) -> dict:
    """A copy whose records can be changed without touching BASE (its tensors are shared: the
    cases replace tensors, never change one)."""
    return {**payload, "config": dict(payload["config"]), "metrics": dict(payload["metrics"]),
            "history": [dict(h) for h in payload["history"]], "model": dict(payload["model"])}


def as_bytes(payload) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()
