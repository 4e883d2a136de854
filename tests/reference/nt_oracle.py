"""neural-tangents oracle: compute NT 0.6.5 answers for a file of cases.

Run in the pinned reference env only (see tests/reference/README.md)::

    .venv-ref/bin/python tests/reference/nt_oracle.py cases.npz out.npz [--only NAME ...]

Everything is computed in float64 (``jax_enable_x64``) and nothing of ours is jitted: jaxlib
0.4.25 on CPU miscompiles jitted float32 ``s * (x @ W) + b`` (oneDNN matmul with fused scale and
bias, relative errors ~0.5), so float32/jitted NT values are not a reference.

Case file (``.npz``, loaded with ``allow_pickle=False``)
-------------------------------------------------------
``cases.json``
    0-d unicode array holding a JSON list of case dicts::

        {"name": "case003", "kind": KIND, "arch": ARCH (if the kind needs one), "options": {...}}

    ``name`` must be unique and free of ``/``.
``<name>/<field>``
    the case's arrays (any float dtype; cast to float64).  Params of a network with depth L are
    ``<name>/params/<i>/W`` and ``<name>/params/<i>/b`` for i = 0..L (``params0/...`` likewise).

ARCH is the dict documented in ``ntk/reference.py``::

    {"widths": [w1, ..., wL], "out_dim": k, "activation": "relu" | ["leaky_relu", {"alpha": a}]
     | ..., "W_std": float, "b_std": float, "parameterization": "ntk" | "standard",
     "quad_deg": int (optional)}

Kinds, their inputs, and the outputs written to ``out.npz`` as ``<name>/<output>``
-----------------------------------------------------------------------------------
``infinite``  (arch; x1, optional x2)
    options: ``get`` (default ["nngp", "ntk"]); ``quad_check`` (default true for quadrature
    activations): also run NT at twice the degree; ``adaptive`` (default false): independent
    converged reference by nested adaptive scipy quadrature (any of our activations; cost
    ~0.1-1 s per kernel entry per layer, keep n small).
    outputs: ``nngp``, ``ntk`` (n1, n2); with quad_check ``nngp_deg2``, ``ntk_deg2`` and
    ``quad_check_err`` (max relative difference, scalar); with adaptive ``nngp_adaptive``,
    ``ntk_adaptive``.
``empirical``  (arch; params; x1, optional x2)
    options: ``implementations`` (default [1, 2, 3]: NT's jacobian contraction, NTK-vector
    products, structured derivatives), ``trace`` (default ["trace", "full"]).
    outputs: ``f_x1`` [``f_x2``] (apply_fn outputs), ``ntk_trace_impl{i}`` (n1, n2) = NT's
    ``trace_axes=(-1,)`` (mean over output units), ``ntk_full_impl{i}`` (n1, n2, k, k) = NT's
    ``trace_axes=()``, ``nngp_trace``, ``nngp_full`` (NT's empirical_nngp_fn, same axes).
``linearize``  (arch; params0; params; x)
    options: ``orders`` (default [1, 2]).
    outputs: ``f0`` = f(params0, x), ``f`` = f(params, x), ``f_lin`` = nt.linearize(f,
    params0)(params, x), ``f_taylor2`` = nt.taylor_expand(f, params0, 2)(params, x).
``gd_mse``  (y_train; k_train_train [, k_test_train, fx_train_0, fx_test_0]
             -- or arch + x_train [, x_test] to use NT's infinite kernel ``options.kernel``)
    nt.predict.gradient_descent_mse(k_train_train, y_train, learning_rate, diag_reg,
    diag_reg_absolute_scale, trace_axes).
    options: ``ts`` (list of times, required), ``learning_rate`` (1.0), ``diag_reg`` (0.0),
    ``diag_reg_absolute_scale`` (false), ``trace_axes`` ([-1]; [] for full (n, n, k, k) kernels),
    ``t_inf`` (true: also t=None), ``kernel`` ("ntk"; with arch).
    fx_train_0 defaults to zeros; test outputs only when k_test_train (or x_test) is given and
    fx_test_0 then defaults to zeros.
    outputs: ``fx_train`` (T, n, k), ``fx_test`` (T, m, k), ``fx_train_inf``, ``fx_test_inf``,
    and with arch the kernels used (``k_train_train``, ``k_test_train``).
``gd_mse_ensemble``  (arch; x_train; y_train; x_test)
    nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y_train, ...) then
    predict_fn(t=ts, x_test, get, compute_cov).
    options: ``ts`` (required), ``learning_rate``, ``diag_reg``, ``diag_reg_absolute_scale``,
    ``get`` (["nngp", "ntk"]), ``compute_cov`` (true), ``t_inf`` (true).
    outputs: ``{g}_mean`` (T, m, k), ``{g}_cov`` (T, m, m), ``{g}_mean_inf``, ``{g}_cov_inf``.
``gp_inference``  (y_train; k_train_train_{nngp,ntk}, k_test_train_{nngp,ntk},
                   optional k_test_test_{nngp,ntk} -- or arch + x_train + x_test)
    nt.predict.gp_inference(k_train_train, y_train, diag_reg, diag_reg_absolute_scale)
    (get, k_test_train, k_test_test).
    options: ``get`` (["nngp", "ntk", "ntkgp"]), ``diag_reg`` (0.0), ``diag_reg_absolute_scale``
    (false), ``compute_cov`` (true).  Covariances need the nngp kernels (and ntkgp k_test_test_ntk).
    outputs: ``{g}_mean`` (m, k), ``{g}_cov`` (m, m).
``max_lr``  (ntk_train_train)
    nt.predict.max_learning_rate(ntk_train_train, y_train_size, momentum).
    options: ``y_train_size`` (default None = NT's default), ``momentum`` (0.0).
    outputs: ``lr`` (scalar).

``out.npz`` also holds ``meta.json``: versions (neural-tangents, jax, jaxlib, numpy, scipy), and
per case its kind, wall time in seconds and the quadrature degree used.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from nt_import import nt, ref  # noqa: E402  (stubs neural_tangents.experimental first)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.integrate  # noqa: E402

warnings.filterwarnings("ignore", message=".*Numerical Activation Layer.*")
warnings.filterwarnings("ignore", message=".*autodiff to compute.*")
warnings.filterwarnings("ignore", category=scipy.integrate.IntegrationWarning)


# ---------------------------------------------------------------------------------------------
# case file access

class Case:
    def __init__(self, spec: dict, arrays: dict):
        self.spec = spec
        self.name = spec["name"]
        self.kind = spec["kind"]
        self.arch = spec.get("arch")
        self.opt = dict(spec.get("options") or {})
        self._arrays = arrays

    def has(self, field):
        return f"{self.name}/{field}" in self._arrays

    def arr(self, field, required=True):
        key = f"{self.name}/{field}"
        if key not in self._arrays:
            if required:
                raise KeyError(f"case {self.name!r} ({self.kind}) needs array {key!r}")
            return None
        return jnp.asarray(np.asarray(self._arrays[key], dtype=np.float64))

    def params(self, prefix="params"):
        depth = len(self.arch["widths"])
        ours = [(self.arr(f"{prefix}/{i}/W"), self.arr(f"{prefix}/{i}/b"))
                for i in range(depth + 1)]
        return ref.params_to_nt(ours, depth)


def load_cases(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if "cases.json" not in arrays:
        raise ValueError(f"{path}: no 'cases.json' entry")
    specs = json.loads(str(arrays.pop("cases.json")))
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names) or any("/" in n for n in names):
        raise ValueError(f"case names must be unique and contain no '/': {names}")
    return [Case(s, arrays) for s in specs]


def _np(x):
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# independent converged reference for quadrature activations (numpy + scipy adaptive quad)

def _np_activation(spec):
    """(fn, derivative) in numpy, for the adaptive reference (any activation we name)."""
    from scipy import special

    name, kw = ref._split_spec(spec)
    sig = lambda u: 0.5 * (1.0 + np.tanh(0.5 * u))  # noqa: E731  (overflow-free sigmoid)
    if name == "relu":
        return (lambda u: np.maximum(u, 0.0)), (lambda u: float(u > 0))
    if name == "abs":
        return np.abs, np.sign
    if name in ("leaky_relu", "leakyrelu"):
        al = float(kw.get("alpha", 0.01))
        return (lambda u: u if u >= 0 else al * u), (lambda u: 1.0 if u >= 0 else al)
    if name in ("identity", "linear"):
        return (lambda u: u), (lambda u: 1.0)
    if name == "erf":
        a, b_, c = (float(kw.get(k, v)) for k, v in (("a", 1.0), ("b", 1.0), ("c", 0.0)))
        return ((lambda u: a * special.erf(b_ * u) + c),
                (lambda u: a * b_ * 2.0 / np.sqrt(np.pi) * np.exp(-(b_ * u) ** 2)))
    if name == "sin":
        a, b_, c = (float(kw.get(k, v)) for k, v in (("a", 1.0), ("b", 1.0), ("c", 0.0)))
        return (lambda u: a * np.sin(b_ * u + c)), (lambda u: a * b_ * np.cos(b_ * u + c))
    if name == "gelu":
        pdf = lambda u: np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)  # noqa: E731
        return (lambda u: u * special.ndtr(u)), (lambda u: special.ndtr(u) + u * pdf(u))
    if name == "tanh":
        return np.tanh, lambda u: 1.0 - np.tanh(u) ** 2
    if name == "softplus":
        return (lambda u: np.logaddexp(0.0, u)), sig
    if name in ("silu", "swish"):
        return (lambda u: u * sig(u)), (lambda u: sig(u) * (1.0 + u * (1.0 - sig(u))))
    raise ValueError(f"no adaptive reference for activation {spec!r}")


def _gauss_expect(f, g, q1, q2, c, zmax=12.0):
    """E[f(u) g(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]]) by nested adaptive quadrature.

    Every activation we name is smooth except at 0 (kinks of relu/abs/leaky_relu, jumps of their
    derivatives), so each integral is split where its argument crosses 0.
    """
    from scipy import integrate

    kw = dict(epsabs=1e-14, epsrel=1e-10, limit=200)
    pdf = lambda z: np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)  # noqa: E731

    def quad(h, kink):
        pts = [kink] if -zmax < kink < zmax else None
        return integrate.quad(h, -zmax, zmax, points=pts, **kw)[0]

    s1 = np.sqrt(q1)
    if abs(q1 * q2 - c * c) <= 1e-14 * q1 * q2:  # degenerate: v = (c / q1) u
        a = c / q1
        return quad(lambda z: pdf(z) * f(s1 * z) * g(a * s1 * z), 0.0)
    a, s2 = c / s1, np.sqrt(q2 - c * c / q1)

    def inner(z1):
        return quad(lambda z2: pdf(z2) * g(a * z1 + s2 * z2), -a * z1 / s2)

    return quad(lambda z1: pdf(z1) * f(s1 * z1) * inner(z1), 0.0)


def adaptive_kernels(arch, x1, x2=None):
    """NNGP and NTK of the MLP by the standard recursion, every Gaussian expectation by nested
    adaptive quadrature (scipy.integrate.quad) -- independent of NT's code; slow (O(n^2 depth)
    double integrals), meant for a handful of points."""
    arch = ref._check_arch(arch)
    fn, dfn = _np_activation(arch["activation"])
    W2, b2 = float(arch["W_std"]) ** 2, float(arch["b_std"]) ** 2
    standard = arch["parameterization"] == "standard"
    x1 = _np(x1)
    x2 = x1 if x2 is None else _np(x2)
    xs = np.concatenate([x1, x2])
    n1 = len(x1)
    d = xs.shape[1]
    K = xs @ xs.T / d  # covariance entering the first Dense
    T = np.zeros_like(K)
    fan_in = d
    for li, w in enumerate(list(arch["widths"]) + [None]):
        nngp = W2 * K + b2
        T = (fan_in * K + W2 * T + 1.0) if standard else (nngp + W2 * T)
        if w is None:
            break
        Kn, D = np.empty_like(K), np.empty_like(K)
        n = len(K)
        for i in range(n):
            for j in range(i, n):
                c = nngp[i, j]
                Kn[i, j] = Kn[j, i] = _gauss_expect(fn, fn, nngp[i, i], nngp[j, j], c)
                D[i, j] = D[j, i] = _gauss_expect(dfn, dfn, nngp[i, i], nngp[j, j], c)
        K, T, fan_in = Kn, T * D, int(w)
    return nngp[:n1, n1:], T[:n1, n1:]


# ---------------------------------------------------------------------------------------------
# kinds

def _rel_err(a, b):
    a, b = _np(a), _np(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def run_infinite(c: Case):
    x1, x2 = c.arr("x1"), c.arr("x2", required=False)
    get = tuple(c.opt.get("get", ("nngp", "ntk")))
    quad = ref.is_quadrature(c.arch["activation"])
    deg = int(c.arch.get("quad_deg") or ref.DEFAULT_QUAD_DEG) if quad else None
    kernel_fn = ref.nt_serial(c.arch)[2]
    k = kernel_fn(x1, x2, get)
    out = {g: getattr(k, g) for g in get}
    info = {"quad_deg": deg}
    if quad and c.opt.get("quad_check", True):
        k2 = ref.nt_serial(c.arch, quad_deg=2 * deg)[2](x1, x2, get)
        err = 0.0
        for g in get:
            out[f"{g}_deg2"] = getattr(k2, g)
            err = max(err, _rel_err(out[g], out[f"{g}_deg2"]))
        out["quad_check_err"] = np.float64(err)
        info["quad_check_err"] = err
    if c.opt.get("adaptive", False):
        nngp, ntk = adaptive_kernels(c.arch, x1, x2)
        out["nngp_adaptive"], out["ntk_adaptive"] = nngp, ntk
    return out, info


def run_empirical(c: Case):
    _, apply_fn, _ = ref.nt_serial(c.arch)
    params = c.params()
    x1, x2 = c.arr("x1"), c.arr("x2", required=False)
    out = {"f_x1": apply_fn(params, x1)}
    if x2 is not None:
        out["f_x2"] = apply_fn(params, x2)
    traces = {"trace": (-1,), "full": ()}
    modes = c.opt.get("trace", ["trace", "full"])
    for impl in c.opt.get("implementations", [1, 2, 3]):
        for mode in modes:
            fn = nt.empirical_ntk_fn(apply_fn, trace_axes=traces[mode], implementation=int(impl))
            out[f"ntk_{mode}_impl{int(impl)}"] = fn(x1, x2, params)
    for mode in modes:
        out[f"nngp_{mode}"] = nt.empirical_nngp_fn(apply_fn, trace_axes=traces[mode])(
            x1, x2, params)
    return out, {}


def run_linearize(c: Case):
    _, apply_fn, _ = ref.nt_serial(c.arch)
    params0, params = c.params("params0"), c.params("params")
    x = c.arr("x")
    out = {"f0": apply_fn(params0, x), "f": apply_fn(params, x)}
    orders = c.opt.get("orders", [1, 2])
    if 1 in orders:
        out["f_lin"] = nt.linearize(apply_fn, params0)(params, x)
    if 2 in orders:
        out["f_taylor2"] = nt.taylor_expand(apply_fn, params0, 2)(params, x)
    return out, {}


def _infinite_kernel_matrices(c: Case, get):
    kernel_fn = ref.nt_serial(c.arch)[2]
    x_train, x_test = c.arr("x_train"), c.arr("x_test", required=False)
    k_tt = kernel_fn(x_train, None, get)
    k_st = None if x_test is None else kernel_fn(x_test, x_train, get)
    k_ss = None if x_test is None else kernel_fn(x_test, None, get)
    return k_tt, k_st, k_ss


def run_gd_mse(c: Case):
    y = c.arr("y_train")
    out = {}
    if c.arch is not None and not c.has("k_train_train"):
        g = c.opt.get("kernel", "ntk")
        k_tt, k_st, _ = _infinite_kernel_matrices(c, (g,))
        k_tt = getattr(k_tt, g)
        k_st = None if k_st is None else getattr(k_st, g)
        out["k_train_train"] = k_tt
        if k_st is not None:
            out["k_test_train"] = k_st
    else:
        k_tt, k_st = c.arr("k_train_train"), c.arr("k_test_train", required=False)
    trace_axes = tuple(c.opt.get("trace_axes", [-1]))
    predict = nt.predict.gradient_descent_mse(
        k_tt, y, learning_rate=float(c.opt.get("learning_rate", 1.0)),
        diag_reg=float(c.opt.get("diag_reg", 0.0)),
        diag_reg_absolute_scale=bool(c.opt.get("diag_reg_absolute_scale", False)),
        trace_axes=trace_axes)
    fx_train_0 = c.arr("fx_train_0", required=False)
    if fx_train_0 is None:
        fx_train_0 = jnp.zeros_like(y)
    fx_test_0 = None
    if k_st is not None:
        fx_test_0 = c.arr("fx_test_0", required=False)
        if fx_test_0 is None:
            fx_test_0 = jnp.zeros((k_st.shape[0],) + y.shape[1:], y.dtype)
    ts = jnp.asarray(np.asarray(c.opt["ts"], dtype=np.float64))

    def call(t):
        r = predict(t, fx_train_0, fx_test_0, k_st)
        return r if isinstance(r, tuple) else (r, None)

    out["fx_train"], fx_test = call(ts)
    if fx_test is not None:
        out["fx_test"] = fx_test
    if c.opt.get("t_inf", True):
        out["fx_train_inf"], fx_test = call(None)
        if fx_test is not None:
            out["fx_test_inf"] = fx_test
    return out, {}


def run_gd_mse_ensemble(c: Case):
    kernel_fn = ref.nt_serial(c.arch)[2]
    x_train, y, x_test = c.arr("x_train"), c.arr("y_train"), c.arr("x_test")
    predict = nt.predict.gradient_descent_mse_ensemble(
        kernel_fn, x_train, y, learning_rate=float(c.opt.get("learning_rate", 1.0)),
        diag_reg=float(c.opt.get("diag_reg", 0.0)),
        diag_reg_absolute_scale=bool(c.opt.get("diag_reg_absolute_scale", False)))
    get = tuple(c.opt.get("get", ["nngp", "ntk"]))
    cov = bool(c.opt.get("compute_cov", True))
    ts = jnp.asarray(np.asarray(c.opt["ts"], dtype=np.float64))
    out = {}
    for suffix, t in [("", ts)] + ([("_inf", None)] if c.opt.get("t_inf", True) else []):
        res = predict(t=t, x_test=x_test, get=get, compute_cov=cov)
        for g in get:
            r = getattr(res, g)
            if cov:
                out[f"{g}_mean{suffix}"], out[f"{g}_cov{suffix}"] = r.mean, r.covariance
            else:
                out[f"{g}_mean{suffix}"] = r
    return out, {}


def run_gp_inference(c: Case):
    from collections import namedtuple

    Kern = namedtuple("Kern", "nngp ntk")
    y = c.arr("y_train")
    get = tuple(c.opt.get("get", ["nngp", "ntk", "ntkgp"]))
    if c.arch is not None and not c.has("k_train_train_ntk") and not c.has("k_train_train_nngp"):
        k_tt, k_st, k_ss = _infinite_kernel_matrices(c, ("nngp", "ntk"))
        k_tt, k_st, k_ss = (Kern(k.nngp, k.ntk) for k in (k_tt, k_st, k_ss))
    else:
        def kern(prefix):
            nngp = c.arr(f"{prefix}_nngp", required=False)
            ntk = c.arr(f"{prefix}_ntk", required=False)
            return None if nngp is None and ntk is None else Kern(nngp, ntk)
        k_tt, k_st, k_ss = kern("k_train_train"), kern("k_test_train"), kern("k_test_test")
    predict = nt.predict.gp_inference(
        k_tt, y, diag_reg=float(c.opt.get("diag_reg", 0.0)),
        diag_reg_absolute_scale=bool(c.opt.get("diag_reg_absolute_scale", False)))
    cov = bool(c.opt.get("compute_cov", True))
    res = predict(get, k_st, k_ss if cov else None)
    out = {}
    for g in get:
        r = getattr(res, g)
        if cov:
            out[f"{g}_mean"], out[f"{g}_cov"] = r.mean, r.covariance
        else:
            out[f"{g}_mean"] = r
    return out, {}


def run_max_lr(c: Case):
    k = c.arr("ntk_train_train")
    size = c.opt.get("y_train_size")
    lr = nt.predict.max_learning_rate(k, y_train_size=None if size is None else int(size),
                                      momentum=float(c.opt.get("momentum", 0.0)))
    return {"lr": np.float64(lr)}, {}


KINDS = {
    "infinite": run_infinite,
    "empirical": run_empirical,
    "linearize": run_linearize,
    "gd_mse": run_gd_mse,
    "gd_mse_ensemble": run_gd_mse_ensemble,
    "gp_inference": run_gp_inference,
    "max_lr": run_max_lr,
}


# ---------------------------------------------------------------------------------------------

def versions():
    import jaxlib

    return {"neural_tangents": nt.__version__, "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": sys.version.split()[0], "x64": bool(jax.config.jax_enable_x64)}


def run_cases(cases, only=None, log=None):
    results, meta = {}, {"versions": versions(), "cases": {}}
    for c in cases:
        if only and c.name not in only:
            continue
        if c.kind not in KINDS:
            raise ValueError(f"case {c.name!r}: unknown kind {c.kind!r}; one of {sorted(KINDS)}")
        t0 = time.perf_counter()
        try:
            out, info = KINDS[c.kind](c)
        except Exception as e:  # re-raise with the case's name; never skip silently
            raise RuntimeError(f"case {c.name!r} ({c.kind}, arch={c.arch}) failed: "
                               f"{type(e).__name__}: {e}") from e
        for k, v in out.items():
            a = np.asarray(v)
            if a.dtype.kind == "f" and a.dtype != np.float64:
                raise AssertionError(f"case {c.name!r}: output {k} is {a.dtype}, not float64")
            results[f"{c.name}/{k}"] = a
        dt = time.perf_counter() - t0
        meta["cases"][c.name] = {"kind": c.kind, "seconds": dt, **info}
        if log:
            print(f"[nt_oracle] {c.name:>12s} {c.kind:16s} {dt:7.2f}s", file=log)
    return results, meta


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases", help="input .npz (see module docstring)")
    p.add_argument("out", help="output .npz")
    p.add_argument("--only", nargs="*", help="run only these case names")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    cases = load_cases(a.cases)
    results, meta = run_cases(cases, a.only, None if a.quiet else sys.stderr)
    results["meta.json"] = np.array(json.dumps(meta))
    tmp = a.out + ".tmp.npz"
    np.savez(tmp, **results)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
