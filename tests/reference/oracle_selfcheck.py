"""Self-check of the neural-tangents oracle, run inside the reference env only::

    .venv-ref/bin/python tests/reference/oracle_selfcheck.py

Writes a case file in the documented format, runs ``nt_oracle.py`` on it (in process), and checks
NT's answers against independent facts: closed forms (arccos for ReLU, arcsin for erf), NT's own
empirical NTK at large width, agreement of NT's three empirical implementations, the trace
convention, linearization identities, gradient-flow limits and the max learning rate formula.
Exits non-zero on any failure and ends with 'N passed, N failed'.
"""
from __future__ import annotations

import json
import pathlib
import sys
import tempfile
import traceback

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import nt_oracle  # noqa: E402  (sets jax_enable_x64, stubs NT's experimental module)
from nt_import import ref  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

RNG = np.random.default_rng(20240229)


def _inputs(n, d, norm=1.0):
    x = RNG.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * norm * np.sqrt(d)


def _our_params(arch, d, key, scale_std=True):
    """Our [(W, b), ...] with NT's init distribution (through NT's own init_fn)."""
    init_fn = ref.nt_serial(arch)[0]
    _, p = init_fn(jax.random.PRNGKey(key), (1, d))
    return [(np.asarray(W), np.asarray(b)) for W, b in ref.params_from_nt(p)]


class Builder:
    def __init__(self):
        self.specs, self.arrays = [], {}

    def add(self, name, kind, arch=None, options=None, **arrays):
        self.specs.append({"name": name, "kind": kind, "arch": arch, "options": options or {}})
        for k, v in arrays.items():
            if k in ("params", "params0"):
                for i, (W, b) in enumerate(v):
                    self.arrays[f"{name}/{k}/{i}/W"] = np.asarray(W)
                    self.arrays[f"{name}/{k}/{i}/b"] = np.asarray(b)
            elif v is not None:
                self.arrays[f"{name}/{k}"] = np.asarray(v)

    def save(self, path):
        np.savez(path, **{"cases.json": np.array(json.dumps(self.specs))}, **self.arrays)


def build():
    b = Builder()
    d = 5
    x1, x2 = _inputs(4, d), _inputs(3, d, norm=1.7)
    relu = dict(widths=[64, 64], out_dim=1, activation="relu", W_std=1.4, b_std=0.2)
    erf1 = dict(widths=[32], out_dim=1, activation="erf", W_std=1.3, b_std=0.3)
    relu1 = dict(widths=[32], out_dim=1, activation="relu", W_std=1.2, b_std=0.1)
    b.add("inf_relu", "infinite", relu, x1=x1, x2=x2)
    b.add("inf_relu1", "infinite", relu1, x1=x1, x2=x2)
    b.add("inf_erf1", "infinite", erf1, x1=x1, x2=x2)
    b.add("inf_relu_std", "infinite", dict(relu, parameterization="standard"), x1=x1, x2=x2)
    tanh = dict(widths=[16, 16], out_dim=1, activation="tanh", W_std=1.2, b_std=0.1)
    b.add("inf_tanh", "infinite", tanh, {"adaptive": True}, x1=x1[:3], x2=_inputs(2, d))
    # pre-activation std ~2: NT's fixed deg-64 rule is off by ~5e-5 here; quad_check sees it
    b.add("inf_tanh_big", "infinite", dict(tanh, quad_deg=64), {"adaptive": True},
          x1=x1[:2], x2=x2[:2])
    for act in ["gelu", "sin", "abs", ["leaky_relu", {"alpha": 0.2}], "identity", "softplus",
                "silu", "erf", "relu"]:
        nm = act if isinstance(act, str) else act[0]
        b.add(f"act_{nm}", "infinite", dict(relu, activation=act), x1=x1)
        b.add(f"ada_{nm}", "infinite", dict(relu, activation=act), {"adaptive": True},
              x1=np.stack([x1[0], x2[0]]))

    wide = dict(widths=[4096, 4096], out_dim=1, activation="relu", W_std=1.4, b_std=0.2)
    std1 = dict(widths=[4096], out_dim=1, activation="relu", W_std=1.4, b_std=0.2,
                parameterization="standard")
    b.add("inf_std1", "infinite", std1, x1=x1, x2=x2)
    b.add("emp_std1", "empirical", std1, {"implementations": [3], "trace": ["trace"]},
          params=_our_params(std1, d, 3), x1=x1, x2=x2)
    narrow = dict(wide, widths=[256, 256])
    for nm, arch in [("emp_wide", wide), ("emp_narrow", narrow)]:
        b.add(nm, "empirical", arch, {"implementations": [2], "trace": ["trace"]},
              params=_our_params(arch, d, 0), x1=x1, x2=x2)
    small = dict(widths=[7, 6], out_dim=3, activation="erf", W_std=1.1, b_std=0.5)
    for p in ("ntk", "standard"):
        arch = dict(small, parameterization=p)
        b.add(f"emp_small_{p}", "empirical", arch, params=_our_params(arch, d, 1), x1=x1, x2=x2)

    p0 = _our_params(small, d, 2)
    p1 = [(W + 1e-3 * RNG.standard_normal(W.shape), bb + 1e-3 * RNG.standard_normal(bb.shape))
          for W, bb in p0]
    b.add("lin_small", "linearize", small, params0=p0, params=p1, x=x1)
    b.add("lin_same", "linearize", small, params0=p0, params=p0, x=x1)

    xtr, xte = _inputs(6, d), _inputs(3, d)
    ytr = RNG.standard_normal((6, 2))
    gd_opts = {"ts": [0.0, 0.5, 3.0, 1e4], "learning_rate": 1.0}
    b.add("gd_arch", "gd_mse", relu, gd_opts, x_train=xtr, x_test=xte, y_train=ytr)
    b.add("ens", "gd_mse_ensemble", relu, {"ts": [0.0, 1.0, 1e5]}, x_train=xtr, x_test=xte,
          y_train=ytr)
    b.add("gp_arch", "gp_inference", relu, x_train=xtr, x_test=xte, y_train=ytr)
    K = RNG.standard_normal((6, 6))
    K = K @ K.T + 6 * np.eye(6)
    b.add("maxlr", "max_lr", None, {"y_train_size": 12}, ntk_train_train=K)
    return b, dict(x1=x1, x2=x2, xtr=xtr, xte=xte, ytr=ytr, K=K, relu1=relu1, erf1=erf1)


# closed forms for a one-hidden-layer net in NTK parameterization (readout Dense included)
def _cov_in(x1, x2, arch):
    d = x1.shape[1]
    W2, b2 = arch["W_std"] ** 2, arch["b_std"] ** 2
    q1 = W2 * np.sum(x1 * x1, 1) / d + b2
    q2 = W2 * np.sum(x2 * x2, 1) / d + b2
    c = W2 * x1 @ x2.T / d + b2
    return q1, q2, c


def relu1_closed(x1, x2, arch):
    q1, q2, c = _cov_in(x1, x2, arch)
    s = np.sqrt(np.outer(q1, q2))
    rho = np.clip(c / s, -1, 1)
    th = np.arccos(rho)
    e_phi = s * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    e_dphi = (np.pi - th) / (2 * np.pi)
    W2, b2 = arch["W_std"] ** 2, arch["b_std"] ** 2
    nngp = W2 * e_phi + b2
    return nngp, nngp + W2 * c * e_dphi


def erf1_closed(x1, x2, arch):
    q1, q2, c = _cov_in(x1, x2, arch)
    den = np.sqrt(np.outer(1 + 2 * q1, 1 + 2 * q2))
    e_phi = 2 / np.pi * np.arcsin(2 * c / den)
    e_dphi = 4 / np.pi / np.sqrt(den ** 2 - 4 * c ** 2)
    W2, b2 = arch["W_std"] ** 2, arch["b_std"] ** 2
    nngp = W2 * e_phi + b2
    return nngp, nngp + W2 * c * e_dphi


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def fro(a, b):
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


def checks(r, aux):
    x1, x2 = aux["x1"], aux["x2"]
    yield "relu 1-layer nngp/ntk == arccos closed form", lambda: [
        _le(rel(r["inf_relu1/nngp"], relu1_closed(x1, x2, aux["relu1"])[0]), 1e-12),
        _le(rel(r["inf_relu1/ntk"], relu1_closed(x1, x2, aux["relu1"])[1]), 1e-12)]
    yield "erf 1-layer nngp/ntk == arcsin closed form", lambda: [
        _le(rel(r["inf_erf1/nngp"], erf1_closed(x1, x2, aux["erf1"])[0]), 1e-12),
        _le(rel(r["inf_erf1/ntk"], erf1_closed(x1, x2, aux["erf1"])[1]), 1e-12)]
    yield "empirical relu NTK -> infinite NTK: <10% at width 4096, error(256)/error(4096) > 2", \
        lambda: [_le(fro(r["emp_wide/ntk_trace_impl2"], r["inf_relu/ntk"]), 0.1),
                 _ge(fro(r["emp_narrow/ntk_trace_impl2"], r["inf_relu/ntk"])
                     / fro(r["emp_wide/ntk_trace_impl2"], r["inf_relu/ntk"]), 2.0)]
    yield "standard param (NTK grows with width, +1 per bias): empirical ~ infinite at 4096", \
        lambda: [_le(fro(r["emp_std1/ntk_trace_impl3"], r["inf_std1/ntk"]), 0.05)]
    yield "standard param: NTK differs from ntk param, NNGP equal", lambda: [
        _le(rel(r["inf_relu_std/nngp"], r["inf_relu/nngp"]), 1e-12),
        _ge(rel(r["inf_relu_std/ntk"], r["inf_relu/ntk"]), 1e-2)]
    yield "tanh: NT quadrature (deg 128) vs adaptive reference <= 1e-6", lambda: [
        _le(rel(r["inf_tanh/nngp"], r["inf_tanh/nngp_adaptive"]), 1e-6),
        _le(rel(r["inf_tanh/ntk"], r["inf_tanh/ntk_adaptive"]), 1e-6),
        _le(float(r["inf_tanh/quad_check_err"]), 1e-6)]
    yield "tanh at pre-activation std ~2: deg-64 error > 1e-5 and quad_check_err flags it", lambda: [
        _ge(rel(r["inf_tanh_big/ntk"], r["inf_tanh_big/ntk_adaptive"]), 1e-5),
        _ge(float(r["inf_tanh_big/quad_check_err"]),
            0.5 * rel(r["inf_tanh_big/ntk"], r["inf_tanh_big/ntk_adaptive"])),
        _le(rel(r["inf_tanh_big/ntk_deg2"], r["inf_tanh_big/ntk_adaptive"]), 1e-6)]
    acts = ["gelu", "sin", "abs", "leaky_relu", "identity", "softplus", "silu", "erf", "relu"]
    for a in acts:
        yield f"{a}: NT (depth 2) vs independent adaptive quadrature <= 1e-7", lambda a=a: [
            _le(rel(r[f"ada_{a}/{g}"], r[f"ada_{a}/{g}_adaptive"]), 1e-7) for g in ("nngp", "ntk")]
    yield "all activations produce finite symmetric kernels", lambda: [
        _true(np.all(np.isfinite(r[f"act_{a}/{g}"])) and
              rel(r[f"act_{a}/{g}"], r[f"act_{a}/{g}"].T) < 1e-12)
        for a in acts for g in ["nngp", "ntk"]]
    for p in ("ntk", "standard"):
        e = f"emp_small_{p}"
        yield f"empirical ({p}): implementations 1, 2, 3 agree", lambda e=e: [
            _le(rel(r[f"{e}/ntk_{m}_impl{i}"], r[f"{e}/ntk_{m}_impl1"]), 1e-12)
            for m in ("trace", "full") for i in (2, 3)]
        yield f"empirical ({p}): trace_axes=(-1,) is the mean over output units", lambda e=e: [
            _le(rel(r[f"{e}/ntk_trace_impl1"],
                    np.einsum("abkk->ab", r[f"{e}/ntk_full_impl1"]) / 3), 1e-12),
            _le(rel(r[f"{e}/nngp_trace"], r[f"{e}/f_x1"] @ r[f"{e}/f_x2"].T / 3), 1e-12),
            _true(r[f"{e}/ntk_full_impl1"].shape == (4, 3, 3, 3))]
    yield "linearize: f_lin(params0) == f0; taylor2 closer than f_lin", lambda: [
        _le(rel(r["lin_same/f_lin"], r["lin_same/f0"]), 1e-14),
        _le(rel(r["lin_same/f_taylor2"], r["lin_same/f0"]), 1e-14),
        _le(rel(r["lin_small/f_lin"], r["lin_small/f"]), 1e-3),
        _true(rel(r["lin_small/f_taylor2"], r["lin_small/f"]) <
              rel(r["lin_small/f_lin"], r["lin_small/f"]))]
    yield "gd_mse: t=0 -> f0, t=inf -> y_train on train, test matches gp_inference ntk", lambda: [
        _le(float(np.max(np.abs(r["gd_arch/fx_train"][0]))), 1e-14),
        _le(rel(r["gd_arch/fx_train_inf"], aux["ytr"]), 1e-12),
        _le(rel(r["gd_arch/fx_train"][-1], aux["ytr"]), 1e-6),
        _le(rel(r["gd_arch/fx_test_inf"], r["gp_arch/ntk_mean"]), 1e-10),
        _le(rel(r["gd_arch/fx_test"][-1], r["gd_arch/fx_test_inf"]), 1e-6)]
    yield "gd_mse_ensemble: t=inf == gp_inference; t=0 cov == prior nngp", lambda: [
        _le(rel(r["ens/ntk_cov"][0], r["ens/nngp_cov"][0]), 1e-12),
        _le(float(np.max(np.abs(r["ens/ntk_mean"][0]))), 1e-14),
        _le(rel(r["ens/ntk_mean_inf"], r["gp_arch/ntk_mean"]), 1e-10),
        _le(rel(r["ens/ntk_cov_inf"], r["gp_arch/ntk_cov"]), 1e-8),
        _le(rel(r["ens/nngp_mean_inf"], r["gp_arch/nngp_mean"]), 1e-10),
        _le(rel(r["ens/ntk_mean"][-1], r["ens/ntk_mean_inf"]), 1e-6)]
    yield "max_lr == 2 * y_train_size / lambda_max", lambda: [
        _le(abs(float(r["maxlr/lr"]) - 2 * 12 / np.linalg.eigvalsh(aux["K"])[-1])
            / float(r["maxlr/lr"]), 1e-12)]


class CheckFailed(AssertionError):
    pass


def _le(v, tol):
    if not v <= tol:
        raise CheckFailed(f"{v:.3e} > {tol:.1e}")
    return v


def _ge(v, tol):
    if not v >= tol:
        raise CheckFailed(f"{v:.3e} < {tol:.1e}")
    return v


def _true(c):
    if not c:
        raise CheckFailed("condition false")
    return c


def main():
    b, aux = build()
    with tempfile.TemporaryDirectory() as tmp:
        cases, out = f"{tmp}/cases.npz", f"{tmp}/out.npz"
        b.save(cases)
        nt_oracle.main([cases, out, "-q"])
        with np.load(out, allow_pickle=False) as z:
            r = {k: z[k] for k in z.files}
    meta = json.loads(str(r["meta.json"]))
    print("oracle versions:", meta["versions"])
    passed = failed = 0
    for name, fn in checks(r, aux):
        try:
            vals = fn()
            shown = ", ".join(f"{v:.1e}" for v in vals if isinstance(v, float))
            print(f"PASS {name}" + (f"  [{shown}]" if shown else ""))
            passed += 1
        except Exception:
            print(f"FAIL {name}\n{traceback.format_exc(limit=1)}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
