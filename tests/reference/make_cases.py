"""Main-env side of the neural-tangents cross-check: describe cases, compute OUR answers.

    .venv/bin/python tests/reference/make_cases.py OUTDIR

writes ``OUTDIR/cases.npz`` (the case file read by ``nt_oracle.py`` in ``.venv-ref``, format in its
docstring) and ``OUTDIR/ours.npz`` (our values, float64).  Which of our arrays is compared with
which NT output, and under which tolerance tier, is ``comparisons(case)`` -- pure data, known
without running anything, so ``test_against_nt.py`` can parametrize over it at collection time.

Module import needs only numpy; jax, ``ntk`` and float64 are set up inside ``build`` (this file is
run as a subprocess so that ``jax_enable_x64`` never leaks into the pytest worker).

Tolerance tiers (relative error = max|ours - nt| / max|nt|, defined in test_against_nt.py):
``closed`` -- closed-form kernels; ``quad`` -- quadrature activations against NT's deg-128 rule
(valid only where NT's own ``quad_check_err`` is tiny) or against the adaptive reference;
``exact`` -- float64 algebra with no approximation (empirical NTK, apply, Taylor, dynamics).
"""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]

CLOSED = ("relu", "erf", "gelu", "abs", "sin", "identity", "leaky_relu")
QUAD = ("tanh", "softplus", "silu")
METHODS = ("jacobian", "ntvp", "structured")


def _act_name(act):
    return act if isinstance(act, str) else act[0]


def _arch(widths, act, out_dim=1, W_std=1.3, b_std=0.2, p="ntk"):
    return {"widths": list(widths), "out_dim": out_dim, "activation": act, "W_std": W_std,
            "b_std": b_std, "parameterization": p}


# ---------------------------------------------------------------------------------------------
# the case table: pure data.  "data" says how build() makes the case's inputs.

def _infinite_cases():
    cases = []
    acts = ["relu", "erf", "gelu", "abs", "sin", "identity", ["leaky_relu", {"alpha": 0.2}],
            "tanh", "softplus", "silu"]
    for act in acts:
        nm = _act_name(act)
        cases.append({"name": f"inf_{nm}", "kind": "infinite", "arch": _arch([64, 64], act),
                      "data": {"n1": 5, "n2": 4, "d": 3, "norm": 1.0, "seed": 1}})
    # x2 = None (NT returns k(x1, x1)), deeper, zero bias, duplicated rows (correlation exactly 1)
    cases += [
        {"name": "inf_relu_same_deep", "kind": "infinite",
         "arch": _arch([32, 32, 32, 32], "relu", b_std=0.0), "data": {"n1": 6, "n2": None, "d": 4,
                                                                     "norm": 1.0, "seed": 2}},
        {"name": "inf_erf_same_1layer", "kind": "infinite", "arch": _arch([8], "erf", W_std=2.0),
         "data": {"n1": 6, "n2": None, "d": 4, "norm": 1.5, "seed": 3}},
        {"name": "inf_gelu_big", "kind": "infinite", "arch": _arch([64, 64], "gelu", W_std=1.5),
         "data": {"n1": 4, "n2": 3, "d": 3, "norm": 3.0, "seed": 4}},
        # standard parameterization: NT's NTK depends on the widths, +1 per Dense (bias)
        {"name": "inf_relu_std", "kind": "infinite",
         "arch": _arch([50, 30], "relu", W_std=1.4, b_std=0.3, p="standard"),
         "data": {"n1": 5, "n2": 4, "d": 3, "norm": 1.0, "seed": 5}},
        {"name": "inf_erf_std_nobias", "kind": "infinite",
         "arch": _arch([20], "erf", b_std=0.0, p="standard"),
         "data": {"n1": 5, "n2": 4, "d": 3, "norm": 1.0, "seed": 6}},
        {"name": "inf_tanh_std", "kind": "infinite",
         "arch": _arch([16, 24], "tanh", W_std=1.1, b_std=0.1, p="standard"),
         "data": {"n1": 4, "n2": 3, "d": 3, "norm": 1.0, "seed": 7}},
    ]
    # large pre-activation variance (sqrt(q) ~ 4): NT's fixed rule is not converged there, so the
    # reference is the oracle's independent adaptive quadrature (slow: 3 points, depth 2).
    for act in ("tanh", "silu"):
        cases.append({"name": f"inf_{act}_big", "kind": "infinite",
                      "arch": _arch([32, 32], act, W_std=1.3, b_std=0.1),
                      "options": {"adaptive": True, "quad_check": False},
                      "data": {"n1": 2, "n2": 1, "d": 3, "norm": 3.0, "seed": 8}})
    return cases


def _empirical_cases():
    return [
        {"name": "emp_relu", "kind": "empirical",
         "arch": _arch([16, 8], "relu", out_dim=3, W_std=1.5, b_std=0.1),
         "data": {"n1": 4, "n2": 3, "d": 3, "norm": 1.0, "seed": 11, "key": 0}},
        {"name": "emp_erf_std", "kind": "empirical",
         "arch": _arch([12], "erf", out_dim=2, W_std=1.2, b_std=0.0, p="standard"),
         "data": {"n1": 4, "n2": 3, "d": 3, "norm": 1.0, "seed": 12, "key": 1}},
        {"name": "emp_tanh_same", "kind": "empirical",
         "arch": _arch([10, 10, 10], "tanh", out_dim=1, W_std=1.1, b_std=0.3),
         "data": {"n1": 5, "n2": None, "d": 2, "norm": 1.0, "seed": 13, "key": 2}},
        {"name": "emp_gelu_std", "kind": "empirical",
         "arch": _arch([9, 7], "gelu", out_dim=2, W_std=1.0, b_std=0.5, p="standard"),
         "data": {"n1": 3, "n2": 4, "d": 5, "norm": 1.0, "seed": 14, "key": 3}},
    ]


def _other_cases():
    relu = _arch([64, 64], "relu", W_std=1.4, b_std=0.2)
    dyn = {"n_train": 8, "n_test": 5, "d": 3, "k": 2, "seed": 21}
    return [
        {"name": "lin_gelu", "kind": "linearize", "arch": _arch([16, 16], "gelu", out_dim=2),
         "data": {"n1": 5, "d": 3, "seed": 31, "key": 4, "step": 0.05}},
        {"name": "lin_silu_std", "kind": "linearize",
         "arch": _arch([12], "silu", out_dim=1, p="standard"),
         "data": {"n1": 4, "d": 3, "seed": 32, "key": 5, "step": 0.02}},
        {"name": "gd", "kind": "gd_mse", "arch": relu, "data": dyn,
         "options": {"ts": [0.0, 0.1, 1.0, 10.0, 1000.0], "learning_rate": 0.5}},
        {"name": "gd_reg", "kind": "gd_mse", "arch": relu, "data": dyn,
         "options": {"ts": [0.0, 0.3, 3.0, 300.0], "learning_rate": 1.0, "diag_reg": 1e-2}},
        {"name": "gd_reg_abs", "kind": "gd_mse", "arch": relu, "data": dyn,
         "options": {"ts": [0.5, 5.0], "learning_rate": 2.0, "diag_reg": 1e-3,
                     "diag_reg_absolute_scale": True}},
        {"name": "ens", "kind": "gd_mse_ensemble", "arch": relu, "data": dyn,
         "options": {"ts": [0.0, 0.5, 5.0, 1e4], "learning_rate": 1.0, "get": ["nngp", "ntk"]}},
        {"name": "gp", "kind": "gp_inference", "arch": relu, "data": dyn,
         "options": {"get": ["nngp", "ntk", "ntkgp"], "diag_reg": 1e-3}},
        {"name": "maxlr", "kind": "max_lr", "arch": relu, "data": dyn,
         "options": {"y_train_size": 16, "momentum": 0.5}},
    ]


CASES = _infinite_cases() + _empirical_cases() + _other_cases()
CASE_BY_NAME = {c["name"]: c for c in CASES}


def comparisons(case):
    """[(our key, NT key, tier)] for a case; keys are relative to the case name."""
    kind, arch = case["kind"], case.get("arch")
    act = _act_name(arch["activation"]) if arch else None
    if kind == "infinite":
        if case.get("options", {}).get("adaptive"):
            return [(g, f"{g}_adaptive", "quad") for g in ("nngp", "ntk")]
        tier = "closed" if act in CLOSED else "quad"
        return [(g, g, tier) for g in ("nngp", "ntk")]
    if kind == "empirical":
        out = [("f_x1", "f_x1", "exact")]
        if case["data"]["n2"] is not None:
            out.append(("f_x2", "f_x2", "exact"))
        for m in METHODS:
            out += [(f"ntk_trace@{m}", "ntk_trace_impl1", "exact"),
                    (f"ntk_full@{m}", "ntk_full_impl1", "exact")]
        return out
    if kind == "linearize":
        return [(k, k, "exact") for k in ("f0", "f", "f_lin", "f_taylor2")]
    if kind == "gd_mse":
        return [(k, k, "exact") for k in ("fx_train", "fx_test", "fx_train_inf", "fx_test_inf")]
    if kind == "gd_mse_ensemble":
        return [(f"{g}_{s}{t}", f"{g}_{s}{t}", "exact") for g in ("nngp", "ntk")
                for s in ("mean", "cov") for t in ("", "_inf")]
    if kind == "gp_inference":
        # ours.gp_inference is the plain GP posterior: NT's "nngp" with NNGP kernels, NT's
        # "ntkgp" with NTK kernels; NT's "ntk" (infinite ensemble at t=inf) is ours.ensemble_mse.
        return [(f"{g}_{s}", f"{g}_{s}", "exact") for g in ("nngp", "ntk", "ntkgp")
                for s in ("mean", "cov")]
    if kind == "max_lr":
        return [("lr", "lr", "exact")]
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# building: our values (float64) and the case file

def _inputs(n, d, norm, rng, duplicate=True):
    """n points with |x|^2 / d = norm^2; with `duplicate`, row 1 is repeated as row 3 (n > 3)."""
    x = rng.standard_normal((n, d))
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * norm * np.sqrt(d)
    if duplicate and n > 3:
        x[3] = x[1]
    return x


def build(outdir):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    sys.path.insert(0, str(ROOT))
    import ntk

    specs, arrays, ours = [], {}, {}

    def net_of(arch):
        return ntk.mlp(widths=arch["widths"], out_dim=arch["out_dim"],
                       activation=(arch["activation"] if isinstance(arch["activation"], str)
                                   else tuple(arch["activation"])),
                       W_std=arch["W_std"], b_std=arch["b_std"],
                       parameterization=arch["parameterization"])

    def put(store, name, key, value):
        a = np.asarray(value)
        if a.dtype.kind == "f" and a.dtype != np.float64:
            raise AssertionError(f"{name}/{key}: ours is {a.dtype}, expected float64")
        store[f"{name}/{key}"] = a

    def put_params(name, prefix, params):
        for i, (W, b) in enumerate(params):
            put(arrays, name, f"{prefix}/{i}/W", W)
            put(arrays, name, f"{prefix}/{i}/b", b)

    for case in CASES:
        name, kind, arch, data = case["name"], case["kind"], case.get("arch"), case["data"]
        opt = dict(case.get("options") or {})
        spec = {"name": name, "kind": kind, "arch": arch, "options": opt}
        rng = np.random.default_rng(data["seed"])
        net = net_of(arch) if arch else None

        if kind in ("infinite", "empirical", "linearize"):
            x1 = _inputs(data["n1"], data["d"], data.get("norm", 1.0), rng)
            x2 = None
            if data.get("n2"):
                x2 = _inputs(data["n2"], data["d"], data.get("norm", 1.0), rng)
                x2[0] = x1[1]  # the same point in both sets
            put(arrays, name, "x1" if kind != "linearize" else "x", x1)
            if x2 is not None:
                put(arrays, name, "x2", x2)
            x1j = jnp.asarray(x1)
            x2j = None if x2 is None else jnp.asarray(x2)

        if kind == "infinite":
            k = ntk.infinite_kernel(net, x1j, x2j)
            put(ours, name, "nngp", k.nngp)
            put(ours, name, "ntk", k.ntk)

        elif kind == "empirical":
            params = net.init(jax.random.PRNGKey(data["key"]), data["d"])
            put_params(name, "params", params)
            put(ours, name, "f_x1", net.apply(params, x1j))
            if x2j is not None:
                put(ours, name, "f_x2", net.apply(params, x2j))
            for m in METHODS:
                for trace, tag in ((True, "trace"), (False, "full")):
                    put(ours, name, f"ntk_{tag}@{m}",
                        ntk.empirical_ntk(net, params, x1j, x2j, method=m, trace=trace))
            opt.setdefault("implementations", [1])

        elif kind == "linearize":
            p0 = net.init(jax.random.PRNGKey(data["key"]), data["d"])
            p1 = [(W + data["step"] * jnp.asarray(rng.standard_normal(W.shape)),
                   b + data["step"] * jnp.asarray(rng.standard_normal(b.shape))) for W, b in p0]
            put_params(name, "params0", p0)
            put_params(name, "params", p1)
            put(ours, name, "f0", net.apply(p0, x1j))
            put(ours, name, "f", net.apply(p1, x1j))
            put(ours, name, "f_lin", ntk.linearize(net.apply, p0)(p1, x1j))
            put(ours, name, "f_taylor2", ntk.taylor_expand(net.apply, p0, 2)(p1, x1j))

        else:  # dynamics: kernels from our infinite_kernel (closed-form relu)
            # distinct training points: the t = inf solves need a nonsingular kernel
            xtr = _inputs(data["n_train"], data["d"], 1.0, rng, duplicate=False)
            xte = _inputs(data["n_test"], data["d"], 1.0, rng)
            y = rng.standard_normal((data["n_train"], data["k"]))
            ktt = ntk.infinite_kernel(net, jnp.asarray(xtr))
            kst = ntk.infinite_kernel(net, jnp.asarray(xte), jnp.asarray(xtr))
            kss = ntk.infinite_kernel(net, jnp.asarray(xte))
            lr = opt.get("learning_rate", 1.0)
            reg = opt.get("diag_reg", 0.0)
            absreg = opt.get("diag_reg_absolute_scale", False)
            if kind == "gd_mse":
                spec["arch"] = None  # NT gets exactly our kernel arrays
                f0 = 0.1 * rng.standard_normal(y.shape)
                ft0 = 0.1 * rng.standard_normal((data["n_test"], data["k"]))
                for key, v in (("k_train_train", ktt.ntk), ("k_test_train", kst.ntk),
                               ("y_train", y), ("fx_train_0", f0), ("fx_test_0", ft0)):
                    put(arrays, name, key, v)
                pred = ntk.gradient_descent_mse(ktt.ntk, y, learning_rate=lr, diag_reg=reg,
                                                diag_reg_absolute_scale=absreg)
                ts = jnp.asarray(opt["ts"])
                fx_train, fx_test = pred(ts, f0, ft0, kst.ntk)
                put(ours, name, "fx_train", fx_train)
                put(ours, name, "fx_test", fx_test)
                fx_train, fx_test = pred(None, f0, ft0, kst.ntk)
                put(ours, name, "fx_train_inf", fx_train)
                put(ours, name, "fx_test_inf", fx_test)
            elif kind == "gd_mse_ensemble":
                for key, v in (("x_train", xtr), ("x_test", xte), ("y_train", y)):
                    put(arrays, name, key, v)
                for g in ("nngp", "ntk"):
                    for t, suffix in ((jnp.asarray(opt["ts"]), ""), (None, "_inf")):
                        mean, cov = ntk.ensemble_mse(ktt.nngp, ktt.ntk, y, kst.nngp, kst.ntk,
                                                     kss.nngp, t=t, learning_rate=lr,
                                                     diag_reg=reg, get=g, compute_cov=True)
                        put(ours, name, f"{g}_mean{suffix}", mean)
                        put(ours, name, f"{g}_cov{suffix}", cov)
            elif kind == "gp_inference":
                spec["arch"] = None
                for key, v in (("y_train", y), ("k_train_train_nngp", ktt.nngp),
                               ("k_train_train_ntk", ktt.ntk), ("k_test_train_nngp", kst.nngp),
                               ("k_test_train_ntk", kst.ntk), ("k_test_test_nngp", kss.nngp),
                               ("k_test_test_ntk", kss.ntk)):
                    put(arrays, name, key, v)
                for g, kk in (("nngp", "nngp"), ("ntkgp", "ntk")):
                    mean, cov = ntk.gp_inference(getattr(ktt, kk), y, getattr(kst, kk),
                                                 getattr(kss, kk), diag_reg=reg,
                                                 diag_reg_absolute_scale=absreg)
                    put(ours, name, f"{g}_mean", mean)
                    put(ours, name, f"{g}_cov", cov)
                # NT's "ntk" posterior = infinite ensemble trained to t = inf (relative diag_reg)
                mean, cov = ntk.ensemble_mse(ktt.nngp, ktt.ntk, y, kst.nngp, kst.ntk, kss.nngp,
                                             t=None, diag_reg=reg, get="ntk", compute_cov=True)
                put(ours, name, "ntk_mean", mean)
                put(ours, name, "ntk_cov", cov)
            elif kind == "max_lr":
                spec["arch"] = None
                put(arrays, name, "ntk_train_train", ktt.ntk)
                put(ours, name, "lr", ntk.max_learning_rate(
                    ktt.ntk, y_train_size=opt["y_train_size"], momentum=opt["momentum"]))
            else:
                raise ValueError(kind)
        spec["options"] = opt
        specs.append(spec)

    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    np.savez(outdir / "cases.npz", **{"cases.json": np.array(json.dumps(specs))}, **arrays)
    np.savez(outdir / "ours.npz", **ours)
    return specs


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_cases.py OUTDIR")
    specs = build(sys.argv[1])
    print(f"[make_cases] {len(specs)} cases -> {sys.argv[1]}")
