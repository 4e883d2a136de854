"""Spectrum figures (data: `ntk.analysis.views.spectrum_data`)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import BAND_COLOR, INFINITE_COLOR, MODE_COLORS, layout, width_color

THRESHOLD_COLOR = "#D55E00"


def eigenvalue_figure(d: dict) -> go.Figure:
    """Eigenvalues of Θ_emp and Θ∞ (log scale) with the stability threshold λ = 2N/η marked."""
    i = np.arange(1, len(d["eigvals"]) + 1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=i, y=np.maximum(d["eigvals_inf"], 1e-12), mode="lines",
                             name="Θ∞", line=dict(color=INFINITE_COLOR, dash="dash")))
    fig.add_trace(go.Scatter(x=i, y=np.maximum(d["eigvals"], 1e-12), mode="markers",
                             name=f"empirical Θ₀, width {d['width']}",
                             marker=dict(color=width_color(d["width"]), size=9)))
    # The threshold is a trace, not a shape: plotly's autorange mis-reads shapes on log axes.
    lc = float(d["lambda_crit"])
    fig.add_trace(go.Scatter(x=[0.5, len(i) + 0.5], y=[lc, lc], mode="lines",
                             name=f"2N/η = {lc:.3g} (modes above diverge)",
                             line=dict(color=THRESHOLD_COLOR, dash="dot", width=2)))
    vals = np.concatenate([np.maximum(d["eigvals"], 1e-12), np.maximum(d["eigvals_inf"], 1e-12), [lc]])
    lo, hi = np.log10(vals.min()) - 0.3, np.log10(vals.max()) + 0.3
    fig.update_xaxes(title_text="index i")
    fig.update_yaxes(type="log", title_text="eigenvalue λᵢ", range=[lo, hi])
    return layout(fig, f"NTK spectrum (η = {d['learning_rate']:.3g} = "
                        f"{d['lr_fraction']:.2f} × η<sub>max</sub>)")


def eigenvector_figure(d: dict) -> go.Figure:
    """The top eigenvectors of Θ_emp as functions of the angle on the circle."""
    fig = go.Figure()
    for j in range(d["eigvecs"].shape[1]):
        fig.add_trace(go.Scatter(x=d["gamma"], y=d["eigvecs"][:, j], mode="lines",
                                 name=f"u{j + 1} (λ={d['eigvals'][j]:.3g})",
                                 line=dict(color=MODE_COLORS[j % len(MODE_COLORS)], width=2),
                                 legendgroup=f"m{j}"))
    fig.update_xaxes(title_text="angle γ")
    fig.update_yaxes(title_text="eigenvector entry")
    return layout(fig, "Top eigenvectors on the data (low frequencies first)")


def _round_off_band(fig, d, s):
    """Grey band from the bottom of the axis up to the largest per-mode round-off floor."""
    top = float(np.nanmax(d["round_off"])) if np.any(np.isfinite(d["round_off"])) else None
    if top is None or not len(s):
        return
    fig.add_trace(go.Scatter(x=[s[0], s[-1], s[-1], s[0]], y=[1e-30, 1e-30, top, top], fill="toself",
                             fillcolor=BAND_COLOR, line=dict(width=0), mode="lines", hoverinfo="skip",
                             name=f"{d.get('dtype', 'float32')} round-off", legendgroup="roundoff"))


def mode_convergence_figure(d: dict) -> go.Figure:
    """|uᵢᵀ(f_t − y)| / |uᵢᵀ(f₀ − y)| vs step: the network (filled markers), its linearization
    (open markers), the linear theory |1 − ηλᵢ/N|ᵗ (lines), and the round-off floor (grey band)."""
    fig = go.Figure()
    s = d["steps"]
    lin = d.get("lin_residual_proj")
    _round_off_band(fig, d, s)
    for j in range(d["residual_proj"].shape[1] if len(s) else 0):
        c = MODE_COLORS[j % len(MODE_COLORS)]
        fig.add_trace(go.Scatter(x=s, y=d["theory"][:, j], mode="lines", line=dict(color=c, width=2),
                                 name=f"theory mode {j + 1}", legendgroup=f"m{j}"))
        fig.add_trace(go.Scatter(x=s, y=d["residual_proj"][:, j], mode="markers",
                                 marker=dict(color=c, size=8), name=f"network mode {j + 1}",
                                 legendgroup=f"m{j}", showlegend=False))
        if lin is not None and len(lin):
            fig.add_trace(go.Scatter(x=s, y=lin[:, j], mode="markers", name=f"linearized mode {j + 1}",
                                     marker=dict(color=c, size=8, symbol="circle-open",
                                                 line=dict(width=2)),
                                     legendgroup=f"m{j}", showlegend=False))
    floor = d.get("round_off")
    lo = -6.0
    if floor is not None and np.any(np.isfinite(floor)):
        lo = min(lo, float(np.floor(np.log10(np.nanmin(floor)))) - 1.0)
    fig.update_xaxes(title_text="step t")
    fig.update_yaxes(type="log", title_text="residual on mode i / at t = 0", range=[max(lo, -17.0), 0.5])
    return layout(fig, "Spectral bias: mode i decays like (1 − ηλᵢ/N)ᵗ ≈ exp(−ηλᵢt/N)")


def spectrum_figure(d: dict) -> go.Figure:
    """`eigenvalue_figure` (top), `eigenvector_figure` and `mode_convergence_figure` (bottom) in
    one figure. Eigenvector i and mode i share a colour and a legend entry (click to toggle)."""
    ev, vec, modes = eigenvalue_figure(d), eigenvector_figure(d), mode_convergence_figure(d)
    fig = make_subplots(rows=2, cols=2, specs=[[{"colspan": 2}, None], [{}, {}]],
                        vertical_spacing=0.11, horizontal_spacing=0.15, row_heights=[0.4, 0.6],
                        subplot_titles=(ev.layout.title.text, "Top eigenvectors on the data",
                                        "Residuals: ● network, ○ linearized, — theory"))
    for t in ev.data:
        fig.add_trace(t, row=1, col=1)
    for t in vec.data:  # eigenvector i and mode i share legend group f"m{i}"
        fig.add_trace(t.update(legend="legend2"), row=2, col=1)
    for t in modes.data:
        fig.add_trace(t.update(showlegend=t.legendgroup == "roundoff", legend="legend2"), row=2, col=2)
    if not len(modes.data):
        fig.add_annotation(text="training diverged at once: nothing to plot", showarrow=False,
                           xref="x3 domain", yref="y3 domain", x=0.5, y=0.5)
    for (r, c), src in (((1, 1), ev), ((2, 1), vec), ((2, 2), modes)):
        fig.update_xaxes(title_text=src.layout.xaxis.title.text, row=r, col=c)
        fig.update_yaxes(title_text=src.layout.yaxis.title.text, type=src.layout.yaxis.type,
                         range=src.layout.yaxis.range, row=r, col=c)
    return layout(fig, f"Spectrum and spectral bias, width {d['width']}", height=1000,
                   legend=dict(y=1.0, yanchor="top"),
                   legend2=dict(y=0.58, yanchor="top", title=dict(text="mode i")))
