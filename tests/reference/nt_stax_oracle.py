"""neural-tangents oracle for ntk.stax: NT 0.6.5's answers for a stax case file.

Run in the pinned reference env only (see tests/reference/README.md)::

    .venv-ref/bin/python tests/reference/nt_stax_oracle.py cases.npz out.npz

Case file (written by ``stax_cases.py``): ``cases.json`` (a JSON list of cases: name, kind
"stax" | "taylor", desc (a serialized architecture, tests/stax_archs.py), shape, n_params,
degree) and per case ``x1``, ``x2``, ``params/<i>`` (our parameter leaves in tree order; NT's own
init gives the tree structure and leaf shapes, sizes must match), ``params1/<i>`` (taylor).

Outputs (float64, ``<name>/<key>``):
  stax    ``nngp_x2``, ``ntk_x2`` = kernel_fn(x1, x2), ``nngp_same``, ``ntk_same`` =
          kernel_fn(x1, None), in our layout: NT's spatially reversed kernels (Kernel.is_reversed,
          after a Conv) are put back in (H, H', W, W') order and a zero NTK (no parameters) is
          broadcast; ``f_x1`` = apply_fn(params, x1). With ElementwiseNumerical layers also
          ``quad_check_err`` = max relative difference of NT at deg and 2 deg (NT's own error).
  taylor  ``f0``, ``f``, ``f_taylor_a``, ``f_taylor_b0``: nt.taylor_expand of the pytree model
          {"a": f, "b": (f * f,)} of apply_fn at params0 to the case's degree, at params1.
Everything in float64 (jax_enable_x64). NT's kernel_fn and apply_fn are jitted (as NT's docs do): jaxlib
0.4.25's miscompile (README trap 2) concerns float32 only; jitted float64 agrees with eager to ~1e-16.
"""
from __future__ import annotations

import copy
import json
import pathlib
import sys
import time
import warnings

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from nt_import import nt, stax  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import stax_archs as SA  # noqa: E402

warnings.filterwarnings("ignore", message=".*Numerical Activation Layer.*")
warnings.filterwarnings("ignore", message=".*autodiff to compute.*")

FNS = SA.elementwise_fns(jax, jnp)


def _unreverse(a, reversed_, nsp):
    a = np.asarray(a, np.float64)
    if reversed_ and nsp > 1 and a.ndim == 2 + 2 * nsp:
        pairs = [(2 + 2 * i, 3 + 2 * i) for i in range(nsp)][::-1]
        a = a.transpose((0, 1) + tuple(ax for p in pairs for ax in p))
    return a


def _kernels(kernel_fn, x1, x2):
    k = jax.jit(kernel_fn, static_argnames="get")(x1, x2)  # get=None: NT's Kernel object (keeps is_reversed)
    nngp = np.asarray(k.nngp, np.float64)
    nsp = (nngp.ndim - 2) // 2 if nngp.ndim > 2 else 0
    nngp = _unreverse(nngp, bool(k.is_reversed), nsp)
    ntk = _unreverse(np.broadcast_to(np.asarray(k.ntk, np.float64), k.nngp.shape), bool(k.is_reversed), nsp)
    return nngp, ntk


def _double_deg(desc):
    desc = copy.deepcopy(desc)

    def walk(d):
        name, arg = d
        if name in ("serial", "parallel"):
            for sub in arg:
                walk(sub)
        elif name == "ElementwiseNumerical":
            arg["deg"] *= 2

    walk(desc)
    return desc


def _params(init_fn, x_shape, arrays, name, prefix, n):
    _, p_nt = init_fn(jax.random.PRNGKey(0), x_shape)
    leaves, tree = jax.tree_util.tree_flatten(p_nt)
    if len(leaves) != n:
        raise ValueError(f"{name}: NT's params have {len(leaves)} leaves, ours {n}")
    out = []
    for i, leaf in enumerate(leaves):
        a = np.asarray(arrays[f"{name}/{prefix}/{i}"], np.float64)
        if a.size != leaf.size:
            raise ValueError(f"{name}: leaf {i} has {a.size} numbers, NT's {leaf.size} ({leaf.shape})")
        out.append(jnp.asarray(a.reshape(leaf.shape)))
    return jax.tree_util.tree_unflatten(tree, out)


def run(cases, arrays, log=sys.stderr):
    results = {}
    meta = {"versions": {"neural_tangents": nt.__version__ if hasattr(nt, "__version__") else "0.6.5",
                         "jax": jax.__version__, "x64": bool(jax.config.jax_enable_x64)}, "cases": {}}
    for c in cases:
        name = c["name"]
        t0 = time.perf_counter()
        x1 = jnp.asarray(np.asarray(arrays[f"{name}/x1"], np.float64))
        x2 = jnp.asarray(np.asarray(arrays[f"{name}/x2"], np.float64))
        init_fn, apply_fn, kernel_fn = SA.build(c["desc"], stax, FNS)
        params = _params(init_fn, x1.shape, arrays, name, "params", c["n_params"])
        out = {}
        if c["kind"] == "stax":
            out["f_x1"] = jax.jit(apply_fn)(params, x1)
            out["nngp_x2"], out["ntk_x2"] = _kernels(kernel_fn, x1, x2)
            out["nngp_same"], out["ntk_same"] = _kernels(kernel_fn, x1, None)
            if SA.has_quadrature(c["desc"]):
                kf2 = SA.build(_double_deg(c["desc"]), stax, FNS)[2]
                errs = []
                for key, xx in (("x2", x2), ("same", None)):
                    for g, a in zip(("nngp", "ntk"), _kernels(kf2, x1, xx)):
                        b = out[f"{g}_{key}"]
                        errs.append(float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300)))
                out["quad_check_err"] = max(errs)
        else:
            p1 = _params(init_fn, x1.shape, arrays, name, "params1", c["n_params"])
            f = SA.pytree_model(apply_fn)
            out["f0"] = apply_fn(params, x1)
            out["f"] = apply_fn(p1, x1)
            t = nt.taylor_expand(f, params, c["degree"])(p1, x1)
            out["f_taylor_a"], out["f_taylor_b0"] = t["a"], t["b"][0]
        for k, v in out.items():
            a = np.asarray(v)
            if a.dtype.kind == "f" and a.dtype != np.float64:
                raise AssertionError(f"{name}/{k}: NT gave {a.dtype}, expected float64")
            results[f"{name}/{k}"] = a
        dt = time.perf_counter() - t0
        meta["cases"][name] = {"kind": c["kind"], "seconds": round(dt, 3)}
        if log is not None:
            print(f"[nt_stax_oracle] {name}: {dt:.2f} s", file=log)
    return results, meta


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.exit("usage: nt_stax_oracle.py cases.npz out.npz")
    with np.load(argv[0], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    cases = json.loads(str(arrays.pop("cases.json")))
    t0 = time.perf_counter()
    results, meta = run(cases, arrays, log=None)
    results["meta.json"] = np.array(json.dumps(meta))
    np.savez(argv[1], **results)
    print(f"[nt_stax_oracle] {len(cases)} cases -> {argv[1]} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
