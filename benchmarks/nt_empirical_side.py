"""neural-tangents side of benchmarks/race_empirical.py; runs inside the pinned reference env.

    .venv-ref/bin/python benchmarks/nt_empirical_side.py      (JSON requests on stdin)

A persistent worker: each request is one JSON line, each answer one JSON line on stdout.
  {"op": "prepare", "id": ..., "model": "mlp"|"cnn", "param": ..., "data": npz, "impl": i}
        builds jax.jit(nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=0, implementation=i)),
        compiles it ahead of time for (x, None, params) and runs it once
  {"op": "time", "id": ..., "reps": r}   -> {"times": [...]} (seconds per call)
  {"op": "save", "id": ..., "path": p}   -> the last kernel as .npy
The functions are the plain-JAX ones of benchmarks/_emp_models.py, the weights and inputs those in
the .npz written by the race, so both sides compute the same function of the same arrays.
NT's documented best settings: vmap_axes=0 (per-example derivatives) and the fastest of its
implementations 1 (Jacobian contraction), 2 (NTK-vector products), 3 (structured derivatives).
"""
from __future__ import annotations

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))


def main():
    import jax
    import numpy as np

    import _emp_models as M
    from nt_import import nt

    progs, last = {}, {}

    def load(req):
        z = np.load(req["data"])
        x = jax.numpy.asarray(z["x"])
        n = len([k for k in z.files if k.startswith("W")])
        params = [(jax.numpy.asarray(z[f"W{i}"]), jax.numpy.asarray(z[f"b{i}"])) for i in range(n)]
        return x, params

    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "prepare":
                x, params = load(req)
                f = M.mlp_apply if req["model"] == "mlp" else M.cnn_apply_fn(req.get("param", "ntk"))
                fn = jax.jit(nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=0,
                                                 implementation=int(req["impl"])))
                t = time.perf_counter()
                compiled = fn.lower(x, None, params).compile()
                compile_s = time.perf_counter() - t
                t = time.perf_counter()
                last[req["id"]] = compiled(x, None, params).block_until_ready()
                first = time.perf_counter() - t
                progs[req["id"]] = (compiled, x, params)
                out = {"compile_s": compile_s, "first_s": first}
            elif op == "time":
                compiled, x, params = progs[req["id"]]
                ts = []
                for _ in range(int(req.get("reps", 1))):
                    t = time.perf_counter()
                    last[req["id"]] = compiled(x, None, params).block_until_ready()
                    ts.append(time.perf_counter() - t)
                out = {"times": ts}
            elif op == "save":
                np.save(req["path"], np.asarray(last[req["id"]]))
                out = {}
            elif op == "drop":
                progs.pop(req["id"], None)
                last.pop(req["id"], None)
                out = {}
            elif op == "quit":
                break
            else:
                out = {"error": f"unknown op {op}"}
        except Exception as e:  # noqa: BLE001 - reported to the driver
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
