"""Paper presets: how long each takes, fast and full size, and how fast a stored one opens (not a
test). Writes its table to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_presets.py            # fast sizes + the chunking ratio
    .venv/bin/python benchmarks/bench_presets.py --full     # and the full (paper) sizes: minutes

Each preset runs in a fresh process (compilation included, persistent compile cache off), as
the first run on a new server would. Reported per run: wall time, the 1-minute load average at
start and end (the machine is shared: other processes' load slows every number), and the time
to load the stored result (what the app does for a precomputed preset: unpickle from the results
cache). A second table compares the ensemble trainer's chunking (networks trained together per
compiled loop) before and after making chunks fit the CPU caches, measured in the same run.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
TARGET_S = 60.0

_CHILD = r"""
import json, os, pickle, sys, time
t0 = time.perf_counter()
import ntk.presets as P
r = P.run(sys.argv[1], fast=sys.argv[2] == "1")
wall = time.perf_counter() - t0
blob = pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)
t1 = time.perf_counter(); pickle.loads(blob); load = time.perf_counter() - t1
print("RESULT " + json.dumps(dict(wall=wall, elapsed=r.elapsed_s, load=load, bytes=len(blob))))
"""


def run_preset(name: str, fast: bool) -> dict:
    env = dict(os.environ, NTK_JAX_CACHE="0", PYTHONPATH=str(ROOT))
    la0 = os.getloadavg()[0]
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, name, "1" if fast else "0"], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    total = time.perf_counter() - t
    la1 = os.getloadavg()[0]
    line = [s for s in out.stdout.splitlines() if s.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-2000:]}")
    res = json.loads(line[0][7:])
    res.update(process=total, load0=la0, load1=la1)
    return res


def chunk_ratio() -> list:
    """nt_cookbook's ensemble (width-512 Erf nets, 5 points): old chunking (4M floats per chunk:
    8 nets together) vs cache-sized chunks (600k floats: 2 nets), same process, interleaved."""
    import ntk
    from ntk.analysis.ensemble import _auto_chunk, train_ensemble

    ds = ntk.data.sine_1d(5, 50, noise=0.1, seed=0)
    net = ntk.mlp([512] * 2, 1, "erf", 1.5, 0.05, "ntk")
    n_nets, steps = 8, 2000
    chunks = {"before: 4M floats per chunk": _auto_chunk(net, 1, n_nets, 4_000_000),
              "now: cache-sized chunks": _auto_chunk(net, 1, n_nets)}
    times = {k: [] for k in chunks}
    for k, c in chunks.items():  # compile both first
        train_ensemble(net, range(c), ds.x_train, ds.y_train, ds.x_test, learning_rate=0.1,
                       steps=10, chunk=c)
    for _ in range(3):
        for k, c in chunks.items():
            t = time.perf_counter()
            train_ensemble(net, range(n_nets), ds.x_train, ds.y_train, ds.x_test,
                           learning_rate=0.1, steps=steps, chunk=c)
            times[k].append(time.perf_counter() - t)
    base = min(times["before: 4M floats per chunk"])
    return [(k, chunks[k], min(v), base / min(v)) for k, v in times.items()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="also the full (paper) sizes: minutes")
    ap.add_argument("--presets", default="", help="comma-separated names (default: every preset)")
    args = ap.parse_args()
    from _results import machine_description, write_section
    from ntk import presets

    names = args.presets.split(",") if args.presets else [i.name for i in presets.list_presets()]
    sizes = [True, False] if args.full else [True]
    rows = []
    for fast in sizes:
        for name in names:
            r = run_preset(name, fast)
            rows.append((name, fast, r))
            print(f"{name:12s} {'fast' if fast else 'full':4s} {r['elapsed']:8.1f} s in the preset "
                  f"({r['process']:.1f} s process), stored result opens in {1e3 * r['load']:.1f} ms "
                  f"({r['bytes'] / 1e6:.2f} MB); load {r['load0']:.1f} -> {r['load1']:.1f}", flush=True)
    ratio = chunk_ratio()
    for k, c, t, x in ratio:
        print(f"ensemble {k:30s} chunk {c}: {t:.2f} s ({x:.2f}x)", flush=True)
    md = ["## Paper presets: time per run and opening a stored result", "",
          f"Machine: {machine_description()}",
          "Each run in a fresh process, persistent compile cache off (compilation included). The "
          "machine is shared with other jobs: the load average (1 min) at start and end of each "
          "run is given; on a quiet 2-core machine the times are lower.", "",
          "| preset | size | time | load start → end | stored result opens in | ≤ 60 s? |",
          "|---|---|---:|---|---:|---|"]
    for name, fast, r in rows:
        ok = "yes" if r["elapsed"] <= TARGET_S else "no: precomputed"
        md.append(f"| {name} | {'fast' if fast else 'full'} | {r['elapsed']:.1f} s | "
                  f"{r['load0']:.1f} → {r['load1']:.1f} | {1e3 * r['load']:.0f} ms "
                  f"({r['bytes'] / 1e6:.1f} MB) | {ok} |")
    md += ["", "A preset over 60 s is precomputed: the server computes every preset not stored "
           "yet in the background after start (fast sizes first), `python -m ntk warm-app "
           "--presets all` does it ahead of time, and the Presets page then opens it from the "
           "results cache in the time shown (plus drawing the figures).", "",
           "### Ensemble chunking (nt_cookbook's 8 width-512 Erf nets, 5 points, 2000 steps)", "",
           "| chunking | nets per chunk | best of 3 | speed-up vs before |", "|---|---:|---:|---:|"]
    for k, c, t, x in ratio:
        md.append(f"| {k} | {c} | {t:.2f} s | {x:.2f}× |")
    write_section("bench_presets", "\n".join(md))


if __name__ == "__main__":
    main()
