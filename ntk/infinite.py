"""Infinite-width NNGP and NTK of fully-connected networks.

Recursion for an `MLP` (layer l = 1..L hidden, L+1 readout), on inputs x, x' of dimension d:

    K_1 = W^2 x.x'/d + b^2                      Theta_1 = K_1                    (NTK param.)
    K_1 = W^2 x.x'/d + b^2                      Theta_1 = x.x' + 1               (standard)
    S_l = E[phi(u) phi(v)],  S'_l = E[phi'(u) phi'(v)],  (u, v) ~ N(0, K_l)
    K_{l+1} = W^2 S_l + b^2
    Theta_{l+1} = K_{l+1} + W^2 S'_l Theta_l                                     (NTK param.)
    Theta_{l+1} = n_l S_l + 1 + W^2 S'_l Theta_l                                 (standard)

with W = W_std, b = b_std and n_l the width of layer l; this is neural-tangents' `stax.Dense`
convention. Correlations are clipped to [-1, 1] and snapped to exactly 1 within a few ulps, so
identical inputs give an exact diagonal; zero-variance inputs (zero input with b_std = 0) take
their limit (correlation 1 between two zero inputs, 0 against others), never NaN.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from . import _validate as V
from ._blocks import blocked_pairwise, to_jax
from .activations import pair_maps, quadrature_rule
from .nets import MLP


class Kernel(NamedTuple):
    """Infinite-width kernels: `nngp` and `ntk`, each of shape (n1, n2) (None if not requested)."""

    nngp: jnp.ndarray | None
    ntk: jnp.ndarray | None

    def __repr__(self):
        def d(a):
            return "None" if a is None else f"array{tuple(a.shape)} {a.dtype}"

        return f"Kernel(nngp={d(self.nngp)}, ntk={d(self.ntk)})"


def _safe_rho(c, q1, q2):
    """Correlation c / sqrt(q1 q2), clipped, snapped to +-1 within 16 ulps; inverse square roots
    are taken per point (q1: (n1, 1), q2: (1, n2)), not per pair."""
    dtype = c.dtype
    r1 = jnp.where(q1 > 0, jax.lax.rsqrt(jnp.where(q1 > 0, q1, 1.0)), 0.0)
    r2 = jnp.where(q2 > 0, jax.lax.rsqrt(jnp.where(q2 > 0, q2, 1.0)), 0.0)
    rho = jnp.clip(c * (r1 * r2), -1.0, 1.0)
    eps = 16 * jnp.finfo(dtype).eps
    rho = jnp.where(rho > 1 - eps, 1.0, jnp.where(rho < -1 + eps, -1.0, rho))
    # Zero variance (zero input, b_std = 0): two such inputs are identical (rho = 1); against a
    # non-zero input the correlation is undefined and rho = 0 (r = 0 above) gives the limit
    # averaged over directions (e.g. E[relu'relu'] -> 1/4), never NaN.
    both = (q1 <= 0) & (q2 <= 0)
    return jnp.where(both, 1.0, rho)


def _recursion(net: MLP, x1, x2, degree, get_ntk: bool):
    """Kernel matrices (nngp, ntk) of shape (n1, n2) via the layer recursion (jittable)."""
    nngp_map, dot_map = pair_maps(net.activation, degree)
    W2, b2 = net.W_std**2, net.b_std**2
    d = x1.shape[1]
    dot = x1 @ x2.T
    sq1 = jnp.sum(x1 * x1, axis=1)
    sq2 = jnp.sum(x2 * x2, axis=1)
    # First Dense layer.
    K = W2 * dot / d + b2
    q1 = W2 * sq1 / d + b2
    q2 = W2 * sq2 / d + b2
    if net.parameterization == "ntk":
        T = K
    else:
        T = dot + 1.0
    for width in net.widths:
        rho = _safe_rho(K, q1[:, None], q2[None, :])
        S = nngp_map(q1[:, None], q2[None, :], rho)
        one1 = jnp.ones_like(q1)
        one2 = jnp.ones_like(q2)
        s1 = nngp_map(q1, q1, one1)
        s2 = nngp_map(q2, q2, one2)
        if get_ntk:
            Sd = dot_map(q1[:, None], q2[None, :], rho)
            if net.parameterization == "ntk":
                T = W2 * S + b2 + W2 * Sd * T
            else:
                T = width * S + 1.0 + W2 * Sd * T
        K = W2 * S + b2
        q1 = W2 * s1 + b2
        q2 = W2 * s2 + b2
    return K, (T if get_ntk else None)


@functools.partial(jax.jit, static_argnames=("net", "degree", "get_ntk"))
def _kernel_jit(net, x1, x2, degree, get_ntk):
    return _recursion(net, x1, x2, degree, get_ntk)


def max_preactivation_variance(net: MLP, x) -> float:
    """Largest diagonal NNGP over the hidden layers for inputs x (cheap: n values per layer)."""
    x = jnp.asarray(x)
    W2, b2 = net.W_std**2, net.b_std**2
    q = W2 * jnp.sum(x * x, axis=1) / x.shape[1] + b2
    qmax = float(jnp.max(q))
    if net.activation.closed_form:
        nngp_map, _ = pair_maps(net.activation)
    else:
        nngp_map, _ = pair_maps(net.activation, ("trap", 801))  # diagonal only: cheap
    for _ in net.widths[:-1]:
        q = W2 * nngp_map(q, q, jnp.ones_like(q)) + b2
        qmax = max(qmax, float(jnp.max(q)))
    return qmax


def resolve_degree(net: MLP, xs, degree):
    """Quadrature rule for the activation: None for closed forms, else ("gh"|"trap", nodes)."""
    if net.activation.closed_form:
        return None
    if degree is not None:
        if isinstance(degree, tuple):
            return degree
        return ("gh", V.check_positive_int(degree, "quadrature_degree"))
    if any(V.is_tracer(x) for x in xs if x is not None):
        return ("gh", 64)
    qmax = max(max_preactivation_variance(net, x) for x in xs if x is not None)
    return quadrature_rule(qmax)


def infinite_kernel_cost(net: MLP, n1: int, n2: int, rule=None, itemsize: int = 4):
    """(flops, bytes) estimate of one `infinite_kernel` evaluation (n1 x n2 outputs)."""
    pairs = n1 * n2
    nodes = 0 if rule is None else rule[1]
    per_pair = 40 if nodes == 0 else 6 * nodes * nodes
    flops = pairs * per_pair * net.depth * 2
    mem = pairs * itemsize * (12 + 2 * nodes)
    return flops, mem


def infinite_kernel(
    net: MLP,
    x1,
    x2=None,
    get=("nngp", "ntk"),
    batch_size: int | None = None,
    quadrature_degree: int | None = None,
    memory_budget: float | None = V.DEFAULT_MEMORY_BUDGET,
    progress=None,
) -> Kernel:
    """Infinite-width NNGP and NTK of `net` between x1 (n1, d) and x2 (n2, d); x2=None means x1.

    Returns a `Kernel(nngp, ntk)` of (n1, n2) arrays in the inputs' dtype (float64 under x64).
    `batch_size` computes (batch_size x batch_size) blocks to bound memory; `progress(done, total)`
    is called after each block. Quadrature activations pick their rule (Gauss-Hermite or a scaled
    trapezoid) from the largest pre-activation variance unless `quadrature_degree` is given.
    """
    if not isinstance(net, MLP):
        raise TypeError(
            "infinite_kernel needs an ntk network built with ntk.mlp(...); the infinite-width limit "
            f"of an arbitrary apply function is not defined. Got {type(net).__name__}."
        )
    if isinstance(get, str):
        get = (get,)
    unknown = set(get) - {"nngp", "ntk"}
    if unknown:
        raise ValueError(f"get must contain 'nngp' and/or 'ntk', got {sorted(unknown)}.")
    x1, x2 = V.check_pair(x1, x2)
    same = x2 is None
    x2_ = x1 if same else x2
    degree = resolve_degree(net, (x1, x2), quadrature_degree)
    if net.parameterization == "ntk":
        # The NTK-parameterization limit does not depend on the widths: one compiled function
        # serves every width (standard parameterization keeps them, its NTK scales with them).
        net = dataclasses.replace(net, widths=(1,) * net.depth)
    get_ntk = "ntk" in get
    n1, n2 = x1.shape[0], x2_.shape[0]
    itemsize = x1.dtype.itemsize
    if batch_size is None:
        _, mem = infinite_kernel_cost(net, n1, n2, degree, itemsize)
        V.check_memory(mem, memory_budget, f"The infinite-width kernel of {n1}x{n2} points",
                       "Pass batch_size (e.g. batch_size=1000) to compute it in blocks.")
        K, T = _kernel_jit(net, x1, x2_, degree, get_ntk)
        if progress is not None:
            progress(1, 1)
    else:
        bs = V.check_positive_int(batch_size, "batch_size")
        _, mem = infinite_kernel_cost(net, bs, bs, degree, itemsize)
        V.check_memory(mem, memory_budget, f"A {bs}x{bs} block of the infinite-width kernel",
                       "Use a smaller batch_size.")
        K, T = _blocked(net, x1, x2_, bs, degree, get, progress, same)
    return Kernel(K if "nngp" in get else None, T)


@functools.lru_cache(maxsize=64)
def _block_fn(net, degree, get):
    """Jitted (x1_block, x2_block) -> the requested kernels' blocks, in the order of `get`."""
    get_ntk = "ntk" in get

    def block(a, b):
        K, T = _recursion(net, a, b, degree, get_ntk)
        return tuple(K if g == "nngp" else T for g in get)

    return jax.jit(block)


def _blocked(net, x1, x2, bs, degree, get, progress, same=False):
    # Blocks over all jax.devices(); with x2=None only blocks on/above the diagonal are computed.
    # Only the requested kernels are copied out of the blocks (each is n1 x n2).
    get = tuple(g for g in ("nngp", "ntk") if g in get)
    outs = dict(zip(get, blocked_pairwise(_block_fn(net, degree, get), x1, x2, bs, progress,
                                          symmetric=same)))
    return (to_jax(outs["nngp"]) if "nngp" in outs else None,
            to_jax(outs["ntk"]) if "ntk" in outs else None)
