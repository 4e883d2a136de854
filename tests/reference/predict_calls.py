"""The `predict` cross-check's calls, run identically against `ntk.predict` (main env) and
`neural_tangents.predict` (reference env): both sides call the same public functions with the same
arguments, so any difference in the numbers is a difference between the two libraries.

Imports only numpy; the caller passes its `predict` module, its `stax` module and `jax.numpy`.
The arguments use NT 0.6.5's signatures (the contract of ntk.predict):

    gradient_descent_mse(k_train_train, y_train, learning_rate, diag_reg, diag_reg_absolute_scale,
                         trace_axes)(t, fx_train_0, fx_test_0, k_test_train)
    gradient_descent_mse_ensemble(kernel_fn, x_train, y_train, learning_rate, diag_reg,
                                  diag_reg_absolute_scale, trace_axes)(t, x_test, get, compute_cov)
    gp_inference(k_train_train, y_train, diag_reg, diag_reg_absolute_scale, trace_axes)
                (get, k_test_train, k_test_test)
    max_learning_rate(ntk_train_train, y_train_size, momentum)

A case is a JSON dict ``{"name", "fn", "arrays": {role: key}, "kwargs": {...}, "calls": [...],
"stax": [[layer, {kwargs}], ...] (ensembles only)}``; a call is a dict of the returned function's
arguments where strings starting with "@" name arrays of the case and "t" may be a nested list.
Outputs are ``{name}/{call index}/{path}`` with path ``out`` / ``train`` / ``test`` (GD),
``{get}/mean`` and ``{get}/cov`` (posteriors), ``lr`` (max_learning_rate).
"""
from __future__ import annotations

import collections

import numpy as np

Kern = collections.namedtuple("Kern", "nngp ntk")


def _value(v, arrays, jnp):
    """A case argument: '@key' -> array, '@key.nngp,ntk' -> Kern of two arrays, else as is."""
    if isinstance(v, str) and v.startswith("@"):
        key = v[1:]
        if key.endswith(".kern"):
            base = key[:-len(".kern")]
            return Kern(jnp.asarray(arrays[f"{base}_nngp"]), jnp.asarray(arrays[f"{base}_ntk"]))
        return jnp.asarray(np.asarray(arrays[key], dtype=np.float64))
    return v


def _args(call, arrays, jnp):
    """A call's keyword arguments: arrays resolved, a list `t` made an array, a list `get` a tuple."""
    args = {k: _value(v, arrays, jnp) for k, v in call.items()}
    if isinstance(args.get("t"), (list, float, int)):
        args["t"] = jnp.asarray(np.asarray(args["t"], dtype=np.float64))
    if isinstance(args.get("get"), list):
        args["get"] = tuple(args["get"])
    return args


def _store(out, prefix, res, get):
    """Flatten a predict_fn result into `out`."""
    if get is None:
        get = ("nngp", "ntk")
    if isinstance(get, str):
        items = {get: res}
    else:
        items = {g: getattr(res, g) for g in get}
    for g, r in items.items():
        if hasattr(r, "covariance"):
            out[f"{prefix}/{g}/mean"] = np.asarray(r.mean, np.float64)
            out[f"{prefix}/{g}/cov"] = np.asarray(r.covariance, np.float64)
        else:
            out[f"{prefix}/{g}/mean"] = np.asarray(r, np.float64)


def build_kernel_fn(stax, spec):
    layers = [getattr(stax, name)(**kw) for name, kw in spec]
    return stax.serial(*layers)[2]


def run_case(case, arrays, predict, stax, jnp):
    """{output key: float64 array} of one case."""
    name, fn_name = case["name"], case["fn"]
    A = {role: _value("@" + key if not key.startswith("@") else key, arrays, jnp)
         for role, key in case.get("arrays", {}).items()}
    kw = dict(case.get("kwargs", {}))
    if "trace_axes" in kw:
        kw["trace_axes"] = tuple(kw["trace_axes"])
    out = {}
    if fn_name == "max_learning_rate":
        out[f"{name}/0/lr"] = np.float64(predict.max_learning_rate(A["ntk_train_train"], **kw))
        return out
    if fn_name == "gradient_descent_mse":
        fn = predict.gradient_descent_mse(A["k_train_train"], A["y_train"], **kw)
        for i, call in enumerate(case["calls"]):
            r = fn(**_args(call, arrays, jnp))
            if isinstance(r, tuple):
                out[f"{name}/{i}/train"], out[f"{name}/{i}/test"] = (np.asarray(a, np.float64) for a in r)
            else:
                out[f"{name}/{i}/out"] = np.asarray(r, np.float64)
        return out
    if fn_name == "gp_inference":
        fn = predict.gp_inference(A["k_train_train"], A["y_train"], **kw)
        for i, call in enumerate(case["calls"]):
            args = _args(call, arrays, jnp)
            _store(out, f"{name}/{i}", fn(**args), args.get("get"))
        return out
    if fn_name == "gradient_descent_mse_ensemble":
        kernel_fn = build_kernel_fn(stax, case["stax"])
        fn = predict.gradient_descent_mse_ensemble(kernel_fn, A["x_train"], A["y_train"], **kw)
        for i, call in enumerate(case["calls"]):
            args = _args(call, arrays, jnp)
            _store(out, f"{name}/{i}", fn(**args), args.get("get"))
        return out
    raise ValueError(f"case {name!r}: unknown fn {fn_name!r}")
