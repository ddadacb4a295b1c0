"""How long this browser session lives, through Streamlit's public session-scoped resources."""
from __future__ import annotations

import streamlit as st

GUARD = "session_guard"  # session_state key: the guard a training run polls


class SessionGuard:
    """Open while the browser session is connected; a background run polls is_open()."""

    def __init__(self) -> None:
        self.open = True
        self._on_close: list = []

    def is_open(self) -> bool:
        return self.open

    def on_close(self, callback) -> None:
        """Call `callback()` (on a server thread) each time the tab disconnects."""
        self._on_close.append(callback)

    def close(self) -> None:
        self.open = False
        for callback in list(self._on_close):
            callback()


class _Connection:
    """Held in a session-scoped resource: Streamlit releases it when the session disconnects."""

    def __init__(self, guard: SessionGuard) -> None:
        self.guard = guard


def _closed(connection: _Connection) -> None:
    connection.guard.close()


# Bounded: one entry per open session (_guard is not hashed), released when the session ends.
@st.cache_resource(scope="session", on_release=_closed, show_spinner=False)
def _connection(_guard: SessionGuard) -> _Connection:
    return _Connection(_guard)


def guard() -> SessionGuard:
    """This session's guard, open again on every script run.

    Streamlit releases session-scoped resources when the tab disconnects (closed or reloaded),
    which closes the guard; a tab that reconnects runs a page again, which reopens it. Every
    page calls this through the shared sidebar, so a run stops only when no page came back.
    """
    g = st.session_state.setdefault(GUARD, SessionGuard())
    _connection(g)
    g.open = True
    return g
