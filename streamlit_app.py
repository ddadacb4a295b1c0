"""DAE Lab's entry point: the page menu. Each page draws the shared sidebar picker itself."""
import logging
import os

import streamlit as st

from dae_core.bounds import limit_malloc_arenas

# The server's log, on its standard error: every error a visitor is shown (a refused file or value
# as one line, an unexpected failure with its traceback at ERROR). DAE_LOG_LEVEL, default INFO;
# basicConfig does nothing once the root logger has a handler, so reruns add none.
_level = os.environ.get("DAE_LOG_LEVEL", "INFO").upper()
logging.basicConfig(level=_level if _level in logging.getLevelNamesMapping() else "INFO",
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
# Fewer C heaps than one per busy script thread: the server's memory stays near what it uses.
limit_malloc_arenas()  # once a process would do; each call costs microseconds
st.set_page_config(page_title="DAE Lab", layout="wide")
st.navigation([
    st.Page("app_pages/0_Home.py", title="Home", url_path="", default=True),
    st.Page("app_pages/1_Train.py", title="Train", url_path="Train"),
    st.Page("app_pages/2_Denoise.py", title="Denoise", url_path="Denoise"),
    st.Page("app_pages/3_Generate.py", title="Generate", url_path="Generate"),
    st.Page("app_pages/4_Cluster.py", title="Cluster", url_path="Cluster"),
]).run()
