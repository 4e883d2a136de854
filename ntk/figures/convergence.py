"""Width convergence figure (data: `ntk.analysis.views.convergence_data`)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .theme import FIT_COLOR, GUIDE_COLOR, LABELS, layout, width_color


def _loglog_fit_traces(fig, widths, intercept, slope, label, color=FIT_COLOR, row=None, col=None):
    ws = np.geomspace(min(widths), max(widths), 50)
    kw = dict(row=row, col=col) if row else {}
    fig.add_trace(go.Scatter(x=ws, y=np.exp(intercept) * ws**slope, mode="lines", name=label,
                             line=dict(color=color, width=2.5)), **kw)


def convergence_figure(d: dict) -> go.Figure:
    """Log-log error vs width: seeds (dots), mean ± std, fitted slope and the n^-1/2 reference."""
    w = d["widths"]
    fig = go.Figure()
    for i, wi in enumerate(w):
        fig.add_trace(go.Scatter(x=[wi] * d["errors"].shape[1], y=d["errors"][i], mode="markers",
                                 marker=dict(color=width_color(wi), size=8, opacity=0.75),
                                 name="seeds (colour = width)", legendgroup="seeds",
                                 showlegend=i == 0))
    fig.add_trace(go.Scatter(x=w, y=d["mean"], mode="lines+markers", name="mean ± std over seeds",
                             line=dict(color="#444", width=2),
                             error_y=dict(type="data", array=d["std"], visible=True)))
    if np.isfinite(d["slope"]):
        _loglog_fit_traces(fig, w, d["intercept"], d["slope"], f"fit: slope {d['slope']:.3f}")
    ref = d["mean"][0] * (w / w[0]) ** -0.5
    fig.add_trace(go.Scatter(x=w, y=ref, mode="lines", name="reference n<sup>−1/2</sup>",
                             line=dict(color=GUIDE_COLOR, dash="dash", width=2)))
    fig.update_xaxes(type="log", title_text="width n")
    fig.update_yaxes(type="log", title_text=LABELS["kernel_error"])
    return layout(fig, "Empirical NTK → infinite-width NTK")
