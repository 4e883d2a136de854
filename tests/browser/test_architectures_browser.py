"""Real chromium: the Architectures page renders its four figures, and the architecture switch on
the kernel explorer turns the MLP view into a CNN view (URL, figures, axis labels) in place.
Screenshots: test-artifacts/."""
import json

import pytest

from _browser import ARTIFACTS, assert_no_errors, wait_ready

pytestmark = pytest.mark.browser

SMALL_ARCH = "n_train=20&n_test=20&widths=4,8&n_seeds=1&depth=1"


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, reduced_motion="reduce")
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _plot(page, key):
    return f"document.querySelector('.st-key-chart_{key} .js-plotly-plot')"


def test_architectures_page_renders(server, page):
    page.goto(f"{server}/architectures?{SMALL_ARCH}", timeout=60_000)
    wait_ready(page, 4, timeout=300_000)
    assert_no_errors(page)
    names = json.loads(page.evaluate(f"() => JSON.stringify({_plot(page, 'arch_accuracy')}.data"
                                     ".map(t => t.name))"))
    assert names == ["NTK", "NNGP"]
    bars = json.loads(page.evaluate(f"() => JSON.stringify({_plot(page, 'arch_accuracy')}.data[0].x)"))
    assert bars == ["MLP", "CNN", "CNN + pool", "ResNet"]
    assert page.get_by_text("Test accuracy of the NTK").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "page-architectures.png"), full_page=True)


def test_architecture_switch_on_the_kernel_page(server, page):
    page.goto(f"{server}/kernel?n=6&width=16&circle_seeds=1", timeout=60_000)
    wait_ready(page, 3, timeout=180_000)
    circle = _plot(page, "circle")
    page.evaluate(f"() => {{ {circle}.__ntkMark = 1; }}")
    title_before = page.evaluate(f"() => {circle}.layout.title.text")
    assert "unit circle" in title_before
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(
        has_text="Architecture")
    box.click()
    page.get_by_role("option", name="CNN + global average pooling").click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('architecture') === 'cnn_pool'",
                           timeout=60_000)
    page.wait_for_function(f"() => {circle} && {circle}.layout.title.text.includes('digit images')",
                           timeout=300_000)
    wait_ready(page, 3, timeout=300_000)
    assert_no_errors(page)
    assert page.evaluate(f"() => {circle}.__ntkMark") == 1  # updated in place, not rebuilt
    xt = page.evaluate(f"() => {circle}.layout.xaxis.title.text")
    assert "circle of digit images" in xt
    page.screenshot(path=str(ARTIFACTS / "kernel-cnn_pool.png"), full_page=True)
    # The URL alone reproduces the CNN view.
    other = page.context.new_page()
    other.goto(page.url, timeout=60_000)
    wait_ready(other, 3, timeout=300_000)
    assert other.evaluate(f"() => {_plot(other, 'circle')}.layout.title.text").count("digit images") == 1
    other.close()
