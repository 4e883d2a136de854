"""Fully-connected architectures that know their finite init/apply and their infinite-width limit.

An `MLP` with widths [w1, ..., wL] is L hidden layers Dense -> activation, then a Dense readout
to `out_dim`: the `ntk.stax` composition

    serial(Dense(w1), act, Dense(w2), act, ..., Dense(wL), act, Dense(out_dim))

(`net.layer`), whose layers compute its forward pass and its infinite-width kernels (one code
path for every architecture). Dense layers follow neural-tangents' `stax.Dense` conventions:

* NTK parameterization:   z = W_std / sqrt(fan_in) * (x @ W) + b_std * b,   W, b ~ N(0, 1)
* standard parameterization: z = x @ W + b,  W ~ N(0, W_std^2 / fan_in),  b ~ N(0, b_std^2)

Parameters are a list of per-layer tuples (W, b), W of shape (fan_in, fan_out), b of (fan_out,)
(`net.init`); the stax layer's own init_fn gives NT's layout (`net.to_stax_params` converts).
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from . import _validate as V
from .activations import Activation, get_activation
from .stax import _layers as _L
from .stax._core import Layer

Params = list  # [(W, b), ...]


@dataclasses.dataclass(frozen=True)
class MLP:
    """A fully-connected network: `len(widths)` Dense->activation blocks and a Dense readout.

    Hashable and immutable, so it can be a static argument of `jax.jit`.
    """

    widths: tuple
    out_dim: int
    activation: Activation
    W_std: float
    b_std: float
    parameterization: str

    @property
    def depth(self) -> int:
        return len(self.widths)

    def layer_sizes(self, in_dim: int) -> list[tuple[int, int]]:
        dims = [in_dim, *self.widths, self.out_dim]
        return list(zip(dims[:-1], dims[1:]))

    def num_params(self, in_dim: int) -> int:
        return sum(a * b + b for a, b in self.layer_sizes(in_dim))

    def init(self, key, in_dim: int, dtype=None, memory_budget: float | None = V.DEFAULT_MEMORY_BUDGET) -> Params:
        """Sample parameters; `key` is an explicit `jax.random` key. Returns [(W, b), ...].

        The parameters' memory (num_params x itemsize) is estimated first: above `memory_budget`
        (bytes; None = no limit) a ValueError says so instead of trying to allocate it."""
        in_dim = V.check_positive_int(in_dim, "in_dim")
        if not (isinstance(key, jax.Array) or hasattr(key, "shape")):
            raise TypeError(
                "init needs an explicit jax.random key, e.g. net.init(jax.random.PRNGKey(0), in_dim)."
            )
        dtype = jnp.dtype(dtype or jnp.result_type(float))
        n = self.num_params(in_dim)
        # The draws are made in power-of-two-sized buffers (see _init_params): up to 2x while sampling.
        V.check_memory(2 * n * dtype.itemsize, memory_budget,
                       f"The parameters of {self!r} with in_dim={in_dim} ({n:,} numbers, sampled in "
                       f"{dtype.name})", "Use smaller widths (or pass memory_budget=None to init).")
        return list(_init_params(self, in_dim, dtype, key))

    @property
    def layer(self) -> Layer:
        """This network as an `ntk.stax` layer: (init_fn, apply_fn, kernel_fn) in NT's conventions."""
        return _stax_layer(self)

    def to_stax_params(self, params: Params):
        """[(W, b), ...] -> the parameters of `net.layer` (NT's layout: () for each activation)."""
        out = []
        for i, (W, b) in enumerate(params):
            out.append((W, b))
            if i < self.depth:
                out.append(())
        return tuple(out)

    def _scales(self, fan_in: int):
        """(weight multiplier, bias multiplier) applied in the forward pass."""
        if self.parameterization == "ntk":
            return self.W_std / (fan_in**0.5), self.b_std
        return 1.0, 1.0

    def _check_params(self, params, x):
        if len(params) != self.depth + 1:
            raise ValueError(
                f"params has {len(params)} layers but this network has {self.depth + 1} Dense layers; "
                "create params with net.init(key, in_dim)."
            )
        W0 = params[0][0]
        if x.shape[-1] != W0.shape[0]:
            raise ValueError(
                f"x has {x.shape[-1]} features but the network was initialised for in_dim={W0.shape[0]}."
            )

    def apply(self, params: Params, x) -> jnp.ndarray:
        """f(params, x): x of shape (n, in_dim) -> outputs (n, out_dim)."""
        if not V.is_tracer(x):
            x = V.check_inputs(x, "x")
        self._check_params(params, x)
        if not any(V.is_tracer(a) for a in jax.tree_util.tree_leaves(params)) and not V.is_tracer(x):
            # Concrete call: one compiled program per (network, shapes) instead of op-by-op dispatch.
            return _apply_jit(self, params, x)
        return self._forward(params, x)

    def _forward(self, params: Params, x) -> jnp.ndarray:
        return self.layer._apply(self.to_stax_params(params), x)

    def forward_with_cache(self, params: Params, x):
        """Forward pass returning (output, [inputs of each Dense], [pre-activations])."""
        h = x
        inputs, pre = [], []
        for i, (W, b) in enumerate(params):
            inputs.append(h)
            sw, sb = self._scales(W.shape[0])
            z = sw * (h @ W) + sb * b
            pre.append(z)
            h = self.activation.fn(z) if i < self.depth else z
        return h, inputs, pre

    def __repr__(self):
        return (
            f"MLP(widths={list(self.widths)}, out_dim={self.out_dim}, activation={self.activation.name!r}"
            f"{'' if not self.activation.params else ' ' + str(dict(self.activation.params))}, "
            f"W_std={self.W_std}, b_std={self.b_std}, parameterization={self.parameterization!r})"
        )


@functools.partial(jax.jit, static_argnums=0)
def _apply_jit(net: "MLP", params, x):
    return net._forward(params, x)


def _dense_layers(net: "MLP", W_std, b_std) -> Layer:
    act = _L.activation_layer(net.activation)
    layers = []
    for w in net.widths:
        layers += [_L.dense_layer(w, W_std, b_std, net.parameterization), act]
    layers.append(_L.dense_layer(net.out_dim, W_std, b_std, net.parameterization))
    return _L.serial(*layers)


@functools.lru_cache(maxsize=256)
def _stax_layer(net: "MLP") -> Layer:
    """One stax layer per (equal) network, so its compiled kernel programs are reused."""
    return _dense_layers(net, net.W_std, net.b_std)


def kernel_layer(net: "MLP", W_std=None, b_std=None) -> Layer:
    """The stax layer whose kernel_fn is the infinite-width limit of `net`. In the NTK
    parameterization the limit does not depend on the widths: one layer (and one compiled program)
    serves every width. `W_std` / `b_std` may be traced values (kernel gradients in ntk.sklearn)."""
    if net.parameterization == "ntk":
        net = dataclasses.replace(net, widths=(1,) * net.depth)
    if W_std is None and b_std is None:
        return _stax_layer(net)
    return _dense_layers(net, net.W_std if W_std is None else W_std, net.b_std if b_std is None else b_std)


def _bucket(n: int) -> int:
    return max(64, 1 << (int(n) - 1).bit_length())


@functools.partial(jax.jit, static_argnums=(1, 2))
def _flat_normal(key, size: int, dtype):
    return jax.random.normal(key, (size,), dtype)


@jax.jit
def _split3(key):
    return jax.random.split(key, 3)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _assemble(net: "MLP", in_dim: int, flats):
    params = []
    for (fan_in, fan_out), (w, b) in zip(net.layer_sizes(in_dim), flats):
        W = w[: fan_in * fan_out].reshape(fan_in, fan_out)
        b = b[:fan_out]
        if net.parameterization == "standard":
            W = W * jnp.asarray(net.W_std / fan_in**0.5, W.dtype)
            b = b * jnp.asarray(net.b_std, b.dtype)
        params.append((W, b))
    return tuple(params)


def _init_params(net: "MLP", in_dim: int, dtype, key):
    """[(W, b), ...] with W = normal(kw, (fan_in, fan_out)), b = normal(kb, (fan_out,)) per layer
    (keys from successive 3-way splits), scaled for the standard parameterization.

    With counter-based (partitionable) threefry the i-th value of a draw depends only on the key
    and i, so each draw is made as a flat power-of-two-sized vector and sliced: identical values,
    while networks of any width share the few compiled generators (a new width compiles only the
    cheap slicing step, not the random-number generator).
    """
    if not jax.config.jax_threefry_partitionable:  # pragma: no cover - older default
        return _init_direct(net, in_dim, dtype, key)
    flats = []
    for fan_in, fan_out in net.layer_sizes(in_dim):
        key, kw, kb = _split3(key)
        flats.append((_flat_normal(kw, _bucket(fan_in * fan_out), dtype),
                      _flat_normal(kb, _bucket(fan_out), dtype)))
    return _assemble(net, in_dim, tuple(flats))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _init_direct(net: "MLP", in_dim: int, dtype, key):
    params = []
    for fan_in, fan_out in net.layer_sizes(in_dim):
        key, kw, kb = jax.random.split(key, 3)
        W = jax.random.normal(kw, (fan_in, fan_out), dtype)
        b = jax.random.normal(kb, (fan_out,), dtype)
        if net.parameterization == "standard":
            W = W * jnp.asarray(net.W_std / fan_in**0.5, dtype)
            b = b * jnp.asarray(net.b_std, dtype)
        params.append((W, b))
    return tuple(params)


def mlp(
    widths: Sequence[int] | int = (512, 512),
    out_dim: int = 1,
    activation: Any = "relu",
    W_std: float = 1.0,
    b_std: float = 0.0,
    parameterization: str = "ntk",
    depth: int | None = None,
) -> MLP:
    """Build a fully-connected network.

    Args:
      widths: hidden widths [w1, ..., wL] (an int with `depth` means `depth` layers of that width).
      out_dim: number of outputs of the Dense readout.
      activation: name ("relu", "erf", "gelu", "abs", "sin", "identity", "tanh", "softplus",
        "silu"), ("leaky_relu", {"alpha": a}) or any elementwise callable.
      W_std, b_std: weight and bias standard deviations (see module docstring).
      parameterization: "ntk" or "standard".
    """
    if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
        if depth is None:
            depth = 1
        depth = V.check_positive_int(depth, "depth")
        widths = [widths] * depth
    try:
        widths = list(widths)
    except TypeError:
        raise TypeError(f"widths must be a list of positive integers, got {widths!r}.") from None
    if len(widths) == 0:
        raise ValueError("widths is empty: a network needs at least one hidden layer (depth >= 1).")
    if depth is not None and depth != len(widths):
        raise ValueError(f"depth={depth} does not match len(widths)={len(widths)}.")
    widths = tuple(V.check_positive_int(w, f"widths[{i}]") for i, w in enumerate(widths))
    out_dim = V.check_positive_int(out_dim, "out_dim")
    W_std = V.check_positive_float(W_std, "W_std")
    b_std = V.check_positive_float(b_std, "b_std", allow_zero=True)
    if parameterization not in ("ntk", "standard"):
        raise ValueError(f"parameterization must be 'ntk' or 'standard', got {parameterization!r}.")
    return MLP(widths, out_dim, get_activation(activation), W_std, b_std, parameterization)


@functools.lru_cache(maxsize=512)
def _apply_fn_of(net: MLP):
    """One function object per (equal) network, so compiled-function caches keyed on the apply
    function hit for equal networks (bound methods `net.apply` compare by identity)."""

    def apply(params, x):
        return net.apply(params, x)

    apply.__name__ = apply.__qualname__ = "apply"
    return apply


def stax_layer_of(obj):
    """The `ntk.stax` layer behind `obj` (a Layer, its (init_fn, apply_fn, kernel_fn) triple as a
    plain tuple, or one of those functions), else None."""
    if isinstance(obj, Layer):
        return obj
    lay = getattr(obj, "_stax_layer", None)
    if isinstance(lay, Layer):
        return lay
    if isinstance(obj, tuple) and len(obj) == 3:
        lays = {id(getattr(f, "_stax_layer", None)) for f in obj}
        lay = getattr(obj[2], "_stax_layer", None)
        if len(lays) == 1 and isinstance(lay, Layer):
            return lay
    return None


def as_apply_fn(net_or_fn):
    """Return (apply_fn, net or None) for an `MLP`, an `ntk.stax` layer (or its triple), or a plain
    `apply(params, x)` callable. Only an MLP is returned as `net` (stax nets are generic apply_fns)."""
    if isinstance(net_or_fn, MLP):
        return _apply_fn_of(net_or_fn), net_or_fn
    lay = stax_layer_of(net_or_fn)
    if lay is not None:
        return lay.apply_fn, None
    if callable(net_or_fn):
        return net_or_fn, None
    raise TypeError(
        "Expected an ntk network (ntk.mlp(...) or an ntk.stax layer) or a function apply(params, x), "
        f"got {net_or_fn!r}."
    )
