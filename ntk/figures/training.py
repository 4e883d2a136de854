"""Training dynamics figures (data: `ntk.analysis.views.training_data`)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import BAND_COLOR, CLOSED_COLOR, INFINITE_COLOR, LIN_COLOR, layout, width_color


def _x1d(d):
    if "coord_test" in d:  # data on a curve given by its coordinate (e.g. a circle of images)
        return d["coord_test"], d["coord_train"], d["coord_label"]
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
                     fill="toself", fillcolor=BAND_COLOR, line=dict(width=0),
                     name="∞-width ensemble ± 2σ", hoverinfo="skip"),
          go.Scatter(x=xs, y=m, mode="lines", name="∞-width mean (closed form)",
                     line=dict(color=INFINITE_COLOR, dash="dash", width=2)),
          go.Scatter(x=xs, y=run["f_test"][k][order], mode="lines", name=f"network, width {width}",
                     line=dict(color=col, width=3)),
          go.Scatter(x=xs, y=run["lin_f_test"][k][order], mode="lines",
                     name=f"linearized, width {width}", line=dict(color=LIN_COLOR, width=2.5, dash="dot"))]
    if "closed_f_test" in run:
        tr.append(go.Scatter(x=xs, y=run["closed_f_test"][k][order], mode="lines",
                             name="closed form with empirical Θ₀",
                             line=dict(color=CLOSED_COLOR, width=2, dash="dashdot")))
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
                              colorbar=dict(thickness=10, title=dict(text="f(x)", side="top")),
                              hovertemplate="x₁ %{x:.2f}, x₂ %{y:.2f}<br>f = %{z:.3f}<extra>" + name
                              + "</extra>"))
    return out


def _add_animation(fig, d, width, make, step_buttons):
    """Plotly frames (one per recorded step), a step slider and play/pause (+ first/last) buttons."""
    steps = d["runs"][width]["steps"]
    nrec = len(steps)
    ntr = len(make(d, width, 0))
    frames = [go.Frame(data=make(d, width, k), traces=list(range(ntr)), name=str(steps[k]),
                       layout=go.Layout(title_text=f"Width {width}: step {steps[k]} of {steps[-1]}"))
              for k in range(nrec)]
    fig.frames = frames
    # The play/pause buttons sit left of the slider on the same row (x < 0.2 ≤ slider), so they
    # never cover the slider's step labels.
    n_buttons = 4 if step_buttons else 2
    x0 = 0.085 * n_buttons + 0.02
    slider = dict(active=nrec - 1, currentvalue=dict(prefix="step "), pad=dict(t=55, b=10),
                  x=x0, len=1.0 - x0, xanchor="left", y=0, yanchor="top",
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
        jump = dict(mode="immediate", frame=dict(duration=0, redraw=True))
        buttons = ([dict(label="⏮ first", method="animate", args=[[str(steps[0])], jump])]
                   + buttons
                   + [dict(label="last ⏭", method="animate", args=[[str(steps[-1])], jump])])
    fig.update_layout(sliders=[slider], updatemenus=[dict(
        type="buttons", direction="left", showactive=False, x=x0, y=0, xanchor="right",
        yanchor="top", pad=dict(t=72, r=12), buttons=buttons)])


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
                            horizontal_spacing=0.06)
        for j, tr in enumerate(make(d, width, k0)):
            fig.add_trace(tr, row=1, col=j + 1)
        for j in range(3):
            pos = d["y_train"][:, 0] > 0
            for sel, sym in ((pos, "circle"), (~pos, "x")):
                fig.add_trace(go.Scatter(x=d["x_train"][sel, 0], y=d["x_train"][sel, 1], mode="markers",
                                         marker=dict(color="black", symbol=sym, size=6),
                                         showlegend=False, name="train"), row=1, col=j + 1)
        fig.update_yaxes(scaleanchor="x", row=1, col=1)
        fig.update_xaxes(title_text="x₁")
        fig.update_yaxes(title_text="x₂", title_standoff=2)
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
        _add_animation(fig, d, width, make, step_buttons)
    return layout(fig, ttl, height=520 if not twod else 470,
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
                                     colorbar=dict(thickness=10, title=dict(text="f(x)", side="top")),
                                     showscale=j == len(d["widths"]) - 1), row=1, col=j + 1)
        fig.update_xaxes(title_text="x₁")
        fig.update_yaxes(title_text="x₂", title_standoff=2)
        return layout(fig, "Final network output per width", height=380)
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
    return layout(fig, f"After {d['steps'][-1]} steps: one network per width")


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
    return layout(fig, "Loss curves (solid: train, dotted: test)")


def gap_figure(d: dict) -> go.Figure:
    """RMS(f_t − f_lin,t) / RMS(f_lin,T) on the test points over time, one line per width."""
    fig = go.Figure()
    for w in d["widths"]:
        run = d["runs"][int(w)]
        if "gap" not in run:
            continue
        s = run["steps"][1:]
        fig.add_trace(go.Scatter(x=s, y=run["gap"][1:], mode="lines+markers", name=f"width {w}",
                                 line=dict(color=width_color(w), width=2.5), marker=dict(size=5)))
    fig.update_xaxes(type="log", title_text="step")
    fig.update_yaxes(type="log", title_text="RMS(f − fₗᵢₙ) / RMS(fₗᵢₙ(T))")
    return layout(fig, "Gap: network vs linearization")
