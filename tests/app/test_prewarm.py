"""The app's background prewarm computes exactly what a first visitor of each page would."""
import json

import pytest
from _apphelpers import assert_clean, charts, run_page

from ntk import figures
from ntk.analysis import views
from ntk.app import cache, prewarm
from ntk.app import registry as R


@pytest.mark.parametrize("page", ["spectrum", "kernel"])
def test_prewarmed_page_needs_no_computation(page, monkeypatch):
    assert prewarm.prewarm([page]) == [page]
    rec = R.get(page)
    args = rec.compute_args(rec.default_config())
    d = cache.cached_result(rec.data_fn, args)
    expected = [json.loads(figures.apply_theme(rec.figure(fn)(d, **kw)).to_json())
                for fn, kw in rec.default_figures(d)]

    def fail(*a, **k):
        raise AssertionError("recomputed although prewarmed")

    # The page must take its result and its figures from the cache filled by prewarm().
    monkeypatch.setattr(views, rec.data_fn, fail)
    for fn, _ in rec.default_figures(d):
        monkeypatch.setattr(figures, fn, fail)
    at = run_page(page)
    assert_clean(at)
    got = charts(at)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g["data"] == e["data"]


def test_prewarm_status_off_in_tests():
    status = prewarm.start_prewarm()
    assert status["enabled"] is False and status["done"] == [] and not status["finished"]
    assert status["pages"] == list(R.prewarm_pages())
    assert status["pages"] == ["kernel", "convergence", "training", "lazy", "spectrum", "architectures"]


def test_prewarm_gives_way_to_a_visitor(monkeypatch):
    """While a visitor's computation runs, the prewarm thread does not start the next page."""
    import threading
    import time

    calls = []
    monkeypatch.setattr(cache, "cached_result", lambda fn, args: calls.append(fn) or {})
    monkeypatch.setattr(R.get("spectrum"), "figures", lambda d: [])
    cache.visit(+1)
    try:
        t = threading.Thread(target=prewarm.prewarm, args=(["spectrum"],), daemon=True)
        t.start()
        time.sleep(0.5)
        assert calls == [] and t.is_alive()
    finally:
        cache.visit(-1)
    t.join(10)
    assert calls == ["spectrum_data"] and not t.is_alive()
