"""Settings in the URL. Streamlit binds a widget to the query parameter named by its key
(`bind="query-params"`): a link sets it, a change rewrites the URL, a value the widget cannot take
is dropped. Two things it leaves to us: a one-line notice naming a dropped value, and a bound
setting's value read before its widget is drawn (a page that computes first)."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from .words import plain


def bound(widget: Callable, label: str, *args, key: str, **kwargs) -> Any:
    """Draw `widget` (st.selectbox, a column's number_input, ...) bound to the URL parameter `key`;
    returns its value. A link's value it drops is named in a one-line notice."""
    raw = link_value(key)
    value = widget(label, *args, key=key, bind="query-params", **kwargs)
    if raw is not None and not _same(raw, value):
        shown = f"{value:g}" if isinstance(value, float) else value
        text = " ".join(raw[:40].replace("`", "'").split())  # a code span shows it as written
        st.warning(f"The link's `{key}={text}` is not valid for “{label}”: "
                   f"showing {plain(shown)}.")
    return value


def peek(key: str, default: Any, options=None) -> Any:
    """The value the bound widget `key` will show in this run, read before it is drawn: the
    session's, else a link's (of `default`'s type, and among `options` when given), else `default`."""
    if key in st.session_state:
        return st.session_state[key]
    raw = link_value(key)
    if raw is None or (options is not None and raw not in options):
        return default
    try:
        return type(default)(raw)
    except ValueError:
        return default


def link_value(key: str) -> str | None:
    """The URL's text for `key` while this session's widget has no value yet (a link, a reload)."""
    return None if key in st.session_state else st.query_params.get(key)


def _same(raw: str, value: Any) -> bool:
    try:
        return type(value)(raw) == value
    except (TypeError, ValueError):
        return False


def sync(**values: str) -> None:
    """Put settings that no widget holds (Train's run id) in the URL, when they are not there yet."""
    if any(st.query_params.get(name) != value for name, value in values.items()):
        st.query_params.update(values)
