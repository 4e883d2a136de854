"""Infinite-width NNGP and NTK of any ntk network: an `ntk.mlp` or an `ntk.stax` layer.

Every network is evaluated by one code path, the kernel maps of its `ntk.stax` layers (an
`ntk.mlp` is the composition serial(Dense, act, ..., Dense), see `ntk.nets`). For an MLP
(layer l = 1..L hidden, L+1 readout), on inputs x, x' of dimension d, this is the recursion

    K_1 = W^2 x.x'/d + b^2                      Theta_1 = K_1                    (NTK param.)
    K_1 = W^2 x.x'/d + b^2                      Theta_1 = x.x' + 1               (standard)
    S_l = E[phi(u) phi(v)],  S'_l = E[phi'(u) phi'(v)],  (u, v) ~ N(0, K_l)
    K_{l+1} = W^2 S_l + b^2
    Theta_{l+1} = K_{l+1} + W^2 S'_l Theta_l                                     (NTK param.)
    Theta_{l+1} = n_l S_l + 1 + W^2 S'_l Theta_l                                 (standard)

with W = W_std, b = b_std and n_l the width of layer l; this is neural-tangents' `stax.Dense`
convention. Correlations are clipped to [-1, 1] and snapped to exactly 1 within a few ulps, so
identical inputs give an exact diagonal; zero-variance inputs (zero input with b_std = 0) take
their limit (correlation 1 between two zero inputs, 0 against others), never NaN. Convolutions,
pooling, branches and layer norm act on the spatial covariances as described in `ntk.stax`.

`batch(kernel_fn, batch_size)` wraps any kernel function to compute it in exact blocks spread
over all devices (neural-tangents' `nt.batch`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _validate as V
from .nets import MLP, kernel_layer, stax_layer_of
from .stax import _core as C


class Kernel(NamedTuple):
    """Infinite-width kernels: `nngp` and `ntk`, each of shape (n1, n2) (None if not requested)."""

    nngp: jnp.ndarray | None
    ntk: jnp.ndarray | None

    def __repr__(self):
        def d(a):
            return "None" if a is None else f"array{tuple(a.shape)} {a.dtype}"

        return f"Kernel(nngp={d(self.nngp)}, ntk={d(self.ntk)})"


def as_layer(net, what: str = "infinite_kernel"):
    """The `ntk.stax` layer computing the infinite-width kernels of `net` (an MLP, a stax layer,
    its (init_fn, apply_fn, kernel_fn) triple or its kernel_fn); TypeError otherwise."""
    if isinstance(net, MLP):
        return kernel_layer(net)
    lay = stax_layer_of(net)
    if lay is None:
        raise TypeError(
            f"{what} needs an ntk network: ntk.mlp(...) or an ntk.stax layer (e.g. stax.serial(stax.Dense(512), "
            "stax.Relu(), stax.Dense(1)) or its (init_fn, apply_fn, kernel_fn)); the infinite-width limit of an "
            f"arbitrary apply function is not defined. Got {type(net).__name__}.")
    return lay


def _names(get):
    if get is None:
        return ("nngp", "ntk")
    if isinstance(get, str):
        get = (get,)
    try:
        get = tuple(get)
    except TypeError:
        raise TypeError(f"get must be 'nngp', 'ntk' or a tuple of them, got {get!r}.") from None
    unknown = [g for g in get if g not in C.GETS]
    if unknown or not get:
        raise ValueError(f"get must contain 'nngp' and/or 'ntk', got {list(get)!r}.")
    return get


def resolve_degree(net, xs, degree=None):
    """The largest quadrature rule ("gh"|"trap", nodes) the network's numerical activations use
    on inputs xs (None when every activation has a closed form)."""
    layer = as_layer(net)
    x1 = C.check_x(xs[0], "x1")
    x2 = xs[1] if len(xs) > 1 and xs[1] is not None else None
    x2 = None if x2 is None else C.check_x(x2, "x2", x1.shape[1:])
    _, diag, _ = C.analyse(layer, tuple(x1.shape[1:]))
    rules = C.resolve_rules(layer, x1, x2, diag, degree)
    return max(rules, key=lambda r: r[1]) if rules else None


def _recursion(net: MLP, x1, x2, degree, get_ntk: bool):
    """(nngp, ntk or None) of an MLP, traceable in everything including `net.W_std` / `net.b_std`
    (ntk.sklearn differentiates kernels in them); `degree` is the rule of every quadrature slot."""
    layer = kernel_layer(net, net.W_std, net.b_std)
    rules = () if degree is None else (tuple(degree) if isinstance(degree, tuple) else ("gh", int(degree)),) * (
        net.depth)
    _, diag, _ = C.analyse(layer, tuple(x1.shape[1:]))
    return C._run(layer, x1, x2, diag, get_ntk, rules)


def infinite_kernel_cost(net: MLP, n1: int, n2: int, rule=None, itemsize: int = 4):
    """(flops, bytes) estimate of one `infinite_kernel` evaluation of an MLP (n1 x n2 outputs): about
    40 flops per pair and layer for closed-form activations, 6 nodes^2 for a quadrature rule
    ("gh"|"trap", nodes); the app's cost model (ntk.app.cost) scales it by the measured machine speed."""
    pairs = n1 * n2
    nodes = 0 if rule is None else rule[1]
    per_pair = 40 if nodes == 0 else 6 * nodes * nodes
    flops = pairs * per_pair * net.depth * 2
    mem = pairs * itemsize * (12 + 2 * nodes)
    return flops, mem


def infinite_kernel(
    net,
    x1,
    x2=None,
    get=("nngp", "ntk"),
    batch_size: int | None = None,
    quadrature_degree: int | None = None,
    memory_budget: float | None = V.DEFAULT_MEMORY_BUDGET,
    progress=None,
    diagonal_spatial: bool | None = None,
) -> Kernel:
    """Infinite-width NNGP and NTK of `net` between x1 (n1, ...) and x2 (n2, ...); x2=None means x1.

    `net`: an `ntk.mlp` network (inputs (n, d)) or an `ntk.stax` layer / triple (inputs (n, d),
    (n, L, C) or (n, H, W, C), channels last). Returns a `Kernel(nngp, ntk)` of (n1, n2) arrays
    (unrequested ones None) in the inputs' dtype; a stax net whose output keeps spatial axes gives
    (n1, n2, H, H', W, W') ((n1, n2, H, W) with diagonal_spatial=True).
    The memory of the computation is estimated first; above `memory_budget` (bytes) a ValueError
    suggests a `batch_size`, which computes exact (batch_size x batch_size) blocks over all devices;
    `progress(done, total, label)` is called after each block. Quadrature activations pick their rule
    (Gauss-Hermite or a scaled trapezoid) from the largest pre-activation variance they see unless
    `quadrature_degree` (an int: Gauss-Hermite degree, or ("trap"|"gh", nodes)) is given.
    """
    layer = as_layer(net)
    names = _names(get)
    if isinstance(net, MLP):
        x1, x2 = V.check_pair(x1, x2)
    nngp, ntk = C.compute_kernel(layer, x1, x2, names, diagonal_spatial=diagonal_spatial,
                                 quadrature_degree=quadrature_degree, memory_budget=memory_budget,
                                 batch_size=batch_size, progress=progress)
    return Kernel(nngp, ntk)


# ---------------------------------------------------------------------------------------------
# ntk.batch
# ---------------------------------------------------------------------------------------------

def batch(kernel_fn, batch_size: int = 0, device_count: int = -1, store_on_device: bool = True,
          progress=None):
    """Compute `kernel_fn(x1, x2=None, *args, **kwargs)` in exact (batch_size x batch_size) blocks.

    neural-tangents' `nt.batch`: the returned function has `kernel_fn`'s signature and results;
    each block is an independent evaluation on a block of rows of x1 and of x2, spread over
    `device_count` devices (-1: all of `jax.devices()`, 0: one device) with JAX sharding, and the
    blocks are assembled on the host (`store_on_device` is accepted for NT compatibility). Blocks
    are exact: the kernel of a pair of inputs does not depend on the other inputs (the last
    blocks are zero-padded and the padding dropped). `batch_size=0` returns `kernel_fn` unchanged.

    Works for `ntk.stax` kernel functions (x2=None computes only the blocks on and above the
    diagonal and mirrors them), `ntk.mlp` networks' kernels via `ntk.infinite_kernel`, and any
    kernel function of NT's form whose outputs are arrays (or namedtuples of arrays) with the two
    batch axes first, e.g. `ntk.empirical_kernel_fn(f)` with its params passed as an argument.
    """
    if not callable(kernel_fn):
        raise TypeError(f"batch needs a kernel function kernel_fn(x1, x2, ...), got {kernel_fn!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise ValueError(f"batch_size must be a non-negative integer (0 = no batching), got {batch_size!r}.")
    if isinstance(device_count, bool) or not isinstance(device_count, int) or device_count < -1:
        raise ValueError(f"device_count must be -1 (all devices), 0 or a positive integer, got {device_count!r}.")
    if batch_size == 0:
        return kernel_fn
    devices = jax.devices()
    if device_count > 0:
        if device_count > len(devices):
            raise ValueError(f"device_count={device_count} but only {len(devices)} device(s) are available.")
        devices = devices[:device_count]
    elif device_count == 0:
        devices = devices[:1]
    devices = tuple(devices)
    layer = stax_layer_of(kernel_fn)

    if layer is not None:
        def batched(x1, x2=None, get=None, *, diagonal_spatial=None, quadrature_degree=None,
                    memory_budget=V.DEFAULT_MEMORY_BUDGET, **kwargs):
            kwargs.pop("pattern", None)
            if kwargs:
                raise TypeError(f"kernel_fn got unexpected keyword arguments {sorted(kwargs)}.")
            names, single = C.parse_get(get)
            nngp, ntk = C.compute_kernel(layer, x1, x2, names, diagonal_spatial=diagonal_spatial,
                                         quadrature_degree=quadrature_degree, memory_budget=memory_budget,
                                         batch_size=batch_size, progress=progress, devices=devices)
            return C.format_result(names, single, get, nngp, ntk)
    else:
        def batched(x1, x2=None, *args, **kwargs):
            return _generic_batched(kernel_fn, x1, x2, args, kwargs, batch_size, devices, progress)

    batched.__doc__ = (kernel_fn.__doc__ or "") + f"\n\n(Computed in blocks of {batch_size} by ntk.batch.)"
    batched.__name__ = getattr(kernel_fn, "__name__", "kernel_fn") + "_batched"
    return batched


def _generic_batched(kernel_fn, x1, x2, args, kwargs, bs, devices, progress):
    """Blocks of an arbitrary kernel function through `blocked_pairwise` (pytrees of arrays with
    leading (n1, n2) axes; None leaves are kept as None)."""
    from ._blocks import blocked_pairwise, to_jax

    if not hasattr(x1, "shape"):
        x1 = V.as_jax(x1)
    x2_ = x1 if x2 is None else (x2 if hasattr(x2, "shape") else V.as_jax(x2))
    box = {}

    def block(a, b):
        out = kernel_fn(a, b, *args, **kwargs)
        leaves, tree = jax.tree_util.tree_flatten(out)
        box["tree"] = tree
        for leaf in leaves:
            if jnp.ndim(leaf) < 2 or leaf.shape[:2] != (a.shape[0], b.shape[0]):
                raise ValueError(f"ntk.batch: kernel_fn returned an array of shape {jnp.shape(leaf)}; blocks need "
                                 f"outputs with the two batch axes first ({a.shape[0]}, {b.shape[0]}, ...).")
        return tuple(leaves)

    res = blocked_pairwise(block, x1, x2_, bs, progress, devices=devices)
    return jax.tree_util.tree_unflatten(box["tree"], [to_jax(r) for r in res])

