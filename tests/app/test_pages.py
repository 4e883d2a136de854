"""AppTest for every page: defaults, widget changes, bad inputs, URL round trip, numbers vs core.

Heavy pages are exercised at their defaults once and otherwise with small configurations given
through the URL (which also tests that the URL reproduces the view).
"""

import jax
import numpy as np
import pytest

import ntk
import ntk.plots as P
from _apphelpers import (TIMEOUT, as_array, assert_clean, chart_elements, charts, metric,
                         run_page)

SMALL_TRAIN = {"widths": "16,64", "steps": "50", "n_train": "6"}
SMALL_LAZY = {"w_min": "16", "w_max": "64", "n_widths": "3", "n_seeds": "1", "steps": "20",
              "narrow": "16", "wide": "64"}


def test_home_and_presets():
    at = run_page("home")
    assert_clean(at)
    assert at.latex and "Theta" in at.latex[0].value
    # The home figure: normalized infinite-width NTK on the circle, one curve per depth.
    (fig,) = charts(at)
    assert [t["name"] for t in fig["data"]] == [f"depth {k}" for k in (1, 2, 3, 4)]
    g = np.linspace(-np.pi, np.pi, 121)
    xc = ntk.data.circle_points(g).astype(np.float32)
    for k, tr in zip((1, 2, 3, 4), fig["data"]):
        net = ntk.mlp([1] * k, 1, "relu", 1.5, 0.05)
        th = np.asarray(ntk.infinite_kernel(net, xc[60:61], xc, get="ntk").ntk)[0]
        np.testing.assert_allclose(as_array(tr["y"]), th / th[60], rtol=1e-5)
    buttons = [b for b in at.button if b.key and b.key.startswith("preset_")]
    assert len(buttons) >= 5
    buttons[0].click().run()   # Jacot preset -> st.switch_page(kernel, query_params=...)
    assert not at.exception
    # the same query parameters opened directly reproduce the preset's configuration
    at2 = run_page("kernel", {"depth": "4", "activation": "relu", "W_std": "1.0", "b_std": "0.1",
                              "width": "1024", "n": "8", "circle_seeds": "1"})
    assert_clean(at2)
    assert at2.slider(key="kernel__depth").value == 4
    assert at2.select_slider(key="kernel__width").value == 1024


def test_kernel_default_matches_core():
    at = run_page("kernel")
    assert_clean(at)
    assert len(charts(at)) == 3  # infinite-width kernels, empirical kernels, circle
    net = ntk.mlp([512, 512], 1, "relu", 1.5, 0.05)
    x, _, _ = P.make_inputs("circle", 32)
    p = net.init(jax.random.PRNGKey(0), 2, dtype=x.dtype)
    rel = float(np.linalg.norm(ntk.empirical_ntk(net, p, x) - ntk.infinite_kernel(net, x).ntk)
                / np.linalg.norm(ntk.infinite_kernel(net, x).ntk))
    assert abs(float(metric(at, "Θ∞‖")) - rel) < 1e-3
    heat = charts(at)[0]["data"]
    np.testing.assert_allclose(as_array(heat[1]["z"]), np.asarray(ntk.infinite_kernel(net, x).ntk),
                               rtol=1e-5, atol=1e-6)
    emp = charts(at)[1]["data"]
    np.testing.assert_allclose(as_array(emp[0]["z"]), np.asarray(ntk.empirical_ntk(net, p, x)),
                               rtol=1e-4, atol=1e-5)


def test_kernel_widgets_and_url_round_trip():
    at = run_page("kernel", {"width": "64", "n": "8", "activation": "erf", "depth": "3"})
    assert_clean(at)
    assert at.selectbox(key="kernel__activation").value == "erf"
    assert at.slider(key="kernel__depth").value == 3
    e64 = metric(at, "Θ∞‖")
    ids, z64 = [c.proto.id for c in chart_elements(at)], charts(at)[1]["data"][0]["z"]
    at.select_slider(key="kernel__width").set_value(1024).run()
    assert_clean(at)
    assert at.query_params["width"] in ("1024", ["1024"])
    # New figure, same chart elements: the browser updates the charts in place.
    assert [c.proto.id for c in chart_elements(at)] == ids
    assert not np.array_equal(as_array(charts(at)[1]["data"][0]["z"]), as_array(z64))
    e1024 = metric(at, "Θ∞‖")
    assert float(e1024) < float(e64)
    at.selectbox(key="kernel__activation").set_value("leaky_relu").run()
    assert_clean(at)
    at.slider(key="kernel__alpha").set_value(0.3).run()
    assert_clean(at)
    at.radio(key="kernel__parameterization").set_value("standard").run()
    assert_clean(at)
    # the URL now holds the full state: reopening it reproduces the metric
    q = {k: at.query_params[k] for k in at.query_params}
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in q.items()}
    assert q["alpha"] == "0.3" and q["parameterization"] == "standard"
    at2 = run_page("kernel", q)
    assert_clean(at2)
    assert metric(at2, "Θ∞‖") == metric(at, "Θ∞‖")
    np.testing.assert_array_equal(as_array(charts(at2)[1]["data"][0]["z"]),
                                  as_array(charts(at)[1]["data"][0]["z"]))


def test_charts_fall_back_to_st_plotly_chart(monkeypatch):
    """Without Streamlit's plotly chunk the same figures are drawn by st.plotly_chart."""
    from ntk.app import chart

    q = {"width": "64", "n": "8"}
    drawn = charts(run_page("kernel", q))
    assert all(c.type != "plotly_chart" for c in chart_elements(run_page("kernel", q)))
    monkeypatch.setattr(chart, "plotly_chunk", lambda: None)
    at = run_page("kernel", q)
    assert_clean(at)
    assert [c.type for c in chart_elements(at)] == ["plotly_chart"] * 3
    assert charts(at) == drawn


@pytest.mark.parametrize("query, expect", [
    ({"width": "0", "n": "8"}, "width"),          # bad URL value -> warning, default used
    ({"W_std": "nan", "n": "8", "width": "64"}, "W_std"),
])
def test_kernel_bad_url_values_warn(query, expect):
    at = run_page("kernel", query)
    assert not at.exception
    assert any(expect in w.value for w in at.warning)
    assert len(charts(at)) == 3


def test_kernel_over_memory_budget_is_an_error():
    at = run_page("kernel", {"width": "8192", "n": "2000", "circle_seeds": "1"})
    assert not at.exception
    assert at.error and "memory" in at.error[0].value.lower()
    assert not charts(at)


def test_convergence_small_and_bad_range():
    at = run_page("convergence", {"w_min": "16", "w_max": "256", "n_widths": "4", "n_seeds": "2",
                                  "n": "8"})
    assert_clean(at)
    d = P.convergence_data(w_min=16, w_max=256, n_widths=4, n_seeds=2, n=8)
    assert float(metric(at, "slope")) == pytest.approx(d["slope"], abs=2e-3)
    fig = charts(at)[0]
    assert fig["layout"]["xaxis"]["type"] == "log" and fig["layout"]["yaxis"]["type"] == "log"
    at.number_input(key="convergence__w_max").set_value(8).run()
    assert not at.exception
    assert at.error and "largest width" in at.error[0].value


def test_convergence_default():
    at = run_page("convergence")
    assert_clean(at)
    s = float(metric(at, "Fitted slope"))
    assert -1.0 < s < -0.2


def test_training_default():
    at = run_page("training")
    assert_clean(at)
    cs = charts(at)
    assert len(cs) == 4
    assert cs[0].get("frames"), "animation frames missing"
    assert any("closed form" in (t.get("name") or "") for t in cs[0]["data"])


def test_training_small_widgets_and_divergence():
    at = run_page("training", SMALL_TRAIN)
    assert_clean(at)
    d = P.training_data(widths=[16, 64], steps=50, n_train=6)
    r = d["runs"][64]
    assert metric(at, "width 64") == f"{r['loss_test'][-1]:.3g} / {r['lin_loss_test'][-1]:.3g}"
    at.selectbox(key="training__optimizer_name").set_value("momentum").run()
    assert_clean(at)
    at.selectbox(key="training__dataset").set_value("moons").run()
    assert_clean(at)
    assert len(charts(at)) == 4
    at.slider(key="training__lr_fraction").set_value(3.0).run()   # far past the stable limit
    assert not at.exception
    assert at.warning and "stable limit" in at.warning[0].value
    at.multiselect(key="training__widths").set_value([]).run()
    assert not at.exception
    assert at.error and "at least one width" in at.error[0].value


def test_lazy_small():
    at = run_page("lazy", SMALL_LAZY)
    assert_clean(at)
    assert len(charts(at)) == 2
    s = metric(at, "slope of weight change")
    assert float(s) < 0


@pytest.mark.slow
def test_lazy_default():
    at = run_page("lazy")
    assert_clean(at)
    assert float(metric(at, "slope of kernel change")) < 0


def test_spectrum_default_and_unstable_lr():
    at = run_page("spectrum", {"n_train": "16", "steps": "100"})
    assert_clean(at)
    d = P.spectrum_data(n_train=16, steps=100)
    assert float(metric(at, "ηₘₐₓ")) == pytest.approx(d["lr_max"], rel=1e-3)
    (fig,) = charts(at)  # one figure: eigenvalues (top), eigenvectors and modes (bottom)
    assert fig["layout"]["yaxis"]["type"] == "log"
    emp = [t for t in fig["data"] if t["name"].startswith("empirical Θ₀")][0]
    np.testing.assert_allclose(as_array(emp["y"]), np.maximum(d["eigvals"], 1e-12), rtol=1e-4)
    at.slider(key="spectrum__lr_fraction").set_value(1.5).run()
    assert not at.exception
    assert at.error and "stable limit" in at.error[0].value
    (fig,) = charts(at)  # spectrum still shown, divergence explained
    assert any(t["name"].startswith("2N/η") for t in fig["data"])


def test_spectrum_default():
    at = run_page("spectrum")
    assert_clean(at)
    (fig,) = charts(at)
    modes = [t for t in fig["data"] if t.get("legendgroup", "").startswith("m")]
    assert len(modes) == 4 * 6  # eigenvector, theory line, network and linearized markers per mode


def _run_snippet(code):
    ns = {}
    exec(compile(code.replace("fig.show()", ""), "snippet", "exec"), ns)
    return ns["fig"].to_plotly_json()


def test_snippet_reproduces_page_figure():
    """The export dialog's snippet for the page's configuration rebuilds the page's figure."""
    from ntk import export as E
    from ntk.app import registry as R

    at = run_page("kernel", {"width": "64", "n": "8"})
    assert_clean(at)
    assert at.button(key="export_circle").label == "Export circle"
    rec = R.get("kernel")
    cfg = rec.compute_args({**rec.default_config(), "width": 64, "n": 8})
    fig = _run_snippet(E.python_snippet("kernel_data", cfg, "circle_figure", None))
    page = charts(at)[2]
    assert len(fig["data"]) == len(page["data"])
    for a, b in zip(fig["data"], page["data"]):
        np.testing.assert_allclose(as_array(a["y"]), as_array(b["y"]), rtol=1e-6)


def test_export_button_opens_dialog_with_downloads_and_snippet():
    from streamlit.testing.v1 import AppTest

    def script():
        from ntk.app.cache import compute
        from ntk.app.export_dialog import show_figure

        cfg = dict(width=16, n=6, circle_widths=[16], circle_seeds=1, n_gamma=9)
        d = compute("kernel_data", cfg)
        show_figure(d, "kernels", data_fn="kernel_data", cfg=cfg, fig_fn="kernel_heatmaps")

    at = AppTest.from_function(script, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and not at.code and not at.get("download_button")
    at.button(key="export_kernels").click().run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["HTML (interactive)", "Data (CSV)", "Data (NPZ)", "Config (JSON)"]
    fig = _run_snippet(at.code[0].value)
    page = charts(at)[0]
    assert len(fig["data"]) == len(page["data"]) == 4
    for a, b in zip(fig["data"], page["data"]):
        np.testing.assert_allclose(as_array(a["z"]), as_array(b["z"]), rtol=1e-6)


def test_presenter_mode():
    at = run_page("kernel", {"width": "64", "n": "8", "presenter": "1"})
    assert_clean(at)
    assert at.toggle(key="presenter").value is True
    assert any("What to notice" in i.value for i in at.info)
    fig = charts(at)[1]
    assert fig["layout"]["template"]["layout"]["font"]["size"] >= 20
    at2 = run_page("training", {**SMALL_TRAIN, "presenter": "1"})
    assert_clean(at2)
    at2.slider(key="training_frame").set_value(0).run()
    assert_clean(at2)
    assert "step 0 of" in charts(at2)[0]["layout"]["title"]["text"]
