"""One side of benchmarks/bench_infinite_cnn.py: the infinite-width kernel of a Myrtle-5-like CNN.

    .venv/bin/python     benchmarks/infinite_cnn_side.py ours --data X.npz --out K.npz [--dtype float32]
    .venv-ref/bin/python benchmarks/infinite_cnn_side.py nt   --data X.npz --out K.npz [--batch 0|B]

Runs in either env (ours: main env, current JAX; nt: the pinned reference env through
tests/reference/nt_import.py, TF-free). One process per measurement, so that its max RSS is the
case's peak. Prints one JSON line: seconds of each timed run (wall and process CPU), compile
(first call) time, max RSS. The network, the same layer names and arguments on both sides:

    [Conv(3x3, SAME) -> Relu] x 2 -> AvgPool(2, 2) -> Conv -> Relu -> AvgPool(2, 2)
      -> Conv -> Relu -> AvgPool(2, 2) -> Flatten -> Dense(10)        (W_std = sqrt 2, b_std = 0)

i.e. Myrtle-5 (4 conv layers; the 32x32 net's three final poolings become one on 8x8 inputs).
NT is jitted (`jax.jit(kernel_fn, static_argnames="get")`, as its docs recommend); with --batch B
it is wrapped in `nt.batch(kernel_fn, B)` first.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def myrtle5(stax):
    W = 2.0 ** 0.5

    def conv():
        return [stax.Conv(1, (3, 3), padding="SAME", W_std=W, b_std=0.0), stax.Relu()]

    pool = stax.AvgPool((2, 2), strides=(2, 2))
    layers = conv() + conv() + [pool] + conv() + [pool] + conv() + [pool, stax.Flatten(), stax.Dense(10, W, 0.0)]
    return stax.serial(*layers)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("side", choices=("ours", "nt"))
    p.add_argument("--data", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--get", default="ntk")
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args(argv)

    if a.side == "nt":
        sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
        from nt_import import nt, stax  # noqa: F401
    else:
        sys.path.insert(0, ROOT)
        from ntk import stax
    import jax

    if a.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    x = jnp.asarray(np.load(a.data)["x"], dtype=a.dtype)
    _, _, kernel_fn = myrtle5(stax)
    if a.side == "nt":
        if a.batch:
            kernel_fn = nt.batch(kernel_fn, batch_size=a.batch)
        f = jax.jit(kernel_fn, static_argnames="get")

        def run():
            return f(x, None, a.get)
    else:
        def run():  # the measured peak RSS is reported; the default 2 GiB refusal would stop the float64 truth
            return kernel_fn(x, None, a.get, memory_budget=None)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t0 = time.perf_counter()
    k = jax.block_until_ready(run())
    first = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(a.repeats):
        t, c = time.perf_counter(), time.process_time()
        k = jax.block_until_ready(run())
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    if a.out:
        np.savez(a.out, k=np.asarray(k))
    print(json.dumps({"side": a.side, "n": int(x.shape[0]), "dtype": a.dtype, "batch": a.batch, "first_s": first,
                      "wall_s": wall, "cpu_s": cpu, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024.0, "rss_before_mb": rss0, "jax": jax.__version__, "devices": str(jax.devices())}))


if __name__ == "__main__":
    main()
