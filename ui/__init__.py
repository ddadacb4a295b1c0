"""Streamlit-side helpers shared by the pages: cached loaders, the sidebar, the training worker."""
