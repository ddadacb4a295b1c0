"""The view in the URL: a page's settings are read from st.query_params when the page is opened by a
link, and written back on every run, so that a link or a bookmark reopens the same view."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

WRITTEN = "url_state_written"  # session_state: parameter -> the text this session last put in the URL


def _written() -> dict[str, str]:
    return st.session_state.setdefault(WRITTEN, {})


def param(name: str, key: str, default: Any, parse: Callable[[str], Any]) -> None:
    """Give the widget `key` the URL's parameter `name` when this session did not write it there
    (a link, a bookmark): the URL wins over the remembered setting. A value `parse` refuses
    (ValueError) gives `default` and a one-line notice naming the parameter. The widget itself
    must take no default value: it opens on `default` through the Session State API."""
    st.session_state.setdefault(key, default)
    if not param_given(name):
        return  # no parameter, or our own: the widgets drive the URL
    raw = st.query_params[name]
    try:
        value = parse(raw)
    except (ValueError, TypeError) as e:
        st.warning(f"The link's `{name}={raw[:40]}` is not valid ({e}): using {text(default)}.")
        value = default
    st.session_state[key] = value
    _written()[name] = raw


def param_given(name: str) -> bool:
    """Whether the URL carries `name` with a value this session did not write there."""
    raw = st.query_params.get(name)
    return raw is not None and raw != _written().get(name)


def sync(**values: Any) -> None:
    """Put these settings in the URL (others already there stay)."""
    new = {name: text(value) for name, value in values.items()}
    if any(st.query_params.get(name) != value for name, value in new.items()):
        st.query_params.update(new)
    _written().update(new)


def text(value: Any) -> str:
    """A setting as the URL shows it: 0.3, not 0.30000000000000004."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def choice(options) -> Callable[[str], str]:
    """A parser that accepts one of `options` (as written in the URL)."""
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError("unknown value")
        return raw
    return parse


def number(low: float, high: float, kind: type = float) -> Callable[[str], Any]:
    """A parser of an int or float in [low, high]."""
    def parse(raw: str):
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"not {'a whole number' if kind is int else 'a number'}") from None
        if not low <= value <= high:
            raise ValueError(f"outside {low:g}-{high:g}")
        return value
    return parse
