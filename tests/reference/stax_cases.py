"""Main-env side of the ntk.stax cross-check against neural-tangents: cases and OUR answers.

    .venv/bin/python tests/reference/stax_cases.py OUTDIR

writes ``OUTDIR/cases.npz`` (read by ``nt_stax_oracle.py`` in ``.venv-ref``) and
``OUTDIR/ours.npz`` (float64). Architectures are serialized descriptions
(``tests/stax_archs.py``) that both sides build with their own ``stax`` module:

* every layer of the contract alone (``single_layer_cases``), with NT's context where NT needs
  one (an affine layer before an activation or LayerNorm);
* ``N_RANDOM`` random compositions from the seeded generator (depth, widths, filters, strides,
  paddings, residual and concatenated branches, pooling, layer norm; 0-, 1- and 2-D inputs);
* Taylor expansions of degree 1-3 of stax nets with pytree outputs (``nt.taylor_expand``).

Per architecture case: ``nngp`` / ``ntk`` with x2 given (``*_x2``) and x2=None (``*_same``),
each (n1, n2[, spatial pairs]) in NT's layout; ``f_x1`` (apply_fn with our parameters, whose
leaves the case file carries in order as ``params/<i>``). ``comparisons(case)`` says which of
our arrays is compared with which NT output under which tier (see test_against_nt.TOLERANCES).
Module import needs only numpy.
"""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))  # tests/: stax_archs

import stax_archs as SA  # noqa: E402

N_RANDOM = 24
N1, N2 = 3, 3  # equal: x2=None and x2 given share one compiled program


def _cases():
    cases = []
    for name, desc, shape in SA.single_layer_cases():
        cases.append({"name": f"layer_{name}", "kind": "stax", "desc": desc, "shape": list(shape)})
    for i in range(N_RANDOM):
        desc, shape = SA.random_arch(i)
        cases.append({"name": f"random_{i:02d}", "kind": "stax", "desc": desc, "shape": list(shape)})
    for deg, desc, shape in (
            (1, ["serial", [["Conv", {"out_chan": 3, "filter_shape": [2, 2], "padding": "SAME"}], ["Erf", {}],
                            ["GlobalAvgPool", {}], ["Dense", {"out_dim": 2}]]], [4, 4, 2]),
            (2, ["serial", [["Dense", {"out_dim": 4, "b_std": 0.1}], ["Gelu", {}], ["Dense", {"out_dim": 2}]]], [3]),
            (3, ["serial", [["Conv", {"out_chan": 3, "filter_shape": [3], "padding": "CIRCULAR"}], ["Sin", {}],
                            ["Flatten", {}], ["Dense", {"out_dim": 2, "b_std": 0.2}]]], [5, 2])):
        cases.append({"name": f"taylor{deg}", "kind": "taylor", "desc": desc, "shape": shape, "degree": deg})
    for i, c in enumerate(cases):
        c["seed"] = 100 + i
        if c["kind"] == "stax":
            c["tier"] = "quad" if SA.has_quadrature(c["desc"]) else "closed"
    return cases


CASES = _cases()
CASE_BY_NAME = {c["name"]: c for c in CASES}


def comparisons(case):
    """[(our key, NT key, tier)] relative to the case name."""
    if case["kind"] == "taylor":
        return [(k, k, "exact") for k in ("f0", "f", "f_taylor_a", "f_taylor_b0")]
    out = [("f_x1", "f_x1", "exact")]
    for g in ("nngp", "ntk"):
        for tag in ("x2", "same"):
            out.append((f"{g}_{tag}", f"{g}_{tag}", case["tier"]))
    return out


def build(outdir):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    sys.path.insert(0, str(ROOT))
    from ntk import stax
    import ntk

    fns = SA.elementwise_fns(jax, jnp)
    arrays, ours = {}, {}
    specs = []

    def put(store, name, key, value):
        a = np.asarray(value)
        if a.dtype.kind == "f" and a.dtype != np.float64:
            raise AssertionError(f"{name}/{key}: ours is {a.dtype}, expected float64")
        store[f"{name}/{key}"] = a

    for case in CASES:
        name = case["name"]
        rng = np.random.default_rng(case["seed"])
        shape = tuple(case["shape"])
        x1 = rng.standard_normal((N1,) + shape)
        x2 = rng.standard_normal((N2,) + shape)
        x2[0] = x1[1]  # the same point in both sets (correlation exactly 1)
        put(arrays, name, "x1", x1)
        put(arrays, name, "x2", x2)
        init_fn, apply_fn, kernel_fn = SA.build(case["desc"], stax, fns)
        _, params = init_fn(jax.random.PRNGKey(case["seed"]), x1.shape)
        leaves = jax.tree_util.tree_leaves(params)
        for i, leaf in enumerate(leaves):
            put(arrays, name, f"params/{i}", leaf)
        case = dict(case, n_params=len(leaves))
        x1j, x2j = jnp.asarray(x1), jnp.asarray(x2)
        if case["kind"] == "stax":
            put(ours, name, "f_x1", apply_fn(params, x1j))
            k = kernel_fn(x1j, x2j, ("nngp", "ntk"))
            put(ours, name, "nngp_x2", k.nngp)
            put(ours, name, "ntk_x2", k.ntk)
            k = kernel_fn(x1j, None, ("nngp", "ntk"))
            put(ours, name, "nngp_same", k.nngp)
            put(ours, name, "ntk_same", k.ntk)
        else:
            d = jax.tree_util.tree_map(lambda a: 0.3 * jnp.asarray(rng.standard_normal(a.shape)), params)
            p1 = jax.tree_util.tree_map(lambda a, b: a + b, params, d)
            for i, leaf in enumerate(jax.tree_util.tree_leaves(p1)):
                put(arrays, name, f"params1/{i}", leaf)
            f = SA.pytree_model(apply_fn)
            put(ours, name, "f0", apply_fn(params, x1j))
            put(ours, name, "f", apply_fn(p1, x1j))
            t = ntk.taylor_expand(f, params, case["degree"])(p1, x1j)
            put(ours, name, "f_taylor_a", t["a"])
            put(ours, name, "f_taylor_b0", t["b"][0])
        specs.append(case)

    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    np.savez(outdir / "cases.npz", **{"cases.json": np.array(json.dumps(specs))}, **arrays)
    np.savez(outdir / "ours.npz", **ours)
    return specs


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: stax_cases.py OUTDIR")
    import time

    t0 = time.perf_counter()
    specs = build(sys.argv[1])
    print(f"[stax_cases] {len(specs)} cases -> {sys.argv[1]} ({time.perf_counter() - t0:.1f} s)")
