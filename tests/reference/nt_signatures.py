"""Dump the call signatures of the NT 0.6.5 surface that issue 12 names, as JSON.

Runs in both environments with the same code:
    .venv/bin/python     nt_signatures.py ours OUT.json    (ntk, ntk.stax, ntk.predict)
    .venv-ref/bin/python nt_signatures.py nt   OUT.json    (neural_tangents through nt_import)
Each entry is a list of [name, kind, default repr or null] per parameter; also the functions
the constructors return (a layer's init_fn / apply_fn / kernel_fn, the empirical kernel
functions, the predict functions), and the members of `NtkImplementation` (as keyword-only
"parameters" whose default is the member's value).
"""
import inspect
import json
import pathlib
import sys

STAX = ["serial", "parallel", "FanOut", "FanInSum", "FanInConcat", "Identity", "Dense", "Conv", "AvgPool",
        "GlobalAvgPool", "Flatten", "LayerNorm", "Relu", "LeakyRelu", "ABRelu", "Abs", "Erf", "Gelu", "Sin",
        "Cos", "Sigmoid_like", "Elementwise", "ElementwiseNumerical"]
TOP = ["empirical_kernel_fn", "empirical_nngp_fn", "empirical_ntk_fn", "monte_carlo_kernel_fn", "batch",
       "linearize", "taylor_expand"]
PREDICT = ["gradient_descent_mse", "gradient_descent_mse_ensemble", "gp_inference", "max_learning_rate"]


def signature(fn):
    out = []
    for p in inspect.signature(fn).parameters.values():
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        out.append([p.name, p.kind.name, default])
    return out


def dump(which):
    if which == "nt":
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        from nt_import import nt
        top, stax, predict = nt, nt.stax, nt.predict
    else:
        import ntk
        top, stax, predict = ntk, ntk.stax, ntk.predict
    import jax
    import jax.numpy as jnp

    res = {f"stax.{n}": signature(getattr(stax, n)) for n in STAX}
    res.update({n: signature(getattr(top, n)) for n in TOP})
    res.update({f"predict.{n}": signature(getattr(predict, n)) for n in PREDICT})
    res["NtkImplementation"] = [[m.name, "KEYWORD_ONLY", repr(int(m))] for m in top.NtkImplementation]
    # what the constructors return
    init_fn, apply_fn, kernel_fn = stax.serial(stax.Dense(2), stax.Relu(), stax.Dense(1))
    res.update({"layer.init_fn": signature(init_fn), "layer.apply_fn": signature(apply_fn),
                "layer.kernel_fn": signature(kernel_fn)})
    res["empirical_ntk_fn()"] = signature(top.empirical_ntk_fn(apply_fn))
    res["empirical_nngp_fn()"] = signature(top.empirical_nngp_fn(apply_fn))
    res["empirical_kernel_fn()"] = signature(top.empirical_kernel_fn(apply_fn))
    res["monte_carlo_kernel_fn()"] = signature(top.monte_carlo_kernel_fn(init_fn, apply_fn, jax.random.PRNGKey(0), 1))
    k = jnp.eye(3) + 1.0
    y = jnp.ones((3, 1))
    res["predict.gradient_descent_mse()"] = signature(predict.gradient_descent_mse(k, y))
    res["predict.gp_inference()"] = signature(predict.gp_inference(k, y))
    res["predict.gradient_descent_mse_ensemble()"] = signature(
        predict.gradient_descent_mse_ensemble(kernel_fn, jnp.ones((3, 2)), y))
    return res


if __name__ == "__main__":
    pathlib.Path(sys.argv[2]).write_text(json.dumps(dump(sys.argv[1]), indent=1))
