"""Small load test: 20 concurrent browser sessions on 127.0.0.1, each with its own settings.

The 20 tabs are spread over 4 browser profiles (contexts); each tab is its own Streamlit session.

The sessions open at once: 16 the kernel explorer (MLP), 2 the kernel explorer with a CNN
(architecture=cnn) and 2 the Architectures page, each with its own seed (same sizes, so the
server compiles once per kind and the load is the concurrent sessions themselves). Each must
render without errors and show *its own* configuration: its seed in the widget and the URL, and
numbers that differ from every other session's (a leak of state between sessions would repeat
one).
"""
import time

import pytest

from _browser import assert_no_errors, wait_ready

pytestmark = pytest.mark.browser

N_SESSIONS = 20
N_CONTEXTS = 4
WIDTH = 64


def _expected_params(width, depth=2, in_dim=2):
    dims = [in_dim] + [width] * depth + [1]
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


CNN_SEEDS = (17, 18)  # kernel explorer with architecture=cnn
ARCH_SEEDS = (19, 20)  # the Architectures page (its seed draws the digits)
ARCH_QUERY = "n_train=20&n_test=20&widths=4,8&n_seeds=1&depth=1&architectures=mlp,cnn_pool"


def _url(server, seed):
    if seed in ARCH_SEEDS:
        return f"{server}/architectures?{ARCH_QUERY}&seed={seed}"
    arch = "&architecture=cnn" if seed in CNN_SEEDS else ""
    return f"{server}/kernel?width={WIDTH}&seed={seed}&n=8&circle_seeds=1{arch}"


def _check_session(seed, pg):
    """The numbers this session shows (its own seed is checked in the widget and the URL)."""
    from ntk.analysis.architectures import num_params

    wait_ready(pg, 4 if seed in ARCH_SEEDS else 3, timeout=300_000)
    assert_no_errors(pg)
    metrics = pg.locator("[data-testid='stMetricValue']")
    shown = pg.locator("[data-testid='stSidebar'] input[type='number']").last.input_value() \
        if seed in ARCH_SEEDS else \
        pg.locator("[data-testid='stSidebar'] input[type='number']").first.input_value()
    assert shown == str(seed) and f"seed={seed}" in pg.url
    if seed in ARCH_SEEDS:
        # the heatmap of the digits this session drew (its seed), as text
        return pg.evaluate("() => JSON.stringify(document.querySelector("
                           "'.st-key-chart_arch_kernels .js-plotly-plot').data[0].z)")
    params = metrics.nth(1).inner_text().replace(",", "")
    want = num_params("cnn", WIDTH, 2) if seed in CNN_SEEDS else _expected_params(WIDTH)
    assert params == str(want), (seed, params)
    assert f"width={WIDTH}" in pg.url
    return metrics.nth(0).inner_text()


def test_twenty_concurrent_sessions(server, browser):
    t0 = time.time()
    # N_CONTEXTS browser profiles with several tabs each: every tab is its own Streamlit session
    # (its own websocket); small viewports and reduced motion keep 20 software-rendered pages
    # from starving the server on a 2-core machine.
    ctxs = [browser.new_context(viewport={"width": 800, "height": 450}, reduced_motion="reduce")
            for _ in range(N_CONTEXTS)]
    pages = []
    for seed in range(1, N_SESSIONS + 1):  # seed 0 is the default and is left out of the URL
        pg = ctxs[seed % N_CONTEXTS].new_page()
        pg.goto(_url(server, seed), wait_until="commit", timeout=60_000)
        pages.append(pg)
    shown = {}
    try:
        for seed, pg in enumerate(pages, start=1):
            shown[seed] = _check_session(seed, pg)
    finally:
        for c in ctxs:
            c.close()
    assert len(set(shown.values())) == N_SESSIONS, shown
    assert time.time() - t0 < 420
