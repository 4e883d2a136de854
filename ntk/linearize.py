"""Taylor expansions of any apply_fn(params, *args, **kwargs) around params0 (NT's surface).

With d = theta - theta0 and D^j f[theta0](d, ..., d) the j-th directional derivative,

    f_lin(x; theta) = f(x; theta0) + D f[theta0](d)                                   (degree 1)
    f_k(x; theta)   = sum_{j=0..k} D^j f[theta0](d, ..., d) / j!                      (degree k)

Outputs may be any pytree of arrays (each leaf is expanded). The derivatives are forward-mode
products (`jax.jvp`), never a Jacobian or Hessian: one jvp for degree 1 (its primal is
f(x; theta0), so f_lin costs one forward-with-tangent pass), k nested jvps for degree k (the
nesting doubles the traced work per degree; under `jax.jit` XLA removes the repeated primals).
"""
from __future__ import annotations

import math
import numbers

import jax

from .nets import as_apply_fn

tree_map = jax.tree_util.tree_map


def _delta(params, params0):
    return tree_map(lambda a, b: a - b, params, params0)


def _check_structure(params, params0):
    s1 = jax.tree_util.tree_structure(params)
    s0 = jax.tree_util.tree_structure(params0)
    if s1 != s0:
        raise ValueError(
            "params do not have the structure of params0 the model was linearized at: "
            f"{s1} vs {s0}."
        )


def linearize(f, params):
    """First-order Taylor expansion of f(params, *args, **kwargs) around params0 = `params`
    (neural-tangents' argument names): returns f_lin(params, *args, **kwargs) with
    f_lin(params0, ...) = f(params0, ...); `f` may return any pytree of arrays."""
    apply_fn, _ = as_apply_fn(f)
    params0 = params

    def f_lin(params, *args, **kwargs):
        _check_structure(params, params0)
        f0, df = jax.jvp(lambda p: apply_fn(p, *args, **kwargs), (params0,), (_delta(params, params0),))
        return tree_map(lambda a, b: a + b, f0, df)

    return f_lin


def _check_degree(degree) -> int:
    if isinstance(degree, bool) or not isinstance(degree, numbers.Integral):
        raise TypeError(f"degree must be a non-negative integer (the Taylor order), got {degree!r}.")
    if degree < 0:
        raise ValueError(f"degree must be a non-negative integer (the Taylor order), got {degree}.")
    return int(degree)


def directional_derivatives(fn, params0, d, degree: int):
    """(f, D f(d), D^2 f(d, d), ..., D^k f(d, ..., d)) at params0 for fn(params) -> pytree, by
    `degree` nested jvps along the direction d."""

    def level(j):
        if j == 0:
            return lambda p: (fn(p),)
        inner = level(j - 1)

        def f(p):
            prim, tan = jax.jvp(inner, (p,), (d,))
            return prim + (tan[-1],)

        return f

    return level(degree)(params0)


def taylor_expand(f, params, degree: int = 1):
    """Taylor expansion of any degree k >= 0 in the parameters around params0.

    Returns f_k(params, *args, **kwargs) = sum_{j <= k} D^j f[params0](d, ..., d) / j!, with
    params0 the `params` given here (neural-tangents' argument names) and d = params - params0,
    for any pytree output of `f`. Its error against f shrinks like
    |d|^(k+1); for f polynomial of degree <= k in the parameters it equals f.
    """
    degree = _check_degree(degree)
    apply_fn, _ = as_apply_fn(f)
    params0 = params
    if degree == 1:
        return linearize(apply_fn, params0)

    def f_k(params, *args, **kwargs):
        _check_structure(params, params0)
        d = _delta(params, params0)
        terms = directional_derivatives(lambda p: apply_fn(p, *args, **kwargs), params0, d, degree)
        out = terms[0]
        for j in range(1, degree + 1):
            c = 1.0 / math.factorial(j)
            out = tree_map(lambda a, b, c=c: a + c * b, out, terms[j])
        return out

    return f_k
