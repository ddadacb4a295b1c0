"""The app's vocabulary (ui/words.py): labels for model-card keys, one format per kind of number,
and plain text for strings that come from a file."""
import re

import pytest

from ui.words import JOINER, duration, metric_label, metric_value, percent, plain


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
