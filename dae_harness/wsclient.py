"""A browser tab without a browser: one session of a Streamlit app driven over its own websocket
protocol (`/_stcore/stream`; its messages: dae_harness.wsprotocol).

What the frontend does, reduced to what a load test needs: a script run sends the URL's query
string, the page and every widget's value, and ends at its `script_finished`; a widget is found by
its key; a change sends its new value with the others. As in the browser: a widget holds the value
it was drawn with, a page switch clears the query string and the page's own widgets' values, a
polling fragment (`run_every`) is rerun at its interval, and a file goes to an uploader by HTTP PUT.
Every wait has a time limit.
"""
from __future__ import annotations

import asyncio
import time
import urllib.parse
import urllib.request
import uuid

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dae_harness.wsprotocol import (FINISHED, FRAGMENT_DONE, VALUE_FIELD, ScriptRun, encode,
                                    shown_state, texts, widget_key)


class Tab:
    """One browser session of the app at `url` (http://host:port)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout
        self.session_id = ""
        self.pages: dict[str, str] = {}  # url path ("" for the default page) -> page_script_hash
        self.page_hash = ""
        self.query = ""
        self.widgets: dict[str, object] = {}  # key -> the widget's Element proto, as last drawn
        self._states: dict[str, WidgetState] = {}  # element id -> the value this tab holds
        self._ws = None
        self._reader = None
        self._run_done: asyncio.Queue = asyncio.Queue()  # (status, script run id) of each end
        self._run_ids: set[str] = set()  # the whole-page runs started so far
        self._elements: list = []
        self._drawn: dict[str, object] = {}  # key -> widget, of the run under way
        self._main_hash = ""  # the entry script's page_script_hash
        self._common: set[str] = set()  # ids of the widgets the entry script draws
        self._fragments: dict[str, asyncio.Task] = {}
        self._replies: dict[str, asyncio.Future] = {}
        self._quiet = asyncio.Event()  # set while the page polls nothing (no run_every fragment)
        self._quiet.set()
        self._full_run = False  # a whole-page run is under way (its fragments are not yet known)
        self.fragment_runs = 0

    async def open(self, page: str = "", query: str = "") -> ScriptRun:
        """Connect and run `page` (its URL path) with `query` (a=1&b=2), as a link opens it."""
        ws_url = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        self._ws = await asyncio.wait_for(
            connect(ws_url, subprotocols=["streamlit"], max_size=None), self.timeout)
        self._reader = asyncio.create_task(self._read())
        return await self.rerun(query=query, page_name=page)

    async def close(self) -> None:
        for task in [*self._fragments.values(), self._reader]:
            if task is not None:
                task.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def goto(self, page: str, query: str = "") -> ScriptRun:
        """Switch this session to another page: a menu click (no query; the browser clears the
        URL's and keeps only the values of widgets the entry script draws), or with `query`, as
        a link inside the app (st.page_link, st.switch_page) sets it."""
        if page not in self.pages:
            raise KeyError(f"no page at /{page} (pages: {sorted(self.pages)})")
        self._states = {i: s for i, s in self._states.items() if i in self._common}
        return await self.rerun(query=query, page_hash=self.pages[page])

    async def set(self, key: str, value, **also) -> ScriptRun:
        """Give the widget `key` (and any widget in `also`, key=value) a new value; one run."""
        for k, v in {key: value, **also}.items():
            self._states[self._id(k)] = self._state(k, v)
        return await self.rerun()

    async def click(self, key: str, **values) -> ScriptRun:
        """Press the button `key` (a form's submit button too), with new values for `values`."""
        for k, v in values.items():
            self._states[self._id(k)] = self._state(k, v)
        trigger = WidgetState(id=self._id(key), trigger_value=True)  # sent once, as the browser does
        return await self.rerun(extra=[trigger])

    async def rerun(self, query: str | None = None, page_hash: str | None = None,
                    page_name: str = "", extra: tuple = ()) -> ScriptRun:
        """One whole-page run with this tab's widget values; waits for its script_finished."""
        if query is not None:
            self.query = query
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash if page_hash is None else page_hash
        state.page_name = page_name
        state.widget_states.widgets.extend([*self._states.values(), *extra])
        while not self._run_done.empty():
            self._run_done.get_nowait()
        self._elements, self._drawn, earlier = [], {}, set(self._run_ids)
        start = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        try:
            status = await asyncio.wait_for(self._end_of_run(earlier), self.timeout)
        except asyncio.TimeoutError:
            status = "timeout"
        run = ScriptRun(time.perf_counter() - start, status, self._elements)
        if status == "finished":  # widgets not drawn in this run are gone, as in the browser
            self.widgets = self._drawn
            drawn = {self._id(k) for k in self.widgets}
            self._states = {i: s for i, s in self._states.items() if i in drawn}
        return run

    async def _end_of_run(self, earlier: set) -> str:
        """The status of the first whole-page run to end that had not started before the request
        (one a fragment asked for, under way when the request was sent, is not it)."""
        while True:
            status, run_id = await self._run_done.get()
            if not run_id or run_id not in earlier:
                return status

    def texts(self) -> list[str]:
        """The texts the page shows now: its last whole-page run's and its fragments' since."""
        return texts(self._elements)

    async def settle(self, timeout: float) -> float | None:
        """Seconds until the page polls nothing any more (a background task's result, or a
        training run's end, is drawn by a whole-page run), or None past `timeout`."""
        start = time.perf_counter()
        try:
            await asyncio.wait_for(self._quiet.wait(), timeout)
        except asyncio.TimeoutError:
            return None
        return time.perf_counter() - start

    async def upload(self, key: str, name: str, data: bytes) -> ScriptRun:
        """Put a file in the uploader `key` (an HTTP PUT, as the browser does); the run it causes."""
        request_id = uuid.uuid4().hex
        reply = self._replies[request_id] = asyncio.get_running_loop().create_future()
        msg = BackMsg()
        msg.file_urls_request.request_id = request_id
        msg.file_urls_request.file_names.append(name)
        msg.file_urls_request.session_id = self.session_id
        await self._ws.send(msg.SerializeToString())
        urls = (await asyncio.wait_for(reply, self.timeout)).file_urls[0]
        await asyncio.to_thread(self._put, urls.upload_url, name, data)
        state = WidgetState(id=self._id(key))
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.name, info.size, info.file_id = name, len(data), urls.file_id
        info.file_urls.CopyFrom(urls)
        self._states[state.id] = state
        return await self.rerun()

    def _put(self, upload_url: str, name: str, data: bytes) -> None:
        """The multipart PUT of one file, with the XSRF cookie and header the server asks for."""
        with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=self.timeout) as r:
            cookies = r.headers.get_all("Set-Cookie") or []
        xsrf = next((c.split(";")[0].split("=", 1)[1] for c in cookies
                     if c.startswith("_streamlit_xsrf=")), "")
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode() \
            + data + f"\r\n--{boundary}--\r\n".encode()
        url = upload_url if upload_url.startswith("http") else self.url + upload_url
        req = urllib.request.Request(url, data=body, method="PUT", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Xsrftoken": xsrf, "Cookie": f"_streamlit_xsrf={xsrf}"})
        urllib.request.urlopen(req, timeout=self.timeout).close()

    def value(self, key: str):
        """The value the widget `key` holds in this tab (None for a button or an uploader)."""
        state = self._states.get(self._id(key))
        if state is None:
            return None
        slot = state.WhichOneof("value")
        value = getattr(state, slot) if slot else None
        return list(value.data) if slot and slot.endswith("array_value") else value

    def _id(self, key: str) -> str:
        if key not in self.widgets:
            raise KeyError(f"no widget with key {key!r} on this page")
        element = self.widgets[key]
        return getattr(element, element.WhichOneof("type")).id

    def _state(self, key: str, value) -> WidgetState:
        """The WidgetState the browser would send for `value` in widget `key`."""
        kind = self.widgets[key].WhichOneof("type")
        if kind not in VALUE_FIELD:
            raise ValueError(f"cannot set a {kind} widget ({key!r})")
        return encode(WidgetState(id=self._id(key)), VALUE_FIELD[kind], value)

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._handle(msg)
        except ConnectionClosed:
            pass  # the server went away: every wait ends at its time limit

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session" and msg.new_session.initialize.session_id:
            self.session_id = msg.new_session.initialize.session_id
        if kind == "new_session" and not msg.metadata.run.fragment_ids:
            # a whole-page run starts (not a fragment's): the browser drops its fragment timers
            self.page_hash = msg.new_session.page_script_hash or self.page_hash
            self._main_hash = msg.new_session.main_script_hash or self._main_hash
            self._run_ids.add(msg.metadata.run.script_run_id)
            self._elements, self._drawn, self._full_run = [], {}, True
            for task in self._fragments.values():
                task.cancel()
            self._fragments.clear()
        elif kind == "navigation":
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            self._elements.append(element)
            key = widget_key(element)
            if key is not None:
                self.widgets[key] = self._drawn[key] = element
                if msg.metadata.active_script_hash == self._main_hash:
                    self._common.add(self._id(key))
                shown = shown_state(element)  # the browser holds every widget's value once drawn
                server_set = getattr(getattr(element, element.WhichOneof("type")), "set_value", False)
                if shown is not None and (shown.id not in self._states or server_set):
                    self._states[shown.id] = shown
        elif kind == "script_finished":
            if msg.script_finished in FINISHED:
                self._full_run = False
                if not self._fragments:
                    self._quiet.set()
                self._run_done.put_nowait((FINISHED[msg.script_finished],
                                           msg.metadata.run.script_run_id))
            elif msg.script_finished == FRAGMENT_DONE:
                self.fragment_runs += 1
        elif kind == "auto_rerun":
            self._quiet.clear()
            self._follow(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            self._stop_polling(msg.stop_auto_rerun.fragment_ids)
        elif kind == "file_urls_response":
            reply = self._replies.pop(msg.file_urls_response.response_id, None)
            if reply is not None and not reply.done():
                reply.set_result(msg.file_urls_response)

    def _stop_polling(self, fragment_ids) -> None:
        for fragment_id in fragment_ids:
            task = self._fragments.pop(fragment_id, None)
            if task is not None:
                task.cancel()
        if not self._fragments and not self._full_run:
            self._quiet.set()

    def _follow(self, fragment_id: str, interval: float) -> None:
        """Rerun a polling fragment every `interval` seconds, as the browser's timer does."""
        if fragment_id in self._fragments:
            return

        async def poll():
            while True:
                await asyncio.sleep(interval)
                msg = BackMsg()
                msg.rerun_script.query_string = self.query
                msg.rerun_script.page_script_hash = self.page_hash
                msg.rerun_script.fragment_id = fragment_id
                msg.rerun_script.is_auto_rerun = True
                msg.rerun_script.widget_states.widgets.extend(self._states.values())
                await self._ws.send(msg.SerializeToString())

        self._fragments[fragment_id] = asyncio.create_task(poll())


def query(**params) -> str:
    """A URL query string from settings (None values left out)."""
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})

