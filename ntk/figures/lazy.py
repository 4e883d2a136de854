"""Lazy regime figures (data: `ntk.analysis.views.lazy_data`)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import LABELS, layout, width_color


def lazy_scaling_figure(d: dict) -> go.Figure:
    """Three log-log panels (weight change, kernel change, lin gap) vs width with fitted slopes."""
    ms = ("weight_change", "kernel_change", "lin_gap")
    titles = [f"{LABELS[m]}<br>slope {d['fits'][m]['slope']:.2f} "
              f"[{d['fits'][m]['ci_low']:.2f}, {d['fits'][m]['ci_high']:.2f}]" for m in ms]
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.08)
    w = d["widths"]
    for c, m in enumerate(ms):
        vals = d[m]
        for i, wi in enumerate(w):
            fig.add_trace(go.Scatter(x=[wi] * vals.shape[1], y=vals[i], mode="markers",
                                     marker=dict(color=width_color(wi), size=8), showlegend=False,
                                     name=f"width {wi}"), row=1, col=c + 1)
        f = d["fits"][m]
        if np.isfinite(f["slope"]):
            ws = np.geomspace(w.min(), w.max(), 40)
            fig.add_trace(go.Scatter(x=ws, y=np.exp(f["intercept"]) * ws ** f["slope"], mode="lines",
                                     line=dict(color="#d62728", width=2), name="fit",
                                     showlegend=c == 0), row=1, col=c + 1)
            # Guides anchored at the narrowest width with a finite value (diverged runs are NaN).
            i0 = next(i for i in range(len(w)) if np.any(np.isfinite(vals[i])))
            m0 = np.nanmean(vals[i0])
            for p, dash, nm in ((-0.5, "dash", "n^(−1/2)"), (-1.0, "dot", "n^(−1)")):
                fig.add_trace(go.Scatter(x=w, y=m0 * (w / w[i0]) ** p, mode="lines", name=nm,
                                         line=dict(color="#777", dash=dash, width=1.5),
                                         showlegend=c == 0), row=1, col=c + 1)
    fig.update_xaxes(type="log", title_text="width n")
    fig.update_yaxes(type="log")
    return layout(fig, f"After {d['steps']} steps of GD (η = {d['learning_rate']:.3g})",
                   height=440, margin=dict(l=60, r=20, t=110, b=50))


def kernel_drift_figure(d: dict) -> go.Figure:
    """Relative kernel change ‖Θ_t − Θ₀‖/‖Θ₀‖ over training, narrow vs wide (log-log)."""
    fig = go.Figure()
    for w, r in d["drift"].items():
        s = r["steps"][1:]
        fig.add_trace(go.Scatter(x=s, y=r["kernel_change"][1:], mode="lines+markers",
                                 name=f"width {w}", line=dict(color=width_color(w), width=3)))
    fig.update_xaxes(type="log", title_text="step")
    fig.update_yaxes(type="log", title_text="‖Θ_t − Θ₀‖ / ‖Θ₀‖")
    return layout(fig, "Kernel drift during training")
