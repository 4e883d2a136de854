"""The one look of every figure (pages, presets, notebooks, HTML reports).

* `width_color(n)`: one colour per width, the same in every view: log2(n) on a viridis-like
  scale (widths 8 … 16384; narrow = dark purple, wide = green-yellow).
* `INFINITE_COLOR`: the infinite-width limit (near black, usually dashed).
* `CATEGORICAL` / `MODE_COLORS`: colours of unordered series (metrics, test points, eigen-modes:
  mode i has colour MODE_COLORS[i] and legend group f"m{i}" in every spectrum view).
* `LABELS`: the axis/legend text of each metric of `ntk.analysis.metrics`.
* `layout(fig, title, ...)`: title, size, margins and template of every figure.
* `apply_theme(fig, presenter=True)`: large fonts and thick lines for lectures.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

INFINITE_COLOR = "#111111"
CATEGORICAL = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]
MODE_COLORS = CATEGORICAL[:8]
FIT_COLOR = "#d62728"  # fitted lines and thresholds
GUIDE_COLOR = "#777"  # reference slopes
_WIDTH_SCALE = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]  # viridis anchors
_LOG2_MIN, _LOG2_MAX = 3.0, 14.0  # widths 8 .. 16384 span the colour scale

#: Labels of the metrics (see `ntk.analysis.metrics` for the definitions).
LABELS = {
    "kernel_error": "‖Θ₀ − Θ∞‖ / ‖Θ∞‖",
    "weight_change": "‖θ_T − θ₀‖ / ‖θ₀‖",
    "kernel_change": "‖Θ_T − Θ₀‖ / ‖Θ₀‖",
    "lin_gap": "RMS(f_T − f_T^lin) / RMS(f^lin)",
}


def hex_to_rgb(h: str) -> tuple:
    h = h.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def rgba(hex_color: str, alpha: float) -> str:
    """'rgba(r,g,b,alpha)' of a '#rrggbb' colour (translucent bands)."""
    r, g, b = hex_to_rgb(hex_color)
    return f"rgba({r},{g},{b},{alpha})"


def width_color(width: float) -> str:
    """The colour of a width, the same on every page: log2(width) on a viridis-like scale.

    Widths 8 .. 16384 span the scale (narrow = dark purple, wide = yellow-green); outside it clamps.
    """
    w = max(float(width), 1.0)
    t = (math.log2(w) - _LOG2_MIN) / (_LOG2_MAX - _LOG2_MIN)
    t = min(max(t, 0.0), 1.0) * 0.85  # stop before the pale yellow end (readable on white)
    pos = t * (len(_WIDTH_SCALE) - 1)
    i = min(int(pos), len(_WIDTH_SCALE) - 2)
    f = pos - i
    a, b = hex_to_rgb(_WIDTH_SCALE[i]), hex_to_rgb(_WIDTH_SCALE[i + 1])
    rgb = tuple(round(a[k] + f * (b[k] - a[k])) for k in range(3))
    return "#%02x%02x%02x" % rgb


def width_colors(widths) -> dict:
    """{width: width_color(width)} for a collection of widths."""
    return {w: width_color(w) for w in sorted(set(widths))}


def presenter_template() -> go.layout.Template:
    """Large fonts, thick lines and big markers for projectors (lecture mode)."""
    t = go.layout.Template()
    t.layout = go.Layout(font=dict(size=22), title=dict(font=dict(size=26)),
                         legend=dict(font=dict(size=20)), margin=dict(l=80, r=30, t=80, b=70),
                         hoverlabel=dict(font=dict(size=20)))
    t.data.scatter = [go.Scatter(line=dict(width=5), marker=dict(size=13))]
    return t


def apply_theme(fig: go.Figure, presenter: bool = False) -> go.Figure:
    """Apply the presenter template in place (and return fig); no-op for presenter=False."""
    if not presenter:
        return fig
    fig.update_layout(template=presenter_template())
    fig.update_xaxes(title_font=dict(size=22), tickfont=dict(size=18))
    fig.update_yaxes(title_font=dict(size=22), tickfont=dict(size=18))
    fig.update_annotations(font_size=22)
    for tr in fig.data:
        if getattr(tr, "type", "") == "scatter":
            lw = tr.line.width if tr.line is not None and tr.line.width else 2
            tr.update(line_width=max(4, 2 * lw)) if "lines" in (tr.mode or "lines") else None
            if tr.mode and "markers" in tr.mode:
                ms = tr.marker.size if tr.marker is not None and tr.marker.size else 6
                tr.update(marker_size=max(12, 2 * ms))
    return fig


def layout(fig: go.Figure, title: str, height: int = 420, xtitle: str | None = None,
           ytitle: str | None = None, **kw) -> go.Figure:
    """Title (left), height, margins, vertical legend and the white template, in place.

    `xtitle`/`ytitle` set the axis titles of a single-panel figure; other keywords go to
    `fig.update_layout` (a `legend` dict is merged into the default legend)."""
    kw.setdefault("margin", dict(l=60, r=20, t=60, b=50))
    kw["legend"] = dict(orientation="v", **kw.get("legend", {}))
    if xtitle is not None:
        kw["xaxis_title"] = xtitle
    if ytitle is not None:
        kw["yaxis_title"] = ytitle
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), height=height,
                      template="plotly_white", **kw)
    return fig


__all__ = ["CATEGORICAL", "FIT_COLOR", "GUIDE_COLOR", "INFINITE_COLOR", "LABELS", "MODE_COLORS",
           "apply_theme", "layout", "presenter_template", "rgba", "width_color", "width_colors"]
