"""The app's vocabulary (ui/words.py): labels for model-card keys, one format per kind of number,
plain text for strings that come from a file, and words for the names that links and files hold."""
import re

import pytest

from dae_core.analysis.cluster import METHODS
from dae_core.analysis.latent import SAMPLERS
from dae_core.config import DATASETS, NOISE_KINDS, SCHEDULES
from dae_core.words import count
from ui.words import (
    JOINER,
    duration,
    method_name,
    metric_label,
    metric_value,
    noise_name,
    percent,
    plain,
    sampler_name,
    setting_value,
)


@pytest.mark.parametrize("key, label", [
    ("val_mse", "Validation error (MSE)"),
    ("kmeans_accuracy", "k-means accuracy (training codes)"),
    ("umap-gmm_test_accuracy", "UMAP + Gaussian mixture accuracy (test set)"),
    ("gmm_nmi", "Gaussian mixture NMI (training codes)"),
    ("refine_invariant", "Rebuilds the unjittered digit"),
    ("some_new_score", "Some new score"),  # unknown keys: readable, never dropped
])
def test_metric_labels(key, label):
    assert metric_label(key) == label


@pytest.mark.parametrize("key, value, text", [
    ("kmeans_accuracy", 0.71725, "71.7%"), ("test_accuracy", 0.9907, "99.1%"),
    ("val_mse", 0.026770957, "0.0268"), ("val_psnr", 15.7234, "15.7 dB"),
    ("kmeans_nmi", 0.7301343, "0.730"), ("train_seconds", 958.26, "16.0 min"),
    ("refine_invariant", True, "yes"), ("refine_methods", "umap-gmm,gmm",
                                        "UMAP + Gaussian mixture, Gaussian mixture"),
    ("refine_rounds", 8, "8"), ("refined_from", "denoise-d10", "denoise-d10"),
])
def test_metric_values(key, value, text):
    assert metric_value(key, value) == text


@pytest.mark.parametrize("seconds, text", [(0.57, "0.6 s"), (12.3, "12 s"), (391.3, "6.5 min"),
                                           (5400, "1.5 h")])
def test_durations(seconds, text):
    assert duration(seconds) == text


def test_percent_has_one_decimal():
    assert percent(0.71725) == "71.7%" and percent(1.0) == "100.0%"


def test_plain_text_escapes_markdown_and_keeps_one_line():
    text = plain("**x** [link](http://e.org) ![i](a.png) $x$ `c`\nnext")
    assert "\n" not in text
    shown = re.sub(r"\\(.)", r"\1", text).replace(JOINER, "")  # escapes and word joiners undone
    assert shown == "**x** [link](http://e.org) ![i](a.png) $x$ `c` next"
    assert not re.search(r"(?<!\\)[*\[\]$`]", text)  # every active character escaped
    assert plain("1. pt") == "1\\. pt" and plain("- x") == "\\- x"  # not a list
    assert plain("model-v1.pt (copy)") == "model-v1.pt (copy)"  # the rest as typed


@pytest.mark.parametrize("name, words", [
    (noise_name("salt_pepper"), "salt and pepper"), (noise_name("gaussian"), "Gaussian"),
    (method_name("kmeans"), "k-means"), (method_name("umap-gmm"), "UMAP + Gaussian mixture"),
    (sampler_name("uniform01"), "uniform in [0, 1]"), (sampler_name("cluster:K"), "one cluster's digits"),
    (sampler_name("cluster:7"), "cluster 7's digits"), (setting_value("schedule", "onecycle"), "one-cycle"),
    (setting_value("dataset", "fashion_mnist"), "Fashion-MNIST"), (setting_value("lr", 0.001), "0.001"),
    (setting_value("latent_dim", 4), "4"),
])
def test_names_read_as_words(name, words):
    assert name == words


@pytest.mark.parametrize("names, to_words", [(NOISE_KINDS, noise_name), (METHODS, method_name),
                                             (SAMPLERS, sampler_name)])
def test_every_option_has_its_own_words(names, to_words):
    """No option shows its key ('salt_pepper', 'umap-gmm'), and no two read the same."""
    words = [to_words(name) for name in names]
    assert len(set(words)) == len(names)
    assert not [w for n, w in zip(names, words) if w == n or re.search(r"_|\w:\w|\d\d|gmm", w)], words
    assert [setting_value("dataset", d) for d in DATASETS] == ["MNIST", "Fashion-MNIST", "Kuzushiji-MNIST"]
    assert "onecycle" not in [setting_value("schedule", s) for s in SCHEDULES]


@pytest.mark.parametrize("n, text", [(0, "0 epochs"), (1, "1 epoch"), (2, "2 epochs"), (1000, "1,000 epochs")])
def test_counts_agree_with_their_noun(n, text):
    assert count(n, "epoch") == text


@pytest.mark.slow  # trains for seconds
def test_the_model_card_says_one_epoch_and_its_noise_in_words(app_test, tiny_cfg, helpers, tmp_path):
    """A one-epoch model trained on salt-and-pepper noise, picked in the sidebar of Home."""
    from dataclasses import replace

    from dae_core import checkpoint as ckpt_io

    state, _ = helpers.train(replace(tiny_cfg, noise="salt_pepper", noise_strength=0.2, latent_dim=2))
    path = ckpt_io.save_state(state, tmp_path / "one.pt")
    at = app_test("0_Home.py", session_state={"session_runs": {"one": str(path)}},
                  query_params={"model": "one (this session)"})
    assert at.sidebar.selectbox(key="model").value == "one (this session)"
    (card,) = [c.value for c in at.sidebar.caption if c.value.startswith("d=2")]
    assert "salt and pepper 0.2" in card and "· 1 epoch ·" in card and "salt_pepper" not in card
    settings = "\n".join(m.value for m in at.sidebar.markdown)
    assert "Noise kind: **salt and pepper**" in settings and "salt\\_pepper" not in settings
