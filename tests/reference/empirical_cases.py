"""Main-env side of the empirical-NTK cross-check against neural-tangents (any JAX function).

    .venv/bin/python tests/reference/empirical_cases.py OUTDIR

For every model of `empirical_models.py` (plain JAX, rebuilt identically in the reference env)
writes the inputs to ``OUTDIR/emp_cases.npz`` (``<model>/p/<name>``, ``<model>/x1`` ...) and our
kernels, float64, to ``OUTDIR/emp_ours.npz`` as ``<model>/<config>/ours{impl}``. The reference
env (``nt_empirical_oracle.py``) computes the same configurations with NT's implementations 1
(Jacobian contraction) and 3 (structured derivatives) as ``<model>/<config>/nt{impl}``.

A configuration is (trace_axes, diagonal_axes, vmap_axes, x2); `CONFIGS` is pure data so that the
test can parametrize over it at collection time. Module import needs only numpy.
"""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]

#: name -> (trace_axes, diagonal_axes, vmap_axes, which x2: "x2" | "none" | "x1r")
CONFIGS = {
    "trace_v0": ((-1,), (), 0, "x2"),
    "full_v0": ((), (), 0, "none"),
    "diag_v0": ((), (0,), 0, "x1r"),
    "full_vnone": ((), (), None, "x2"),
}
OUR_IMPLS = (3,)        # all implementations are checked against jax.jacrev in test_empirical_engine.py
NT_IMPLS = (1, 3)


def data(name, rng):
    """Inputs of a model: params (float64 dict), x1 (3, ...), x2 (2, ...), x1r (3, ...)."""
    import empirical_models as EM

    _, make, shape = EM.MODELS[name]
    p = make(rng)
    x1 = rng.standard_normal((3,) + shape)
    x2 = rng.standard_normal((2,) + shape)
    return p, {"x1": x1, "x2": x2, "x1r": x1[::-1] * 0.7}


def build(out: pathlib.Path):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    import empirical_models as EM
    import ntk

    rng = np.random.default_rng(2024)
    cases, ours = {}, {}
    for name, (f, _, _) in EM.MODELS.items():
        p, xs = data(name, rng)
        for k, v in p.items():
            cases[f"{name}/p/{k}"] = np.asarray(v, np.float64)
        for k, v in xs.items():
            cases[f"{name}/{k}"] = np.asarray(v, np.float64)
        pj = {k: jnp.asarray(v) for k, v in p.items()}
        for cfg, (tr, dg, vm, which) in CONFIGS.items():
            x2 = None if which == "none" else jnp.asarray(xs[which])
            for impl in OUR_IMPLS:
                k = ntk.empirical_ntk_fn(f, trace_axes=tr, diagonal_axes=dg, vmap_axes=vm,
                                         implementation=impl)(jnp.asarray(xs["x1"]), x2, pj)
                for i, leaf in enumerate(jax.tree_util.tree_leaves(k)):
                    ours[f"{name}/{cfg}/ours{impl}/{i}"] = np.asarray(leaf)
    cases["configs.json"] = np.asarray(json.dumps({c: list(v) for c, v in CONFIGS.items()}))
    np.savez(out / "emp_cases.npz", **cases)
    np.savez(out / "emp_ours.npz", **ours)


if __name__ == "__main__":
    d = pathlib.Path(sys.argv[1])
    d.mkdir(parents=True, exist_ok=True)
    build(d)
