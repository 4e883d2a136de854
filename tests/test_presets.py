"""Paper presets: numbers are computed and behave as the papers say, figures and reprs are sane.

Sizes are tiny (explicit size arguments), so these check the code path, not the paper's numbers.
"""
import json
import math

import jax
import numpy as np
import plotly.graph_objects as go
import pytest

import ntk
from ntk import presets


def _check_result(r, name, n_figs):
    assert isinstance(r, presets.PresetResult)
    assert r.name == name and r.title == presets.PRESETS[name].title
    assert len(r.figures) == n_figs
    assert all(isinstance(f, go.Figure) and len(f.data) > 0 for f in r.figures.values())
    assert r.numbers and all(isinstance(v, float) for v in r.numbers.values())
    assert all(math.isfinite(v) for k, v in r.numbers.items() if "ci_" not in k), r.numbers
    assert set(r.labels) >= set(r.numbers)
    assert r.caption.startswith("Original") and len(r.caption) > 200
    text = repr(r)
    assert name in text and "numbers:" in text and len(text.splitlines()) > 3
    assert all(len(row) == 3 for row in r.table())
    assert r.elapsed_s > 0


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, done, total, desc):
        assert 0 <= done <= total and isinstance(desc, str)
        self.calls.append((done, total))


def test_registry():
    names = [p.name for p in presets.list_presets()]
    assert names == ["jacot_fig1", "jacot_fig2", "lee2019", "nt_cookbook", "stax_cnn"]
    assert "Jacot" in repr(presets.list_presets()[0])
    with pytest.raises(ValueError, match="Unknown preset 'nope'.*jacot_fig1"):
        presets.run("nope")


def test_jacot_fig1():
    rec = Recorder()
    r = presets.jacot_fig1(widths=(32, 512), seeds=2, n_angles=21, train_time=20.0,
                           progress=rec)
    _check_result(r, "jacot_fig1", 1)
    n = r.numbers
    # Wider nets: closer to the limit at init and move less during training.
    assert n["dev_init_w512"] < n["dev_init_w32"]
    assert n["change_w512"] < n["change_w32"]
    assert n["dev_init_w512"] < 0.2
    # progress in units of work (~ parameters × steps): the last call reports all of it
    assert rec.calls[-1][0] == rec.calls[-1][1] > 4
    # The infinite curve equals ntk.infinite_kernel at x0 vs the circle; peak at gamma = 0.
    d = r.data
    net = ntk.mlp([32] * 3, 1, "relu", 1.0, 0.1)
    k = np.asarray(ntk.infinite_kernel(net, np.array([[1.0, 0.0]]),
                                       ntk.data.circle_points(d["gamma"]), get="ntk").ntk)[0]
    np.testing.assert_allclose(d["k_inf"], k, rtol=1e-5)
    assert np.argmax(d["k_inf"]) == len(d["gamma"]) // 2
    # 2 widths x 2 seeds x (init, trained) + the infinite curve.
    assert len(r.figures["kernel"].data) == 9
    # Caption numbers are the computed ones, not hard-coded.
    assert f"{n['dev_init_w512']:.3g}" in r.caption
    assert r.config["widths"] == [32, 512] and r.config["depth"] == 3


def test_train_ensemble_matches_single_training():
    ds = ntk.data.unit_circle(4, 11)
    net = ntk.mlp([32] * 2, 1, "relu", 1.0, 0.1)
    out = presets.train_ensemble(net, [3, 5, 7], ds.x_train, ds.y_train, ds.x_test,
                                 learning_rate=2.0, steps=10, chunk=2)  # chunks of 2 + padding
    assert out["f_test"].shape == (3, 2, 11)
    for i, s in [(0, 3), (2, 7)]:
        p = net.init(jax.random.PRNGKey(s), 2, dtype=ds.x_train.dtype)
        res = ntk.train(net, p, ds.x_train, ds.y_train, ds.x_test, learning_rate=2.0, steps=10,
                        record_steps=[10], linearized=False, check_stability=False)
        np.testing.assert_allclose(out["f_test"][i, -1], res.f_test[-1, :, 0], rtol=2e-4,
                                   atol=2e-5)


def test_jacot_fig2():
    r = presets.jacot_fig2(widths=(16, 128), n_nets=8, n_angles=15, train_time=100.0)
    _check_result(r, "jacot_fig2", 1)
    n, d = r.numbers, r.data
    assert d["f_final"][128].shape == (8, 15)
    assert 0.3 < n["std_ratio_w128"] < 2.0
    assert n["median_rms_w128"] < 3 * n["gp_std_rms"]
    q10, q50, q90 = d["quantiles"][128]
    assert np.all(q10 <= q50 + 1e-7) and np.all(q50 <= q90 + 1e-7)
    assert np.all(d["gp_std"] >= 0)


def test_lee2019():
    r = presets.lee2019(widths=(32, 64, 128), seeds=1, n_train=8, steps=30, dyn_width=128,
                        dyn_points=3)
    _check_result(r, "lee2019", 2)
    n = r.numbers
    assert n["slope_kernel_change"] < 0 and n["slope_weight_change"] < 0
    assert n["weight_change_w128"] < n["weight_change_w32"]
    assert n["lin_gap_max"] < 0.5
    assert r.data["f"].shape == r.data["f_lin"].shape and r.data["f"].shape[1] == 3
    assert f"{n['slope_kernel_change']:.3f}" in r.caption


def test_nt_cookbook():
    r = presets.nt_cookbook(n_nets=4, steps=300, n_test=30)
    _check_result(r, "nt_cookbook", 2)
    n, d = r.numbers, r.data
    assert d["f_end"].shape == (4, 30)
    assert n["frac_inside_2sigma"] > 0.7
    assert n["mean_rms_in_sigma"] < 1.5
    assert n["test_rmse_ntk"] < 0.5
    assert len(d["ens_loss"]) == len(d["theory_loss"]) == len(d["steps"])
    assert r.config["width"] == 512 and r.config["activation"] == "erf"


def test_stax_cnn():
    from ntk.analysis import architectures as A

    rec = Recorder()
    r = presets.stax_cnn(n_train=16, n_test=12, shifts=(0, 1), depth=1, progress=rec)
    _check_result(r, "stax_cnn", 3)
    n = r.numbers
    assert rec.calls[-1][0] == rec.calls[-1][1] == 6
    assert all(0 <= v <= 1 for k, v in n.items() if k.startswith("acc_"))
    for s in (0, 1):
        assert n[f"pool_gain_ntk_shift{s}"] == n[f"acc_cnn_pool_ntk_shift{s}"] - n[f"acc_mlp_ntk_shift{s}"]
        assert f"{100 * n[f'acc_cnn_pool_ntk_shift{s}']:.1f} %" in r.caption
    # The accuracy is the argmax of kernel regression with the kernel the preset stored.
    d = ntk.data.digits_images(16, 12, seed=0, max_shift=1)
    v = r.data["shift1"]
    order = np.argsort(d.y_train.argmax(1), kind="stable")
    net = A.build("cnn", 1, depth=1)
    kst = np.asarray(net[2](d.x_test.astype(np.float64), d.x_train[order].astype(np.float64), "ntk"))
    k = v["per"]["cnn"]["ntk"]
    pred = kst @ np.linalg.solve(k + 1e-6 * np.trace(k) / len(k) * np.eye(len(k)), d.y_train[order])
    top2 = np.sort(pred, 1)[:, -2:]
    ties = int(np.sum(top2[:, 1] - top2[:, 0] < 1e-4))
    assert abs(n["acc_cnn_ntk_shift1"] - np.mean(pred.argmax(1) == d.y_test.argmax(1))) <= ties / 12
    assert r.config["architectures"] == ["mlp", "cnn", "cnn_pool"] and r.config["n_train"] == 16


def test_fast_flag_picks_small_sizes(monkeypatch):
    seen = {}

    def fake_sweep(widths, seeds, **kw):
        seen["widths"], seen["seeds"] = list(widths), list(seeds)
        raise RuntimeError("stop")

    monkeypatch.setattr(ntk.analysis.sweeps, "width_sweep", fake_sweep)
    with pytest.raises(RuntimeError, match="stop"):
        presets.lee2019(fast=True)
    assert max(seen["widths"]) <= 256 and len(seen["seeds"]) == 2
    with pytest.raises(RuntimeError, match="stop"):
        presets.lee2019()
    assert max(seen["widths"]) >= 2048


def _fake_result(name):
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    return presets.PresetResult(name, presets.PRESETS[name].title, {"main": fig},
                                {"a": 0.5, "b": 2.0}, "Original: demo caption.", {"fast": True},
                                {"a": "number a"}, {}, 0.1)


@pytest.fixture
def clean_preset_jobs():
    """No preset results or jobs left over from other tests (the stores are process-wide)."""
    from ntk.app import cache, preset_jobs

    cache.clear_store()
    preset_jobs._jobs()[0].clear()
    yield
    cache.clear_store()
    preset_jobs._jobs()[0].clear()


def _run_until(at, cond, timeout=60.0):
    """Rerun the page until `cond(at)` (the preset runs in a background thread)."""
    import time

    t0 = time.time()
    while True:
        at.run()
        if cond(at) or time.time() - t0 > timeout:
            return at
        time.sleep(0.1)


def test_page_runs_and_shows_result(monkeypatch, clean_preset_jobs):
    from streamlit.testing.v1 import AppTest

    calls = []

    def fake_run(name, fast=False, progress=None, **kw):
        calls.append((name, fast))
        progress(1, 2, "half")
        return _fake_result(name)

    monkeypatch.setattr(presets, "run", fake_run)
    at = AppTest.from_file("../pages/presets.py", default_timeout=60)
    at.run()
    assert not at.exception
    assert at.button(key="preset_run").label.startswith("Run preset (")
    at.selectbox(key="preset_name").set_value("nt_cookbook")
    at.button(key="preset_run").click()
    _run_until(at, lambda a: len(a.metric) > 0 or a.exception)
    assert not at.exception and not at.error
    assert calls == [("nt_cookbook", True)]
    assert at.metric[0].label == "a"
    assert any("Original: demo caption." in m.value for m in at.markdown)
    drawn = [json.loads(json.loads(c.proto.json)["spec"]) for c in at.get("bidi_component")
             if c.proto.component_name == "ntk_plot"]
    assert len(drawn) == 1 and drawn[0]["data"][0]["y"] == [1, 0]
    # After a run the button offers to run again; the stored result is shown without a click.
    assert at.button(key="preset_rerun").label == "Run again"
    at2 = AppTest.from_file("../pages/presets.py", default_timeout=60)
    at2.query_params["preset"], at2.query_params["fast"] = "nt_cookbook", "1"
    at2.run()
    assert at2.metric and calls == [("nt_cookbook", True)]


def test_page_reports_errors_without_traceback(monkeypatch, clean_preset_jobs):
    from streamlit.testing.v1 import AppTest

    def boom(name, fast=False, progress=None, **kw):
        raise RuntimeError("training diverged")

    monkeypatch.setattr(presets, "run", boom)
    at = AppTest.from_file("../pages/presets.py", default_timeout=60)
    at.run()
    at.selectbox(key="preset_name").set_value("lee2019")
    at.button(key="preset_run").click()
    _run_until(at, lambda a: bool(a.error) or a.exception)
    assert not at.exception
    assert "training diverged" in at.error[0].value


def test_every_preset_number_has_a_readable_name():
    """Metric cards never show raw keys: the numbers of every recorded preset run (fixtures) and the
    stax preset's accuracy keys get names without underscores."""
    import gzip
    import json
    from pathlib import Path

    from ntk.analysis.presets.text import short_name

    keys = set()
    for path in (Path(__file__).parent / "fixtures" / "presets").glob("*.json.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            keys |= set(json.load(f)["numbers"])
    keys |= {f"acc_{a}_{g}_shift{s}" for a in ("mlp", "cnn", "cnn_pool") for g in ("ntk", "nngp") for s in (0, 1)}
    keys |= {"pool_gain_ntk_shift1"}
    assert len(keys) > 20
    raw = {k: short_name(k) for k in keys if "_" in short_name(k)}
    assert not raw, raw
    assert short_name("acc_cnn_pool_nngp_shift0") == "CNN + pool test accuracy, NNGP (original digits)"
