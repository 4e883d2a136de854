"""`show_figure`: chart, (presenter) 'what to notice', and an Export button opening a dialog with
interactive HTML, CSV, NPZ, JSON config and a Python snippet that rebuilds the figure in Jupyter."""
from __future__ import annotations

from typing import Mapping, Optional

import streamlit as st

from .. import export as E
from .cache import cached_figure
from .chart import plotly_chart
from .state import presenter


def show_figure(d: Mapping, name: str, *, data_fn: str, cfg: Mapping, fig_fn: str,
                fig_kwargs: Optional[Mapping] = None, notice: str = "", exports: bool = True,
                build_kwargs: Optional[Mapping] = None):
    """Chart + (presenter) 'what to notice' + export panel for one figure.

    `d` is the result of `compute(data_fn, cfg)`; the figure is `<fig_fn>(d, **fig_kwargs,
    **build_kwargs)`, built and themed once per (data, arguments, presenter mode) and cached, so
    a rerun with cached data (e.g. moving a slider back) does not rebuild plotly objects.
    `build_kwargs` change only the look and are left out of the exported snippet.
    """
    pres = presenter()
    fig = cached_figure(d, data_fn, cfg, fig_fn,
                        {**dict(fig_kwargs or {}), **dict(build_kwargs or {})}, pres)
    plotly_chart(fig, key=f"chart_{name}")
    if pres and notice:
        st.info(f"**What to notice:** {notice}")
    if exports and not pres:
        export_panel(fig, name, data_fn=data_fn, cfg=cfg, fig_fn=fig_fn, fig_kwargs=fig_kwargs)


def export_panel(fig, name, *, data_fn, cfg, fig_fn, fig_kwargs=None):
    """An "Export" button under the figure; the export options open in a dialog, so a rerun
    (e.g. a slider move) does not re-render download buttons and code for every figure."""
    if st.button(f"Export {name.replace('_', ' ')}", key=f"export_{name}", icon=":material/download:",
                 type="tertiary", help="HTML, CSV, NPZ, JSON and a Python snippet for Jupyter"):
        _export_dialog(fig, name, data_fn, cfg, fig_fn, fig_kwargs)


@st.dialog("Export", width="large")
def _export_dialog(fig, name, data_fn, cfg, fig_fn, fig_kwargs):
    st.markdown(f"**{name}**: the figure, its data and the configuration that produced it.")
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("HTML (interactive)", data=lambda: E.figure_html(fig),
                       file_name=f"{name}.html", mime="text/html", key=f"dl_html_{name}",
                       on_click="ignore")
    c2.download_button("Data (CSV)", data=lambda: E.arrays_to_csv(E.figure_arrays(fig)),
                       file_name=f"{name}.csv", mime="text/csv", key=f"dl_csv_{name}",
                       on_click="ignore")
    c3.download_button("Data (NPZ)", data=lambda: E.arrays_to_npz(E.figure_arrays(fig)),
                       file_name=f"{name}.npz", mime="application/octet-stream",
                       key=f"dl_npz_{name}", on_click="ignore")
    c4.download_button("Config (JSON)", data=E.config_json(cfg), file_name=f"{name}.json",
                       mime="application/json", key=f"dl_json_{name}", on_click="ignore")
    st.caption("Reproduce this figure in Jupyter:")
    st.code(E.python_snippet(data_fn, cfg, fig_fn, fig_kwargs), language="python")


__all__ = ["export_panel", "show_figure"]
