"""Home page figure (data: `ntk.analysis.views.home_data`)."""
from __future__ import annotations

import plotly.graph_objects as go

from .theme import CATEGORICAL, layout


def home_figure(d: dict) -> go.Figure:
    """Θ∞(x₀, x(γ)) / Θ∞(x₀, x₀) vs γ for each depth: deeper nets give sharper kernels."""
    fig = go.Figure()
    for i, (depth, cv) in enumerate(zip(d["depths"], d["curves"])):
        fig.add_trace(go.Scatter(x=d["gamma"], y=cv / cv[len(cv) // 2], mode="lines",
                                 name=f"depth {depth}",
                                 line=dict(width=2.5, color=CATEGORICAL[i % len(CATEGORICAL)])))
    fig.update_xaxes(title_text="angle γ between x₀ and x")
    fig.update_yaxes(title_text="Θ∞(x₀, x) / Θ∞(x₀, x₀)")
    return layout(fig, f"Infinite-width NTK on the unit circle ({d['activation']})", height=340)
