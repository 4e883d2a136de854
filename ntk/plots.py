"""Figure factories (plotly) for the app and for Jupyter, in two steps per view.

Each view is a pure *data* function that calls the core and returns a dict of numpy arrays and
scalars (testable numbers, cacheable, exportable), and one or more *figure* functions that turn
that dict into a `plotly.graph_objects.Figure`:

    import ntk.plots as P
    d = P.kernel_data(width=512, activation="relu")      # numbers
    P.kernel_heatmaps(d).show()                            # figure
    P.circle_figure(d).show()

The Streamlit pages call exactly these functions (cached), so a figure in the app and the one
rebuilt in a notebook from the same configuration have the same data. No streamlit import here.

Conventions: one colour per width across all views (`width_color`), the infinite-width limit in
black, log-log axes where a scaling law is the point, `apply_theme(fig, presenter=True)` for large
fonts and thick lines in lectures.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

INFINITE_COLOR = "#111111"
# Eigen-mode i has colour MODE_COLORS[i] and legend group f"m{i}" in every spectrum view.
MODE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f"]
_WIDTH_SCALE = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]  # viridis anchors
_LOG2_MIN, _LOG2_MAX = 3.0, 14.0  # widths 8 .. 16384 span the colour scale


# ---------------------------------------------------------------------------------------------
# Colours and themes
# ---------------------------------------------------------------------------------------------

def _hex_to_rgb(h):
    h = h.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


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
    a, b = _hex_to_rgb(_WIDTH_SCALE[i]), _hex_to_rgb(_WIDTH_SCALE[i + 1])
    rgb = tuple(round(a[k] + f * (b[k] - a[k])) for k in range(3))
    return "#%02x%02x%02x" % rgb


def _rgba(hex_color, alpha):
    r, g, b = _hex_to_rgb(hex_color)
    return f"rgba({r},{g},{b},{alpha})"


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


def _layout(fig, title, height=420, **kw):
    kw.setdefault("margin", dict(l=60, r=20, t=60, b=50))
    kw["legend"] = dict(orientation="v", **kw.get("legend", {}))
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), height=height,
                      template="plotly_white", **kw)
    return fig


# ---------------------------------------------------------------------------------------------
# Core helpers used by the data functions
# ---------------------------------------------------------------------------------------------

def activation_spec(activation: str, alpha: float = 0.1):
    return ("leaky_relu", {"alpha": float(alpha)}) if activation == "leaky_relu" else activation


def make_net(width, depth=2, activation="relu", alpha=0.1, W_std=1.5, b_std=0.05,
             parameterization="ntk", out_dim=1):
    """`ntk.mlp([width] * depth, ...)`, interned: equal configurations return the same object.

    The core caches compiled training loops on `net.apply`, and bound methods compare by the
    identity of the object, so a fresh (equal) network would recompile; interning avoids that.
    """
    return _make_net(int(width), int(depth), str(activation), float(alpha), float(W_std),
                     float(b_std), str(parameterization), int(out_dim))


@functools.lru_cache(maxsize=256)
def _make_net(width, depth, activation, alpha, W_std, b_std, parameterization, out_dim):
    import ntk

    return ntk.mlp([int(width)] * int(depth), out_dim, activation_spec(activation, alpha),
                   W_std, b_std, parameterization)


def _infinite_net(depth, activation, alpha, W_std, b_std, parameterization, width, out_dim=1):
    # In NTK parameterization the limit does not depend on the width: use a canonical width so the
    # compiled kernel (static on the network) is shared by all widths.
    w = 1 if parameterization == "ntk" else width
    return make_net(w, depth, activation, alpha, W_std, b_std, parameterization, out_dim)


def make_inputs(dataset: str, n: int, seed: int = 0):
    """Inputs for kernel views, ordered so heatmaps show structure: (x, coordinate, label)."""
    import ntk

    n = int(n)
    if n <= 0:
        raise ValueError(f"Number of points must be positive, got {n}.")
    if dataset == "circle":
        g = np.linspace(-np.pi, np.pi, n, endpoint=False)
        return ntk.data.circle_points(g).astype(np.float32), g, "angle γ"
    if dataset == "sine":
        x = np.linspace(-np.pi, np.pi, n)
        return x[:, None].astype(np.float32), x, "x"
    if dataset == "moons":
        d = ntk.data.moons(n_train=n, n_test=1, seed=seed)
        order = np.lexsort((d.x_train[:, 0], d.y_train[:, 0]))
        return d.x_train[order], np.arange(n, dtype=float), "point (sorted by class, x₁)"
    raise ValueError(f"Unknown dataset {dataset!r}; choose 'circle', 'sine' or 'moons'.")


def _np(a):
    return None if a is None else np.asarray(a)


# ---------------------------------------------------------------------------------------------
# 1. Kernel explorer
# ---------------------------------------------------------------------------------------------

def kernel_data(width: int = 512, seed: int = 0, depth: int = 2, activation: str = "relu",
                alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.05,
                parameterization: str = "ntk", dataset: str = "circle", n: int = 32,
                circle_widths: Sequence[int] = (32, 256, 2048), circle_seeds: int = 4,
                n_gamma: int = 91, memory_budget: float = 1024**3,
                progress: Optional[Callable] = None) -> dict:
    """Infinite NNGP/NTK, empirical NTK at (width, seed), and Θ(x0, x(γ)) on the unit circle."""
    import jax
    import ntk

    x, coord, coord_label = make_inputs(dataset, n, seed)
    net = make_net(width, depth, activation, alpha, W_std, b_std, parameterization)
    inet = _infinite_net(depth, activation, alpha, W_std, b_std, parameterization, width)
    k = ntk.infinite_kernel(inet, x, memory_budget=memory_budget)
    params = net.init(jax.random.PRNGKey(int(seed)), x.shape[1], dtype=x.dtype)
    flops, mem = ntk.estimate_cost(net, params, len(x), len(x), "structured")
    th = ntk.empirical_ntk(net, params, x, memory_budget=memory_budget)
    nngp, ntk_inf, ntk_emp = _np(k.nngp), _np(k.ntk), _np(th)
    if not (np.all(np.isfinite(ntk_inf)) and np.all(np.isfinite(ntk_emp))):
        raise ValueError("The kernel contains NaN/inf; lower W_std or the depth.")
    # Jacot et al. (2018), Fig. 1: Theta(x0, x(gamma)), x0 = (1, 0), several widths and seeds.
    gamma = np.linspace(-np.pi, np.pi, int(n_gamma))
    xc = ntk.data.circle_points(gamma).astype(np.float32)
    x0 = xc[len(gamma) // 2: len(gamma) // 2 + 1]  # gamma = 0
    if dataset == "sine":  # 1-D inputs: no circle; use the same input grid
        xc, x0 = x, x[len(x) // 2: len(x) // 2 + 1]
        gamma = coord
    curve_inf = _np(ntk.infinite_kernel(
        _infinite_net(depth, activation, alpha, W_std, b_std, parameterization, circle_widths[0]),
        x0, xc, get="ntk").ntk)[0]
    cws = [int(w) for w in circle_widths]
    curves = np.zeros((len(cws), int(circle_seeds), len(gamma)), np.float64)
    curves_inf = np.zeros((len(cws), len(gamma)))
    total, done = len(cws) * int(circle_seeds), 0
    for i, w in enumerate(cws):
        cnet = make_net(w, depth, activation, alpha, W_std, b_std, parameterization)
        if parameterization == "standard":
            cinet = _infinite_net(depth, activation, alpha, W_std, b_std, parameterization, w)
            curves_inf[i] = _np(ntk.infinite_kernel(cinet, x0, xc, get="ntk").ntk)[0]
        else:
            curves_inf[i] = curve_inf
        for s in range(int(circle_seeds)):
            p = cnet.init(jax.random.PRNGKey(s), xc.shape[1], dtype=xc.dtype)
            curves[i, s] = _np(ntk.empirical_ntk(cnet, p, x0, xc, memory_budget=memory_budget))[0]
            done += 1
            if progress is not None:
                progress(done, total)
    rel = float(np.linalg.norm(ntk_emp - ntk_inf) / np.linalg.norm(ntk_inf))
    return dict(x=np.asarray(x), coord=np.asarray(coord, float), coord_label=coord_label,
                nngp_inf=nngp, ntk_inf=ntk_inf, ntk_emp=ntk_emp, diff=ntk_emp - ntk_inf,
                rel_error=rel, width=int(width), seed=int(seed), method="structured",
                flops=float(flops), memory=float(mem), num_params=int(net.num_params(x.shape[1])),
                gamma=np.asarray(gamma, float), circle_widths=np.asarray(cws),
                circle_curves=curves, circle_inf=curves_inf if parameterization == "standard"
                else curve_inf, parameterization=parameterization,
                circle_axis="angle γ" if dataset != "sine" else "x")


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
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.12, vertical_spacing=0.14,
                        subplot_titles=[names[k] for k in panels])
    lim = float(np.max(np.abs(d["diff"]))) or 1.0
    for i, key in enumerate(panels):
        r, col = divmod(i, cols)
        diff = key == "diff"
        h = _heat(d[key], c, "RdBu_r" if diff else "Viridis", 0.0 if diff else None)
        h.colorbar.update(x=0.44 if col == 0 else 1.0, len=0.42 if rows > 1 else 0.9,
                          y=(0.79 if r == 0 else 0.21) if rows > 1 else 0.5)
        if diff:
            h.update(zmin=-lim, zmax=lim)
        fig.add_trace(h, row=r + 1, col=col + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=d["coord_label"], row=rows)
    return _layout(fig, title, height=height)


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
            fig.add_trace(go.Scatter(x=g, y=cv, mode="lines", line=dict(color=col, width=1.2),
                                     opacity=0.55, legendgroup=f"w{w}", showlegend=s == 0,
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
    return _layout(fig, "NTK along the unit circle, x₀ = (1, 0)")


def home_data(depths: Sequence[int] = (1, 2, 3, 4), activation: str = "relu", W_std: float = 1.5,
              b_std: float = 0.05, n_gamma: int = 121, progress: Optional[Callable] = None) -> dict:
    """Infinite-width NTK Θ∞(x₀, x(γ)) on the unit circle, x₀ = (1, 0), for several depths."""
    import ntk

    gamma = np.linspace(-np.pi, np.pi, int(n_gamma))
    xc = ntk.data.circle_points(gamma).astype(np.float32)
    x0 = xc[len(gamma) // 2: len(gamma) // 2 + 1]
    curves = []
    for i, depth in enumerate(depths):
        inet = _infinite_net(int(depth), activation, 0.1, W_std, b_std, "ntk", 1)
        curves.append(_np(ntk.infinite_kernel(inet, x0, xc, get="ntk").ntk)[0])
        if progress is not None:
            progress(i + 1, len(depths))
    return dict(gamma=gamma, depths=np.asarray(depths), curves=np.asarray(curves),
                activation=activation)


def home_figure(d: dict) -> go.Figure:
    """Θ∞(x₀, x(γ)) / Θ∞(x₀, x₀) vs γ for each depth: deeper nets give sharper kernels."""
    fig = go.Figure()
    n = len(d["depths"])
    for i, (depth, cv) in enumerate(zip(d["depths"], d["curves"])):
        shade = int(40 + 160 * i / max(n - 1, 1))
        fig.add_trace(go.Scatter(x=d["gamma"], y=cv / cv[len(cv) // 2], mode="lines",
                                 name=f"depth {depth}",
                                 line=dict(width=2.5, color=f"rgb({shade},{80 + shade // 3},{230 - shade})")))
    fig.update_xaxes(title_text="angle γ between x₀ and x")
    fig.update_yaxes(title_text="Θ∞(x₀, x) / Θ∞(x₀, x₀)")
    return _layout(fig, f"Infinite-width NTK on the unit circle ({d['activation']})", height=340)


# ---------------------------------------------------------------------------------------------
# 2. Width convergence
# ---------------------------------------------------------------------------------------------

def log_widths(w_min: int, w_max: int, count: int) -> list:
    """`count` log-spaced integer widths from w_min to w_max (duplicates removed)."""
    w_min, w_max, count = int(w_min), int(w_max), int(count)
    if w_min < 1:
        raise ValueError(f"The smallest width must be at least 1, got {w_min}.")
    if w_max < w_min:
        raise ValueError(f"The largest width ({w_max}) is below the smallest ({w_min}).")
    if count < 2:
        raise ValueError("Use at least 2 widths to fit a slope.")
    return sorted({int(round(v)) for v in np.geomspace(w_min, w_max, count)})


def convergence_data(w_min: int = 32, w_max: int = 2048, n_widths: int = 7, n_seeds: int = 4,
                     depth: int = 2, activation: str = "relu", alpha: float = 0.1,
                     W_std: float = 1.5, b_std: float = 0.05, dataset: str = "circle",
                     n: int = 16, progress: Optional[Callable] = None) -> dict:
    """Relative error ‖Θ_emp − Θ∞‖_F/‖Θ∞‖_F over log-spaced widths × seeds, with a log-log fit."""
    import ntk

    widths = log_widths(w_min, w_max, n_widths)
    x, _, _ = make_inputs(dataset, n)
    sw = ntk.width_sweep(widths, seeds=range(int(n_seeds)), x_train=x, depth=int(depth),
                         activation=activation_spec(activation, alpha), W_std=W_std, b_std=b_std,
                         metrics=("kernel_error",), progress=progress)
    t = sw.table()
    err = np.asarray(t["kernel_error"], float).reshape(len(widths), int(n_seeds))
    fit = sw.fits["kernel_error"]
    return dict(widths=np.asarray(widths), seeds=np.arange(int(n_seeds)), errors=err,
                mean=err.mean(1), std=err.std(1), slope=fit["slope"],
                intercept=fit["intercept"], ci_low=fit["ci_low"], ci_high=fit["ci_high"],
                r2=fit["r2"])


def _loglog_fit_traces(fig, widths, intercept, slope, label, color="#d62728", row=None, col=None):
    ws = np.geomspace(min(widths), max(widths), 50)
    kw = dict(row=row, col=col) if row else {}
    fig.add_trace(go.Scatter(x=ws, y=np.exp(intercept) * ws**slope, mode="lines", name=label,
                             line=dict(color=color, width=2)), **kw)


def convergence_figure(d: dict) -> go.Figure:
    """Log-log error vs width: seeds (dots), mean ± std, fitted slope and the n^-1/2 reference."""
    w = d["widths"]
    fig = go.Figure()
    for i, wi in enumerate(w):
        fig.add_trace(go.Scatter(x=[wi] * d["errors"].shape[1], y=d["errors"][i], mode="markers",
                                 marker=dict(color=width_color(wi), size=7, opacity=0.6),
                                 name="seeds", legendgroup="seeds", showlegend=i == 0))
    fig.add_trace(go.Scatter(x=w, y=d["mean"], mode="lines+markers", name="mean ± std over seeds",
                             line=dict(color="#444", width=2),
                             error_y=dict(type="data", array=d["std"], visible=True)))
    _loglog_fit_traces(fig, w, d["intercept"], d["slope"], f"fit: slope {d['slope']:.3f}")
    ref = d["mean"][0] * (w / w[0]) ** -0.5
    fig.add_trace(go.Scatter(x=w, y=ref, mode="lines", name="reference n^(−1/2)",
                             line=dict(color=INFINITE_COLOR, dash="dash", width=2)))
    fig.update_xaxes(type="log", title_text="width n")
    fig.update_yaxes(type="log", title_text="‖Θ_emp − Θ∞‖ / ‖Θ∞‖")
    return _layout(fig, "Empirical NTK → infinite-width NTK")


# ---------------------------------------------------------------------------------------------
# 3. Training dynamics
# ---------------------------------------------------------------------------------------------

def training_dataset(dataset: str, n_train: int, seed: int = 0, noise: float = 0.05,
                     grid: int = 30):
    """(x_train, y_train, x_test, y_test, kind) for the training page: sine (1-D) or 2-D sets."""
    import ntk

    if dataset == "sine":
        d = ntk.data.sine_1d(n_train=n_train, n_test=120, noise=noise, seed=seed)
        return d.x_train, d.y_train, d.x_test, d.y_test, "1d"
    if dataset == "circle":
        d = ntk.data.unit_circle(n_train=n_train, n_test=120, noise=noise, seed=seed)
        return d.x_train, d.y_train, d.x_test, d.y_test, "circle"
    if dataset in ("moons", "spirals"):
        d = ntk.data.load(dataset, n_train=n_train, n_test=1, seed=seed)
        lin = np.linspace(-1.6, 1.6, grid, dtype=np.float32)
        gx, gy = np.meshgrid(lin, lin)
        xt = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
        return d.x_train, d.y_train, xt, None, "2d"
    raise ValueError(f"Unknown dataset {dataset!r}; choose 'sine', 'circle', 'moons' or 'spirals'.")


def training_data(widths: Sequence[int] = (32, 512), depth: int = 2, activation: str = "erf",
                  alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.1,
                  parameterization: str = "ntk", dataset: str = "sine", n_train: int = 8,
                  noise: float = 0.05, optimizer_name: str = "sgd", lr_fraction: float = 0.5,
                  steps: int = 300, n_frames: int = 21, seed: int = 0,
                  progress: Optional[Callable] = None) -> dict:
    """Train the network and its linearization for each width; closed forms with Θ_emp and Θ∞.

    The learning rate is `lr_fraction` × η_max = 2N/λ_max(Θ∞) (the same for all widths; for Adam
    it is `lr_fraction` × 0.01). Returns per-width trajectories on `n_frames` recorded steps.
    """
    import jax
    import ntk

    widths = [int(w) for w in widths]
    if not widths:
        raise ValueError("Pick at least one width.")
    for w in widths:
        if w < 1:
            raise ValueError(f"Widths must be positive integers, got {w}.")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    xtr, ytr, xte, yte, kind = training_dataset(dataset, int(n_train), int(seed), noise)
    inet = _infinite_net(depth, activation, alpha, W_std, b_std, parameterization, widths[0])
    # One kernel call on [train; test] (one compiled program), then blocks.
    n = xtr.shape[0]
    x_all = np.concatenate([np.asarray(xtr), np.asarray(xte)])
    k_all = ntk.infinite_kernel(inet, x_all)
    nngp, ntk_all = np.asarray(k_all.nngp), np.asarray(k_all.ntk)
    k_tr = ntk.Kernel(nngp=nngp[:n, :n], ntk=ntk_all[:n, :n])
    k_te = ntk.Kernel(nngp=nngp[n:, :n], ntk=ntk_all[n:, :n])
    k_tt = nngp[n:, n:]
    lr_max = ntk.max_learning_rate(k_tr.ntk, ytr.size)
    if not np.isfinite(lr_max):
        raise ValueError("The NTK on the training set is not finite; lower W_std or the depth.")
    lr = float(lr_fraction) * (lr_max if optimizer_name != "adam" else 0.01)
    rsteps = np.unique(np.round(np.linspace(0, steps, int(n_frames))).astype(int))
    # Infinite width, ensemble over initializations (gradient flow at the same time steps).
    t = rsteps.astype(np.float64)
    mean, cov = ntk.ensemble_mse(k_tr.nngp, k_tr.ntk, ytr, k_te.nngp, k_te.ntk, k_tt, t=t,
                                 learning_rate=lr)
    mean = np.asarray(mean)[..., 0]
    std = np.sqrt(np.clip(np.diagonal(np.asarray(cov), axis1=1, axis2=2), 0, None))
    out = dict(kind=kind, x_train=np.asarray(xtr), y_train=np.asarray(ytr), x_test=np.asarray(xte),
               y_test=None if yte is None else np.asarray(yte), steps=rsteps, learning_rate=lr,
               lr_max=float(lr_max), optimizer=optimizer_name, widths=np.asarray(widths),
               inf_mean=mean, inf_std=std, runs={})
    for i, w in enumerate(widths):
        net = make_net(w, depth, activation, alpha, W_std, b_std, parameterization)
        params = net.init(jax.random.PRNGKey(int(seed)), xtr.shape[1], dtype=xtr.dtype)

        def prog(done, total, i=i):
            if progress is not None:
                progress(i * steps + done, len(widths) * steps)

        res = ntk.train(net, params, xtr, ytr, xte, yte, optimizer=optimizer_name,
                        learning_rate=lr, steps=steps,
                        record_steps=rsteps, check_stability=False, progress=prog)
        run = dict(diverged=bool(res.diverged), message=res.message, steps=res.steps,
                   loss_train=res.loss_train, loss_test=res.loss_test,
                   lin_loss_train=res.lin_loss_train, lin_loss_test=res.lin_loss_test,
                   f_test=res.f_test[..., 0], lin_f_test=res.lin_f_test[..., 0])
        th_all = np.asarray(ntk.empirical_ntk(net, params, x_all))
        th_tr, th_te = th_all[:n, :n], th_all[n:, :n]
        emp_lr_max = ntk.max_learning_rate(th_tr, ytr.size)
        run["lr_max_emp"] = float(emp_lr_max)
        if not res.diverged:
            f0_all = np.asarray(net.apply(params, x_all))
            f0_tr, f0_te = f0_all[:n], f0_all[n:]
            pred = ntk.gradient_descent_mse(th_tr, ytr, learning_rate=lr,
                                            discrete=optimizer_name == "sgd")
            _, fte = pred(t=t, fx_train_0=f0_tr, fx_test_0=f0_te, k_test_train=th_te)
            run["closed_f_test"] = np.asarray(fte)[..., 0]
            f, fl = run["f_test"], run["lin_f_test"]
            run["gap"] = np.sqrt(np.mean((f - fl) ** 2, axis=1)) / max(
                float(np.sqrt(np.mean(fl[-1] ** 2))), 1e-12)
        out["runs"][w] = run
        if not res.diverged and progress is not None:
            progress((i + 1) * steps, len(widths) * steps)
    return out


def _x1d(d):
    if d["kind"] == "circle":
        return np.arctan2(d["x_test"][:, 1], d["x_test"][:, 0]), np.arctan2(
            d["x_train"][:, 1], d["x_train"][:, 0]), "angle γ"
    return d["x_test"][:, 0], d["x_train"][:, 0], "x"


def _frame_traces_1d(d, width, k):
    xt, _, _ = _x1d(d)
    order = np.argsort(xt)
    xs = xt[order]
    run = d["runs"][width]
    col = width_color(width)
    m, s = d["inf_mean"][k][order], d["inf_std"][k][order]
    tr = [go.Scatter(x=np.concatenate([xs, xs[::-1]]), y=np.concatenate([m + 2 * s, (m - 2 * s)[::-1]]),
                     fill="toself", fillcolor="rgba(0,0,0,0.10)", line=dict(width=0),
                     name="∞-width ensemble ± 2σ", hoverinfo="skip"),
          go.Scatter(x=xs, y=m, mode="lines", name="∞-width mean (closed form)",
                     line=dict(color=INFINITE_COLOR, dash="dash", width=2)),
          go.Scatter(x=xs, y=run["f_test"][k][order], mode="lines", name=f"network, width {width}",
                     line=dict(color=col, width=3)),
          go.Scatter(x=xs, y=run["lin_f_test"][k][order], mode="lines",
                     name=f"linearized, width {width}", line=dict(color="#ff7f0e", width=2, dash="dot"))]
    if "closed_f_test" in run:
        tr.append(go.Scatter(x=xs, y=run["closed_f_test"][k][order], mode="lines",
                             name="closed form with Θ_emp", line=dict(color="#d62728", width=1.5,
                                                                      dash="dashdot")))
    return tr


def _frame_traces_2d(d, width, k):
    run = d["runs"][width]
    g = int(round(np.sqrt(len(d["x_test"]))))
    ax = d["x_test"][:g, 0]
    out = []
    for j, (z, name) in enumerate(((run["f_test"][k], "network"), (run["lin_f_test"][k], "linearized"),
                                   (d["inf_mean"][k], "∞-width mean"))):
        out.append(go.Heatmap(x=ax, y=ax, z=z.reshape(g, g), zmin=-1.5, zmax=1.5, zmid=0,
                              colorscale="RdBu_r", showscale=j == 2, name=name,
                              colorbar=dict(thickness=10)))
    return out


def training_animation(d: dict, width: Optional[int] = None, frame: Optional[int] = None,
                       step_buttons: bool = False) -> go.Figure:
    """Predictions over training for one width: network, linearization, closed forms (Plotly frames).

    1-D data: curves on the test grid with the ∞-width ensemble mean ± 2σ band. 2-D data: network,
    linearized and ∞-width mean as heatmaps. `frame` shows a single step (no animation);
    `step_buttons` adds previous/next-frame style buttons (lecture mode).
    """
    width = int(d["widths"][0] if width is None else width)
    run = d["runs"][width]
    nrec = len(run["steps"])
    steps = run["steps"]
    twod = d["kind"] == "2d"
    make = _frame_traces_2d if twod else _frame_traces_1d
    k0 = nrec - 1 if frame is None else int(min(max(frame, 0), nrec - 1))
    if twod:
        fig = make_subplots(rows=1, cols=3, subplot_titles=("network", "linearized", "∞-width mean"),
                            horizontal_spacing=0.04)
        for j, tr in enumerate(make(d, width, k0)):
            fig.add_trace(tr, row=1, col=j + 1)
        for j in range(3):
            pos = d["y_train"][:, 0] > 0
            for sel, sym in ((pos, "circle"), (~pos, "x")):
                fig.add_trace(go.Scatter(x=d["x_train"][sel, 0], y=d["x_train"][sel, 1], mode="markers",
                                         marker=dict(color="black", symbol=sym, size=6),
                                         showlegend=False, name="train"), row=1, col=j + 1)
        fig.update_yaxes(scaleanchor="x", row=1, col=1)
    else:
        fig = go.Figure(make(d, width, k0))
        xt, xtr, xl = _x1d(d)
        fig.add_trace(go.Scatter(x=xtr, y=d["y_train"][:, 0], mode="markers", name="training data",
                                 marker=dict(color="black", size=9, symbol="circle-open",
                                             line=dict(width=2))))
        if d["y_test"] is not None:
            fig.add_trace(go.Scatter(x=np.sort(xt), y=d["y_test"][np.argsort(xt), 0], mode="lines",
                                     name="target", line=dict(color="#999", width=1)))
        fig.update_xaxes(title_text=xl)
        fig.update_yaxes(title_text="f(x)", range=_yrange(d, width))
    ttl = f"Width {width}: step {steps[k0]} of {steps[-1]}"
    if frame is None and nrec > 1:
        ntr = len(make(d, width, 0))
        frames = [go.Frame(data=make(d, width, k), traces=list(range(ntr)), name=str(steps[k]),
                           layout=go.Layout(title_text=f"Width {width}: step {steps[k]} of {steps[-1]}"))
                  for k in range(nrec)]
        fig.frames = frames
        slider = dict(active=nrec - 1, currentvalue=dict(prefix="step "), pad=dict(t=40),
                      steps=[dict(label=str(s), method="animate",
                                  args=[[str(s)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                       transition=dict(duration=0))]) for s in steps])
        anim = dict(frame=dict(duration=120, redraw=True), transition=dict(duration=0),
                    fromcurrent=True, mode="immediate")
        buttons = [dict(label="▶ play", method="animate", args=[None, anim]),
                   dict(label="❚❚ pause", method="animate",
                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                           transition=dict(duration=0))])]
        if step_buttons:
            buttons = ([dict(label="⏮ first", method="animate",
                             args=[[str(steps[0])], dict(mode="immediate", frame=dict(duration=0, redraw=True))])]
                       + buttons
                       + [dict(label="last ⏭", method="animate",
                               args=[[str(steps[-1])], dict(mode="immediate", frame=dict(duration=0, redraw=True))])])
        fig.update_layout(sliders=[slider], updatemenus=[dict(
            type="buttons", direction="left", showactive=False, x=0.0, y=-0.12, xanchor="left",
            yanchor="top", pad=dict(t=40, r=10), buttons=buttons)])
    return _layout(fig, ttl, height=520 if not twod else 470,
                   margin=dict(l=60, r=20, t=60, b=120 if frame is None else 50))


def _yrange(d, width):
    run = d["runs"][width]
    vals = [d["y_train"][:, 0], run["f_test"].ravel(), run["lin_f_test"].ravel(),
            (d["inf_mean"] + 2 * d["inf_std"]).ravel(), (d["inf_mean"] - 2 * d["inf_std"]).ravel()]
    v = np.concatenate([np.asarray(a).ravel() for a in vals])
    v = v[np.isfinite(v)]
    lo, hi = float(np.percentile(v, 1)), float(np.percentile(v, 99))
    pad = 0.1 * (hi - lo + 1e-6)
    return [max(lo - pad, -4.0), min(hi + pad, 4.0)]


def final_predictions_figure(d: dict) -> go.Figure:
    """1-D: final network predictions of every width (colour per width) and the ∞-width mean."""
    if d["kind"] == "2d":
        fig = make_subplots(rows=1, cols=len(d["widths"]),
                            subplot_titles=[f"width {w}" for w in d["widths"]], horizontal_spacing=0.04)
        g = int(round(np.sqrt(len(d["x_test"]))))
        ax = d["x_test"][:g, 0]
        for j, w in enumerate(d["widths"]):
            fig.add_trace(go.Heatmap(x=ax, y=ax, z=d["runs"][int(w)]["f_test"][-1].reshape(g, g),
                                     zmin=-1.5, zmax=1.5, colorscale="RdBu_r",
                                     showscale=j == len(d["widths"]) - 1), row=1, col=j + 1)
        return _layout(fig, "Final network output per width", height=360)
    xt, xtr, xl = _x1d(d)
    o = np.argsort(xt)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xt[o], y=d["inf_mean"][-1][o], mode="lines", name="∞-width mean",
                             line=dict(color=INFINITE_COLOR, dash="dash", width=3)))
    for w in d["widths"]:
        run = d["runs"][int(w)]
        if run["diverged"]:
            continue
        fig.add_trace(go.Scatter(x=xt[o], y=run["f_test"][-1][o], mode="lines", name=f"width {w}",
                                 line=dict(color=width_color(w), width=2.5)))
    fig.add_trace(go.Scatter(x=xtr, y=d["y_train"][:, 0], mode="markers", name="training data",
                             marker=dict(color="black", size=8)))
    fig.update_xaxes(title_text=xl)
    fig.update_yaxes(title_text="f(x) after training")
    return _layout(fig, f"After {d['steps'][-1]} steps: one network per width")


def loss_figure(d: dict) -> go.Figure:
    """Train (solid) and test (dotted) loss vs step, network per width and its linearization."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("network", "linearized"),
                        shared_yaxes=True, horizontal_spacing=0.05)
    for w in d["widths"]:
        run = d["runs"][int(w)]
        col = width_color(w)
        s = np.maximum(run["steps"], 1)
        for c, (tr, te) in enumerate(((run["loss_train"], run["loss_test"]),
                                      (run["lin_loss_train"], run["lin_loss_test"]))):
            fig.add_trace(go.Scatter(x=s, y=tr, mode="lines", line=dict(color=col, width=2.5),
                                     name=f"width {w} train", legendgroup=f"w{w}",
                                     showlegend=c == 0), row=1, col=c + 1)
            if te is not None:
                fig.add_trace(go.Scatter(x=s, y=te, mode="lines", line=dict(color=col, dash="dot"),
                                         name=f"width {w} test", legendgroup=f"w{w}t",
                                         showlegend=c == 0), row=1, col=c + 1)
    fig.update_yaxes(type="log", title_text="MSE loss", col=1)
    fig.update_yaxes(type="log")
    fig.update_xaxes(type="log", title_text="step")
    return _layout(fig, "Loss curves (solid: train, dotted: test)")


def gap_figure(d: dict) -> go.Figure:
    """RMS(f_t − f_t^lin) on the test points over time, one line per width (log-log)."""
    fig = go.Figure()
    for w in d["widths"]:
        run = d["runs"][int(w)]
        if "gap" not in run:
            continue
        s = run["steps"][1:]
        fig.add_trace(go.Scatter(x=s, y=run["gap"][1:], mode="lines+markers", name=f"width {w}",
                                 line=dict(color=width_color(w), width=2.5), marker=dict(size=5)))
    fig.update_xaxes(type="log", title_text="step")
    fig.update_yaxes(type="log", title_text="RMS(f − f_lin) / RMS(f_lin)")
    return _layout(fig, "Network vs linearization: the gap shrinks with width")


# ---------------------------------------------------------------------------------------------
# 4. Lazy regime
# ---------------------------------------------------------------------------------------------

def lazy_data(w_min: int = 32, w_max: int = 1024, n_widths: int = 4, n_seeds: int = 2,
              depth: int = 2, activation: str = "relu", alpha: float = 0.1, W_std: float = 1.5,
              b_std: float = 0.05, n_train: int = 8, steps: int = 100, lr_fraction: float = 0.5,
              narrow: int = 32, wide: int = 1024, progress: Optional[Callable] = None) -> dict:
    """Relative weight/kernel change after training and the lin-gap vs width, plus kernel drift.

    Data: `n_train` points on the unit circle with target sin(2γ). Learning rate
    `lr_fraction` × 2N/λ_max(Θ∞), the same for all widths.
    """
    import jax
    import ntk

    widths = log_widths(w_min, w_max, n_widths)
    ds = ntk.data.unit_circle(n_train=int(n_train), n_test=64, seed=0)
    act = activation_spec(activation, alpha)
    inet = _infinite_net(depth, activation, alpha, W_std, b_std, "ntk", widths[0])
    lr_max = ntk.max_learning_rate(ntk.infinite_kernel(inet, ds.x_train, get="ntk").ntk,
                                   ds.y_train.size)
    lr = float(lr_fraction) * lr_max
    n_sweep = len(widths) * int(n_seeds)
    total = n_sweep + 2

    def prog(done, tot):
        if progress is not None:
            progress(done, total)

    metrics = ("weight_change", "kernel_change", "lin_gap")
    sw = ntk.width_sweep(widths, seeds=range(int(n_seeds)), x_train=ds.x_train, y_train=ds.y_train,
                         x_test=ds.x_test, depth=int(depth), activation=act, W_std=W_std,
                         b_std=b_std, metrics=metrics, learning_rate=lr, steps=int(steps),
                         optimizer="sgd", progress=prog)
    t = sw.table()
    out = dict(widths=np.asarray(widths), n_seeds=int(n_seeds), learning_rate=lr,
               lr_max=float(lr_max), steps=int(steps), fits={})
    for m in metrics:
        out[m] = np.asarray(t[m], float).reshape(len(widths), int(n_seeds))
        out["fits"][m] = {k: float(v) for k, v in sw.fits[m].items()}
    rsteps = np.unique(np.round(np.geomspace(1, int(steps), 15)).astype(int))
    drift = {}
    for j, w in enumerate((int(narrow), int(wide))):
        net = make_net(w, depth, activation, alpha, W_std, b_std, "ntk")
        p = net.init(jax.random.PRNGKey(0), 2, dtype=ds.x_train.dtype)
        # Same arguments as the sweep's runs (x_test included), so the compiled programs are shared.
        res = ntk.train(net, p, ds.x_train, ds.y_train, ds.x_test, optimizer="sgd",
                        learning_rate=lr, steps=int(steps), record_steps=rsteps, track_kernel=True,
                        check_stability=False)
        drift[w] = dict(steps=res.steps, kernel_change=res.kernel_change,
                        weight_change=res.weight_change, diverged=bool(res.diverged))
        if progress is not None:
            progress(n_sweep + j + 1, total)
    out["drift"] = drift
    out["diverged"] = bool(np.any(t.get("diverged", np.zeros(1, bool))))
    return out


LAZY_LABELS = {"weight_change": "‖θ_T − θ₀‖ / ‖θ₀‖", "kernel_change": "‖Θ_T − Θ₀‖ / ‖Θ₀‖",
               "lin_gap": "RMS(f_T − f_T^lin) / RMS(f^lin)"}


def lazy_scaling_figure(d: dict) -> go.Figure:
    """Three log-log panels (weight change, kernel change, lin gap) vs width with fitted slopes."""
    ms = ("weight_change", "kernel_change", "lin_gap")
    titles = [f"{LAZY_LABELS[m]}<br>slope {d['fits'][m]['slope']:.2f} "
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
    return _layout(fig, f"After {d['steps']} steps of GD (η = {d['learning_rate']:.3g})",
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
    return _layout(fig, "Kernel drift during training")


# ---------------------------------------------------------------------------------------------
# 5. Spectrum
# ---------------------------------------------------------------------------------------------

def spectrum_data(width: int = 512, seed: int = 0, depth: int = 2, activation: str = "relu",
                  alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.05,
                  n_train: int = 32, lr_fraction: float = 0.5, steps: int = 300,
                  n_modes: int = 6, progress: Optional[Callable] = None) -> dict:
    """Eigen-decomposition of Θ on `n_train` equally spaced points of the unit circle and
    mode-wise convergence of the residual under GD with η = lr_fraction × 2N/λ_max(Θ_emp).

    Target: y = sin(γ) + 0.5 sin(4γ) + 0.25 sin(8γ) (several frequencies = several modes).
    """
    import jax
    import ntk

    n = int(n_train)
    if n < 2:
        raise ValueError("Use at least 2 training points.")
    g = np.linspace(-np.pi, np.pi, n, endpoint=False)
    x = ntk.data.circle_points(g).astype(np.float32)
    y = (np.sin(g) + 0.5 * np.sin(4 * g) + 0.25 * np.sin(8 * g))[:, None].astype(np.float32)
    net = make_net(width, depth, activation, alpha, W_std, b_std, "ntk")
    inet = _infinite_net(depth, activation, alpha, W_std, b_std, "ntk", width)
    th_inf = np.asarray(ntk.infinite_kernel(inet, x, get="ntk").ntk, np.float64)
    params = net.init(jax.random.PRNGKey(int(seed)), 2, dtype=x.dtype)
    th = np.asarray(ntk.empirical_ntk(net, params, x), np.float64)
    ev, U = np.linalg.eigh(th)
    ev, U = ev[::-1], U[:, ::-1]
    ev_inf = np.linalg.eigvalsh(th_inf)[::-1]
    lr_max = ntk.max_learning_rate(th, y.size)
    lr = float(lr_fraction) * lr_max
    rsteps = np.unique(np.round(np.linspace(0, int(steps), 16)).astype(int))
    res = ntk.train(net, params, x, y, optimizer="sgd", learning_rate=lr, steps=int(steps),
                    record_steps=rsteps, check_stability=False, linearized=True,
                    progress=progress)
    k = int(min(n_modes, n))
    out = dict(gamma=g, x=x, y=y[:, 0], eigvals=ev, eigvals_inf=ev_inf, eigvecs=U[:, :k],
               lr_max=float(lr_max), learning_rate=lr, lr_fraction=float(lr_fraction),
               lambda_crit=2 * y.size / lr, N=int(y.size), width=int(width),
               diverged=bool(res.diverged), message=res.message, steps=res.steps)
    if lr > lr_max:
        out["message"] = (
            f"η = {lr:.4g} is {lr / lr_max:.2f} × the stable limit 2N/λ_max = {lr_max:.4g}: "
            f"{int(np.sum(ev > 2 * y.size / lr))} eigen-mode(s) with λ > 2N/η = {2 * y.size / lr:.4g} "
            "grow by a factor |1 − ηλ/N| > 1 every step. " + (res.message or ""))
    r = res.f_train[..., 0] - y[None, :, 0] if len(res.steps) else np.zeros((0, n))
    proj = r @ U  # (t, n) residual on each eigenvector
    p0 = np.where(np.abs(proj[:1]) > 1e-12, proj[:1], np.nan) if len(proj) else np.ones((1, n))
    out["residual_proj"] = np.abs(proj[:, :k] / p0[:, :k]) if len(proj) else np.zeros((0, k))
    ts = res.steps.astype(float)
    out["theory"] = np.abs(1.0 - lr * ev[None, :k] / y.size) ** ts[:, None]
    out["theory_flow"] = np.exp(-lr * ev[None, :k] * ts[:, None] / y.size)
    return out


def eigenvalue_figure(d: dict) -> go.Figure:
    """Eigenvalues of Θ_emp and Θ∞ (log scale) with the stability threshold λ = 2N/η marked."""
    i = np.arange(1, len(d["eigvals"]) + 1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=i, y=np.maximum(d["eigvals_inf"], 1e-12), mode="lines",
                             name="Θ∞", line=dict(color=INFINITE_COLOR, dash="dash")))
    fig.add_trace(go.Scatter(x=i, y=np.maximum(d["eigvals"], 1e-12), mode="markers",
                             name=f"Θ_emp, width {d['width']}",
                             marker=dict(color=width_color(d["width"]), size=9)))
    # The threshold is a trace, not a shape: plotly's autorange mis-reads shapes on log axes.
    lc = float(d["lambda_crit"])
    fig.add_trace(go.Scatter(x=[0.5, len(i) + 0.5], y=[lc, lc], mode="lines",
                             name=f"2N/η = {lc:.3g} (modes above diverge)",
                             line=dict(color="#d62728", dash="dot", width=2)))
    vals = np.concatenate([np.maximum(d["eigvals"], 1e-12), np.maximum(d["eigvals_inf"], 1e-12), [lc]])
    lo, hi = np.log10(vals.min()) - 0.3, np.log10(vals.max()) + 0.3
    fig.update_xaxes(title_text="index i")
    fig.update_yaxes(type="log", title_text="eigenvalue λᵢ", range=[lo, hi])
    return _layout(fig, f"NTK spectrum (η = {d['learning_rate']:.3g} = "
                        f"{d['lr_fraction']:.2f} × η_max)")


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
    return _layout(fig, "Top eigenvectors on the data (low frequencies first)")


def mode_convergence_figure(d: dict) -> go.Figure:
    """|uᵢᵀ(f_t − y)| / |uᵢᵀ(f₀ − y)| vs step (markers, actual network) and |1 − ηλᵢ/N|^t (lines)."""
    fig = go.Figure()
    s = d["steps"]
    for j in range(d["residual_proj"].shape[1] if len(s) else 0):
        c = MODE_COLORS[j % len(MODE_COLORS)]
        fig.add_trace(go.Scatter(x=s, y=d["theory"][:, j], mode="lines", line=dict(color=c, width=2),
                                 name=f"theory mode {j + 1}", legendgroup=f"m{j}"))
        fig.add_trace(go.Scatter(x=s, y=d["residual_proj"][:, j], mode="markers",
                                 marker=dict(color=c, size=7), name=f"network mode {j + 1}",
                                 legendgroup=f"m{j}", showlegend=False))
    fig.update_xaxes(title_text="step t")
    fig.update_yaxes(type="log", title_text="residual on mode i (relative)",
                     range=[-6, 0.5])
    return _layout(fig, "Spectral bias: mode i decays like (1 − ηλᵢ/N)ᵗ ≈ exp(−ηλᵢt/N)")


def spectrum_figure(d: dict) -> go.Figure:
    """`eigenvalue_figure` (top), `eigenvector_figure` and `mode_convergence_figure` (bottom) in
    one figure. Eigenvector i and mode i share a colour and a legend entry (click to toggle)."""
    ev, vec, modes = eigenvalue_figure(d), eigenvector_figure(d), mode_convergence_figure(d)
    fig = make_subplots(rows=2, cols=2, specs=[[{"colspan": 2}, None], [{}, {}]],
                        vertical_spacing=0.13, horizontal_spacing=0.15, row_heights=[0.45, 0.55],
                        subplot_titles=(ev.layout.title.text, "Top eigenvectors on the data",
                                        "Residuals: dots network, lines theory"))
    for t in ev.data:
        fig.add_trace(t, row=1, col=1)
    for t in vec.data:  # eigenvector i and mode i share legend group f"m{i}"
        fig.add_trace(t.update(legend="legend2"), row=2, col=1)
    for t in modes.data:
        fig.add_trace(t.update(showlegend=False, legend="legend2"), row=2, col=2)
    if not len(modes.data):
        fig.add_annotation(text="training diverged at once: nothing to plot", showarrow=False,
                           xref="x3 domain", yref="y3 domain", x=0.5, y=0.5)
    for (r, c), src in (((1, 1), ev), ((2, 1), vec), ((2, 2), modes)):
        fig.update_xaxes(title_text=src.layout.xaxis.title.text, row=r, col=c)
        fig.update_yaxes(title_text=src.layout.yaxis.title.text, type=src.layout.yaxis.type,
                         range=src.layout.yaxis.range, row=r, col=c)
    return _layout(fig, f"Spectrum and spectral bias, width {d['width']}", height=860,
                   legend=dict(y=1.0, yanchor="top"),
                   legend2=dict(y=0.55, yanchor="top", title=dict(text="mode i")))
