"""Helpers shared by the browser tests (imported by conftest.py and the test modules)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", "--disable-dev-shm-usage"]


def wait_ready(page, n_plots=1, timeout=120_000):
    """Wait until the script has stopped running and at least n_plots Plotly figures (not
    counting the 'Computing…' placeholder) are drawn."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function(
        """(n) => {
            const app = document.querySelector('[data-testid="stApp"]');
            const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .filter(p => !p.closest('[class*="st-key-computing_"]'));  // not the placeholder
            return app && app.getAttribute('data-test-script-state') === 'notRunning' &&
                   plots.length >= n && !document.querySelector('[data-testid="stStatusWidget"]');
        }""",
        arg=n_plots, timeout=timeout, polling=250)
    page.wait_for_timeout(300)


def assert_no_errors(page):
    """No exception box and no st.error alert on the page."""
    exc = page.locator("[data-testid='stException']")
    assert exc.count() == 0, exc.first.inner_text()
    errs = page.locator("[data-testid='stAlertContentError']")
    assert errs.count() == 0, errs.first.inner_text()
