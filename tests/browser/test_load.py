"""Small load test: 20 concurrent browser sessions on 127.0.0.1, each with its own settings.

All sessions open the kernel explorer at once, each with its own seed (same width, so the server
compiles once and the load is the concurrent sessions themselves). Each must render without
errors and show *its own* configuration: its seed in the widget and the URL, and a kernel error
that differs from every other session's (a leak of state between sessions would repeat one).
"""
import time

import pytest

from _browser import assert_no_errors, wait_ready

pytestmark = pytest.mark.browser

N_SESSIONS = 20
WIDTH = 64


def _expected_params(width, depth=2, in_dim=2):
    dims = [in_dim] + [width] * depth + [1]
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def test_twenty_concurrent_sessions(server, browser):
    t0 = time.time()
    ctxs, pages = [], []
    for seed in range(1, N_SESSIONS + 1):  # seed 0 is the default and is left out of the URL
        ctx = browser.new_context(viewport={"width": 1000, "height": 700})
        pg = ctx.new_page()
        pg.goto(f"{server}/kernel?width={WIDTH}&seed={seed}&n=8&circle_seeds=1",
                wait_until="commit", timeout=60_000)
        ctxs.append(ctx)
        pages.append(pg)
    errors = {}
    try:
        for seed, pg in enumerate(pages, start=1):
            wait_ready(pg, 3, timeout=300_000)
            assert_no_errors(pg)
            metrics = pg.locator("[data-testid='stMetricValue']")
            errors[seed] = metrics.nth(0).inner_text()
            params = metrics.nth(1).inner_text()
            assert params.replace(",", "") == str(_expected_params(WIDTH)), (seed, params)
            shown = pg.locator("[data-testid='stSidebar'] input[type='number']").first.input_value()
            assert shown == str(seed)
            assert f"seed={seed}" in pg.url and f"width={WIDTH}" in pg.url
    finally:
        for c in ctxs:
            c.close()
    assert len(set(errors.values())) == N_SESSIONS, errors
    assert time.time() - t0 < 420
