"""Race ntk against neural-tangents 0.6.5 (NT) on this machine; every ratio from the same run.
(The empirical NTK is raced in benchmarks/race_empirical.py, with NT at its best settings.)

    .venv/bin/python benchmarks/race_nt.py [--quick]

Our side runs in the main env (current JAX), NT's in the pinned reference env (`.venv-ref`, jax
0.4.25) through `benchmarks/nt_side.py`; each case is a fresh subprocess (so max RSS is that
case's peak), the two sides alternate, and inputs / weights are the same arrays (an .npz written
here). Cases:

  * infinite-width NTK (ReLU, Erf; depth 3; d = 64; N in {1000, 4000}; float32):
    `ntk.infinite_kernel(net, x, get="ntk")` vs NT's jitted `kernel_fn(x, None, get="ntk")`;
    diagonal check against each point's separately computed 1x1 kernel and a float64 truth.
  * linearized SGD step / network SGD step (w = 512, N = 256): ours (function-space runner) and
    NT's (`nt.linearize` + jax.grad), each ratio measured inside one process.
  * `import ntk` vs `import neural_tangents` (fresh processes, median of 3).

jaxlib 0.4.25 miscompiles jitted float32 `s*(x@W)+b` on CPU (tests/reference/README.md): NT's
float32 values are shown for information only. Writes section "race_nt" of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REF_PY = os.path.join(ROOT, ".venv-ref", "bin", "python")
NT_SIDE = os.path.join(HERE, "nt_side.py")
sys.path.insert(0, HERE)

MLP_SPEC = {"activation": "relu", "W_std": 1.5, "b_std": 0.05, "out_dim": 1,
            "parameterization": "ntk"}
IN_DIM = 64
MEM_LIMIT_MB = 12 * 1024      # skip (estimate) or kill any case above this RSS (--mem-limit-gb)
TIME_LIMIT_S = 300            # ... or above this wall time


# ---------------------------------------------------------------------------------------------
# Our side (main env), one case per subprocess
# ---------------------------------------------------------------------------------------------

def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time_runs(fn, repeats, budget_s, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    while len(ts) < repeats and (not ts or sum(ts) < budget_s):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def _load(spec):
    import jax.numpy as jnp
    import numpy as np

    z = np.load(spec["data"])
    x = jnp.asarray(z["x"])
    depth = len(spec["widths"])
    params = ([(jnp.asarray(z[f"W{i}"]), jnp.asarray(z[f"b{i}"])) for i in range(depth + 1)]
              if "W0" in z.files else None)
    return x, params


def _net(spec):
    import ntk

    return ntk.mlp(list(spec["widths"]), spec.get("out_dim", 1), spec["activation"],
                   spec["W_std"], spec["b_std"], spec.get("parameterization", "ntk"))


def ours_infinite(spec):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import ntk

    x, _ = _load(spec)
    net = _net(spec)

    def run():
        ntk.infinite_kernel(net, x, get="ntk", memory_budget=None).ntk.block_until_ready()

    ts = _time_runs(run, spec.get("repeats", 3), spec.get("budget_s", 30.0))
    res = {"seconds": statistics.median(ts), "times": ts, "peak_rss_mb": _peak_rss_mb()}
    if spec.get("save"):
        k = ntk.infinite_kernel(net, x, memory_budget=None)
        one = jax.jit(jax.vmap(lambda xi: tuple(ntk.infinite_kernel(net, xi[None]))))
        dn, dt = one(x)
        jax.config.update("jax_enable_x64", True)
        t64 = jax.jit(jax.vmap(lambda xi: tuple(ntk.infinite_kernel(net, xi[None]))))
        dn64, dt64 = t64(jnp.asarray(x, jnp.float64))
        np.savez(spec["save"], nngp=np.asarray(k.nngp), ntk=np.asarray(k.ntk),
                 diag_nngp=np.asarray(dn).reshape(-1), diag_ntk=np.asarray(dt).reshape(-1),
                 diag_nngp64=np.asarray(dn64).reshape(-1), diag_ntk64=np.asarray(dt64).reshape(-1))
    return res


def ours_linstep(spec):
    """Our training loop's runner (as `ntk.train` builds it for SGD): the network alone vs the
    linearized model alone (function-space updates with the precomputed kernel)."""
    import inspect

    import jax
    import jax.numpy as jnp
    import optax

    import ntk
    from ntk import dynamics

    x, p0 = _load(spec)
    net = _net(spec)
    y = jnp.sin(x[:, :1])
    lr = spec.get("lr", 1e-3)
    steps = int(spec["steps"])
    n = jnp.asarray(steps)
    if hasattr(dynamics, "make_optimizer"):
        opt, set_lr = dynamics.make_optimizer("sgd", lr)
    else:
        opt, set_lr = optax.sgd(lr), None

    def init(p):
        st = opt.init(p)
        return set_lr(st) if set_lr is not None else st

    th = ntk.empirical_ntk(net, p0, x, trace=False)[:, :, 0, 0]
    f0 = net.apply(p0, x)
    state = (p0, init(p0), p0, init(p0), f0, jnp.zeros_like(f0))
    net_run = dynamics._make_runner(net.apply, opt, False, True, None)
    lr_arg = "lr" in inspect.signature(net_run).parameters  # lr became a traced argument
    fspace = 0.0 if lr_arg else (lr, 0.0)
    runs = {"network": net_run,
            "linearized": dynamics._make_runner(net.apply, opt, True, False, fspace)}
    extra = (jnp.asarray(lr, x.dtype),) if lr_arg else ()
    for r in runs.values():
        jax.block_until_ready(r(state, n, p0, x, y, th, *extra))
    times = {k: [] for k in runs}
    for _ in range(spec.get("repeats", 5)):
        for k, r in runs.items():
            t = time.perf_counter()
            jax.block_until_ready(r(state, n, p0, x, y, th, *extra))
            times[k].append((time.perf_counter() - t) / steps)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["ratio"] = out["linearized"] / out["network"]
    out["times"] = times
    return out


def ours_import(spec):
    t0 = time.perf_counter()
    import jax  # noqa: F401

    t1 = time.perf_counter()
    import ntk  # noqa: F401

    t2 = time.perf_counter()
    return {"jax": t1 - t0, "after_jax": t2 - t1, "total": t2 - t0}


OURS = {"infinite": ours_infinite, "linstep": ours_linstep,
        "import": ours_import}


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def _rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_proc(side, case, spec, timeout=TIME_LIMIT_S, mem_limit_mb=None):
    """Run one case in a fresh process; kill it above `mem_limit_mb` RSS or `timeout` seconds.

    Returns the case's JSON dict (+ "wall_s"), or {"skipped": reason} / {"error": message}."""
    mem_limit_mb = mem_limit_mb or MEM_LIMIT_MB
    if side == "ours":
        cmd = [sys.executable, os.path.abspath(__file__), "--case", case, "--spec",
               json.dumps(spec)]
    else:
        cmd = [REF_PY, NT_SIDE, case, "--spec", json.dumps(spec)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=ROOT)
    peak, reason = 0.0, None
    while p.poll() is None:
        peak = max(peak, _rss_mb(p.pid))
        el = time.perf_counter() - t0
        if peak > mem_limit_mb:
            reason = f"killed: RSS passed {mem_limit_mb / 1024:.0f} GiB after {el:.0f} s"
        elif el > timeout:
            reason = f"killed: still running after {timeout / 60:.0f} min"
        if reason:
            p.kill()
            p.communicate()
            print(f"  [{side} {case}] {reason}", file=sys.stderr)
            return {"skipped": reason}
        time.sleep(0.1)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        msg = err.strip().splitlines()[-1] if err.strip() else f"exit {p.returncode}"
        print(f"  [{side} {case}] failed:\n{err[-3000:]}", file=sys.stderr)
        return {"error": msg}
    res = json.loads(out.strip().splitlines()[-1])
    res["wall_s"] = wall
    return res


def _write_data(path, widths, n, seed_x=1, with_params=True):
    """Inputs (and our net.init weights, float32) shared by both sides."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import ntk

    d = {"x": np.asarray(jax.random.normal(jax.random.PRNGKey(seed_x), (n, IN_DIM), jnp.float32))}
    if with_params:
        net = ntk.mlp(list(widths), 1, "relu", 1.5, 0.05)
        for i, (W, b) in enumerate(net.init(jax.random.PRNGKey(0), IN_DIM, dtype=jnp.float32)):
            d[f"W{i}"], d[f"b{i}"] = np.asarray(W), np.asarray(b)
    np.savez(path, **d)
    return path


def _rel(a, b):
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def race_infinite(cases, tmp, log):
    import numpy as np

    rows = []
    for act, n in cases:
        spec = dict(activation=act, W_std=1.5, b_std=0.05, widths=[512] * 3,
                    data=_write_data(os.path.join(tmp, f"x{n}.npz"), None, n, with_params=False))
        rounds = 3 if n <= 1000 else 2
        log(f"infinite {act} depth 3 N={n} ({rounds} alternating rounds per side)")
        o, t = [], []
        for rnd in range(rounds):
            last = rnd == rounds - 1
            o.append(run_proc("ours", "infinite", dict(
                spec, save=os.path.join(tmp, f"oinf_{act}{n}.npz") if last else None)))
            t.append(run_proc("nt", "infinite", dict(
                spec, save=os.path.join(tmp, f"ninf_{act}{n}.npz") if last else None)))
        row = {"act": act, "n": n}
        for name, rs in (("ours", o), ("nt", t)):
            ok = [r for r in rs if "seconds" in r]
            row[name] = ({"seconds": statistics.median(x for r in ok for x in r["times"]),
                          "peak_rss_mb": max(r["peak_rss_mb"] for r in ok)} if ok else
                         {"error": (rs[-1].get("error") or rs[-1].get("skipped"))})
        zo = np.load(os.path.join(tmp, f"oinf_{act}{n}.npz"))
        zn = np.load(os.path.join(tmp, f"ninf_{act}{n}.npz"))
        for name, z in (("ours", zo), ("nt", zn)):
            d = row[name]
            d["diag_exact_nngp"] = bool(np.array_equal(np.diag(z["nngp"]), z["diag_nngp"]))
            d["diag_sep_err_ntk"] = _rel(np.diag(z["ntk"]), z["diag_ntk"])
            d["symmetric"] = bool(np.array_equal(z["nngp"], z["nngp"].T)
                                  and np.array_equal(z["ntk"], z["ntk"].T))
            d["diag_err_nngp_f64"] = _rel(np.diag(z["nngp"]), zo["diag_nngp64"])
            d["diag_err_ntk_f64"] = _rel(np.diag(z["ntk"]), zo["diag_ntk64"])
        row["nt_vs_ours"] = _rel(zn["ntk"], zo["ntk"])
        log(f"  ours {row['ours'].get('seconds', float('nan')):.3f} s, "
            f"NT {row['nt'].get('seconds', float('nan')):.3f} s")
        rows.append(row)
    return rows


def race_linstep(w, n, steps, tmp, log):
    spec = dict(MLP_SPEC, widths=[w, w], steps=steps, lr=1e-3, repeats=5,
                data=_write_data(os.path.join(tmp, f"lin{w}.npz"), [w, w], n))
    log(f"linearized step vs network step w={w} N={n}")
    o, t = [], []
    for _ in range(2):
        o.append(run_proc("ours", "linstep", spec))
        t.append(run_proc("nt", "linstep", spec))

    def agg(rs):
        ok = [r for r in rs if "ratio" in r]
        if not ok:
            return {"error": rs[-1].get("error", "failed")}
        out = {k: statistics.median(x for r in ok for x in r["times"][k])
               for k in ("network", "linearized")}
        out["ratio"] = statistics.median(r["ratio"] for r in ok)
        return out

    return {"w": w, "n": n, "steps": steps, "ours": agg(o), "nt": agg(t)}


def race_import(log, rounds=3):
    log("import times (fresh processes)")
    o, t = [], []
    for _ in range(rounds):
        o.append(run_proc("ours", "import", {}))
        t.append(run_proc("nt", "import", {}))

    def med(rs, k):
        return statistics.median(r[k] for r in rs if k in r)

    return {s: {k: med(rs, k) for k in ("jax", "after_jax", "total", "wall_s")}
            for s, rs in (("ours", o), ("nt", t))}


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def _fmt_t(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _cell(r):
    if "seconds" in r:
        return _fmt_t(r["seconds"])
    return r.get("skipped") or f"failed: {r.get('error')}"


def _met(ok):
    return "**not measured**" if ok is None else "**met**" if ok else "**not met**"


def report(inf, lin, imp, machine, ref_desc, load):
    L = ["## Race against neural-tangents 0.6.5", "",
         f"Machine: {machine}", f"Reference env: {ref_desc}", f"Load average (1 min) at start / "
         f"end: {load[0]:.1f} / {load[1]:.1f} (other processes share the 2 cores: every ratio "
         "below compares runs interleaved in time, medians of several runs, warm-up excluded)", "",
         "The empirical NTK is raced in section `race_empirical` (`benchmarks/race_empirical.py`), "
         "with NT at its best settings (`vmap_axes=0`, every implementation).", ""]
    targets = []
    heads = {}
    if inf:
        L += ["### Infinite-width NTK, depth 3, d = 64, float32", "",
              "Ours: `ntk.infinite_kernel(net, x, get=\"ntk\")`; NT: `jax.jit(kernel_fn)(x, None, "
              "get=\"ntk\")` of the same `stax.serial` (W_std 1.5, b_std 0.05). Diagonal: "
              "*sep.* = each point's 1x1 kernel computed on its own; *f64* = float64 truth "
              "(relative errors of the N×N kernel's diagonal). NT vs ours = max|NT - ours| / "
              "max|ours| over the whole NTK.", "",
              "| act | N | ours | NT | speed-up | ours diag NNGP == sep. / sym. | ours NTK diag "
              "err vs sep. / f64 | NT NTK diag err vs sep. / f64 | NT vs ours |",
              "|---|---:|---:|---:|---:|---|---|---|---:|"]
        for r in inf:
            o, t = r["ours"], r["nt"]
            sp = t["seconds"] / o["seconds"] if "seconds" in t and "seconds" in o else float("nan")
            r["speedup"] = sp
            L.append(f"| {r['act']} | {r['n']} | {_cell(o)} | {_cell(t)} | {sp:.2f}× | "
                     f"{o['diag_exact_nngp']} / {o['symmetric']} | {o['diag_sep_err_ntk']:.1e} / "
                     f"{o['diag_err_ntk_f64']:.1e} | {t['diag_sep_err_ntk']:.1e} / "
                     f"{t['diag_err_ntk_f64']:.1e} | {r['nt_vs_ours']:.1e} |")
        targets.append(("infinite: ≥1.5× faster than NT (every case)",
                        ", ".join(f"{r['act']} N={r['n']}: {r['speedup']:.2f}×" for r in inf),
                        all(r["speedup"] >= 1.5 for r in inf)))
        heads["infinite"] = inf
    if lin:
        o, t = lin["ours"], lin["nt"]
        L += ["", f"### Linearized training step vs network step (w = {lin['w']}, N = {lin['n']}, "
              f"SGD, {lin['steps']} steps in a jitted loop)", "",
              "| | network step | linearized step | linearized / network |",
              "|---|---:|---:|---:|",
              f"| ours (function-space runner) | {o['network'] * 1e3:.2f} ms | "
              f"{o['linearized'] * 1e3:.2f} ms | **{o['ratio']:.2f}×** |",
              f"| NT (`nt.linearize` + `jax.grad`) | {t['network'] * 1e3:.2f} ms | "
              f"{t['linearized'] * 1e3:.2f} ms | **{t['ratio']:.2f}×** |"]
        targets.append(("linearized step ≤ 1.2× network step (ours)", f"{o['ratio']:.2f}× "
                        f"(NT: {t['ratio']:.2f}×)", o["ratio"] <= 1.2))
        heads["lin"] = lin
    if imp:
        o, t = imp["ours"], imp["nt"]
        L += ["", "### Import time (fresh processes, median of 3)", "",
              "| | jax | package after jax | total | process wall |", "|---|---:|---:|---:|---:|",
              f"| `import ntk` (jax 0.10) | {o['jax']:.2f} s | {o['after_jax']:.3f} s | "
              f"{o['total']:.2f} s | {o['wall_s']:.2f} s |",
              f"| `import neural_tangents` (jax 0.4.25, TF stubbed) | {t['jax']:.2f} s | "
              f"{t['after_jax']:.3f} s | {t['total']:.2f} s | {t['wall_s']:.2f} s |"]
    L += ["", "### Targets", "", "| target | measured | |", "|---|---|---|"]
    L += [f"| {a} | {b} | {_met(c)} |" for a, b, c in targets]
    return "\n".join(L), targets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--spec", default="{}")
    ap.add_argument("--quick", action="store_true", help="small sizes only, no RESULTS.md")
    ap.add_argument("--only", default="infinite,linstep,import")
    ap.add_argument("--mem-limit-gb", type=float, default=12.0,
                    help="skip / kill a case above this RSS (default 12)")
    args = ap.parse_args()
    global MEM_LIMIT_MB
    MEM_LIMIT_MB = args.mem_limit_gb * 1024
    if args.case:
        print(json.dumps(OURS[args.case](json.loads(args.spec))))
        return
    if not os.path.exists(REF_PY):
        sys.exit("The reference env .venv-ref is missing: run `make venv-ref` first.")
    from _results import machine_description, write_section

    t_start = time.perf_counter()
    only = set(args.only.split(","))
    load0 = os.getloadavg()[0]

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.0f} s] {msg}", flush=True)

    machine = machine_description()
    ref_v = subprocess.run([REF_PY, "-c", "import jax, numpy; print(jax.__version__, "
                            "numpy.__version__)"], capture_output=True, text=True).stdout.split()
    ref_desc = (f"jax {ref_v[0]}, numpy {ref_v[1]}, neural-tangents 0.6.5 (`.venv-ref`)"
                if len(ref_v) == 2 else "?")
    log(f"machine: {machine}")
    with tempfile.TemporaryDirectory(prefix="race_nt_") as tmp:
        inf = race_infinite([("relu", 1000), ("erf", 1000)] if args.quick else
                            [("relu", 1000), ("erf", 1000), ("relu", 4000), ("erf", 4000)],
                            tmp, log) if "infinite" in only else None
        lin = race_linstep(512, 256, 20, tmp, log) if "linstep" in only else None
        imp = race_import(log) if "import" in only else None
    md, targets = report(inf, lin, imp, machine, ref_desc, (load0, os.getloadavg()[0]))
    total = time.perf_counter() - t_start
    md += f"\n\nTotal run time of `benchmarks/race_nt.py`: {total / 60:.1f} min."
    print()
    print("=" * 78)
    print("HEADLINE (ours vs neural-tangents 0.6.5, same machine, same run)")
    if inf:
        for r in inf:
            print(f"  infinite NTK {r['act']:4s} N={r['n']:5d}: ours {_fmt_t(r['ours']['seconds'])}, "
                  f"NT {_fmt_t(r['nt']['seconds'])} -> {r['speedup']:.2f}x")
    if lin:
        print(f"  linearized/network step: ours {lin['ours']['ratio']:.2f}x, "
              f"NT {lin['nt']['ratio']:.2f}x")
    if imp:
        print(f"  import: ntk {imp['ours']['total']:.2f} s (after jax {imp['ours']['after_jax']:.3f} s), "
              f"neural_tangents {imp['nt']['total']:.2f} s (after jax {imp['nt']['after_jax']:.3f} s)")
    for a, b, c in targets:
        print(f"  [{'NOT MEASURED' if c is None else 'MET' if c else 'NOT MET'}] {a}: {b}")
    print(f"  total {total / 60:.1f} min")
    print("=" * 78)
    if not args.quick and only == {"infinite", "linstep", "import"}:
        write_section("race_nt", md)
    else:
        print(md)


if __name__ == "__main__":
    main()
