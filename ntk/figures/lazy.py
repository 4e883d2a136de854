"""Lazy regime figures (data: `ntk.analysis.views.lazy_data`)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import FIT_COLOR, GUIDE_COLOR, LABELS, SHORT_LABELS, layout, width_color


def _fitted(fit) -> bool:
    """A fit with a finite slope (no fit: slope None when diverged runs left < 2 widths)."""
    return fit.get("slope") is not None and bool(np.isfinite(fit["slope"]))


def lazy_scaling_figure(d: dict) -> go.Figure:
    """Three log-log panels (weight change, kernel change, lin gap) vs width with fitted slopes."""
    ms = ("weight_change", "kernel_change", "lin_gap")
    titles = [f"{SHORT_LABELS[m]}: slope {d['fits'][m]['slope']:.2f}<br>"
              f"95 % interval [{d['fits'][m]['ci_low']:.2f}, {d['fits'][m]['ci_high']:.2f}]"
              if _fitted(d["fits"][m]) else f"{SHORT_LABELS[m]}: no fit" for m in ms]
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.1)
    w = d["widths"]
    for c, m in enumerate(ms):
        vals = d[m]
        for i, wi in enumerate(w):
            fig.add_trace(go.Scatter(x=[wi] * vals.shape[1], y=vals[i], mode="markers",
                                     marker=dict(color=width_color(wi), size=8), showlegend=c == 0,
                                     name=f"width {wi}", legendgroup=f"w{wi}"), row=1, col=c + 1)
        f = d["fits"][m]
        if _fitted(f):
            ws = np.geomspace(w.min(), w.max(), 40)
            fig.add_trace(go.Scatter(x=ws, y=np.exp(f["intercept"]) * ws ** f["slope"], mode="lines",
                                     line=dict(color=FIT_COLOR, width=2.5), name="fit",
                                     showlegend=c == 0), row=1, col=c + 1)
            # Guides anchored at the narrowest width with a finite value (diverged runs are NaN).
            i0 = next(i for i in range(len(w)) if np.any(np.isfinite(vals[i])))
            m0 = np.nanmean(vals[i0])
            for p, dash, nm in ((-0.5, "dash", "n<sup>−1/2</sup>"), (-1.0, "dot", "n<sup>−1</sup>")):
                fig.add_trace(go.Scatter(x=w, y=m0 * (w / w[i0]) ** p, mode="lines", name=nm,
                                         line=dict(color=GUIDE_COLOR, dash=dash, width=1.5),
                                         showlegend=c == 0), row=1, col=c + 1)
    fig.update_xaxes(type="log", title_text="width n")
    for c, m in enumerate(ms):
        fig.update_yaxes(type="log", title_text=LABELS[m], title_standoff=4, row=1, col=c + 1)
    return layout(fig, f"After {d['steps']} steps of GD (η = {d['learning_rate']:.3g})",
                   height=440, margin=dict(l=60, r=20, t=110, b=50))


def kernel_drift_figure(d: dict) -> go.Figure:
    """Relative kernel change ‖Θ(t) − Θ₀‖/‖Θ₀‖ over training, narrow vs wide (left), next to the
    training loss of the same runs (right): the kernel moves while the residual is large and
    stops once the data are fitted (log-log)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, column_widths=[0.55, 0.45],
                        subplot_titles=("kernel change since initialization",
                                        "training loss of the same runs"))
    for w, r in d["drift"].items():
        s = r["steps"][1:]
        kw = dict(mode="lines+markers", legendgroup=f"d{w}", line=dict(color=width_color(w), width=3))
        fig.add_trace(go.Scatter(x=s, y=r["kernel_change"][1:], name=f"width {w}", **kw), row=1, col=1)
        if r.get("loss_train") is not None:
            fig.add_trace(go.Scatter(x=s, y=r["loss_train"][1:], name=f"width {w} loss", showlegend=False,
                                     **kw), row=1, col=2)
    fig.update_xaxes(type="log", title_text="step t")
    fig.update_yaxes(type="log", title_text=LABELS["kernel_change"].replace("(T)", "(t)"), row=1, col=1)
    fig.update_yaxes(type="log", title_text="MSE loss", row=1, col=2)
    return layout(fig, "Kernel drift during training", height=420)
