"""Baseline for `app_timing.py`: the smallest Streamlit app with a width select-slider and
NTK_FLOOR_CHARTS Plotly charts (lines, 8 traces x 40 points) that all change with the slider and
need no computation. Its redraw time is what Streamlit + Plotly + the browser cost on this
machine before any of the app's own work. NTK_FLOOR_MECHANISM=st draws with st.plotly_chart
(a new figure rebuilds the chart), =ntk with the app's ntk.ui.plotly_chart (updated in place)."""
import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st

w = st.sidebar.select_slider("Width n", [8, 16, 32, 64, 128, 256, 512, 1024, 2048], value=512)
rng = np.random.default_rng(w)
for i in range(int(os.environ.get("NTK_FLOOR_CHARTS", "3"))):
    fig = go.Figure([go.Scatter(y=rng.normal(size=40), mode="lines+markers") for _ in range(8)])
    fig.update_layout(height=420)
    key = "chart_floor" if i == 0 else f"chart_floor_{i}"
    if os.environ.get("NTK_FLOOR_MECHANISM", "st") == "ntk":
        from ntk import ui

        ui.plotly_chart(fig, key=key)
    else:
        st.plotly_chart(fig, key=key, theme=None, config={"displaylogo": False, "responsive": True})
