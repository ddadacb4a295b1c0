"""The map of a model's codes: every code as one density picture, quick to draw in any browser;
the scatter of every point one toggle away."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dae_core.figures import scatter_2d
from ui.svg_cluster import density_svg

SCATTER_MAX = 2_000  # up to this many points the map is a scatter at once (the t-SNE sample)


def map_view(xy: np.ndarray, color: np.ndarray, title: str, color_title: str) -> None:
    """The map of the points xy (N, 2) coloured by `color` (N,): a density picture, or (toggle,
    or N <= SCATTER_MAX) a scatter of every point."""
    every = len(xy) <= SCATTER_MAX or st.toggle(
        f"Draw all {len(xy):,} points", key="map_all", persist_state="session",
        help="A scatter of every code, to hover and zoom on single points. Without it the map "
             "is a picture of how many codes of each colour fall in each small square (faint: "
             "few), which a browser draws at once; the scatter takes it seconds.")
    if every:
        st.plotly_chart(scatter_2d(xy, color, title, color_title), key="map")
    else:  # a picture: the page loads no charting code for it
        st.image(density_svg(xy, color, title, color_title))
