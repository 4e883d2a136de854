"""Drive the running app in headless chromium: every page renders Plotly figures without errors,
the width slider changes the figure, the URL reproduces the view. Screenshots: test-artifacts/."""

import pytest

from _browser import ARTIFACTS, assert_no_errors, wait_ready

pytestmark = pytest.mark.browser

PAGES = [  # (url path, query, minimum number of plots)
    ("home", "", 0),
    ("kernel", "", 3),
    ("convergence", "n_widths=5&n_seeds=3", 1),
    ("training", "", 4),
    ("lazy", "w_max=256&n_widths=4&steps=50&wide=256", 2),
    ("spectrum", "", 1),
]


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, reduced_motion="reduce")
    pg = ctx.new_page()
    yield pg
    ctx.close()


@pytest.mark.parametrize("path, query, n_plots", PAGES, ids=[p[0] for p in PAGES])
def test_page_renders(server, page, path, query, n_plots):
    page.goto(f"{server}/{path}" + (f"?{query}" if query else ""), timeout=60_000)
    if n_plots:
        wait_ready(page, n_plots, timeout=180_000)
    else:
        page.wait_for_selector("text=One-click presets", timeout=60_000)
    assert_no_errors(page)
    page.screenshot(path=str(ARTIFACTS / f"page-{path}.png"), full_page=True)


KERNELS = "document.querySelector('.st-key-chart_empirical_kernels .js-plotly-plot')"


def _heatmap_z(page):
    return page.evaluate(f"() => JSON.stringify({KERNELS}.data[0].z)")


def test_width_slider_changes_figure_and_url(server, page):
    page.goto(f"{server}/kernel?n=12&width=64", timeout=60_000)
    wait_ready(page, 3)
    assert_no_errors(page)
    before = _heatmap_z(page)
    page.evaluate(f"() => {{ {KERNELS}.__ntkMark = 1; }}")  # to see whether the plot is rebuilt
    thumb = page.locator("[data-testid='stSidebar'] input[type='range']").first
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function("() => new URL(location.href).searchParams.get('width') === '128'",
                           timeout=60_000)
    wait_ready(page, 3)
    page.wait_for_function(f"(b) => JSON.stringify({KERNELS}.data[0].z) !== b", arg=before,
                           timeout=60_000)
    assert_no_errors(page)
    page.screenshot(path=str(ARTIFACTS / "kernel-width-128.png"), full_page=True)
    after = _heatmap_z(page)
    assert before != after
    # The chart was updated in place (Plotly.react on the same plot element), not rebuilt.
    assert page.evaluate(f"() => {KERNELS}.__ntkMark") == 1
    # Opening the URL in a fresh page reproduces the exact figure.
    url = page.url
    other = page.context.new_page()
    other.goto(url, timeout=60_000)
    wait_ready(other, 3)
    assert _heatmap_z(other) == after
    other.close()


def test_presenter_mode_screenshot(server, page):
    page.goto(f"{server}/training?presenter=1&widths=32,512", timeout=60_000)
    wait_ready(page, 4, timeout=180_000)
    assert_no_errors(page)
    assert page.get_by_text("What to notice").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "presenter-training.png"), full_page=True)


def _download(page, label):
    btn = page.locator("[data-testid='stDownloadButton'] button", has_text=label).first
    with page.expect_download(timeout=60_000) as dl:
        btn.click()
    with open(dl.value.path(), encoding="utf-8") as f:
        return f.read()


def test_exports_download_data_and_config(server, page):
    """The export dialog of the empirical-kernel heatmaps downloads real CSV data, the configuration the URL
    describes, and an offline-capable interactive HTML figure."""
    import json

    page.goto(f"{server}/kernel?n=12&width=64&seed=3", timeout=60_000)
    wait_ready(page, 3)
    page.get_by_role("button", name="Export empirical kernels").click()
    page.get_by_role("dialog").get_by_text("Reproduce this figure in Jupyter").wait_for(timeout=30_000)
    csv = _download(page, "Data (CSV)")
    rows = [r.split(",") for r in csv.strip().splitlines() if r]
    assert rows[0] == ["array", "i", "j", "value"]  # tidy long format of the heatmaps' arrays
    values = [float(r[3]) for r in rows[1:]]
    assert len(values) >= 2 * 12 * 12 and any(v != 0 for v in values)
    cfg = json.loads(_download(page, "Config (JSON)"))
    assert cfg["width"] == 64 and cfg["n"] == 12 and cfg["seed"] == 3
    html = _download(page, "HTML (interactive)")
    assert "plotly" in html.lower() and "<html" in html.lower()
    assert_no_errors(page)


def test_presets_page_runs_a_preset_from_its_url(server, page):
    """?preset=...&fast=1&run=1 opens the presets page, computes the preset and shows its figures
    and measured numbers; the URL keeps the selection."""
    page.goto(f"{server}/presets?preset=jacot_fig2&fast=1&run=1", timeout=60_000)
    wait_ready(page, 1, timeout=300_000)
    page.wait_for_selector("[data-testid='stMetricValue']", timeout=60_000)
    assert_no_errors(page)
    assert "preset=jacot_fig2" in page.url
    assert page.get_by_text("Computed in").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "page-presets.png"), full_page=True)
