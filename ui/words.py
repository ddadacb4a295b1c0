"""One vocabulary for every page: labels for the keys a model card holds, and one format for each
kind of number (accuracies as percents with one decimal, errors to 4 decimals, times in s / min)."""
from __future__ import annotations

import re

METHODS = {"kmeans": "k-means", "gmm": "Gaussian mixture", "umap-kmeans": "UMAP + k-means",
           "umap-gmm": "UMAP + Gaussian mixture"}
# What a person reads for the values a link or a file holds (URLs and checkpoints keep the keys).
NOISES = {"gaussian": "Gaussian", "salt_pepper": "salt and pepper", "mask": "mask (pixels set to 0)",
          "none": "none"}
SAMPLERS = {"uniform01": "uniform in [0, 1]", "box": "uniform in the codes' box",
            "gaussian": "one Gaussian", "gmm": "Gaussian mixture", "cluster:K": "one cluster's digits"}
DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "kmnist": "Kuzushiji-MNIST"}
SCHEDULES = {"constant": "constant", "onecycle": "one-cycle", "cosine": "cosine"}
SETTINGS = {"noise": NOISES, "dataset": DATASETS, "schedule": SCHEDULES}  # TrainConfig field -> words
STEPS = {"encoding (train + test)": "encoding the images", "umap": "UMAP embedding",
         "kmeans": "k-means", "gmm": "Gaussian mixture", "test": "placing the test codes",
         "hungarian": "matching clusters to digits"}  # the steps a clustering times
METRICS = {
    "val_mse": "Validation error (MSE)", "val_psnr": "Validation PSNR",
    "test_mse": "Test error (MSE)", "test_psnr": "Test PSNR", "test_accuracy": "Test accuracy",
    "train_seconds": "Training time", "epochs": "Epochs", "seed": "Seed",
    "refined_from": "Fine-tuned from", "refine_rounds": "Fine-tuning rounds",
    "refine_epochs": "Fine-tuning epochs per round", "refine_methods": "Pseudo-labels from",
    "refine_weight": "Weight of the cluster loss", "refine_augment": "Jitter while fine-tuning",
    "refine_invariant": "Rebuilds the unjittered digit",
}
_SCORE = re.compile(r"^(?P<method>[a-z-]+)_(?P<test>test_)?(?P<score>accuracy|nmi|ari)$")
_SCORES = {"accuracy": "accuracy", "nmi": "NMI", "ari": "ARI"}
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~$&])")  # emphasis, code, links, images, HTML, tables, math, &amp;
_LIST = re.compile(r"^(\d+)\.|^([-+=])")  # a list, or a heading's underline, at a line's start
# Where GitHub-flavoured Markdown would make a link of bare text (www.x.org, http://x, a@x.org) or
# Streamlit an icon or emoji (:material/home:, :smile:). It finds them in the text after escapes
# are undone, so a backslash cannot stop it: an invisible WORD JOINER breaks the pattern instead.
_AUTOLINK = re.compile(r"(?i)(?<=www)(?=\.)|(?<=:)(?=//)|(?<=@)(?=[\w-])|(?<=:)(?=[\w/+-]+:)")
JOINER = "\u2060"


def plain(text) -> str:
    """`text` on one line, with every character that Markdown would act on escaped and bare links
    broken: a file name or a key from a file shows as written, never as a link, an image,
    emphasis, a list, an icon or an emoji."""
    text = _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
    text = _AUTOLINK.sub(JOINER, text)
    return _LIST.sub(lambda m: f"{m[1]}\\." if m[1] else f"\\{m[2]}", text)


def markdown_table(header, rows, right: int = 0) -> str:
    """A Markdown table whose cells show as written (plain); its last `right` columns are aligned
    right (numbers). Markdown, not st.table or st.dataframe: the page then loads no table code."""
    n = len(header)
    rule = ["---"] * (n - right) + ["---:"] * right
    lines = [[plain(c) for c in header], rule] + [[plain(c) for c in row] for row in rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def markdown_fields(rows) -> str:
    """(label, value) pairs as Markdown lines, 'Label: **value**', each shown as written (plain):
    for a narrow column (the sidebar), where a two-column table squeezes the values."""
    return "  \n".join(f"{plain(label)}: **{plain(value)}**" for label, value in rows)


def markdown_frame(frame, right: int = 0, index: str | None = None) -> str:
    """A DataFrame of text as markdown_table, its column names the header; `index` names a first
    column holding the frame's index."""
    header = list(frame.columns) if index is None else [index, *frame.columns]
    return markdown_table(header, frame.itertuples(index=index is not None), right)


def metric_label(key: str) -> str:
    """A model card's key as a student reads it: 'val_mse' -> 'Validation error (MSE)',
    'kmeans_test_accuracy' -> 'k-means accuracy (test set)'; unknown keys with spaces."""
    if key in METRICS:
        return METRICS[key]
    m = _SCORE.match(key)
    if m and m["method"] in METHODS:
        split = "test set" if m["test"] else "training codes"
        return f"{METHODS[m['method']]} {_SCORES[m['score']]} ({split})"
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def metric_value(key: str, value) -> str:
    """The value of a model card's key, in the format every page uses for its kind."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        if key == "refine_methods":
            return ", ".join(METHODS.get(m.strip(), m.strip()) for m in str(value).split(","))
        return str(value)
    if key.endswith("accuracy"):
        return percent(value)
    if key.endswith("seconds"):
        return duration(value)
    if key.endswith("psnr"):
        return f"{value:.1f} dB"
    if key.endswith("mse"):
        return f"{value:.4f}"
    if key.endswith(("nmi", "ari")):
        return f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def percent(share: float) -> str:
    """0.71725 -> '71.7%': how every page shows an accuracy (or any share)."""
    return f"{100 * share:.1f}%"


def duration(seconds: float) -> str:
    """0.57 -> '0.6 s', 12.3 -> '12 s', 391 -> '6.5 min', 5400 -> '1.5 h'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def method_name(method: str) -> str:
    """'umap-gmm' -> 'UMAP + Gaussian mixture'."""
    return METHODS.get(method, method)


def noise_name(kind: str) -> str:
    """'salt_pepper' -> 'salt and pepper'."""
    return NOISES.get(kind, kind)


def sampler_name(kind: str) -> str:
    """'uniform01' -> 'uniform in [0, 1]', 'cluster:K' -> "one cluster's digits", 'cluster:3' ->
    "cluster 3's digits"."""
    if kind.startswith("cluster:") and kind != "cluster:K":
        return f"cluster {kind.split(':', 1)[1]}'s digits"
    return SAMPLERS.get(kind, kind)


def setting_value(key: str, value) -> str:
    """A TrainConfig field's value in words: noise 'salt_pepper' -> 'salt and pepper', 0.001 -> '0.001'."""
    if isinstance(value, float):
        return f"{value:g}"
    return SETTINGS.get(key, {}).get(value, str(value))




def about_model(ck) -> str:
    """One or two sentences on a loaded Checkpoint for Home: what a split model's code holds and
    what its dials do; for any other model, its name and code size."""
    name, d = plain(ck.name), ck.config.latent_dim
    if ck.parts:
        n_class, n_style = len(ck.parts.get("class", [])), len(ck.parts.get("style", []))
        return (f"**{name}** splits its {d}-number code in two: {n_class} numbers say which digit it "
                f"is (learnt from clusters of codes, with no labels) and {n_style} hold the handwriting. "
                "On **Generate**, choose a digit, then turn the style dials for its slant, thickness "
                "and width; **Cluster** groups the digit part alone.")
    return f"Selected model: **{name}**, a denoising autoencoder with a {d}-number code."


def clustered_words(ck, n: int) -> str:
    """What a clustering of the Checkpoint ck's n training codes reads, in words: a split
    model's class part alone, else the whole code."""
    d = ck.config.latent_dim
    if ck.parts:
        return f"the class part of {n:,} training codes ({len(ck.parts['class'])} of their {d} numbers)"
    return f"{n:,} training codes (d={d})"
