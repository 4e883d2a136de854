"""Kernels of N = 20,000 inputs on this machine with `batch_size` blocks: time and peak memory.

    .venv/bin/python benchmarks/scale.py [--quick]

Each case runs in a fresh subprocess (max RSS is the case's own peak, jax runtime included):

  * infinite-width NNGP + NTK, ReLU depth 3, d = 64, float32, N = 20,000 (two 1.6 GB outputs),
    and the NTK alone (`get="ntk"`: one output);
  * empirical NTK, MLP 64 -> 512 -> 512 -> 1 (ReLU, layer-wise method), float32, N = 20,000;
  * correctness: 256 random rows of each big kernel against the unblocked kernel of those points
    with all N; the blocked x2=None kernels are exactly symmetric;
  * throughput of the blocked kernel against one unblocked pass at N = 4,000 (ns per kernel
    entry, alternating runs), and the blocked kernel on 2 virtual CPU devices
    (`--xla_force_host_platform_device_count=2`, blocks sharded with `jax.sharding`) against 1.

Writes section "scale" of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

IN_DIM = 64


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _setup(a):
    import jax
    import jax.numpy as jnp

    import ntk

    x = jax.random.normal(jax.random.PRNGKey(1), (a["n"], IN_DIM), jnp.float32)
    return jax, jnp, ntk, x


def case_infinite(a):
    import numpy as np

    jax, jnp, ntk, x = _setup(a)
    net = ntk.mlp([512] * 3, 1, a.get("act", "relu"), 1.5, 0.05)
    get = tuple(a.get("get", ["nngp", "ntk"]))
    blocks = []

    def run(z, progress=None):
        return jax.block_until_ready(ntk.infinite_kernel(
            net, z, get=get, batch_size=a.get("bs"), progress=progress,
            memory_budget=None if a.get("bs") is None else 2 * 1024**3))

    t = time.perf_counter()
    run(x if a.get("bs") is None else x[:a["bs"]])  # warm-up: compiles the (block) shape
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    k = run(x, lambda d, n: blocks.append(n))
    sec = time.perf_counter() - t
    out = {"seconds": sec, "warmup_s": compile_s, "peak_rss_mb": _peak_rss_mb(),
           "devices": jax.device_count(),
           "calls": blocks[-1] if blocks else 0,
           "out_mb": sum(v.nbytes for v in k if v is not None) / 2**20}
    if a.get("check"):
        mats = {g: np.asarray(getattr(k, g)) for g in get}
        out["symmetric"] = all(bool(np.array_equal(m, m.T)) for m in mats.values())
        out["finite"] = all(bool(np.isfinite(m).all()) for m in mats.values())
        idx = np.sort(np.random.default_rng(0).choice(a["n"], 256, replace=False))
        ref = ntk.infinite_kernel(net, x[idx], x, get=get, memory_budget=None)
        out["rows_err"] = max(float(np.max(np.abs(mats[g][idx] - np.asarray(getattr(ref, g))))
                                    / np.max(np.abs(np.asarray(getattr(ref, g))))) for g in get)
        try:
            ntk.infinite_kernel(net, x)
        except ValueError as e:
            out["unblocked_message"] = str(e)
    return out


def case_empirical(a):
    import numpy as np

    jax, jnp, ntk, x = _setup(a)
    w = a.get("width", 512)
    net = ntk.mlp([w, w], 1, "relu", 1.5, 0.05)
    params = net.init(jax.random.PRNGKey(0), IN_DIM, dtype=jnp.float32)
    blocks = []

    def run(z, progress=None):
        return ntk.empirical_ntk(net, params, z, batch_size=a.get("bs"), progress=progress,
                                 memory_budget=None if a.get("bs") is None else 2 * 1024**3
                                 ).block_until_ready()

    t = time.perf_counter()
    run(x if a.get("bs") is None else x[:a["bs"]])  # warm-up: compiles the (block) shape
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    k = run(x, lambda d, n: blocks.append(n))
    sec = time.perf_counter() - t
    out = {"seconds": sec, "warmup_s": compile_s, "peak_rss_mb": _peak_rss_mb(),
           "devices": jax.device_count(),
           "calls": blocks[-1] if blocks else 0, "out_mb": k.nbytes / 2**20}
    if a.get("check"):
        m = np.asarray(k)
        out["symmetric"] = bool(np.array_equal(m, m.T))
        out["finite"] = bool(np.isfinite(m).all())
        idx = np.sort(np.random.default_rng(0).choice(a["n"], 256, replace=False))
        ref = np.asarray(ntk.empirical_ntk(net, params, x[idx], x, memory_budget=None))
        out["rows_err"] = float(np.max(np.abs(m[idx] - ref)) / np.max(np.abs(ref)))
        try:
            ntk.empirical_ntk(net, params, x)
        except ValueError as e:
            out["unblocked_message"] = str(e)
    return out


CASES = {"infinite": case_infinite, "empirical": case_empirical}


def run_case(case, devices=1, **spec):
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    if devices > 1:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", case, "--spec",
                        json.dumps(spec)], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        print(p.stderr[-3000:], file=sys.stderr)
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"}
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["wall_s"] = time.perf_counter() - t
    return r


def _gib(mb):
    return f"{mb / 1024:.2f} GiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--spec", default="{}")
    ap.add_argument("--quick", action="store_true", help="N = 8000, no RESULTS.md")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(CASES[args.case](json.loads(args.spec))))
        return
    from _results import machine_description, write_section

    t0 = time.perf_counter()
    N = 8000 if args.quick else 20000
    bs_inf, bs_emp = 1000, 2000

    def log(msg):
        print(f"[{time.perf_counter() - t0:5.0f} s] {msg}", flush=True)

    log(f"machine: {machine_description()}")
    inf_both = run_case("infinite", n=N, bs=bs_inf, check=True)
    log(f"infinite NNGP+NTK N={N}: {inf_both}")
    inf_ntk = run_case("infinite", n=N, bs=bs_inf, get=["ntk"])
    log(f"infinite NTK only N={N}: {inf_ntk}")
    emp = run_case("empirical", n=N, bs=bs_emp, width=512, check=True)
    log(f"empirical N={N}: {emp}")

    # Throughput: blocked (N) vs one unblocked pass at 4000, alternating, ns per kernel entry.
    thr = {"inf_blocked": [inf_both["seconds"] / N**2], "inf_full": [],
           "emp_blocked": [emp["seconds"] / N**2], "emp_full": []}
    for _ in range(2):
        r = run_case("infinite", n=4000, bs=None)
        thr["inf_full"].append(r["seconds"] / 4000**2)
        r = run_case("empirical", n=4000, bs=None, width=512)
        thr["emp_full"].append(r["seconds"] / 4000**2)
    thr["inf_blocked"].append(run_case("infinite", n=N, bs=bs_inf)["seconds"] / N**2)
    thr["emp_blocked"].append(run_case("empirical", n=N, bs=bs_emp, width=512)["seconds"] / N**2)
    thr = {k: statistics.median(v) * 1e9 for k, v in thr.items()}
    log(f"ns per entry: {thr}")

    # Sharding over 2 virtual CPU devices vs 1 (N = 8000, alternating, 2 rounds each).
    nd = 8000
    dev = {1: [], 2: []}
    for _ in range(2):
        for d in (1, 2):
            dev[d].append(run_case("infinite", devices=d, n=nd, bs=bs_inf))
    d_t = {d: statistics.median(r["seconds"] for r in rs) for d, rs in dev.items()}
    log(f"devices: {d_t}")
    total = time.perf_counter() - t0

    L = ["## Scale: N = 20,000 inputs with `batch_size`", "", f"Machine: {machine_description()}",
         f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} (other processes share the "
         "cores).", "",
         "Each case in a fresh process, timed after a warm-up call that compiles the block "
         "function (on one block); peak = max RSS of that process (jax runtime included); "
         "float32. *rows err* = max relative difference of 256 random rows against the unblocked "
         "kernel of those points with all N.", "",
         "| case | N | batch_size | kernel calls | time | peak RSS | output | symmetric | rows err |",
         "|---|---:|---:|---:|---:|---:|---:|---|---:|"]

    def row(name, r, bs):
        if "seconds" not in r:
            return f"| {name} | {N} | {bs} | | failed: {r.get('error')} | | | | |"
        sym = r.get("symmetric", "")
        err = f"{r['rows_err']:.1e}" if "rows_err" in r else ""
        return (f"| {name} | {N} | {bs} | {r['calls']} | {r['seconds']:.1f} s | "
                f"{_gib(r['peak_rss_mb'])} | {_gib(r['out_mb'])} | {sym} | {err} |")

    L += [row("infinite NNGP + NTK, ReLU depth 3, d = 64", inf_both, bs_inf),
          row("infinite NTK only (`get=\"ntk\"`)", inf_ntk, bs_inf),
          row("empirical NTK, MLP 64→512→512→1 (layer-wise)", emp, bs_emp)]
    msgs = [r.get("unblocked_message") for r in (inf_both, emp) if r.get("unblocked_message")]
    if msgs:
        L += ["", "Without `batch_size` the same calls stop at the memory budget with:", ""]
        L += [f"> {m}" for m in msgs]
    L += ["", f"Throughput (ns per kernel entry, warm; blocked N = {N} vs one unblocked pass at "
          "N = 4000, alternating runs, median of 2): ",
          "", "| kernel | blocked | unblocked | blocked / unblocked |", "|---|---:|---:|---:|",
          f"| infinite NNGP + NTK | {thr['inf_blocked']:.2f} | {thr['inf_full']:.2f} | "
          f"{thr['inf_blocked'] / thr['inf_full']:.2f}× |",
          f"| empirical NTK (w = 512) | {thr['emp_blocked']:.2f} | {thr['emp_full']:.2f} | "
          f"{thr['emp_blocked'] / thr['emp_full']:.2f}× |",
          "", "(With x2 = None only the blocks on and above the diagonal are computed, the rest is "
          "mirrored, so a blocked kernel does about half the pair evaluations of an unblocked one.)",
          "", f"Sharding: infinite NNGP + NTK, N = {nd}, batch_size {bs_inf}, median of 2 alternating "
          f"runs: 1 CPU device {d_t[1]:.2f} s, 2 virtual CPU devices (blocks sharded with "
          f"`jax.sharding`) {d_t[2]:.2f} s (ratio {d_t[2] / d_t[1]:.2f}×). On CPU one device already "
          "uses every core, so virtual devices only check the sharded path here; on several GPUs "
          "each device computes its own row blocks.", "",
          f"Total run time of `benchmarks/scale.py`: {total / 60:.1f} min."]
    md = "\n".join(L)
    print(md)
    if not args.quick:
        write_section("scale", md)


if __name__ == "__main__":
    main()
