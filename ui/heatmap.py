"""A clickable SVG picture (ui.svg_cluster's confusion matrix): a components.v2 component
of a few lines, so that a click on a cell reaches Python without a charting library in the page.
A click on a <g class="cell" data-row=.. data-col=..> sends the trigger value `cell` [row, col]."""
from __future__ import annotations

from typing import Callable

import streamlit as st

_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let box = parentElement.querySelector(".dae-heatmap");
  if (!box) {
    box = document.createElement("div");
    box.className = "dae-heatmap";
    parentElement.appendChild(box);
    box.addEventListener("click", e => {
      const cell = e.target.closest("g.cell");
      if (cell) box.daeSend("cell", [cell.dataset.row, cell.dataset.col]);
    });
  }
  box.daeSend = setTriggerValue;  // the latest run's sender
  if (box.daeSvg !== data.svg) {
    box.innerHTML = data.svg;
    box.daeSvg = data.svg;
  }
}
"""
_CSS = """
.dae-heatmap g.cell { cursor: pointer; }
.dae-heatmap g.cell:hover rect { stroke: #31333f; stroke-width: 2; }
"""
_component = st.components.v2.component("dae_clickable_svg", js=_JS, css=_CSS)


def clickable_svg(svg: str, key: str, on_cell: Callable[[str], None]) -> None:
    """Draw `svg`; a click on one of its cells calls on_cell(key) in the rerun it starts, with
    st.session_state[key]["cell"] = [data-row, data-col] (strings)."""
    _component(data={"svg": svg}, key=key, height="content", on_cell_change=lambda: on_cell(key))


def clicked_cell(state) -> tuple[int, int] | None:
    """(row, col) as integers from a clickable_svg's session state; None without a usable click."""
    try:
        row, col = state["cell"]
        return int(row), int(col)
    except (KeyError, TypeError, ValueError):
        return None
