"""Baseline for `app_timing.py`: the smallest Streamlit app with a width select-slider and
NTK_FLOOR_CHARTS Plotly charts (lines, 8 traces x 40 points) that all change with the slider and
need no computation. Its redraw time is what Streamlit + Plotly + the browser cost on this
machine before any of the app's own work."""
import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st

w = st.sidebar.select_slider("Width n", [8, 16, 32, 64, 128, 256, 512, 1024, 2048], value=512)
rng = np.random.default_rng(w)
for i in range(int(os.environ.get("NTK_FLOOR_CHARTS", "3"))):
    fig = go.Figure([go.Scatter(y=rng.normal(size=40), mode="lines+markers") for _ in range(8)])
    fig.update_layout(height=420)
    st.plotly_chart(fig, key="chart_floor" if i == 0 else f"chart_floor_{i}", theme=None,
                    config={"displaylogo": False, "responsive": True})
