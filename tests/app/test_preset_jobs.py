"""Presets in the app: background runs through the results cache, shared progress with time left,
stored results on disk across a server restart, precomputation by prewarm and warm-app."""
import time

import plotly.graph_objects as go
import pytest

from ntk import presets
from ntk.app import cache, prewarm, preset_jobs


def _fake(name, fast=False, progress=None, **kw):
    progress = progress or (lambda *a: None)
    for i in range(1, 4):
        progress(i, 3, f"unit {i}")
        time.sleep(0.05)
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    return presets.PresetResult(name, presets.PRESETS[name].title, {"main": fig}, {"a": 1.0},
                                "Original: fake.", {"fast": fast}, {"a": "a"}, {}, 0.2)


@pytest.fixture
def jobs(monkeypatch, tmp_path):
    monkeypatch.setenv("NTK_RESULTS_CACHE", str(tmp_path))
    monkeypatch.setattr(presets, "run", _fake)
    cache.clear_store()
    preset_jobs._jobs()[0].clear()
    yield tmp_path
    cache.clear_store()
    preset_jobs._jobs()[0].clear()


def _wait(name, fast, timeout=30):
    t0 = time.time()
    while (preset_jobs.status(name, fast) or {}).get("state") == "running":
        assert time.time() - t0 < timeout
        time.sleep(0.02)
    return preset_jobs.status(name, fast)


def test_background_run_progress_store_and_restart(jobs):
    assert preset_jobs.stored("jacot_fig1", True) is None
    st0 = preset_jobs.start("jacot_fig1", True)
    assert st0["state"] in ("running", "done")
    st1 = _wait("jacot_fig1", True)
    assert st1["state"] == "done" and st1["done"] == st1["total"] == 3 and st1["left"] == 0
    r = preset_jobs.stored("jacot_fig1", True)
    assert r.numbers == {"a": 1.0}
    assert preset_jobs.last_seconds("jacot_fig1", True) > 0  # the next run's estimate
    cache.clear_store()  # a restarted server: the result comes from disk, nothing recomputes
    preset_jobs._jobs()[0].clear()
    assert preset_jobs.stored("jacot_fig1", True).numbers == {"a": 1.0}
    assert preset_jobs.start("jacot_fig1", True)["state"] == "done"


def test_second_start_joins_the_running_job(jobs, monkeypatch):
    calls = []

    def slow(name, fast=False, progress=None, **kw):
        calls.append(name)
        time.sleep(0.3)
        return _fake(name, fast, progress)

    monkeypatch.setattr(presets, "run", slow)
    preset_jobs.start("lee2019", False)
    preset_jobs.start("lee2019", False)
    assert _wait("lee2019", False)["state"] == "done" and calls == ["lee2019"]


def test_errors_are_reported_for_the_app(jobs, monkeypatch):
    def boom(name, fast=False, progress=None, **kw):
        raise ValueError("The empirical NTK needs an estimated 3.0 GiB, above the memory budget of "
                         "1.0 GiB. Pass batch_size (e.g. batch_size=128) to compute it in blocks.")

    monkeypatch.setattr(presets, "run", boom)
    preset_jobs.start("nt_cookbook", True)
    st = _wait("nt_cookbook", True)
    assert st["state"] == "error" and "batch_size" not in st["error"]
    assert "Lower the number of points or the width" in st["error"]


def test_precompute_and_warm_app(jobs):
    done = preset_jobs.precompute(names=["jacot_fig2"], sizes=(True, False))
    assert done == [("jacot_fig2", True), ("jacot_fig2", False)]
    assert preset_jobs.stored("jacot_fig2", False) is not None
    out = prewarm.warm_caches(pages=[], presets="fast")
    assert out == [f"preset {n} (fast)" for n in presets.PRESETS]
    assert all(preset_jobs.stored(n, True) is not None for n in presets.PRESETS)
