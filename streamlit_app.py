"""DAE Lab's entry point: `streamlit run streamlit_app.py`. The server loads PyTorch and the pages'
modules as it starts (ui/server.py), before it takes a visitor, then serves the page menu
(app_menu.py) to each session."""
import streamlit as st

from ui.server import lifespan

app = st.App("app_menu.py", lifespan=lifespan)
