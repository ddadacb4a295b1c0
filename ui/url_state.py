"""Settings in the URL. Streamlit binds a widget to the query parameter named by its key
(`bind="query-params"`): a link sets it, a change rewrites the URL, a value the widget cannot take
is dropped. What it leaves to us: a one-line notice naming a dropped value.

A choice whose options read as words (`format_func`) is kept in the URL here instead (`chosen`):
Streamlit's binding writes the words a person reads into the URL, and links name the options."""
from __future__ import annotations

import math
from typing import Any, Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException

from .words import plain


def bound(widget: Callable, label: str, *args, key: str, **kwargs) -> Any:
    """Draw `widget` (st.selectbox, a column's number_input, ...) bound to the URL parameter `key`;
    returns its value. A link's value it drops is named in a one-line notice."""
    raw = link_value(key)
    if raw is not None and _infinite(raw):
        # Streamlit's whole-number input raises OverflowError on a link's "inf" or "1e400"
        # (int(float(...))) while it binds: drawn unbound this once, and the value dropped.
        value = widget(label, *args, key=key, **kwargs)
        _drop(key)
    else:
        value = widget(label, *args, key=key, bind="query-params", **kwargs)
    if raw is not None and not _same(raw, value):
        _dropped(key, raw, label, f"{value:g}" if isinstance(value, float) else value)
    return value


def chosen(widget: Callable, label: str, options, index: int, *, key: str,
           format_func: Callable[[Any], str], **kwargs) -> Any:
    """Draw `widget` (st.selectbox, a column's selectbox) over `options`, each read as
    format_func(option), its choice in the URL parameter `key` by the option's name (the
    `index`-th option, the default, leaves the URL); returns the option chosen. A link's option
    that is not among `options` is named in a one-line notice and leaves the URL."""
    options = list(options)
    raw = link_value(key)
    value = widget(label, options, options.index(raw) if raw in options else index, key=key,
                   format_func=format_func, persist_state="session", **kwargs)
    if raw is not None and raw not in options:
        _dropped(key, raw, label, format_func(value))
    if value == options[index]:
        if key in st.query_params:
            del st.query_params[key]
    else:
        sync(**{key: str(value)})
    return value


def _dropped(key: str, raw: str, label: str, shown) -> None:
    text = " ".join(raw[:40].replace("`", "'").split())  # a code span shows it as written
    st.warning(f"The link's `{key}={text}` is not valid for “{label}”: showing {plain(shown)}.")


def link_value(key: str) -> str | None:
    """The URL's text for `key` while this session's widget has no value yet (a link, a reload)."""
    return None if key in st.session_state else st.query_params.get(key)


def _infinite(raw: str) -> bool:
    try:
        return math.isinf(float(raw))
    except ValueError:
        return False


def _drop(key: str) -> None:
    """Remove `key` from the URL (a value no widget took); a bound one is left to its widget."""
    try:
        del st.query_params[key]
    except (KeyError, StreamlitAPIException):
        pass


def _same(raw: str, value: Any) -> bool:
    try:
        return type(value)(raw) == value
    except (TypeError, ValueError):
        return False


def sync(**values: str) -> None:
    """Put settings that no widget holds (Train's run id) in the URL, when they are not there yet."""
    if any(st.query_params.get(name) != value for name, value in values.items()):
        st.query_params.update(values)
