"""Small load test: 20 concurrent browser sessions on 127.0.0.1, each with its own settings.

Each session must render without errors and show *its own* configuration (widget values and the
parameter count that depends on its width): no state leaks between sessions.
"""
import time

import pytest

from _browser import assert_no_errors, wait_ready

pytestmark = pytest.mark.browser

N_SESSIONS = 20
WIDTHS = [16, 32, 64, 128, 256]


def _expected_params(width, depth=2, in_dim=2):
    dims = [in_dim] + [width] * depth + [1]
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def test_twenty_concurrent_sessions(server, browser):
    t0 = time.time()
    ctxs, pages, cfgs = [], [], []
    for i in range(N_SESSIONS):
        w, seed = WIDTHS[i % len(WIDTHS)], i
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        pg = ctx.new_page()
        pg.goto(f"{server}/kernel?width={w}&seed={seed}&n=8&circle_seeds=1", wait_until="commit",
                timeout=60_000)
        ctxs.append(ctx)
        pages.append(pg)
        cfgs.append((w, seed))
    try:
        for pg, (w, seed) in zip(pages, cfgs):
            wait_ready(pg, 2, timeout=480_000)
            assert_no_errors(pg)
            params = pg.locator("[data-testid='stMetricValue']").nth(1).inner_text()
            assert params.replace(",", "") == str(_expected_params(w)), (w, seed, params)
            seed_shown = pg.locator("[data-testid='stSidebar'] input[type='number']").first.input_value()
            assert seed_shown == str(seed)
            assert f"width={w}" in pg.url and f"seed={seed}" in pg.url
    finally:
        for c in ctxs:
            c.close()
    assert time.time() - t0 < 600
