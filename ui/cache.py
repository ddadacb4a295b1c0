"""Cached loaders of immutable things: the dataset, checkpoints, a checkpoint's codes and clusterings.

Keys include the file's modification time, so a checkpoint rewritten on disk is reloaded.
Nothing cached here is ever trained or mutated (STYLE.md rule 6).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dae_core import checkpoint as ckpt_io
from dae_core.data import load_digits
from dae_core.latent import LatentSampler
from dae_core.pipeline import cluster_codes, encode_splits


def file_key(path: str | Path) -> tuple[str, float]:
    """(path, mtime): the cache key of a file's current content."""
    p = Path(path)
    return str(p), p.stat().st_mtime if p.exists() else 0.0


@st.cache_resource(show_spinner="Loading MNIST…")
def digits(name: str = "mnist"):
    return load_digits(name)


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=16)
def checkpoint(path: str, mtime: float):
    """A loaded checkpoint (model in eval mode); raises CheckpointError for a bad file."""
    return ckpt_io.load(path)


def load_checkpoint(path: str | Path):
    return checkpoint(*file_key(path))


@st.cache_resource(show_spinner="Encoding the training and test images…", max_entries=8)
def codes(path: str, mtime: float):
    ck = checkpoint(path, mtime)
    digits(ck.config.dataset)
    return encode_splits(ck.model, ck.config)


@st.cache_resource(show_spinner="Clustering…", max_entries=32)
def clustering(path: str, mtime: float, k: int, method: str, seed: int):
    return cluster_codes(codes(path, mtime), k, method, seed)


@st.cache_resource(show_spinner="Fitting the sampler…", max_entries=32)
def sampler(path: str, mtime: float, kind: str):
    s = LatentSampler(kind)
    return s if kind == "uniform01" else s.fit(codes(path, mtime).z_train)
