"""Figure factories: the numbers they prepare (vs the core) and a few traces."""
import jax
import numpy as np
import plotly.graph_objects as go
import pytest

import ntk
import ntk.plots as P


def assert_close(actual, expected, rtol=2e-4, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=rtol,
                               atol=atol)


def test_width_color_is_stable_and_monotone():
    assert P.width_color(64) == P.width_color(64.0)
    cs = [P.width_color(2**k) for k in range(3, 15)]
    assert len(set(cs)) == len(cs)
    assert P.width_color(1) == P.width_color(8) and P.width_color(10**6) == P.width_color(16384)
    assert all(c.startswith("#") and len(c) == 7 for c in cs)


def test_presenter_theme():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[1, 2], mode="lines"))
    assert P.apply_theme(fig, presenter=False).layout.template.layout.font.size is None
    P.apply_theme(fig, presenter=True)
    assert fig.layout.template.layout.font.size >= 20
    assert fig.data[0].line.width >= 4


def test_make_net_interned():
    assert P.make_net(32, 2, "erf") is P.make_net(32, 2, "erf")
    assert P.make_net(32, 2, "leaky_relu", alpha=0.2).activation.params


def test_kernel_data_matches_core():
    d = P.kernel_data(width=64, n=8, circle_widths=(16, 64), circle_seeds=2, n_gamma=9)
    net = ntk.mlp([64, 64], 1, "relu", 1.5, 0.05)
    x, _, _ = P.make_inputs("circle", 8)
    k = ntk.infinite_kernel(net, x)
    p = net.init(jax.random.PRNGKey(0), 2, dtype=x.dtype)
    assert_close(d["ntk_inf"], k.ntk)
    assert_close(d["nngp_inf"], k.nngp)
    assert_close(d["ntk_emp"], ntk.empirical_ntk(net, p, x))
    assert d["circle_curves"].shape == (2, 2, 9)
    # the curve at gamma=0 is the kernel of x0 with itself = diagonal of the NTK at (1, 0)
    x0 = ntk.data.circle_points([0.0])
    assert_close(d["circle_inf"][4], ntk.infinite_kernel(net, x0, get="ntk").ntk[0, 0], rtol=1e-5)
    fig = P.kernel_heatmaps(d)
    assert [t.type for t in fig.data] == ["heatmap"] * 4
    assert_close(np.asarray(fig.data[3].z), d["ntk_emp"] - d["ntk_inf"])
    # The app's split: infinite-width pair and empirical pair, the same arrays as the 2x2 grid.
    inf, emp = P.infinite_heatmaps(d), P.empirical_heatmaps(d)
    assert [t.type for t in inf.data + emp.data] == ["heatmap"] * 4
    for t, grid in zip(inf.data + emp.data, fig.data):
        assert_close(np.asarray(t.z), np.asarray(grid.z))
    assert emp.data[1].zmid == 0 and emp.data[1].zmax == -emp.data[1].zmin
    cf = P.circle_figure(d)
    assert cf.data[-1].name == "width → ∞" and len(cf.data) == 5
    assert cf.data[0].line.color == P.width_color(16)


def test_kernel_data_memory_budget_error():
    with pytest.raises(ValueError, match="memory|budget|batch_size"):
        P.kernel_data(width=4096, n=600, circle_widths=(16,), circle_seeds=1, memory_budget=1e6)


def test_convergence_data_and_figure():
    d = P.convergence_data(w_min=16, w_max=128, n_widths=3, n_seeds=2, n=6)
    assert list(d["widths"]) == [16, 45, 128]
    fit = ntk.fit_loglog_slope(np.repeat(d["widths"], 2), d["errors"].ravel())
    assert d["slope"] == pytest.approx(fit["slope"])
    fig = P.convergence_figure(d)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    ref = [t for t in fig.data if "reference" in t.name][0]
    s = np.diff(np.log(ref.y)) / np.diff(np.log(ref.x))
    assert_close(s, np.full(2, -0.5), rtol=1e-9, atol=1e-9)


def test_log_widths_validation():
    with pytest.raises(ValueError, match="at least 1"):
        P.log_widths(0, 10, 3)
    with pytest.raises(ValueError, match="below"):
        P.log_widths(100, 10, 3)


def test_training_data_numbers():
    d = P.training_data(widths=(16, 128), steps=40, n_train=5, n_frames=5)
    assert list(d["steps"]) == [0, 10, 20, 30, 40]
    net = P.make_net(128, 2, "erf", 0.1, 1.5, 0.1)
    ds = ntk.data.sine_1d(n_train=5, n_test=120, noise=0.05, seed=0)
    k = ntk.infinite_kernel(net, ds.x_train)
    lr = 0.5 * ntk.max_learning_rate(k.ntk, 5)
    assert d["learning_rate"] == pytest.approx(lr, rel=1e-6)
    r = d["runs"][128]
    assert r["f_test"].shape == (5, 120)
    # SGD on the linearized model equals the discrete closed form with the empirical kernel
    assert_close(r["closed_f_test"], r["lin_f_test"], rtol=5e-3, atol=5e-4)
    # ensemble mean at t=0 is zero (mean over initializations)
    assert_close(d["inf_mean"][0], np.zeros(120), atol=1e-6)
    assert r["gap"][0] == 0
    for fn in (P.training_animation, P.final_predictions_figure, P.loss_figure, P.gap_figure):
        assert isinstance(fn(d), go.Figure)
    anim = P.training_animation(d, width=16)
    assert len(anim.frames) == 5 and anim.layout.sliders and anim.layout.updatemenus
    assert len(P.training_animation(d, width=16, frame=0).frames) == 0


def test_training_data_divergence_reported():
    d = P.training_data(widths=(16,), steps=60, n_train=5, lr_fraction=4.0, n_frames=7)
    r = d["runs"][16]
    assert r["diverged"] and "diverged" in r["message"]


def test_spectrum_data_theory_and_instability():
    d = P.spectrum_data(width=256, n_train=12, steps=30, n_modes=3)
    ev = np.linalg.eigvalsh(np.asarray(ntk.empirical_ntk(
        P.make_net(256), P.make_net(256).init(jax.random.PRNGKey(0), 2, dtype=d["x"].dtype), d["x"]),
        np.float64))
    assert_close(d["eigvals"][0], ev[-1], rtol=1e-4)
    assert d["lr_max"] == pytest.approx(2 * 12 / d["eigvals"][0], rel=1e-5)
    assert d["lambda_crit"] == pytest.approx(2 * 12 / d["learning_rate"])
    # mode 2 of the actual network follows (1 - eta lambda / N)^t closely at width 256
    assert_close(d["residual_proj"][3, 1], d["theory"][3, 1], rtol=0.2, atol=0.02)
    fig = P.eigenvalue_figure(d)
    assert fig.layout.yaxis.type == "log"
    lo, hi = fig.layout.yaxis.range  # the threshold and all eigenvalues visible, nothing absurd
    assert lo < np.log10(min(d["eigvals"].min(), d["lambda_crit"])) < hi
    assert np.log10(max(d["eigvals"].max(), d["lambda_crit"])) < hi < 20
    thr = [t for t in fig.data if t.name.startswith("2N/η")][0]
    assert thr.y[0] == pytest.approx(d["lambda_crit"])
    # The app's combined figure holds the three figures' traces, one legend entry per mode.
    sf = P.spectrum_figure(d)
    parts = [P.eigenvalue_figure(d), P.eigenvector_figure(d), P.mode_convergence_figure(d)]
    assert len(sf.data) == sum(len(f.data) for f in parts)
    for t, u in zip(sf.data, [t for f in parts for t in f.data]):
        assert_close(np.asarray(t.y, float), np.asarray(u.y, float))
    assert sf.layout.yaxis.type == "log" and sf.layout.yaxis3.type == "log"
    shown = [t.name for t in sf.data if t.legend == "legend2" and t.showlegend is not False]
    assert len(shown) == 4 and shown[0].startswith("u1") and shown[3] == "float32 round-off"
    bad = P.spectrum_data(width=256, n_train=12, steps=30, lr_fraction=1.5)
    assert bad["diverged"] and "stable limit" in bad["message"]
    assert isinstance(P.mode_convergence_figure(bad), go.Figure)
    assert isinstance(P.spectrum_figure(bad), go.Figure)
    at_once = dict(bad, steps=bad["steps"][:0], residual_proj=bad["residual_proj"][:0])
    assert "nothing to plot" in P.spectrum_figure(at_once).layout.annotations[-1].text


def test_lazy_data_small():
    d = P.lazy_data(w_min=16, w_max=64, n_widths=3, n_seeds=1, steps=10, narrow=16, wide=64)
    assert d["weight_change"].shape == (3, 1)
    assert set(d["drift"]) == {16, 64}
    assert d["drift"][16]["kernel_change"][0] == 0
    fig = P.lazy_scaling_figure(d)
    assert "slope" in fig.layout.annotations[0].text
    assert isinstance(P.kernel_drift_figure(d), go.Figure)
