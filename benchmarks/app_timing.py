"""App timing: cold page load and warm slider redraw, measured in a real browser (not a test).

    .venv/bin/python benchmarks/app_timing.py [--pages kernel,training] [--no-jax-cache]

Starts `streamlit run app.py` on a free 127.0.0.1 port and drives headless chromium:
  cold   first load of each page at its defaults in a fresh server process (time from navigation
         until all Plotly figures are drawn and the app is idle);
  warm   moving the width slider to a new value and back: "back" is the cached redraw (target
         < 0.5 s); "new" includes the computation at the new width.
Prints a table of seconds. With --no-jax-cache the persistent XLA compilation cache is disabled
(NTK_JAX_CACHE=0), i.e. the first-ever start on a machine.
"""
import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-dev-shm-usage"]
NPLOTS = {"kernel": 2, "convergence": 1, "training": 4, "lazy": 2, "spectrum": 3}
SLIDER = {"kernel": 0, "spectrum": 0}  # index of the width select_slider in the sidebar


SIG = ("() => { const p = document.querySelectorAll('.js-plotly-plot')[0]; "
       "return p && p.data ? JSON.stringify(p.data.map(t => t.z || t.y)) : ''; }")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def idle(page, n, timeout=600_000):
    page.wait_for_function(
        """(n) => document.querySelectorAll('.js-plotly-plot').length >= n &&
                 !document.querySelector('[data-testid="stStatusWidget"]')""",
        arg=n, timeout=timeout, polling=50)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", default="kernel,convergence,training,lazy,spectrum")
    ap.add_argument("--no-jax-cache", action="store_true")
    a = ap.parse_args()
    env = dict(os.environ)
    if a.no_jax_cache:
        env["NTK_JAX_CACHE"] = "0"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless",
                             "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = b.new_page(viewport={"width": 1400, "height": 1000})
            pg.goto(url + "/home")
            pg.wait_for_selector("text=One-click presets", timeout=120_000)
            print(f"{'page':<12} {'cold load':>10} {'slider new':>11} {'slider back':>12}")
            for name in a.pages.split(","):
                t0 = time.perf_counter()
                pg.goto(f"{url}/{name}")
                idle(pg, NPLOTS[name])
                cold = time.perf_counter() - t0
                new = back = float("nan")
                if name in SLIDER:
                    thumb = pg.locator("[data-testid='stSidebar'] input[type='range']").nth(SLIDER[name])
                    for direction in ("ArrowRight", "ArrowLeft"):
                        before = pg.evaluate(SIG)
                        thumb.focus()
                        t0 = time.perf_counter()
                        thumb.press(direction)
                        # done when the first figure's data has changed and the app is idle
                        pg.wait_for_function(f"(b) => ({SIG})() !== b", arg=before,
                                             timeout=600_000, polling=20)
                        idle(pg, NPLOTS[name])
                        dt = time.perf_counter() - t0
                        if direction == "ArrowRight":
                            new = dt
                        else:
                            back = dt
                print(f"{name:<12} {cold:>10.2f} {new:>11.2f} {back:>12.2f}", flush=True)
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
