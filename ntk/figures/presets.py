"""Figures of the paper presets (`ntk.analysis.presets`), on the shared theme.

Each function takes plain numpy data prepared by a preset (see `PresetResult.data`) and returns a
`plotly.graph_objects.Figure`; the same figures appear in the app, in Jupyter and in HTML reports.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import (BAND_COLOR, CATEGORICAL, GUIDE_COLOR, INFINITE_COLOR, LABELS, SHORT_LABELS,
                    layout, rgba, width_colors)

_GROUPS = dict(groupclick="toggleitem")  # a click on a legend entry toggles that trace only


def _band(fig, x, lo, hi, color, name, group, row=None, col=None, showlegend=True):
    kw = {} if row is None else dict(row=row, col=col)
    fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi, lo[::-1]]),
                             fill="toself", fillcolor=color, line=dict(width=0), name=name,
                             legendgroup=group, hoverinfo="skip", showlegend=showlegend), **kw)


def kernel_on_circle(gamma, k_inf, curves, t_label="trained") -> go.Figure:
    """Theta(x0, x) along the unit circle: finite nets at init (solid) and after training (dashed).

    curves: list of dicts with keys width, seed, init (values over gamma), trained (or None).
    """
    gamma = np.asarray(gamma)
    colors = width_colors([c["width"] for c in curves])
    fig = go.Figure()
    seen = set()
    for c in curves:
        w = c["width"]
        for key, dash in (("init", "solid"), ("trained", "dash")):
            if c.get(key) is None:
                continue
            label = f"n={w}, t=0" if key == "init" else f"n={w}, {t_label}"
            fig.add_trace(go.Scatter(
                x=gamma, y=np.asarray(c[key]), mode="lines", name=label, legendgroup=label,
                showlegend=label not in seen, opacity=0.75,
                line=dict(color=colors[w], dash=dash, width=1.3),
                hovertemplate=f"n={w} seed={c['seed']}<br>γ=%{{x:.2f}}<br>Θ=%{{y:.4f}}<extra>{key}</extra>"))
            seen.add(label)
    fig.add_trace(go.Scatter(x=gamma, y=np.asarray(k_inf), mode="lines", name="n=∞",
                             line=dict(color=INFINITE_COLOR, width=3)))
    return layout(fig, "NTK Θ(x₀, x) on the unit circle, x₀=(1,0), x=(cos γ, sin γ)",
                  xtitle="γ", ytitle="Θ(x₀, x)", legend=_GROUPS)


def function_quantiles(gamma, gamma_train, y_train, gp_mean, gp_std, quantiles,
                       z: float = 1.2815515655446004) -> go.Figure:
    """Quantiles (10/50/90 %) of trained finite nets vs the infinite-width GP (mean, mean ± z σ).

    quantiles: {width: (q10, q50, q90)} arrays over gamma.
    """
    gamma = np.asarray(gamma)
    colors = width_colors(list(quantiles))
    fig = go.Figure()
    gp_mean, gp_std = np.asarray(gp_mean), np.asarray(gp_std)
    _band(fig, gamma, gp_mean - z * gp_std, gp_mean + z * gp_std, BAND_COLOR,
          "n=∞ GP 10–90 %", "gp")
    fig.add_trace(go.Scatter(x=gamma, y=gp_mean, mode="lines", name="n=∞ GP median",
                             legendgroup="gp", line=dict(color=INFINITE_COLOR, width=3)))
    for w, (q10, q50, q90) in quantiles.items():
        g = f"n={w}"
        fig.add_trace(go.Scatter(x=gamma, y=np.asarray(q50), mode="lines", name=f"{g} median",
                                 legendgroup=g, line=dict(color=colors[w], width=2)))
        for q, lab in ((q10, "10 %"), (q90, "90 %")):
            fig.add_trace(go.Scatter(x=gamma, y=np.asarray(q), mode="lines", name=f"{g} {lab}",
                                     legendgroup=g, showlegend=lab == "10 %",
                                     line=dict(color=colors[w], width=1.5, dash="dot")))
    fig.add_trace(go.Scatter(x=np.asarray(gamma_train), y=np.asarray(y_train).ravel(),
                             mode="markers", name="training points",
                             marker=dict(color="red", size=10, symbol="x")))
    return layout(fig, "Trained networks: 10/50/90 % quantiles vs the infinite-width GP",
                  xtitle="γ", ytitle="f(cos γ, sin γ)", legend=_GROUPS)




def loglog_metrics(table, fits, metrics, ref_slope: float = -0.5) -> go.Figure:
    """Metric vs width on log-log axes: points per seed, seed means, fitted line and slope -1/2.

    table: column dict with 'width' and metric arrays; fits: {metric: fit_loglog_slope dict}.
    """
    fig = go.Figure()
    widths = np.asarray(table["width"], dtype=float)
    ws = np.unique(widths)
    for i, m in enumerate(metrics):
        if m not in table:
            continue
        color = CATEGORICAL[i % len(CATEGORICAL)]
        y = np.asarray(table[m], dtype=float)
        f = fits.get(m, {})
        s = f.get("slope", float("nan"))
        name = f"{LABELS.get(m, m)}: slope {s:.2f}"
        fig.add_trace(go.Scatter(x=widths, y=y, mode="markers", name=name, legendgroup=m,
                                 marker=dict(color=color, size=6, opacity=0.5),
                                 hovertemplate="n=%{x}<br>%{y:.3g}<extra>" + SHORT_LABELS.get(m, m) + "</extra>"))
        means = np.array([np.nanmean(y[widths == w]) for w in ws])
        fig.add_trace(go.Scatter(x=ws, y=means, mode="markers", legendgroup=m, showlegend=False,
                                 marker=dict(color=color, size=10, symbol="diamond")))
        if np.isfinite(s):
            fit_y = np.exp(f["intercept"]) * ws ** s
            fig.add_trace(go.Scatter(x=ws, y=fit_y, mode="lines", legendgroup=m, showlegend=False,
                                     line=dict(color=color, width=2)))
            ref = means[0] * (ws / ws[0]) ** ref_slope
            fig.add_trace(go.Scatter(x=ws, y=ref, mode="lines", legendgroup=m,
                                     name=f"slope {ref_slope:g} reference", showlegend=i == 0,
                                     line=dict(color=GUIDE_COLOR, width=1.5, dash="dash")))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return layout(fig, "Lazy-regime diagnostics vs width (log-log)", xtitle="width n",
                  ytitle="relative change", legend=_GROUPS)


def linearization_dynamics(steps, f, f_lin, loss=None, loss_lin=None, labels=None) -> go.Figure:
    """f(t) of the network (solid) vs its linearization (dashed) at a few test points; losses below.

    f, f_lin: arrays (T, p) over recorded steps and p test points.
    """
    steps = np.asarray(steps)
    f, f_lin = np.asarray(f), np.asarray(f_lin)
    rows = 2 if loss is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.65, 0.35][:rows] if rows == 2 else None,
                        subplot_titles=("outputs on test points", "training loss")[:rows])
    for j in range(f.shape[1]):
        color = CATEGORICAL[j % len(CATEGORICAL)]
        lab = labels[j] if labels is not None else f"test point {j}"
        fig.add_trace(go.Scatter(x=steps, y=f[:, j], mode="lines", name=f"{lab}: network",
                                 legendgroup=lab, line=dict(color=color, width=2)), row=1, col=1)
        fig.add_trace(go.Scatter(x=steps, y=f_lin[:, j], mode="lines", name=f"{lab}: linearized",
                                 legendgroup=lab, line=dict(color=color, width=2, dash="dash")),
                      row=1, col=1)
    if loss is not None:
        fig.add_trace(go.Scatter(x=steps, y=np.asarray(loss), mode="lines", name="loss: network",
                                 line=dict(color="black", width=2)), row=2, col=1)
        if loss_lin is not None:
            fig.add_trace(go.Scatter(x=steps, y=np.asarray(loss_lin), mode="lines",
                                     name="loss: linearized",
                                     line=dict(color="black", width=2, dash="dash")), row=2, col=1)
        fig.update_yaxes(type="log", row=2, col=1)
    fig.update_xaxes(title_text="step", row=rows, col=1)
    fig.update_yaxes(title_text="f(x)", row=1, col=1)
    if rows == 2:
        fig.update_yaxes(title_text="loss", row=2, col=1)
    return layout(fig, "Network vs its linearization during gradient descent",
                  height=600 if rows == 2 else 420, legend=_GROUPS)


def posterior_bands(x_test, y_test, x_train, y_train, ensemble_f, bands, n_show: int = 10
                    ) -> go.Figure:
    """1-D regression: trained ensemble (thin lines, mean ± 2 std) vs kernel posteriors ± 2σ.

    ensemble_f: (E, m) predictions of E trained nets; bands: {label: (mean (m,), std (m,))}.
    """
    x = np.asarray(x_test).ravel()
    ens = np.asarray(ensemble_f)
    fig = go.Figure()
    band_colors = [CATEGORICAL[1], CATEGORICAL[2], CATEGORICAL[4], CATEGORICAL[5]]
    for i, (lab, (mu, sd)) in enumerate(bands.items()):
        c = band_colors[i % len(band_colors)]
        mu, sd = np.asarray(mu).ravel(), np.asarray(sd).ravel()
        _band(fig, x, mu - 2 * sd, mu + 2 * sd, rgba(c, 0.15), f"{lab} ± 2σ", lab)
        fig.add_trace(go.Scatter(x=x, y=mu, mode="lines", name=f"{lab} mean", legendgroup=lab,
                                 line=dict(color=c, width=2.5, dash="dash")))
    for e in range(min(n_show, ens.shape[0])):
        fig.add_trace(go.Scatter(x=x, y=ens[e], mode="lines", name="trained nets",
                                 legendgroup="nets", showlegend=e == 0, opacity=0.35,
                                 line=dict(color="gray", width=1), hoverinfo="skip"))
    m, s = ens.mean(0), ens.std(0)
    fig.add_trace(go.Scatter(x=x, y=m, mode="lines", name=f"ensemble mean ({ens.shape[0]} nets)",
                             legendgroup="ens", line=dict(color=CATEGORICAL[0], width=3)))
    for yy in (m - 2 * s, m + 2 * s):
        fig.add_trace(go.Scatter(x=x, y=yy, mode="lines", legendgroup="ens", showlegend=False,
                                 line=dict(color=CATEGORICAL[0], width=1.5, dash="dot")))
    fig.add_trace(go.Scatter(x=x, y=np.asarray(y_test).ravel(), mode="lines", name="target sin x",
                             line=dict(color="black", width=1)))
    fig.add_trace(go.Scatter(x=np.asarray(x_train).ravel(), y=np.asarray(y_train).ravel(),
                             mode="markers", name="training points",
                             marker=dict(color="red", size=10, symbol="x")))
    return layout(fig, "Trained ensemble vs NTK and NNGP posteriors", xtitle="x", ytitle="f(x)",
                  legend=_GROUPS)


def loss_curves(steps, curves: dict, title="Test loss during training", ytitle="MSE"
                ) -> go.Figure:
    """Several loss curves over training steps on a log y axis; curves: {label: values}."""
    fig = go.Figure()
    for i, (lab, v) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=np.asarray(steps), y=np.asarray(v), mode="lines", name=lab,
                                 line=dict(color=CATEGORICAL[i % len(CATEGORICAL)], width=2,
                                           dash="dash" if "theory" in lab or "NTK" in lab
                                           else "solid")))
    fig.update_yaxes(type="log")
    return layout(fig, title, xtitle="step", ytitle=ytitle, legend=_GROUPS)
