"""Taylor expansions of any apply_fn(params, x) around params0.

    f_lin(x; theta) = f(x; theta0) + J(x; theta0) (theta - theta0)                  (degree 1)
    f_2(x; theta)   = f_lin(x; theta) + 1/2 (theta - theta0)^T H(x; theta0) (theta - theta0)

Both are evaluated with forward-mode products (one `jax.jvp` for degree 1, a nested jvp for
degree 2) and never build J or H. One jvp returns f(x; theta0) as its primal, so f_lin costs one
forward-with-tangent pass; inside a jitted training step it is traced once.
"""
from __future__ import annotations

import jax

from .nets import as_apply_fn


def _delta(params, params0):
    return jax.tree_util.tree_map(lambda a, b: a - b, params, params0)


def _check_structure(params, params0):
    s1 = jax.tree_util.tree_structure(params)
    s0 = jax.tree_util.tree_structure(params0)
    if s1 != s0:
        raise ValueError(
            "params do not have the structure of params0 the model was linearized at: "
            f"{s1} vs {s0}."
        )


def linearize(apply_fn, params0):
    """First-order Taylor expansion: returns f_lin(params, x) with f_lin(params0, x) = f(params0, x)."""
    apply_fn, _ = as_apply_fn(apply_fn)

    def f_lin(params, x):
        _check_structure(params, params0)
        f0, df = jax.jvp(lambda p: apply_fn(p, x), (params0,), (_delta(params, params0),))
        return f0 + df

    return f_lin


def taylor_expand(apply_fn, params0, degree: int = 1):
    """Taylor expansion of degree 1 or 2 in the parameters around params0.

    Returns f_k(params, x). Degree 2 adds 1/2 d^T H d via a jvp of the jvp (no Hessian stored),
    so its error against f shrinks like |d|^3.
    """
    if degree not in (1, 2):
        raise ValueError(f"degree must be 1 or 2, got {degree!r}.")
    apply_fn, _ = as_apply_fn(apply_fn)
    if degree == 1:
        return linearize(apply_fn, params0)

    def f_2(params, x):
        _check_structure(params, params0)
        d = _delta(params, params0)

        def first(p):
            return jax.jvp(lambda q: apply_fn(q, x), (p,), (d,))

        (f0, df), (_, d2f) = jax.jvp(first, (params0,), (d,))
        return f0 + df + 0.5 * d2f

    return f_2
