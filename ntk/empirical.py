"""Empirical (finite-width) NTK  Theta(x1, x2) = J(x1) J(x2)^T  at given parameters.

Methods
  "jacobian"    build both Jacobians with reverse-mode autodiff and contract them over parameters.
  "ntvp"        NTK-vector products: for each output cotangent of f(x2) take a VJP, push it
                through a JVP of f(x1); never stores a Jacobian (memory O(P) per product chunk).
  "structured"  closed form for `ntk.mlp` networks, layer by layer:
                    Theta = sum_l (s_l^2 A_{l-1} A_{l-1}'^T + beta_l^2) * (D_l D_l'^T)
                where A_{l-1} are the inputs of Dense layer l, D_l = df/dz_l the backpropagated
                output gradients, s_l, beta_l the weight / bias multipliers of the layer.
  "auto"        "structured" for ntk networks, else "jacobian" when the Jacobians fit the memory
                budget, else "ntvp".

With out_dim = k > 1, `trace=True` returns the mean over output units, shape (n1, n2), and
`trace=False` the full (n1, n2, k, k) kernel.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate as V
from ._blocks import blocked_pairwise, to_jax
from .nets import MLP, as_apply_fn

METHODS = ("auto", "jacobian", "ntvp", "structured")


# ---------------------------------------------------------------------------------------------
# Generic methods (any apply_fn)
# ---------------------------------------------------------------------------------------------

def _contract(j1, j2, trace: bool):
    """Sum over parameter leaves of J1 J2^T; leaves are (n, k, *param_shape)."""
    def one(a, b):
        a = a.reshape(a.shape[0], a.shape[1], -1)
        b = b.reshape(b.shape[0], b.shape[1], -1)
        if trace:
            return jnp.einsum("iap,jap->ij", a, b) / a.shape[1]
        return jnp.einsum("iap,jbp->ijab", a, b)

    parts = jax.tree_util.tree_leaves(jax.tree_util.tree_map(one, j1, j2))
    return sum(parts[1:], parts[0])


def _as_2d_out(apply_fn):
    def f(params, x):
        y = apply_fn(params, x)
        return y.reshape(y.shape[0], -1)

    return f


def _ntk_jacobian(apply_fn, params, x1, x2, trace):
    f = _as_2d_out(apply_fn)
    j1 = jax.jacrev(f)(params, x1)
    j2 = j1 if x2 is None else jax.jacrev(f)(params, x2)
    return _contract(j1, j2, trace)


def _ntk_ntvp(apply_fn, params, x1, x2, trace, chunk):
    f = _as_2d_out(apply_fn)
    x2_ = x1 if x2 is None else x2
    f2, vjp_fn = jax.vjp(lambda p: f(p, x2_), params)
    n2, k = f2.shape

    def column(ct):  # ct: (n2, k) one-hot cotangent -> Theta[:, :, j, b] column (n1, k)
        (tangent,) = vjp_fn(ct)
        return jax.jvp(lambda p: f(p, x1), (params,), (tangent,))[1]

    eye = jnp.eye(n2 * k, dtype=f2.dtype).reshape(n2 * k, n2, k)
    cols = jax.lax.map(column, eye, batch_size=chunk)  # (n2*k, n1, k)
    full = cols.reshape(n2, k, x1.shape[0], k).transpose(2, 0, 3, 1)  # (n1, n2, a, b)
    if trace:
        return jnp.trace(full, axis1=2, axis2=3) / k
    return full


# ---------------------------------------------------------------------------------------------
# Structured method (ntk.mlp networks)
# ---------------------------------------------------------------------------------------------

def _mlp_features(net: MLP, params, x):
    """Inputs A_l of each Dense layer (n, fan_in) and output gradients D_l (n, k, fan_out)."""
    _, inputs, pre = net.forward_with_cache(params, x)
    n, k = x.shape[0], net.out_dim
    D = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype), (n, k, k))
    Ds = [D]
    for layer in range(net.depth - 1, -1, -1):
        W = params[layer + 1][0]
        sw, _ = net._scales(W.shape[0])
        D = jnp.einsum("nkw,vw->nkv", D, W) * sw
        D = D * net.activation.derivative(pre[layer])[:, None, :]
        Ds.append(D)
    return inputs, Ds[::-1]


def _ntk_structured(net: MLP, params, x1, x2, trace):
    A1, D1 = _mlp_features(net, params, x1)
    A2, D2 = (A1, D1) if x2 is None else _mlp_features(net, params, x2)
    k = net.out_dim
    out = None
    for i, (W, _) in enumerate(params):
        sw, sb = net._scales(W.shape[0])
        g_in = (sw * sw) * (A1[i] @ A2[i].T) + sb * sb
        d1, d2 = D1[i], D2[i]
        if trace:
            n1, n2 = d1.shape[0], d2.shape[0]
            g_out = d1.reshape(n1, -1) @ d2.reshape(n2, -1).T / k
            term = g_in * g_out
        else:
            term = g_in[:, :, None, None] * jnp.einsum("iaw,jbw->ijab", d1, d2)
        out = term if out is None else out + term
    return out


# ---------------------------------------------------------------------------------------------
# Cost model and dispatch
# ---------------------------------------------------------------------------------------------

def _num_params(params) -> int:
    return int(sum(np.prod(np.shape(p)) for p in jax.tree_util.tree_leaves(params)))


def _out_dim(apply_fn, params, x):
    out = jax.eval_shape(apply_fn, params, x[:1])
    return int(np.prod(out.shape[1:]))


def estimate_cost(net_or_fn, params, n1: int, n2: int, method: str, trace: bool = True,
                  in_dim: int | None = None, itemsize: int = 4, chunk: int | None = None):
    """Rough (flops, peak bytes) of `empirical_ntk` for n1 x n2 inputs with the given method."""
    apply_fn, net = as_apply_fn(net_or_fn)
    P = _num_params(params)
    if net is not None:
        k = net.out_dim
        in_dim = in_dim or params[0][0].shape[0]
        sizes = net.layer_sizes(in_dim)
        fwd = sum(a * b for a, b in sizes)  # MACs per example
    else:
        k = 1 if in_dim is None else None
        if k is None:
            k = _out_dim(apply_fn, params, jnp.zeros((1, in_dim)))
        fwd = P
    kk = 1 if trace else k * k
    out_bytes = n1 * n2 * kk * itemsize
    if method == "structured":
        width_sum = sum(a + k * b for a, b in sizes)
        flops = 2 * (n1 + n2) * fwd * (1 + k) + 2 * n1 * n2 * width_sum + 4 * n1 * n2 * kk * len(sizes)
        mem = (n1 + n2) * width_sum * itemsize * 2 + 3 * out_bytes
    elif method == "jacobian":
        flops = 2 * (n1 + n2) * k * fwd * 3 + 2 * n1 * n2 * k * kk / max(kk, 1) * P * (k if not trace else 1)
        mem = (n1 + n2) * k * P * itemsize * 2 + out_bytes
    elif method == "ntvp":
        flops = n2 * k * (6 * n2 * fwd + 6 * n1 * fwd)
        c = chunk or n2 * k
        mem = c * (P + n1 * k + n2 * k) * itemsize * 3 + n1 * n2 * k * k * itemsize
    else:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    return float(flops), float(mem)


@functools.partial(jax.jit, static_argnames=("net", "trace", "same"))
def _structured_jit(net, params, x1, x2, trace, same):
    return _ntk_structured(net, params, x1, None if same else x2, trace)


@functools.lru_cache(maxsize=128)
def _generic_jit(apply_fn, method, trace, chunk, same):
    if method == "jacobian":
        def fn(params, x1, x2):
            return _ntk_jacobian(apply_fn, params, x1, None if same else x2, trace)
    else:
        def fn(params, x1, x2):
            return _ntk_ntvp(apply_fn, params, x1, None if same else x2, trace, chunk)
    return jax.jit(fn)


def _choose_method(net, apply_fn, params, n1, n2, in_dim, trace, itemsize, budget):
    if net is not None:
        return "structured"
    _, mem = estimate_cost(apply_fn, params, n1, n2, "jacobian", trace, in_dim=in_dim,
                           itemsize=itemsize)
    if budget is None or mem <= budget:
        return "jacobian"
    return "ntvp"


def _ntvp_chunk(params, n1, n2, k, itemsize, budget):
    P = _num_params(params)
    per = (P + n1 * k + n2 * k) * itemsize * 3
    if budget is None:
        return max(1, n2 * k)
    return int(max(1, min(n2 * k, budget // 2 // max(per, 1))))


def empirical_ntk(net_or_fn, params, x1, x2=None, method: str = "auto", trace: bool = True,
                  batch_size: int | None = None,
                  memory_budget: float | None = V.DEFAULT_MEMORY_BUDGET, progress=None):
    """Empirical NTK of a network at `params`.

    Args:
      net_or_fn: an `ntk.mlp` network (all methods) or any `apply_fn(params, x)` (generic methods).
      params: parameters (any pytree for a generic apply_fn).
      x1: (n1, d) inputs; x2: (n2, d) inputs or None for x1.
      method: "auto", "jacobian", "ntvp" or "structured".
      trace: True -> (n1, n2), mean over output units; False -> (n1, n2, k, k).
      batch_size: compute in (batch_size x batch_size) blocks to bound memory.
      memory_budget: bytes; a request estimated above it raises ValueError suggesting batch_size.
      progress: optional callback progress(done, total) called per block.
    """
    apply_fn, net = as_apply_fn(net_or_fn)
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "structured" and net is None:
        raise ValueError(
            "method='structured' needs an ntk network (ntk.mlp); for an arbitrary apply_fn use "
            "'jacobian', 'ntvp' or 'auto'."
        )
    x1, x2 = V.check_pair(x1, x2)
    if net is not None:
        net._check_params(params, x1)
    same = x2 is None
    n1 = x1.shape[0]
    n2 = n1 if same else x2.shape[0]
    itemsize = x1.dtype.itemsize
    b1 = n1 if batch_size is None else min(V.check_positive_int(batch_size, "batch_size"), n1)
    b2 = n2 if batch_size is None else min(batch_size, n2)
    if method == "auto":
        method = _choose_method(net, apply_fn, params, b1, b2, x1.shape[1], trace, itemsize,
                                memory_budget)
    k = net.out_dim if net is not None else _out_dim(apply_fn, params, x1)
    chunk = None
    if method == "ntvp":
        chunk = _ntvp_chunk(params, b1, b2, k, itemsize, memory_budget)
    _, mem = estimate_cost(net_or_fn if net is not None else apply_fn, params, b1, b2, method,
                           trace, in_dim=x1.shape[1], itemsize=itemsize, chunk=chunk)
    if batch_size is None:
        V.check_memory(mem, memory_budget,
                       f"The empirical NTK ({method}) of {n1}x{n2} points",
                       "Pass batch_size (e.g. batch_size=128) to compute it in blocks, or use "
                       "method='ntvp'.")
    else:
        V.check_memory(mem, memory_budget, f"A {b1}x{b2} block of the empirical NTK ({method})",
                       "Use a smaller batch_size.")

    if method == "structured":
        def block(a, b, _same=False):
            return _structured_jit(net, params, a, b, trace, _same)
    else:
        def block(a, b, _same=False):
            return _generic_jit(apply_fn, method, trace, chunk, _same)(params, a, b)

    if batch_size is None:
        out = block(x1, x1 if same else x2, same)
        if progress is not None:
            progress(1, 1)
        return out
    # Blocks are spread over all devices; the parameters are an argument (replicated on each
    # device), and with x2=None only the blocks on and above the diagonal are computed.
    fn = _block_fn(net if method == "structured" else apply_fn, method, trace, chunk)
    (out,) = blocked_pairwise(fn, x1, x1 if same else x2, batch_size, progress, args=(params,),
                              symmetric=same)
    return to_jax(out)


@functools.lru_cache(maxsize=128)
def _block_fn(net_or_fn, method, trace, chunk):
    """Jitted (x1_block, x2_block, params) -> (kernel block,) for `blocked_pairwise`."""
    if method == "structured":
        def fn(a, b, params):
            return (_ntk_structured(net_or_fn, params, a, b, trace),)
    elif method == "jacobian":
        def fn(a, b, params):
            return (_ntk_jacobian(net_or_fn, params, a, b, trace),)
    else:
        def fn(a, b, params):
            return (_ntk_ntvp(net_or_fn, params, a, b, trace, chunk),)
    return jax.jit(fn)


def ntk_fn(net_or_fn, method: str = "auto", trace: bool = True, **kwargs):
    """Return kernel_fn(params, x1, x2=None) -> empirical NTK (convenience for repeated use)."""

    def kernel_fn(params, x1, x2=None):
        return empirical_ntk(net_or_fn, params, x1, x2, method=method, trace=trace, **kwargs)

    return kernel_fn


def useful_flops_structured(net: MLP, n: int, in_dim: int) -> float:
    """FLOPs of the structured NTK of n x n points (forward, backward, Gram products)."""
    sizes = net.layer_sizes(in_dim)
    k = net.out_dim
    fwd = sum(a * b for a, b in sizes)
    bwd = sum(k * a * b for a, b in sizes[1:])
    grams = sum(n * n * (a + k * b) for a, b in sizes)
    return 2.0 * (n * fwd + n * bwd + grams)

