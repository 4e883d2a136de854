"""App timing: cold page load and warm slider redraw, measured in a real browser (not a test).

    .venv/bin/python benchmarks/app_timing.py [--pages kernel,training] [--mode all]
                                              [--no-jax-cache] [--repeats 3]

Starts `streamlit run app.py` on a free 127.0.0.1 port and drives headless chromium:
  cold   first load of each page at its defaults (full navigation to its URL) in a fresh server
         process after the home page has been opened and fully drawn, timed until all Plotly
         figures are drawn and the script has stopped running
         (`data-test-script-state` of the app element). Three modes, one fresh server each:
           no-prewarm  NTK_PREWARM=0 and an empty results folder: the page computes everything
                       on this first visit (and stores the results on disk);
           restart     NTK_PREWARM=0 again, with the results the no-prewarm server stored (what a
                       restarted app finds: the same code computed this configuration before);
           prewarm     no stored results; the server's background prewarm (on by default in the
                       app) has finished (the home page says so) before the pages are opened.
  warm   moving the width slider to a new value and back, `--repeats` times: "new" is the first
         move (includes the computation at the new width), "back" the median cached redraw
         (target < 0.5 s). Timed inside the page (performance.now()): from the key press until
         the script has stopped and the last DOM change of the redraw (checked: the page's main
         figure shows new data), so that polling does not slow the browser down.
Prints a table of seconds. With --no-jax-cache the persistent XLA compilation cache is disabled
(NTK_JAX_CACHE=0), i.e. the first-ever start on a machine.
"""
import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-dev-shm-usage"]
NPLOTS = {"kernel": 3, "convergence": 1, "training": 4, "lazy": 2, "spectrum": 1}
SLIDER = {"kernel": 0, "spectrum": 0}  # index of the width select_slider in the sidebar


FIRST = {"kernel": "empirical_kernels", "convergence": "convergence", "training": "animation",
         "lazy": "lazy_scaling", "spectrum": "spectrum",
         "floor": "floor"}  # key of each page's main (width-dependent) figure


def sig(name):
    """JS: the data of the page's figure that changes with the width (not the 'Computing…'
    placeholder)."""
    return ("() => { const p = document.querySelector('.st-key-chart_%s .js-plotly-plot'); "
            "return p && p.data ? JSON.stringify(p.data.map(t => t.z || t.y)) : ''; }" % FIRST[name])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IDLE = """(n) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(p => !p.closest('[class*="st-key-computing_"]'));
    return app && app.getAttribute('data-test-script-state') === 'notRunning' && plots.length >= n;
}"""


def idle(page, n, timeout=600_000):
    page.wait_for_function(IDLE, arg=n, timeout=timeout, polling=20)


# In-page timing of a slider move, so that the measurement itself does not load the browser
# (no polling of figure data while it renders): time of the key press, of the last DOM change
# and of the script-state change to notRunning, all from performance.now().
OBSERVE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.__ntk = {key: null, last: 0, stopped: 0};
    if (window.__ntkObs) return;
    window.__ntkObs = true;
    document.addEventListener('keydown', () => {
        window.__ntk = {key: performance.now(), last: 0, stopped: 0}; }, true);
    new MutationObserver(() => { window.__ntk.last = performance.now(); })
        .observe(document.body, {subtree: true, childList: true, attributes: true,
                                 characterData: true});
    new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') === 'notRunning')
            window.__ntk.stopped = performance.now(); })
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def timed_move(page, thumb, key, name, quiet=0.6, timeout=120.0):
    """Press `key` on the slider; return seconds from the key press until the script stopped
    and the DOM stopped changing (the redraw is complete), measured inside the page.

    Done when the slider shows its new value, the page's main figure shows new data, the
    script is not running and the DOM has been quiet for `quiet` s; the time is that of the
    last DOM change (a cached rerun can be so quick that the script state never shows
    'running', so the state's change is not required)."""
    before = page.evaluate(sig(name))
    value = thumb.input_value()
    page.evaluate(OBSERVE)
    thumb.focus()
    time.sleep(0.3)
    page.evaluate(OBSERVE)  # reset after focusing
    thumb.press(key)
    t_press = time.time()
    t_end = t_press + timeout
    while time.time() < t_end:
        time.sleep(0.2)
        if thumb.input_value() == value:
            if time.time() - t_press > 3.0:
                # The key press was lost (focus moved during a re-render). Retry.
                thumb.focus()
                page.evaluate(OBSERVE)
                thumb.press(key)
                t_press = time.time()
            continue
        t = page.evaluate("() => [window.__ntk.key, window.__ntk.last, window.__ntk.stopped, "
                          "performance.now()]")
        state = page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]')"
                              ".getAttribute('data-test-script-state')")
        if (t[0] is not None and state == "notRunning" and t[3] - max(t[1], t[2]) > quiet * 1000
                and page.evaluate(sig(name)) != before):
            return (max(t[1], t[2]) - t[0]) / 1000
    print(f"[warn] {name}: no completed redraw within {timeout:.0f} s after {key}; not counted",
          flush=True)
    return float("nan")


@contextlib.contextmanager
def serve(script, env):
    """`streamlit run <script>` on a free 127.0.0.1 port; yields its URL once it is healthy."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless",
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
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def run_mode(a, mode, results_dir):
    """One fresh server. no-prewarm: pages compute on the visit (results go to `results_dir`,
    empty before); restart: NTK_PREWARM=0 again, but the results the no-prewarm server stored in
    `results_dir` are on disk; prewarm: no results on disk, the background prewarm computes."""
    env = dict(os.environ, NTK_PREWARM="1" if mode == "prewarm" else "0",
               NTK_RESULTS_CACHE="0" if mode == "prewarm" else str(results_dir))
    if a.no_jax_cache:
        env["NTK_JAX_CACHE"] = "0"
    rows = []
    with serve("app.py", env) as url:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = b.new_page(viewport={"width": 1400, "height": 1000})
            t_start = time.perf_counter()
            pg.goto(url + "/home")
            pg.wait_for_selector("text=One-click presets", timeout=120_000)
            idle(pg, 1)  # the home page is fully drawn (its NTK figure included)
            if mode == "prewarm":  # wait until the server says the default views are ready
                while "views of all pages are computed" not in pg.content():
                    time.sleep(1.0)
                    pg.reload()
                    pg.wait_for_selector("text=One-click presets", timeout=120_000)
                print(f"[prewarm] default views of all pages ready {time.perf_counter() - t_start:.1f} s "
                      "after the first visit started the server's prewarm", flush=True)
            for name in a.pages.split(","):
                t0 = time.perf_counter()
                pg.goto(f"{url}/{name}")
                idle(pg, NPLOTS[name])
                cold = time.perf_counter() - t0
                new, backs = float("nan"), []
                if name in SLIDER and mode == "no-prewarm":
                    thumb = pg.locator("[data-testid='stSidebar'] input[type='range']").nth(SLIDER[name])
                    for rep in range(a.repeats):
                        for direction in ("ArrowRight", "ArrowLeft"):
                            dt = timed_move(pg, thumb, direction, name)
                            if direction == "ArrowRight" and rep == 0:
                                new = dt
                            elif direction == "ArrowLeft" and dt == dt:
                                backs.append(dt)
                back = float(np.median(backs)) if backs else float("nan")
                rows.append((name, cold, new, back, backs))
                print(f"{mode:<11} {name:<12} {cold:>10.2f} {new:>11.2f} {back:>12.2f}  "
                      + (" ".join(f"{x:.2f}" for x in backs)), flush=True)
            b.close()
    return rows


def floor_redraw(a, charts: int, mechanism: str = "st") -> list:
    """Cached-redraw times of benchmarks/_floor_app.py with `charts` changing charts (baseline),
    drawn by st.plotly_chart (mechanism "st") or the app's ntk.ui.plotly_chart ("ntk")."""
    env = dict(os.environ, NTK_FLOOR_CHARTS=str(charts), NTK_FLOOR_MECHANISM=mechanism)
    with serve("benchmarks/_floor_app.py", env) as url:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = b.new_page(viewport={"width": 1400, "height": 1000})
            pg.goto(url)
            idle(pg, charts)
            thumb = pg.locator("[data-testid='stSidebar'] input[type='range']").first
            times = [t for t in (timed_move(pg, thumb, d, "floor") for _ in range(a.repeats)
                                 for d in ("ArrowRight", "ArrowLeft")) if t == t]
            b.close()
    print(f"{'floor ' + mechanism:<11} {f'{charts} chart(s)':<12} {'':>10} {'':>11} {np.median(times):>12.2f}  "
          + " ".join(f"{x:.2f}" for x in times), flush=True)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", default="kernel,convergence,training,lazy,spectrum")
    ap.add_argument("--mode", choices=["all", "no-prewarm", "restart", "prewarm"], default="all")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-jax-cache", action="store_true")
    a = ap.parse_args()
    print(f"{'mode':<11} {'page':<12} {'cold load':>10} {'slider new':>11} {'slider back':>12}  "
          "(each back)")
    modes = ["no-prewarm", "restart", "prewarm"] if a.mode == "all" else [a.mode]
    with tempfile.TemporaryDirectory(prefix="ntk-results-") as results_dir:
        if a.mode == "restart":  # fill the results folder first
            run_mode(a, "no-prewarm", results_dir)
        results = {mode: run_mode(a, mode, results_dir) for mode in modes}
    floors = ({(m, c): floor_redraw(a, c, m) for m in ("st", "ntk") for c in (1, 3)}
              if a.mode == "all" else {})
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores; load average {load:.1f}")
    if a.mode == "all" and a.pages == ap.get_default("pages") and not a.no_jax_cache:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import machine_description, write_section

        lines = [f"Machine: {machine_description()}; load average at the end {load:.1f}. Real "
                 "headless chromium (software rendering) on the same 2 cores as the server.", "",
                 "| page | cold load, computed on the visit (s) | cold load, after a restart (s) "
                 "| cold load, prewarmed (s) | slider: new width (s) "
                 "| slider: cached redraw, median (s) |", "|---|---:|---:|---:|---:|---:|"]
        pre = {r[0]: r for r in results["prewarm"]}
        rst = {r[0]: r for r in results["restart"]}
        for name, cold, new, back, backs in results["no-prewarm"]:
            new_s = "–" if new != new else f"{new:.2f}"
            lines.append(f"| {name} | {cold:.2f} | {rst[name][1]:.2f} | {pre[name][1]:.2f} | {new_s} | "
                         + (f"{back:.2f} ({', '.join(f'{b:.2f}' for b in backs)})" if backs else "–")
                         + " |")
        mech = {"st": "`st.plotly_chart` (rebuilds the chart)",
                "ntk": "the app's `ntk.ui.plotly_chart` (updates it in place)"}
        lines += ["", "Baseline in the same run (`benchmarks/_floor_app.py`: a bare Streamlit page whose "
                  "slider changes 1 or 3 Plotly charts, no computation), median redraw: "
                  + "; ".join(f"{mech[m]}: " + ", ".join(f"{c} chart(s) {np.median(floors[(m, c)]):.2f} s"
                                                       for c in (1, 3)) for m in ("st", "ntk"))
                  + ". The app's pages draw with `ntk.ui.plotly_chart`. "
                  "A width move changes 1 chart on the kernel page (the empirical kernels; "
                  "the infinite-width kernels and the circle plot do not depend on the width) "
                  "and 1 on the spectrum page (one figure with three panels)."]
        lines += ["", "Targets: cold load < 5 s, cached slider redraw < 0.5 s. *Cold load*: a full "
                  "navigation to the page's URL in a fresh server process (after the home page), until "
                  "all figures are drawn and the script has stopped. *Computed on the visit*: "
                  "NTK_PREWARM=0 and no stored results, the page computes everything (compiled XLA "
                  "programs come from the on-disk cache). *After a restart*: NTK_PREWARM=0 again, the "
                  "results stored on disk by the previous server (same code, same configuration) are "
                  "read. *Prewarmed*: no stored results; opened after the server's background prewarm "
                  "(on by default) has computed the default views. *Slider*: width select-slider moved "
                  "right (new width: computation included) and back (cached), timed inside the page."]
        write_section("app_timing", "## App timing (`benchmarks/app_timing.py`)\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
