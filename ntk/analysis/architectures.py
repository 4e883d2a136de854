"""Architectures beyond the MLP for the app, notebooks and presets, built with `ntk.stax`.

    net = architectures.build("cnn_pool", width=64, depth=2)       # a stax (init, apply, kernel)
    k = architectures.infinite_kernels(net, x1, x2)                 # {"nngp", "ntk"}: (n1, n2)
    th = architectures.empirical_ntk(net, params, x1)               # (n1, n1)

Architectures (inputs are images (n, H, W, C), channels last; `width` is the number of hidden
units of a Dense layer or the number of channels of a convolution):

  mlp       Flatten, depth x [Dense(width), φ], Dense(out)          fully connected
  cnn       depth x [Conv(width, 3x3, SAME), φ], Flatten, Dense    local filters, no pooling
  cnn_pool  depth x [Conv(width, 3x3, SAME), φ], GlobalAvgPool, Dense
  resnet    Conv(width, 3x3, stride 2), depth x residual block [x + Conv(φ(Conv(φ(x))))], φ,
            GlobalAvgPool, Dense                                     skip connections, pooling

All weights are N(0, 1) scaled by W_std / sqrt(fan_in) (NTK parameterization, the default) and
biases by b_std, so the infinite-width kernels do not depend on `width`. The calls into the
kernel engines go through `infinite_kernels` and `empirical_ntk` only (one place to switch).
"""
from __future__ import annotations

import functools
from typing import Callable, Optional

import numpy as np

from .._cache import cached
from .._validate import DEFAULT_MEMORY_BUDGET

ARCHITECTURES = {
    "mlp": "MLP (fully connected)",
    "cnn": "CNN (no pooling)",
    "cnn_pool": "CNN + global average pooling",
    "resnet": "ResNet (stride-2 stem, pooling)",
}
#: Architectures whose first layer is a convolution: they need image inputs (n, H, W, C).
IMAGE_ARCHITECTURES = ("cnn", "cnn_pool", "resnet")
#: Architectures whose kernel keeps the covariance between all pairs of positions (pooling).
POOLED = ("cnn_pool", "resnet")
FILTER = (3, 3)


def check_architecture(name: str) -> str:
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}.")
    return name


def _activation_layer(activation, alpha):
    from .. import stax
    from ..activations import get_activation
    from .views._common import activation_spec

    return stax.activation_layer(get_activation(activation_spec(activation, alpha)))


def build(name: str, width: int, depth: int = 2, activation: str = "relu", W_std: float = 1.5,
          b_std: float = 0.05, parameterization: str = "ntk", out_dim: int = 1,
          alpha: float = 0.1):
    """The stax network (init_fn, apply_fn, kernel_fn) of architecture `name` (see the module
    docstring). Interned: equal arguments return the same object, so its compiled kernel programs
    are reused."""
    check_architecture(name)
    width, depth, out_dim = int(width), int(depth), int(out_dim)
    for v, what in ((width, "width"), (depth, "depth"), (out_dim, "out_dim")):
        if v < 1:
            raise ValueError(f"{what} must be a positive integer, got {v}.")
    return _build(name, width, depth, str(activation), float(W_std), float(b_std),
                  str(parameterization), out_dim, float(alpha))


@cached(maxsize=256)
def _build(name, width, depth, activation, W_std, b_std, parameterization, out_dim, alpha):
    from .. import stax

    w = dict(W_std=W_std, b_std=b_std, parameterization=parameterization)

    def act():
        return _activation_layer(activation, alpha)

    def conv(strides=None):
        return stax.Conv(width, FILTER, strides=strides, padding="SAME", **w)

    readout = stax.Dense(out_dim, **w)
    if name == "mlp":
        body = [layer for _ in range(depth) for layer in (stax.Dense(width, **w), act())]
        return stax.serial(stax.Flatten(), *body, readout)
    if name in ("cnn", "cnn_pool"):
        body = [layer for _ in range(depth) for layer in (conv(), act())]
        pool = stax.GlobalAvgPool() if name == "cnn_pool" else stax.Flatten()
        return stax.serial(*body, pool, readout)
    block = [stax.FanOut(2), stax.parallel(stax.serial(act(), conv(), act(), conv()), stax.Identity()),
             stax.FanInSum()]
    return stax.serial(conv((2, 2)), *(block * depth), act(), stax.GlobalAvgPool(), readout)


def limit_width(parameterization: str, width: int) -> int:
    """The width whose kernel_fn gives the limit of nets of `width`: in NTK parameterization the
    limit does not depend on the width (one canonical network, one compiled kernel program)."""
    return 1 if parameterization == "ntk" else int(width)


def num_params(name: str, width: int, depth: int, image_shape=(8, 8, 1), out_dim: int = 1) -> int:
    """Number of parameters (weights and biases) of `build(name, width, depth)` on `image_shape`."""
    check_architecture(name)
    h, w_, c = image_shape
    n, d, k = int(width), int(depth), FILTER[0] * FILTER[1]
    if name == "mlp":
        return (h * w_ * c + 1) * n + (d - 1) * (n + 1) * n + (n + 1) * out_dim
    if name in ("cnn", "cnn_pool"):
        first = (k * c + 1) * n + (d - 1) * (k * n + 1) * n
        feat = n * (h * w_ if name == "cnn" else 1)
        return first + (feat + 1) * out_dim
    return (k * c + 1) * n + 2 * d * (k * n + 1) * n + (n + 1) * out_dim


def cost(name: str, width: int, depth: int, n1: int, n2: int, image_shape=(8, 8, 1),
         itemsize: int = 4) -> dict:
    """Rough cost of the kernels of n1 x n2 inputs: {"params", "emp_flops", "emp_bytes",
    "inf_flops", "inf_bytes"} (empirical NTK at `width`; infinite-width NNGP + NTK).

    Empirical: forward + backward passes (≈ 3 x 2 x params x positions per example) plus the
    Gram products of layer inputs and output gradients over all pairs (and pairs of positions
    for convolutions). Infinite: per pair of inputs, the spatial covariance (positions² entries
    with pooling, positions without) pushed through each layer, counted as 300 flop-equivalents
    per entry and layer (the closed-form activation maps with their arccos/sqrt and the 3x3 patch
    sums run at about 3e7 entries per second on two CPU cores).
    """
    check_architecture(name)
    h, w_, c = image_shape
    pos = h * w_
    P = num_params(name, width, depth, image_shape)
    if name == "mlp":
        fwd = 2.0 * P
        gram = 2.0 * n1 * n2 * (h * w_ * c + 2 * depth * width)
        inf = _PER_ENTRY * n1 * n2 * 2 * depth + 2.0 * n1 * n2 * h * w_ * c
        inf_entries = 1.0
    else:
        p_eff = pos if name != "resnet" else pos // 4
        fwd = 2.0 * P * p_eff
        layers = depth if name != "resnet" else 2 * depth + 1
        gram = 2.0 * n1 * n2 * layers * (p_eff * p_eff * width if name in POOLED else p_eff * width)
        inf_entries = (pos * pos if name in POOLED else pos)
        inf = _PER_ENTRY * n1 * n2 * inf_entries * (2 * depth if name != "resnet" else 2)
        if name == "resnet":  # the blocks run at a quarter of the positions
            inf += _PER_ENTRY * n1 * n2 * (p_eff * p_eff) * (4 * depth)
    emp_flops = 3.0 * fwd * (n1 + n2) + gram
    emp_bytes = itemsize * (3.0 * P + (n1 + n2) * (P if name == "mlp" else 4 * width * pos) * 1.0)
    inf_bytes = 8.0 * itemsize * (n1 * n2 + n1 + n2) * inf_entries
    return dict(params=int(P), emp_flops=float(emp_flops), emp_bytes=float(emp_bytes),
                inf_flops=float(inf), inf_bytes=float(inf_bytes))


_PER_ENTRY = 300.0  # flop-equivalents per covariance entry and layer of an infinite-width kernel
#: Speed assumed to turn an estimate into seconds (two CPU cores).
FLOPS_PER_SECOND = 10e9
#: Work the app accepts for one view (about 30 s on two quiet CPU cores).
FLOP_BUDGET = 300e9


def check_cost(flops: float, nbytes: float, what: str, suggestion: str,
               flop_budget: Optional[float] = FLOP_BUDGET,
               memory_budget: Optional[float] = DEFAULT_MEMORY_BUDGET) -> None:
    """Refuse (ValueError with the estimate and `suggestion`) work above the budgets."""
    from .._validate import format_bytes

    if flop_budget is not None and flops > flop_budget:
        raise ValueError(f"{what} needs about {flops / 1e9:.0f} GFLOP (≈ {flops / FLOPS_PER_SECOND:.0f} s "
                         f"on two CPU cores), above this view's budget of {flop_budget / 1e9:.0f} GFLOP "
                         f"(≈ {flop_budget / FLOPS_PER_SECOND:.0f} s). {suggestion}")
    if memory_budget is not None and nbytes > memory_budget:
        raise ValueError(f"{what} needs about {format_bytes(nbytes)} of memory, above the budget of "
                         f"{format_bytes(memory_budget)}. {suggestion}")


# ---------------------------------------------------------------------------------------------
# The adapter: every call into the kernel engines (public ntk names)
# ---------------------------------------------------------------------------------------------

def max_block(name: str) -> int:
    """Largest block of input pairs per kernel call: pooled nets keep a (positions²) covariance
    per pair (64 x 64 pairs of 8x8 images ≈ 0.3 GB in float32 with temporaries)."""
    return 64 if name in POOLED else 512


def _even_block(n1: int, n2: int, largest: int) -> int:
    """A block size <= largest that splits max(n1, n2) into equal blocks (little zero padding)."""
    n = max(n1, n2)
    parts = -(-n // max(1, int(largest)))
    return -(-n // parts)


def infinite_kernels(net, x1, x2=None, get=("nngp", "ntk"), block: int = 512,
                     progress: Optional[Callable] = None) -> dict:
    """Infinite-width kernels {g: (n1, n2) float64 array} of stax network `net` (x2=None: x1).

    Computed in blocks of at most `block` x `block` pairs (zero-padded to one compiled shape) so
    the spatial covariances of pooled convolutional nets stay within memory (see `max_block`);
    symmetric when x2 is None.
    """
    from .._blocks import blocked_pairwise

    get = (get,) if isinstance(get, str) else tuple(get)
    kernel_fn = net[2]
    xa = np.asarray(x1)
    xb = xa if x2 is None else np.asarray(x2)
    block = _even_block(len(xa), len(xb), block)

    def block_fn(a, b):
        k = kernel_fn(a, b, get)
        return tuple(k)

    out = blocked_pairwise(block_fn, xa, xb, int(block), progress, symmetric=x2 is None)
    return {g: np.asarray(o, np.float64) for g, o in zip(get, out)}


@functools.lru_cache(maxsize=64)
def _empirical_fn(apply_fn):
    import jax

    from .. import empirical_ntk_fn

    fn = empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=3)
    return jax.jit(lambda params, a, b: fn(a, b, params)), jax.jit(lambda params, a: fn(a, None, params))


def empirical_ntk(net, params, x1, x2=None) -> np.ndarray:
    """Empirical NTK (n1, n2) of stax network `net` at `params`, traced over the outputs
    (mean over output units), as float64 numpy."""
    cross, same = _empirical_fn(net[1])
    out = same(params, x1) if x2 is None else cross(params, x1, x2)
    return np.asarray(out, np.float64)


def init_params(net, seed: int, input_shape, parameterization: str = "ntk"):
    """Parameters of stax network `net` for inputs of shape (n, ...), from `jax.random.PRNGKey(seed)`.

    In NTK parameterization every weight and bias of a stax layer is N(0, 1) (W_std/sqrt(fan_in)
    and b_std multiply in the forward pass), so each parameter array is drawn as the start of a
    standard normal vector of power-of-two length from its own key: the same distribution as
    `init_fn`, while nets of every width share a few compiled generators (eager `init_fn` compiles
    one generator per layer shape, seconds per new width). Other parameterizations use `init_fn`.
    """
    import jax

    key = jax.random.PRNGKey(int(seed))
    shape = tuple(int(s) for s in input_shape)
    if parameterization != "ntk":
        return net[0](key, shape)[1]
    leaves, tree = _param_structure(net[0], shape)
    keys = _split(key, len(leaves))
    vals = [_normal(keys[i], _bucket(int(np.prod(sh))), dt)[:int(np.prod(sh))].reshape(sh)
            for i, (sh, dt) in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(tree, vals)


@functools.lru_cache(maxsize=64)
def _param_structure(init_fn, shape):
    """((shape, dtype) per parameter leaf, treedef) of init_fn's parameters (abstract evaluation)."""
    import jax

    out = jax.eval_shape(lambda k: init_fn(k, shape)[1], jax.random.PRNGKey(0))
    leaves, tree = jax.tree_util.tree_flatten(out)
    return tuple((tuple(a.shape), a.dtype) for a in leaves), tree


def _bucket(n: int) -> int:
    return max(64, 1 << (int(n) - 1).bit_length())


@functools.lru_cache(maxsize=1)
def _generators():
    import jax

    normal = jax.jit(lambda k, n, dt: jax.random.normal(k, (n,), dt), static_argnums=(1, 2))
    split = jax.jit(lambda k, n: jax.random.split(k, n), static_argnums=1)
    return normal, split


def _normal(key, n, dtype):
    return _generators()[0](key, n, dtype)


def _split(key, n):
    return _generators()[1](key, n)


def flat_apply(net, image_shape):
    """apply(params, x) of `net` on flattened images x (n, prod(image_shape)): for the training
    loop and other code that takes (n, d) inputs. Interned per (net, shape)."""
    return _flat_apply(net, tuple(int(s) for s in image_shape))


@functools.lru_cache(maxsize=64)
def _flat_apply(net, image_shape):
    apply_fn = net[1]

    def apply(params, x):
        return apply_fn(params, x.reshape((x.shape[0],) + image_shape))

    apply.__name__ = apply.__qualname__ = "apply_on_flat_images"
    return apply


# ---------------------------------------------------------------------------------------------
# Kernel regression and convergence
# ---------------------------------------------------------------------------------------------

def kernel_regression(k_train_train, y_train, k_test_train, diag_reg: float = 1e-6) -> np.ndarray:
    """Mean prediction K_* (K + r I)^-1 y at t = ∞ (gradient flow on MSE to convergence with the
    NTK; the NNGP posterior mean with the NNGP), with r = diag_reg × mean diagonal of K, in
    float64 (`ntk.predict.gp_inference`)."""
    import jax

    from ..predict import gp_inference

    with jax.enable_x64(True):
        k = np.asarray(k_train_train, np.float64)
        k = 0.5 * (k + k.T)  # blocks computed in float32 can differ from symmetric by rounding
        y = np.asarray(y_train, np.float64)
        # The posterior mean K_* K^-1 y has the same form for both kernels ("nngp" on a bare array).
        predict = gp_inference(k, y, diag_reg=diag_reg)
        return np.asarray(predict("nngp", k_test_train=np.asarray(k_test_train, np.float64)), np.float64)


def accuracy(pred, y) -> float:
    """Fraction of rows whose argmax agrees (sign for a single output column)."""
    pred, y = np.asarray(pred), np.asarray(y)
    if pred.ndim == 1 or pred.shape[1] == 1:
        return float(np.mean(np.sign(pred.ravel()) == np.sign(y.ravel())))
    return float(np.mean(pred.argmax(1) == y.argmax(1)))


def kernel_comparison(name: str, arch_kw: dict, x_train, y_train, x_test, y_test,
                      progress: Optional[Callable] = None) -> dict:
    """Infinite-width NNGP and NTK of architecture `name` on the training set (n, n), their
    eigenvalues (descending) and the test accuracy of kernel regression at t = ∞ with each:
    {"nngp", "ntk", "eig_nngp", "eig_ntk", "acc_nngp", "acc_ntk"}."""
    n = len(x_train)
    net = build(name, limit_width(arch_kw.get("parameterization", "ntk"), 1), **arch_kw)
    k = infinite_kernels(net, np.concatenate([x_train, x_test]), x_train, block=max_block(name),
                         progress=progress)
    out = {}
    for g in ("nngp", "ntk"):
        ktr = 0.5 * (k[g][:n] + k[g][:n].T)
        out[g] = ktr
        out[f"eig_{g}"] = np.clip(np.linalg.eigvalsh(ktr)[::-1], 0, None)
        out[f"acc_{g}"] = accuracy(kernel_regression(ktr, y_train, k[g][n:]), y_test)
    return out


def kernel_errors(net_of_width: Callable, widths, seeds, x, ntk_inf,
                  progress: Optional[Callable] = None) -> np.ndarray:
    """‖Θ_emp − Θ∞‖_F / ‖Θ∞‖_F for each width (W,) x seed (S,) -> (W, S); `net_of_width(w)`
    builds the network, Θ∞ = `ntk_inf` on `x`."""
    den = float(np.linalg.norm(ntk_inf))
    out = np.zeros((len(widths), len(seeds)))
    total, done = len(widths) * len(seeds), 0
    for i, w in enumerate(widths):
        net = net_of_width(int(w))
        for j, s in enumerate(seeds):
            th = empirical_ntk(net, init_params(net, s, x.shape), x)
            out[i, j] = float(np.linalg.norm(th - ntk_inf)) / den
            done += 1
            if progress is not None:
                progress(done, total, f"width {w}, seed {s}")
    return out


__all__ = ["ARCHITECTURES", "FLOP_BUDGET", "FLOPS_PER_SECOND", "IMAGE_ARCHITECTURES", "POOLED", "accuracy", "build",
           "check_architecture", "check_cost", "cost", "empirical_ntk", "flat_apply", "kernel_comparison",
           "infinite_kernels", "init_params", "kernel_errors", "kernel_regression",
           "limit_width", "max_block", "num_params"]
