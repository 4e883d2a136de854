"""Main-env side of the `ntk.predict` cross-check against `neural_tangents.predict`.

    .venv/bin/python tests/reference/predict_cases.py OUTDIR

writes ``OUTDIR/predict_cases.npz`` (case list + input arrays, read by ``predict_oracle.py`` in
``.venv-ref``) and ``OUTDIR/predict_ours.npz`` (our outputs, float64). Both sides run the calls of
``predict_calls.run_case``. Kernel matrices are computed here once with ``ntk.stax`` (closed-form
ReLU / Erf) and handed to NT as arrays; the ensemble cases instead give each library its own
``stax`` kernel_fn, so they also check the kernel_fn path end to end.

Module import needs only numpy (``CASES`` is pure data for test collection); jax and ``ntk`` are
imported inside ``build`` (run as a subprocess so ``jax_enable_x64`` never leaks into pytest).
"""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]

RELU = [["Dense", {"out_dim": 64, "W_std": 1.4, "b_std": 0.2}], ["Relu", {}],
        ["Dense", {"out_dim": 64, "W_std": 1.4, "b_std": 0.2}], ["Relu", {}],
        ["Dense", {"out_dim": 2, "W_std": 1.4, "b_std": 0.2}]]
ERF = [["Dense", {"out_dim": 32, "W_std": 1.7, "b_std": 0.1}], ["Erf", {}],
       ["Dense", {"out_dim": 2, "W_std": 1.7, "b_std": 0.1}]]

TS = [[0.0, 0.1], [1.0, 1000.0]]  # a (2, 2) array of times
K2 = {"k_train_train": "K_ntk", "y_train": "y"}
GD_CALLS = [
    {"t": TS, "fx_train_0": "@f0", "fx_test_0": "@g0", "k_test_train": "@Ks_ntk"},
    {"t": None, "fx_train_0": "@f0", "fx_test_0": "@g0", "k_test_train": "@Ks_ntk"},
    {"t": TS, "fx_train_0": None, "fx_test_0": "@g0", "k_test_train": "@Ks_ntk"},
    {"t": 3.0, "fx_train_0": "@f0"},
    {"t": None, "fx_train_0": 0.0},
]
POSTERIOR_CALLS = [
    {"get": ["nngp", "ntk", "ntkgp"], "k_test_train": "@Ks.kern", "k_test_test": "@Kss.kern"},
    {"get": "ntkgp", "k_test_train": "@Ks.kern"},
    {"get": None, "k_test_train": "@Ks.kern", "k_test_test": "@Kss.kern"},
    {"get": ["nngp", "ntk"], "k_test_train": None, "k_test_test": True},
]
ENS_CALLS = [
    {"t": [0.0, 0.5, 5.0, 1e4], "x_test": "@xt", "get": ["nngp", "ntk"], "compute_cov": True},
    {"t": None, "x_test": "@xt", "get": ["nngp", "ntk"], "compute_cov": True},
    {"t": [0.3, 30.0], "x_test": None, "get": ["nngp", "ntk"], "compute_cov": True},
    {"t": 2.0, "x_test": "@xt", "get": "ntk", "compute_cov": False},
]

CASES = [
    {"name": "gd", "fn": "gradient_descent_mse", "arrays": K2, "kwargs": {"learning_rate": 0.5},
     "calls": GD_CALLS},
    {"name": "gd_reg", "fn": "gradient_descent_mse", "arrays": K2,
     "kwargs": {"learning_rate": 1.0, "diag_reg": 1e-2}, "calls": GD_CALLS},
    {"name": "gd_reg_abs", "fn": "gradient_descent_mse", "arrays": K2,
     "kwargs": {"learning_rate": 2.0, "diag_reg": 1e-3, "diag_reg_absolute_scale": True},
     "calls": GD_CALLS},
    # full output kernels (n, n, k, k): trace_axes=()
    {"name": "gd_full", "fn": "gradient_descent_mse", "arrays": {"k_train_train": "Kf", "y_train": "y"},
     "kwargs": {"learning_rate": 1.5, "trace_axes": []},
     "calls": [{"t": TS, "fx_train_0": "@f0", "fx_test_0": "@g0", "k_test_train": "@Ksf"},
               {"t": None, "fx_train_0": "@f0", "fx_test_0": "@g0", "k_test_train": "@Ksf"}]},
    {"name": "gp", "fn": "gp_inference", "arrays": {"k_train_train": "K.kern", "y_train": "y"},
     "kwargs": {"diag_reg": 1e-3}, "calls": POSTERIOR_CALLS},
    {"name": "gp_abs", "fn": "gp_inference", "arrays": {"k_train_train": "K.kern", "y_train": "y"},
     "kwargs": {"diag_reg": 1e-4, "diag_reg_absolute_scale": True}, "calls": POSTERIOR_CALLS[:1]},
    {"name": "gp_noreg", "fn": "gp_inference", "arrays": {"k_train_train": "K.kern", "y_train": "y"},
     "kwargs": {}, "calls": POSTERIOR_CALLS[:2]},
    {"name": "ens_relu", "fn": "gradient_descent_mse_ensemble", "stax": RELU,
     "arrays": {"x_train": "x", "y_train": "y"}, "kwargs": {"learning_rate": 1.0}, "calls": ENS_CALLS},
    {"name": "ens_erf_reg", "fn": "gradient_descent_mse_ensemble", "stax": ERF,
     "arrays": {"x_train": "x", "y_train": "y"},
     "kwargs": {"learning_rate": 0.5, "diag_reg": 1e-3}, "calls": ENS_CALLS[:2]},
    {"name": "maxlr", "fn": "max_learning_rate", "arrays": {"ntk_train_train": "K_ntk"}, "kwargs": {}},
    {"name": "maxlr_size_mom", "fn": "max_learning_rate", "arrays": {"ntk_train_train": "K_ntk"},
     "kwargs": {"y_train_size": 16, "momentum": 0.5}},
    {"name": "maxlr_full", "fn": "max_learning_rate", "arrays": {"ntk_train_train": "Kf"},
     "kwargs": {"momentum": 0.9}},
]
CASE_BY_NAME = {c["name"]: c for c in CASES}


def _inputs(n, d, rng):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * np.sqrt(d)


def build(outdir):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    import predict_calls

    from ntk import predict, stax

    rng = np.random.default_rng(2024)
    n, m, d, k = 8, 5, 3, 2
    x, xt = _inputs(n, d, rng), _inputs(m, d, rng)
    arrays = {"x": x, "xt": xt, "y": rng.standard_normal((n, k)),
              "f0": 0.1 * rng.standard_normal((n, k)), "g0": 0.1 * rng.standard_normal((m, k))}
    kernel_fn = predict_calls.build_kernel_fn(stax, RELU)
    for key, (a, b) in {"K": (x, None), "Ks": (xt, x), "Kss": (xt, None)}.items():
        kk = kernel_fn(jnp.asarray(a), None if b is None else jnp.asarray(b), ("nngp", "ntk"))
        arrays[f"{key}_nngp"], arrays[f"{key}_ntk"] = np.asarray(kk.nngp), np.asarray(kk.ntk)
    # a full (n, n, k, k) kernel: random features of the (point, output) pairs, NT's layout
    F = rng.standard_normal(((n + m) * k, 40)) / np.sqrt(40)
    J = F @ F.T
    arrays["Kf"] = J[:n * k, :n * k].reshape(n, k, n, k).transpose(0, 2, 1, 3)
    arrays["Ksf"] = J[n * k:, :n * k].reshape(m, k, n, k).transpose(0, 2, 1, 3)

    ours = {}
    for case in CASES:
        ours.update(predict_calls.run_case(case, arrays, predict, stax, jnp))
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    np.savez(outdir / "predict_cases.npz", **{"cases.json": np.array(json.dumps(CASES))},
             **{k: np.asarray(v, np.float64) for k, v in arrays.items()})
    np.savez(outdir / "predict_ours.npz", **ours)
    return ours


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: predict_cases.py OUTDIR")
    ours = build(sys.argv[1])
    print(f"[predict_cases] {len(CASES)} cases, {len(ours)} outputs -> {sys.argv[1]}")
