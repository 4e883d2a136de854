"""The app's background prewarm computes exactly what a first visitor of each page would."""
import json

import pytest
from _apphelpers import assert_clean, charts, run_page

from ntk import plots as P
from ntk import ui


@pytest.mark.parametrize("page", ["spectrum", "kernel"])
def test_prewarmed_page_needs_no_computation(page, monkeypatch):
    assert ui.prewarm([page]) == [page]
    args = ui.compute_args(page, ui.defaults(page))
    d = ui.cached_result(ui.DATA_FN[page], args)
    expected = [json.loads(P.apply_theme(getattr(P, fn)(d, **kw)).to_json())
                for fn, kw in ui.page_figures(page, d)]

    def fail(*a, **k):
        raise AssertionError("recomputed although prewarmed")

    # The page must take its result and its figures from the cache filled by prewarm().
    monkeypatch.setattr(P, ui.DATA_FN[page], fail)
    for fn, _ in ui.page_figures(page, d):
        monkeypatch.setattr(P, fn, fail)
    at = run_page(page)
    assert_clean(at)
    got = charts(at)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g["data"] == e["data"]


def test_prewarm_status_off_in_tests():
    status = ui.start_prewarm()
    assert status["enabled"] is False and status["done"] == [] and not status["finished"]
    assert status["pages"] == list(ui.PREWARM_ORDER)


def test_prewarm_gives_way_to_a_visitor(monkeypatch):
    """While a visitor's computation runs, the prewarm thread does not start the next page."""
    import threading
    import time

    calls = []
    monkeypatch.setattr(ui, "cached_result", lambda fn, args: calls.append(fn) or {})
    monkeypatch.setattr(ui, "page_figures", lambda page, d: [])
    ui._visit(+1)
    try:
        t = threading.Thread(target=ui.prewarm, args=(["spectrum"],), daemon=True)
        t.start()
        time.sleep(0.5)
        assert calls == [] and t.is_alive()
    finally:
        ui._visit(-1)
    t.join(10)
    assert calls == ["spectrum_data"] and not t.is_alive()
