"""Core speed and memory benchmarks (issue targets), each case in its own subprocess.

    .venv/bin/python benchmarks/bench_core.py [--quick]

Cases (float32, CPU unless a GPU is visible):
  * matmul: float32 GEMM throughput of this machine (the baseline, same run).
  * empirical NTK of an MLP 64 -> w -> w -> 1 on N = 256 inputs, method "auto" (layer-wise) for
    w in {128, 512, 2048}: time, useful GFLOP/s (forward + backward + Gram products) as a fraction
    of the GEMM throughput, peak RSS; and the "jacobian" method at the same sizes (ratio).
  * infinite-width ReLU NTK, depth 3, N = 4000, d = 64: one jitted pass.
  * a training step of the linearized model vs a step of the network (ratio).
  * `import ntk` wall time.
Results go to benchmarks/RESULTS.md (section "core").
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


def _median_time(fn, repeats=5, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def case_matmul(args):
    import jax
    import jax.numpy as jnp

    n = 2048
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    t = _median_time(lambda: f(a, b).block_until_ready(), repeats=7, warmup=2)
    return {"gflops": 2 * n**3 / t / 1e9, "seconds": t}


def case_empirical(args):
    import jax
    import jax.numpy as jnp

    import ntk
    from ntk.empirical import useful_flops_structured

    w, n, method = args.width, args.n, args.method
    net = ntk.mlp([w, w], 1, "relu", 1.5, 0.05)
    params = net.init(jax.random.PRNGKey(0), 64, dtype=jnp.float32)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, 64), jnp.float32)

    def run():
        ntk.empirical_ntk(net, params, x, method=method, memory_budget=None).block_until_ready()

    t = _median_time(run, repeats=args.repeats, warmup=1)
    flops = useful_flops_structured(net, n, 64)
    return {"seconds": t, "gflops": flops / t / 1e9, "peak_rss_mb": _peak_rss_mb()}


def case_infinite(args):
    import jax
    import jax.numpy as jnp

    import ntk

    net = ntk.mlp([512] * 3, 1, "relu", 1.5, 0.05)
    x = jax.random.normal(jax.random.PRNGKey(1), (args.n, 64), jnp.float32)

    def run():
        k = ntk.infinite_kernel(net, x, memory_budget=None)
        k.ntk.block_until_ready()
        return k

    t = _median_time(run, repeats=3, warmup=1)
    k = run()
    diag_exact = bool(jnp.all(jnp.diag(k.nngp) == jnp.diag(k.nngp.T)))
    return {"seconds": t, "peak_rss_mb": _peak_rss_mb(), "finite": bool(jnp.all(jnp.isfinite(k.ntk))),
            "symmetric_diag": diag_exact}


def case_linstep(args):
    import jax
    import jax.numpy as jnp
    import optax

    import ntk
    from ntk.dynamics import _make_runner

    w, n = args.width, args.n
    net = ntk.mlp([w, w], 1, "relu", 1.5, 0.05)
    p0 = net.init(jax.random.PRNGKey(0), 64, dtype=jnp.float32)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, 64), jnp.float32)
    y = jnp.sin(x[:, :1])
    opt = optax.sgd(1e-3)
    steps = jnp.asarray(args.steps)
    out = {}
    th = ntk.empirical_ntk(net, p0, x, trace=False)[:, :, 0, 0]
    f0 = net.apply(p0, x)
    for name, lin, netw, fs in [("network", False, True, None), ("linearized", True, False, 0.0),
                                ("linearized_jvp", True, False, None)]:
        run = _make_runner(net.apply, opt, lin, netw, fs)
        state = (p0, opt.init(p0), p0, opt.init(p0), f0, jnp.zeros_like(f0))

        def go():
            jax.block_until_ready(run(state, steps, p0, x, y, th, jnp.asarray(1e-3, jnp.float32)))

        out[name] = _median_time(go, repeats=5, warmup=1) / args.steps
    out["ratio"] = out["linearized"] / out["network"]
    out["ratio_jvp"] = out["linearized_jvp"] / out["network"]
    return out


def case_import(args):
    t = time.perf_counter()
    import jax  # noqa: F401

    t1 = time.perf_counter()
    import ntk  # noqa: F401

    return {"jax": t1 - t, "ntk_after_jax": time.perf_counter() - t1}


CASES = {"matmul": case_matmul, "empirical": case_empirical, "infinite": case_infinite,
         "linstep": case_linstep, "import": case_import}


def run_case(name, **kw):
    cmd = [sys.executable, os.path.abspath(__file__), "--case", name]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--method", default="auto")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, no RESULTS.md")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(CASES[args.case](args)))
        return

    from _results import machine_description, write_section

    widths = [128, 512] if args.quick else [128, 512, 2048]
    print("machine:", machine_description())
    mm = run_case("matmul")
    print(f"float32 GEMM: {mm['gflops']:.1f} GFLOP/s")
    rows = []
    for w in widths:
        a = run_case("empirical", width=w, method="auto")
        j = run_case("empirical", width=w, method="jacobian", repeats=1 if w >= 2048 else 3)
        ratio = j["seconds"] / a["seconds"] if "seconds" in j else float("nan")
        frac = a["gflops"] / mm["gflops"]
        rows.append((w, a, j, ratio, frac))
        print(f"w={w}: auto {a['seconds']*1e3:.1f} ms ({a['gflops']:.1f} GFLOP/s = {frac:.0%} of GEMM, "
              f"peak RSS {a['peak_rss_mb']:.0f} MB); jacobian "
              f"{j.get('seconds', float('nan'))*1e3:.0f} ms -> auto is {ratio:.0f}x faster")
    inf = run_case("infinite", n=1000 if args.quick else 4000)
    print(f"infinite ReLU NTK depth 3, N={1000 if args.quick else 4000}: {inf['seconds']:.2f} s, "
          f"peak RSS {inf['peak_rss_mb']:.0f} MB")
    ls = run_case("linstep", width=512, n=256)
    print(f"linearized step / network step (w=512, N=256): {ls['ratio']:.2f} "
          f"({ls['linearized']*1e3:.2f} ms vs {ls['network']*1e3:.2f} ms); generic JVP path "
          f"(Adam, arbitrary apply_fn): {ls['ratio_jvp']:.2f}")
    imp = run_case("import")
    print(f"import jax {imp['jax']:.2f} s, then import ntk {imp['ntk_after_jax']:.3f} s")
    if args.quick:
        return
    lines = [f"Machine: {machine_description()}", "",
             f"float32 GEMM baseline (2048^3, same run): **{mm['gflops']:.1f} GFLOP/s**", "",
             "Empirical NTK, MLP 64→w→w→1, N=256, float32:", "",
             "| width | auto (layer-wise) | useful GFLOP/s | % of GEMM | peak RSS | jacobian | auto speed-up |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for w, a, j, ratio, frac in rows:
        js = f"{j['seconds']*1e3:.0f} ms" if "seconds" in j else j.get("error", "failed")
        lines.append(f"| {w} | {a['seconds']*1e3:.1f} ms | {a['gflops']:.1f} | {frac:.0%} | "
                     f"{a['peak_rss_mb']:.0f} MB | {js} | {ratio:.0f}× |")
    lines += ["", f"Infinite-width ReLU NTK, depth 3, N=4000, d=64, float32, one jitted pass: "
              f"**{inf['seconds']:.2f} s** (peak RSS {inf['peak_rss_mb']:.0f} MB, finite: {inf['finite']})",
              "", f"Linearized training step vs network step (w=512, N=256, SGD): "
              f"**{ls['ratio']:.2f}×** ({ls['linearized']*1e3:.2f} ms vs {ls['network']*1e3:.2f} ms); "
              f"generic JVP+VJP path (Adam or an arbitrary apply_fn): {ls['ratio_jvp']:.2f}×",
              "", f"`import ntk` after jax: {imp['ntk_after_jax']*1e3:.0f} ms (jax itself {imp['jax']:.2f} s)"]
    write_section("core", "## Core library\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
