"""The one look of every figure (pages, presets, notebooks, HTML reports).

* `width_color(n)`: one colour per width, the same in every view: log2(n) on a plasma-like scale
  (dark blue → purple → magenta → orange; widths 8 … 16384). Lightness changes monotonically,
  so the scale also reads for colour-blind viewers and in greyscale, and it stops before the pale
  yellow end, so the widest width stays visible on white. One octave is ~7 % of the scale: the
  widths a page shows together (e.g. 32, 256, 2048) are clearly apart.
* `INFINITE_COLOR`: the infinite-width limit (near black, usually dashed). `FIT_COLOR` (fitted
  lines), `LIN_COLOR` (linearized model), `CLOSED_COLOR` (closed forms), `GUIDE_COLOR`
  (reference slopes) lie outside the width scale, so they are never mistaken for a width.
* `CATEGORICAL` / `MODE_COLORS`: colours of unordered series (metrics, test points, eigen-modes:
  mode i has colour MODE_COLORS[i] and legend group f"m{i}" in every spectrum view); the
  Okabe–Ito colour-blind-safe set.
* `LABELS`: the axis/legend text of each metric of `ntk.analysis.metrics`, plain Unicode (no
  LaTeX), so the same text reads in plotly, in Streamlit and in HTML reports.
* `layout(fig, title, ...)`: title, size, margins, template, and readable log axes: labels only at
  decades (1, 10, 100 or 10ⁿ), unlabelled minor ticks at 2…9 (`log_ticks`).
* `apply_theme(fig, presenter=True)`: large fonts and thick lines for lectures.
"""
from __future__ import annotations

import math
import re

import numpy as np
import plotly.graph_objects as go

INFINITE_COLOR = "#111111"
# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
# Okabe & Ito's black and yellow are left out (black is the limit; yellow is pale on white).
CATEGORICAL = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8c564b",
               "#7f7f7f"]
MODE_COLORS = CATEGORICAL
FIT_COLOR = "#009E73"  # fitted lines and thresholds (bluish green: not on the width scale)
GUIDE_COLOR = "#777777"  # reference slopes
LIN_COLOR = "#E69F00"  # the linearized model (orange, dotted)
CLOSED_COLOR = "#0072B2"  # closed-form predictions (blue, dash-dot)
BAND_COLOR = "rgba(0,0,0,0.10)"  # ± 2σ bands
# Plasma (matplotlib's perceptually uniform map) up to orange (the pale yellow end is cut, CIE
# L* ≤ 70), resampled at equal colour distance: one anchor per octave, widths 8, 16, ..., 16384,
# about ΔE 17 apart (CIE76) from each neighbour.
_WIDTH_SCALE = ["#0d0887", "#3e049c", "#6b01a7", "#8e10a1", "#a62196", "#b7318b", "#c5417e",
                "#d35170", "#dd6065", "#e77059", "#f0814e", "#f69342"]
_LOG2_MIN, _LOG2_MAX = 3.0, 14.0  # widths 8 .. 16384 span the colour scale

#: Labels of the metrics (see `ntk.analysis.metrics` for the definitions); T = end of training.
LABELS = {
    "kernel_error": "‖Θ₀ − Θ∞‖ / ‖Θ∞‖",
    "weight_change": "‖θ(T) − θ₀‖ / ‖θ₀‖",
    "kernel_change": "‖Θ(T) − Θ₀‖ / ‖Θ₀‖",
    "lin_gap": "RMS(f − fₗᵢₙ) / RMS(fₗᵢₙ)",
}
#: Short names of the same metrics (panel titles, metric cards).
SHORT_LABELS = {"kernel_error": "kernel error at init", "weight_change": "weight change",
                "kernel_change": "kernel change", "lin_gap": "linearization gap"}


def hex_to_rgb(h: str) -> tuple:
    h = h.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def rgba(hex_color: str, alpha: float) -> str:
    """'rgba(r,g,b,alpha)' of a '#rrggbb' colour (translucent bands)."""
    r, g, b = hex_to_rgb(hex_color)
    return f"rgba({r},{g},{b},{alpha})"


def width_color(width: float) -> str:
    """The colour of a width, the same on every page: log2(width) on the plasma-like scale.

    Widths 8 .. 16384 span the scale (narrow = dark blue, wide = orange); outside it clamps.
    """
    w = max(float(width), 1.0)
    t = (math.log2(w) - _LOG2_MIN) / (_LOG2_MAX - _LOG2_MIN)
    pos = min(max(t, 0.0), 1.0) * (len(_WIDTH_SCALE) - 1)
    i = min(int(pos), len(_WIDTH_SCALE) - 2)
    f = pos - i
    a, b = hex_to_rgb(_WIDTH_SCALE[i]), hex_to_rgb(_WIDTH_SCALE[i + 1])
    rgb = tuple(round(a[k] + f * (b[k] - a[k])) for k in range(3))
    return "#%02x%02x%02x" % rgb


def width_colors(widths) -> dict:
    """{width: width_color(width)} for a collection of widths."""
    return {w: width_color(w) for w in sorted(set(widths))}


# ------------------------------------------------------------------------------------------------
# Log axes: decade labels, unlabelled minor ticks
# ------------------------------------------------------------------------------------------------

_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def tick_text(v: float) -> str:
    """Readable text of a tick value: '0.01', '1', '1000', '10⁵', '2×10⁻⁵' (never a bare '2' for
    2000, never '^')."""
    if v <= 0 or not math.isfinite(v):
        return f"{v:g}"
    k = math.floor(math.log10(v) + 1e-9)
    m = v / 10.0**k
    if -3 <= k <= 4:
        return f"{v:.6g}"
    exp = str(k).translate(_SUP)
    return f"10{exp}" if abs(m - 1) < 1e-6 else f"{m:.2g}×10{exp}"


def log_ticks(lo: float, hi: float) -> dict:
    """Tick settings of a log axis whose data spans [lo, hi] (lo > 0): labels at decades 10ᵏ
    (every 2nd or 3rd decade over wide ranges) and unlabelled minor ticks at 2…9 × 10ᵏ. When the
    data spans less than two decade ticks, labelled ticks at 1, 2, 5 × 10ᵏ (or 1…9 × 10ᵏ), written
    out in full."""
    lo, hi = (lo, hi) if lo <= hi else (hi, lo)
    k0, k1 = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    decades = [10.0**k for k in range(k0, k1 + 1)]
    inside = [v for v in decades if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
    if len(inside) >= 2:
        stride = max(1, math.ceil((k1 - k0) / 8))
        major = [10.0**k for k in range(k0, k1 + 1) if k % stride == 0]
    else:
        major = []
        for mults in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 8)):
            major = [m * 10.0**k for k in range(k0 - 1, k1 + 1) for m in mults
                     if lo * (1 - 1e-9) <= m * 10.0**k <= hi * (1 + 1e-9)]
            if len(major) >= 3:
                break
        if len(major) < 2:  # less than a factor ~2: evenly spaced round numbers
            step = 10.0 ** math.floor(math.log10((hi - lo) / 2))
            step *= next(m for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * step) <= 5)
            major = list(np.arange(math.ceil(lo / step), math.floor(hi / step) + 1) * step)
        # A value just outside the data on each side, so the autorange margin is labelled too.
        below = [m * 10.0**k for k in range(k0 - 1, k1 + 1) for m in (1, 2, 5) if m * 10.0**k < lo]
        above = [m * 10.0**k for k in range(k0, k1 + 2) for m in (1, 2, 5) if m * 10.0**k > hi]
        major = sorted(set(([max(below)] if below else []) + major + ([min(above)] if above else [])))
    minor = [m * 10.0**k for k in range(k0 - 1, k1 + 1) for m in range(1, 10)]
    minor = [v for v in minor if not any(abs(v / u - 1) < 1e-9 for u in major)]
    return dict(tickmode="array", tickvals=major, ticktext=[tick_text(v) for v in major],
                minor=dict(tickmode="array", tickvals=minor, ticks="outside", ticklen=3,
                           showgrid=False))


def _values(v):
    if v is None:
        return np.zeros(0)
    if isinstance(v, dict) and "bdata" in v:  # plotly typed array (from JSON)
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(float)
    try:
        return np.asarray(v, dtype=float).ravel()
    except (TypeError, ValueError):
        return np.zeros(0)


def _axis_data(fig: go.Figure, axis: str) -> np.ndarray:
    """Positive finite values of the traces drawn on layout axis `axis` ('xaxis', 'yaxis3'...)."""
    letter, ident = axis[0], axis[0] + axis[5:]
    out = []
    for tr in fig.data:
        if getattr(tr, "type", "") not in ("scatter", "scattergl", "bar"):
            continue
        if (getattr(tr, letter + "axis", None) or letter) != ident:
            continue
        vals = _values(getattr(tr, letter))
        err = getattr(tr, f"error_{letter}", None)
        if err is not None and err.array is not None and len(vals):
            e = _values(err.array)
            if len(e) == len(vals):
                vals = np.concatenate([vals, vals + e, vals - e])
        out.append(vals)
    v = np.concatenate(out) if out else np.zeros(0)
    return v[np.isfinite(v) & (v > 0)]


def _log_axes(fig: go.Figure) -> list:
    names = [k for k in fig.layout.to_plotly_json() if re.fullmatch(r"[xy]axis\d*", k)]
    return [k for k in names if fig.layout[k].type == "log"]


def decade_ticks(fig: go.Figure) -> go.Figure:
    """Give every log axis of `fig` decade labels and unlabelled minor ticks (in place), from the
    data on it (or its explicit range). Axes that `match` another share its ticks."""
    axes = _log_axes(fig)
    groups: dict = {}
    for a in axes:
        m = fig.layout[a].matches
        root = (a[0] + "axis" + m[1:]) if m else a
        groups.setdefault(root, []).append(a)
    for members in groups.values():
        rng = next((fig.layout[a].range for a in members if fig.layout[a].range is not None), None)
        if rng is not None and None not in rng:
            lo, hi = 10.0 ** float(rng[0]), 10.0 ** float(rng[1])
        else:
            v = np.concatenate([_axis_data(fig, a) for a in members])
            if not len(v):
                continue
            lo, hi = float(v.min()), float(v.max())
        ticks = log_ticks(lo, hi)
        for a in members:
            fig.layout[a].update(**ticks)
    return fig


# ------------------------------------------------------------------------------------------------
# Layout and presenter mode
# ------------------------------------------------------------------------------------------------

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
            if tr.fill not in (None, "none") or (tr.line is not None and tr.line.width == 0):
                continue  # bands keep their invisible outline
            lw = tr.line.width if tr.line is not None and tr.line.width else 2
            tr.update(line_width=max(4, 2 * lw)) if "lines" in (tr.mode or "lines") else None
            if tr.mode and "markers" in tr.mode:
                ms = tr.marker.size if tr.marker is not None and tr.marker.size else 6
                tr.update(marker_size=max(12, 2 * ms))
    return fig


def layout(fig: go.Figure, title: str, height: int = 420, xtitle: str | None = None,
           ytitle: str | None = None, **kw) -> go.Figure:
    """Title (left), height, margins, vertical legend, the white template and decade ticks on log
    axes (`decade_ticks`), in place.

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
    return decade_ticks(fig)


__all__ = ["BAND_COLOR", "CATEGORICAL", "CLOSED_COLOR", "FIT_COLOR", "GUIDE_COLOR",
           "INFINITE_COLOR", "LABELS", "LIN_COLOR", "MODE_COLORS", "SHORT_LABELS", "apply_theme",
           "decade_ticks", "layout", "log_ticks", "presenter_template", "rgba", "tick_text",
           "width_color", "width_colors"]
