"""neural-tangents side of benchmarks/race_nt.py; runs inside the pinned reference env.

    .venv-ref/bin/python benchmarks/nt_side.py CASE --spec '{...json...}'

One case per process (so that max RSS is the case's own peak); prints one JSON line on stdout.
(The empirical NTK has its own race: benchmarks/race_empirical.py with nt_empirical_side.py.)
Cases (same inputs / weights as our side: race_nt.py writes them to an .npz and passes its path):

  infinite    stax.serial(Dense, act, ...) kernel_fn, jitted, get="ntk" (timed); then nngp/ntk and
              the separately computed diagonal (per-point kernels) for the diagonal check
  linstep     a jitted loop of SGD steps of nt.linearize(f, params) vs the same loop for f
  import      wall time of importing neural_tangents (after jax), TF-free

jaxlib 0.4.25 miscompiles jitted float32 `s*(x@W)+b` on CPU (tests/reference/README.md, trap 2):
the float32 *values* computed here are recorded for information only, never used as a reference.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_runs(fn, repeats: int, budget_s: float, warmup: int = 1, slow_s: float | None = None):
    """Warm-up runs (excluded), then up to `repeats` timed runs, stopping once `budget_s` of timed
    work is spent (always at least one). Returns the list of seconds.

    With `slow_s`: a warm-up run slower than that is the one timed run (the function was compiled
    ahead of time, so the first run is already warm up to allocation; it saves minutes)."""
    for _ in range(warmup):
        t = time.perf_counter()
        fn()
        d = time.perf_counter() - t
        if slow_s is not None and d > slow_s:
            return [d]
    ts = []
    while len(ts) < repeats and (not ts or sum(ts) < budget_s):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def _import_nt():
    t0 = time.perf_counter()
    import jax  # noqa: F401

    t1 = time.perf_counter()
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    from nt_import import nt, ref, stax  # noqa: F401

    return nt, stax, ref, t1 - t0, time.perf_counter() - t1


def _arch(spec):
    return {"widths": spec["widths"], "out_dim": spec.get("out_dim", 1),
            "activation": spec["activation"], "W_std": spec["W_std"], "b_std": spec["b_std"],
            "parameterization": spec.get("parameterization", "ntk")}


def _load(spec):
    import jax.numpy as jnp
    import numpy as np

    z = np.load(spec["data"])
    x = jnp.asarray(z["x"])
    depth = len(spec["widths"])
    params = [(jnp.asarray(z[f"W{i}"]), jnp.asarray(z[f"b{i}"])) for i in range(depth + 1)] \
        if "W0" in z.files else None
    return x, params


def case_infinite(spec):
    import jax
    import jax.numpy as jnp
    import numpy as np

    nt, stax, ref, _, _ = _import_nt()
    x, _ = _load(spec)
    _, _, kernel_fn = ref.nt_serial(_arch(spec))
    fn = jax.jit(kernel_fn, static_argnames=("get",))
    t = time.perf_counter()
    compiled = fn.lower(x, None, get="ntk").compile()
    compile_s = time.perf_counter() - t

    def run():
        compiled(x, None).block_until_ready()

    ts = time_runs(run, spec.get("repeats", 3), spec.get("budget_s", 30.0))
    res = {"seconds": statistics.median(ts), "times": ts, "compile_s": compile_s,
           "peak_rss_mb": peak_rss_mb()}
    if spec.get("save"):
        k = fn(x, None, get=("nngp", "ntk"))
        # The diagonal computed separately: each point's 1x1 kernel with itself.
        one = jax.jit(jax.vmap(lambda xi: kernel_fn(xi[None], None, ("nngp", "ntk"))))
        dn, dt = one(x)
        np.savez(spec["save"], nngp=np.asarray(k.nngp), ntk=np.asarray(k.ntk),
                 diag_nngp=np.asarray(dn).reshape(-1), diag_ntk=np.asarray(dt).reshape(-1))
        del jnp
    return res


def case_linstep(spec):
    import jax
    import jax.numpy as jnp

    nt, stax, ref, _, _ = _import_nt()
    x, params = _load(spec)
    _, apply_fn, _ = ref.nt_serial(_arch(spec))
    p0 = ref.params_to_nt(params, len(spec["widths"]))
    y = jnp.sin(x[:, :1])
    lr = spec.get("lr", 1e-3)
    steps = int(spec["steps"])
    f_lin = nt.linearize(apply_fn, p0)

    def make(f):
        def loss(p):
            return 0.5 * jnp.mean((f(p, x) - y) ** 2)

        def step(_, p):
            g = jax.grad(loss)(p)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)

        return jax.jit(lambda p, n: jax.lax.fori_loop(0, n, step, p))

    runs = {"network": make(apply_fn), "linearized": make(f_lin)}
    n = jnp.asarray(steps)
    for r in runs.values():
        jax.block_until_ready(r(p0, n))  # compile
    times = {k: [] for k in runs}
    # Interleaved: network, linearized, network, linearized, ...
    for _ in range(spec.get("repeats", 5)):
        for k, r in runs.items():
            t = time.perf_counter()
            jax.block_until_ready(r(p0, n))
            times[k].append((time.perf_counter() - t) / steps)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["ratio"] = out["linearized"] / out["network"]
    out["times"] = times
    return out


def case_import(spec):
    _, _, _, t_jax, t_nt = _import_nt()
    return {"jax": t_jax, "after_jax": t_nt, "total": t_jax + t_nt}


CASES = {"infinite": case_infinite, "linstep": case_linstep,
         "import": case_import}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--spec", default="{}")
    a = ap.parse_args()
    spec = json.loads(a.spec)
    print(json.dumps(CASES[a.case](spec)))


if __name__ == "__main__":
    main()
