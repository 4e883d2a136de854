"""The app's cost model (`ntk.app.cost`) against measured page computations (not a test).

    .venv/bin/python benchmarks/bench_cost_model.py [--quick]

For each configuration (page defaults and a few heavier ones), in one process with an empty
persistent compilation cache: the estimate in seconds (from this machine's measured speed),
then the measured wall time of the page's data function (first call: includes compilation, as a
first visit does). Prints measured / estimated ratios and the load average, and writes the table
to benchmarks/RESULTS.md. The app asks before computing above `cost.CONFIRM_SECONDS`; what
matters is that the estimate is the right order of magnitude (a ratio between 1/3 and 3).
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("NTK_JAX_CACHE", "0")

CASES = [
    ("home", {}),
    ("kernel", {}),
    ("kernel", {"width": 2048, "n": 256}),
    ("convergence", {}),
    ("training", {}),
    ("training", {"widths": [32, 512, 2048], "steps": 500}),
    ("lazy", {}),
    ("spectrum", {}),
    ("spectrum", {"width": 2048, "n_train": 128}),
]
QUICK = [CASES[i] for i in (0, 1, 4, 7)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="four cheap configurations")
    args = ap.parse_args()

    from _results import machine_description, write_section
    from ntk.app import cost
    from ntk.app import registry as R

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    sp = cost.machine_speed()
    t_cal = time.perf_counter() - t0
    rows = []
    for page, over in (QUICK if args.quick else CASES):
        rec = R.get(page)
        cfg = rec.compute_args({**rec.default_config(), **over})
        est = cost.estimate(rec.data_fn, cfg, sp)
        t = time.perf_counter()
        rec.data_function()(**cfg)
        wall = time.perf_counter() - t
        ratio = wall / est.seconds
        rows.append((page, over, est.seconds, wall, ratio, os.getloadavg()[0]))
        print(f"{page:12s} {str(over):45s} estimate {est.seconds:8.2f} s  measured {wall:8.2f} s  "
              f"ratio {ratio:5.2f}  load {rows[-1][-1]:.1f}", flush=True)
    load1 = os.getloadavg()[0]
    md = ["## App cost model: estimate vs measured page computation", "",
          f"Machine: {machine_description()}",
          f"Load average (1 min) at start / end: {load0:.1f} / {load1:.1f} (shared machine: the "
          "speed is measured at start, so the estimate follows the load at that moment)",
          f"Measured speed: {sp.flops / 1e9:.1f} GFLOP/s matmul, {sp.bandwidth / 1e9:.2f} GB/s "
          f"streaming, {sp.normals / 1e6:.0f} M normals/s (calibration {t_cal:.1f} s, once per "
          "process)", "",
          "First call of each data function in one process, persistent compile cache off "
          "(compilation included, as on a first visit).", "",
          "| page | configuration | estimate | measured | measured / estimate |",
          "|---|---|---:|---:|---:|"]
    for page, over, e, w, r, _ in rows:
        md.append(f"| {page} | {over or 'defaults'} | {e:.1f} s | {w:.1f} s | {r:.2f} |")
    write_section("cost_model", "\n".join(md))


if __name__ == "__main__":
    main()
