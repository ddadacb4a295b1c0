"""The page menu, run for every session (streamlit_app.py serves it). Each page draws the shared
sidebar picker itself."""
import streamlit as st

from ui.server import configure_logging

configure_logging()  # done as the server starts; here too for a menu run without it (tests)
st.set_page_config(page_title="DAE Lab", layout="wide")
st.navigation([
    st.Page("app_pages/0_Home.py", title="Home", url_path="", default=True),
    st.Page("app_pages/1_Train.py", title="Train", url_path="Train"),
    st.Page("app_pages/2_Denoise.py", title="Denoise", url_path="Denoise"),
    st.Page("app_pages/3_Generate.py", title="Generate", url_path="Generate"),
    st.Page("app_pages/4_Cluster.py", title="Cluster", url_path="Cluster"),
]).run()
