"""Streamlit's websocket protocol (`/_stcore/stream`) as dae_harness.wsclient speaks it, with the
protobuf messages the installed `streamlit` ships: how a run ends, how a widget is named, the value
a drawn widget holds, and the texts a run drew.

A script run is a `rerun_script` BackMsg (the URL's query string, the page, every widget's value)
answered by ForwardMsgs (the page list, deltas that draw elements, `script_finished`). A widget is
found by its key, the tail of its element id (`$$ID-<hash>-<key>`), and holds its value as a
WidgetState in the slot its kind uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED = {ForwardMsg.FINISHED_SUCCESSFULLY: "finished",
            ForwardMsg.FINISHED_WITH_COMPILE_ERROR: "error"}  # a run's end; others are not
FRAGMENT_DONE = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
ID_PREFIX = "$$ID-"  # Streamlit's element ids: $$ID-<hash>-<user key or None>
VALUE_FIELD = {"number_input": "double_value", "selectbox": "string_value", "radio": "string_value",
               "checkbox": "bool_value", "slider": "double_array_value",
               "multiselect": "string_array_value", "text_input": "string_value"}


@dataclass
class ScriptRun:
    """One script run as the client saw it."""
    seconds: float  # from sending the BackMsg to script_finished (or to the time limit)
    status: str  # "finished", "error" (the script did not compile) or "timeout"
    elements: list = field(default_factory=list)  # the Element protos it drew, in order

    def texts(self) -> list[str]:
        return texts(self.elements)


def texts(elements) -> list[str]:
    """The text of every markdown (captions too), heading, alert, text, exception and progress
    element."""
    out = []
    for e in elements:
        kind = e.WhichOneof("type")
        if kind in ("markdown", "text", "heading", "alert", "exception", "progress"):
            proto = getattr(e, kind)
            out.append(getattr(proto, "body", "") or getattr(proto, "message", "")
                       or getattr(proto, "text", ""))
    return out


def widget_key(element) -> str | None:
    """The user key of a widget element, or None (not a widget, or a widget without a key)."""
    kind = element.WhichOneof("type")
    element_id = getattr(getattr(element, kind), "id", "") if kind else ""
    if not isinstance(element_id, str) or not element_id.startswith(ID_PREFIX):
        return None
    key = element_id[len(ID_PREFIX):].split("-", 1)[-1]
    return None if key == "None" else key


def shown_state(element) -> WidgetState | None:
    """The WidgetState of the value a widget shows when drawn (its default, or the value the
    server set), as the browser records it; None for buttons, uploaders and empty widgets."""
    kind = element.WhichOneof("type")
    w, slot = getattr(element, kind), VALUE_FIELD.get(kind)
    if slot is None:
        return None
    state = WidgetState(id=w.id)
    if kind in ("selectbox", "radio"):
        value = w.raw_value if w.set_value else (w.options[w.default] if 0 <= w.default < len(w.options) else None)
    elif kind == "multiselect":
        value = list(w.raw_values) if w.set_value else [w.options[i] for i in w.default]
    elif kind == "slider":
        if w.options:  # a select_slider: left to the server
            return None
        value = list(w.value) if w.set_value else list(w.default)
    else:  # number_input, checkbox, text_input
        value = w.value if w.set_value else w.default
    return None if value is None else encode(state, slot, value)


def encode(state: WidgetState, slot: str, value) -> WidgetState:
    """`state` with `value` in its slot `slot` (a list, for an array slot)."""
    if slot.endswith("array_value"):
        getattr(state, slot).data.extend(value)
    else:
        setattr(state, slot, value)
    return state
