"""Kernel explorer figures (data: `ntk.analysis.views.kernel_data`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import INFINITE_COLOR, layout, width_color


def _heat(z, coord, colorscale="Viridis", zmid=None):
    return go.Heatmap(z=z, x=coord, y=coord, colorscale=colorscale, zmid=zmid,
                      colorbar=dict(thickness=10, len=0.42))


def _heatmap_panels(d: dict, panels: Sequence[str], rows: int, cols: int, title: str,
                    height: int) -> go.Figure:
    """Heatmaps of `panels` (keys of `kernel_data`'s result: nngp_inf, ntk_inf, ntk_emp, diff) on
    a rows x cols grid, each with its own colour bar; the difference is centred at 0."""
    c = d["coord"]
    names = {"nngp_inf": "NNGP K∞", "ntk_inf": "NTK Θ∞",
             "ntk_emp": f"empirical Θ, width {d['width']}, seed {d['seed']}",
             "diff": f"Θ − Θ∞ (rel. error {d['rel_error']:.3g})"}
    bar = {"nngp_inf": "K∞", "ntk_inf": "Θ∞", "ntk_emp": "Θ", "diff": "Θ − Θ∞"}
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.14, vertical_spacing=0.2,
                        subplot_titles=[names[k] for k in panels])
    lim = float(np.max(np.abs(d["diff"]))) or 1.0
    for i, key in enumerate(panels):
        r, col = divmod(i, cols)
        diff = key == "diff"
        h = _heat(d[key], c, "RdBu_r" if diff else "Viridis", 0.0 if diff else None)
        h.colorbar.title = dict(text=bar[key], side="top")
        h.hovertemplate = f"x: %{{x:.3g}}<br>x′: %{{y:.3g}}<br>{bar[key]} = %{{z:.4g}}<extra></extra>"
        h.colorbar.update(x=0.44 if col == 0 else 1.0, len=0.42 if rows > 1 else 0.9,
                          y=(0.79 if r == 0 else 0.21) if rows > 1 else 0.5)
        if diff:
            h.update(zmin=-lim, zmax=lim)
        fig.add_trace(h, row=r + 1, col=col + 1)
    fig.update_yaxes(autorange="reversed", title_text=f"x′: {d['coord_label']}")
    fig.update_xaxes(title_text=f"x: {d['coord_label']}")
    return layout(fig, title, height=height)


def kernel_heatmaps(d: dict) -> go.Figure:
    """2x2 heatmaps: NNGP∞, NTK∞, empirical NTK at the chosen width, and their difference."""
    return _heatmap_panels(d, ("nngp_inf", "ntk_inf", "ntk_emp", "diff"), 2, 2,
                           "Kernels on the data", 640)


def infinite_heatmaps(d: dict) -> go.Figure:
    """The infinite-width NNGP K∞ and NTK Θ∞ on the data, side by side (top row of
    `kernel_heatmaps`; in NTK parameterization they do not depend on the width)."""
    return _heatmap_panels(d, ("nngp_inf", "ntk_inf"), 1, 2, "Infinite-width kernels", 440)


def empirical_heatmaps(d: dict) -> go.Figure:
    """The empirical NTK at the chosen width and seed and its difference from Θ∞, side by side
    (bottom row of `kernel_heatmaps`)."""
    return _heatmap_panels(d, ("ntk_emp", "diff"), 1, 2,
                           f"Empirical NTK at width {d['width']} vs the limit", 440)


def circle_figure(d: dict) -> go.Figure:
    """Θ(x0, x(γ)) for several widths (thin: seeds) with the infinite-width curve (Jacot Fig. 1)."""
    g = d["gamma"]
    fig = go.Figure()
    for i, w in enumerate(d["circle_widths"]):
        col = width_color(w)
        curves = d["circle_curves"][i]
        for s, cv in enumerate(curves):
            fig.add_trace(go.Scatter(x=g, y=cv, mode="lines", line=dict(color=col, width=1.8),
                                     opacity=0.85, legendgroup=f"w{w}", showlegend=s == 0,
                                     name=f"width {w} ({len(curves)} seeds)"))
    inf = np.asarray(d["circle_inf"])
    if inf.ndim == 1:
        fig.add_trace(go.Scatter(x=g, y=inf, mode="lines", name="width → ∞",
                                 line=dict(color=INFINITE_COLOR, width=3, dash="dash")))
    else:
        for i, w in enumerate(d["circle_widths"]):
            fig.add_trace(go.Scatter(x=g, y=inf[i], mode="lines", name=f"limit (n={w})",
                                     line=dict(color=width_color(w), width=3, dash="dash")))
    fig.update_xaxes(title_text=d.get("circle_axis", "angle γ"))
    fig.update_yaxes(title_text="Θ(x₀, x(γ))")
    return layout(fig, d.get("circle_title", "NTK along the unit circle, x₀ = (1, 0)"))
