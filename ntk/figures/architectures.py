"""Architectures figures (data: `ntk.analysis.views.architectures_data`)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import CATEGORICAL, GUIDE_COLOR, layout

#: One colour per architecture, the same in every figure of the page.
ARCH_COLORS = {"mlp": CATEGORICAL[7], "cnn": CATEGORICAL[0], "cnn_pool": CATEGORICAL[1],
               "resnet": CATEGORICAL[2]}
SHORT = {"mlp": "MLP", "cnn": "CNN", "cnn_pool": "CNN + pool", "resnet": "ResNet"}


def _similarity(k):
    """(correlation K_ij / sqrt(K_ii K_jj), the same rescaled to [0, 1] per panel: lowest value
    -> 0, 99th percentile of the off-diagonal -> 1), so each architecture's structure uses the
    whole colour scale (pooled kernels are close to 1 everywhere)."""
    d = np.sqrt(np.clip(np.diag(k), 1e-300, None))
    c = k / np.outer(d, d)
    off = c[~np.eye(len(c), dtype=bool)]
    lo, hi = float(c.min()), float(np.percentile(off, 99)) if off.size else 1.0
    return c, np.clip((c - lo) / max(hi - lo, 1e-12), 0, 1)


def architecture_heatmaps(d: dict, kernel: str = "ntk") -> go.Figure:
    """The infinite-width kernel (`kernel` = "ntk" or "nngp") of each architecture on the
    training digits sorted by class, as correlations rescaled per panel (hover: the correlation)."""
    archs = d["architectures"]
    labels = np.asarray(d["labels"])
    fig = make_subplots(rows=1, cols=len(archs), horizontal_spacing=0.03,
                        subplot_titles=[SHORT[a] for a in archs])
    idx = np.arange(len(labels))
    edges = [int(i) for i in np.flatnonzero(np.diff(labels)) + 1]
    ticks = [(a + b - 1) / 2 for a, b in zip([0] + edges, edges + [len(labels)])]
    for j, a in enumerate(archs):
        corr, z = _similarity(np.asarray(d["per"][a][kernel]))
        fig.add_trace(go.Heatmap(z=z, x=idx, y=idx, customdata=corr, zmin=0, zmax=1,
                                 colorscale="Viridis", showscale=j == len(archs) - 1,
                                 colorbar=dict(thickness=10, tickvals=[0, 1], ticktext=["least", "most"],
                                               title=dict(text="similar<br>(per panel)")),
                                 hovertemplate="digits %{x}, %{y}: correlation %{customdata:.3f}"
                                               "<extra></extra>"),
                      row=1, col=j + 1)
    cls = [str(int(c)) for c in np.unique(labels)]
    fig.update_xaxes(tickvals=ticks, ticktext=cls)
    fig.update_yaxes(tickvals=ticks, ticktext=cls, autorange="reversed")
    fig.update_xaxes(title_text="digit class")
    fig.update_yaxes(title_text="training digits, by class", col=1)
    fig.update_yaxes(title_text="digit class")  # panels 2.. (col 1 keeps the longer title)
    fig.update_yaxes(title_text="training digits, by class", col=1)
    name = "NTK Θ∞" if kernel == "ntk" else "NNGP K∞"
    return layout(fig, f"Infinite-width {name} on the same digits (sorted by class)", height=360)


def architecture_spectra(d: dict, kernel: str = "ntk") -> go.Figure:
    """Eigenvalues of each architecture's kernel on the training digits, divided by their sum,
    against their rank (log-log)."""
    fig = go.Figure()
    for a in d["architectures"]:
        ev = np.asarray(d["per"][a][f"eig_{kernel}"], float)
        ev = ev / ev.sum()
        keep = ev > 1e-9
        fig.add_trace(go.Scatter(x=np.arange(1, len(ev) + 1)[keep], y=ev[keep], mode="lines+markers",
                                 name=SHORT[a], line=dict(color=ARCH_COLORS[a], width=2.5),
                                 marker=dict(size=4)))
    fig.update_xaxes(type="log", title_text="eigenvalue rank i")
    fig.update_yaxes(type="log", title_text="λᵢ / Σλ")
    name = "NTK" if kernel == "ntk" else "NNGP"
    return layout(fig, f"{name} eigenvalues (fraction of the trace)")


def architecture_accuracy(d: dict) -> go.Figure:
    """Test accuracy of kernel regression at t = ∞ (NTK and NNGP) per architecture."""
    archs = d["architectures"]
    fig = go.Figure()
    for g, pattern in (("ntk", ""), ("nngp", "/")):
        acc = [100 * d["per"][a][f"acc_{g}"] for a in archs]
        fig.add_trace(go.Bar(x=[SHORT[a] for a in archs], y=acc, name=g.upper(),
                             marker=dict(color=[ARCH_COLORS[a] for a in archs],
                                         pattern=dict(shape=pattern)),
                             text=[f"{v:.0f}" for v in acc], textposition="outside"))
    fig.add_hline(y=10, line=dict(color=GUIDE_COLOR, dash="dot"))
    fig.update_yaxes(range=[0, 112], title_text=f"% correct of {d['n_test']} test digits")
    fig.update_xaxes(title_text="solid: NTK, hatched: NNGP, dotted: chance")
    shift = int(d.get("max_shift", 0))
    where = "original digits" if shift == 0 else f"shift ≤ {shift} px"
    return layout(fig, f"Test accuracy at t = ∞ ({where})", barmode="group", showlegend=False)


def architecture_convergence(d: dict) -> go.Figure:
    """‖Θ_emp − Θ∞‖ / ‖Θ∞‖ against width (channels for convolutions), per architecture: seeds
    (dots), mean (line) and the fitted log-log slope in the legend; dashed: slope −1/2."""
    w = np.asarray(d["widths"], float)
    fig = go.Figure()
    for a in d["architectures"]:
        r = d["per"][a]
        col = ARCH_COLORS[a]
        errs = np.asarray(r["errors"])
        fig.add_trace(go.Scatter(x=np.repeat(w, errs.shape[1]), y=errs.ravel(), mode="markers",
                                 marker=dict(color=col, size=7, opacity=0.5), legendgroup=a,
                                 showlegend=False, name=f"{SHORT[a]} seeds"))
        fig.add_trace(go.Scatter(x=w, y=r["mean"], mode="lines+markers", legendgroup=a,
                                 line=dict(color=col, width=2.5),
                                 name=f"{SHORT[a]}: slope {r['slope']:.2f} "
                                      f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"))
    ref0 = float(np.exp(np.mean([np.log(d["per"][a]["mean"][0]) for a in d["architectures"]])))
    fig.add_trace(go.Scatter(x=w, y=ref0 * (w / w[0]) ** -0.5, mode="lines", name="slope −1/2",
                             line=dict(color=GUIDE_COLOR, dash="dash", width=2)))
    fig.update_xaxes(type="log", title_text="width (hidden units; channels for convolutions)")
    fig.update_yaxes(type="log", title_text="‖Θ_emp − Θ∞‖ / ‖Θ∞‖")
    return layout(fig, f"Empirical NTK → its limit ({d['n_conv']} digits, "
                       f"{len(d['seeds'])} seeds per width)")
