"""neural-tangents 0.6.5's stax layers on current JAX: each one its finite map and kernel map.

Conventions (NT's): channels last; (n, d) for Dense, (n, L, C) / (n, H, W, C) for 1-D / 2-D
Conv. Dense/Conv in "ntk" parameterization compute z = W_std / sqrt(fan_in) * (x * W) + b_std * b
with W, b ~ N(0, 1); "standard": z = x * W + b with W ~ N(0, W_std^2 / fan_in), b ~ N(0, b_std^2);
b_std=None means no bias. fan_in = C (Dense) or C * prod(filter_shape) (Conv).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import activations as A
from ._core import (Composite, Layer, check_int, check_ints, check_padding,
                    check_parameterization, check_real, conv_cov, materialize, pads_for, pool_cov,
                    spatial_mean, spatial_trace)


def _fmt(v):
    return repr(v) if not isinstance(v, float) else f"{v:g}"


def _bad_params(layer, what):
    return ValueError(f"{layer.name}: {what}. The parameters belong to another architecture; create them "
                      "with this network's init_fn(key, x.shape).")


def _check_rank(layer, x, nsp):
    if x.ndim != nsp + 2:
        raise ValueError(f"{layer.name} expects inputs of rank {nsp + 2} (n, {'spatial..., ' if nsp else ''}C), "
                         f"got shape {tuple(x.shape)}.")


def _single(layer, s):
    if isinstance(s, list):
        raise ValueError(f"{layer.name} got {len(s)} branches; merge them first with FanInSum() or "
                         "FanInConcat().")
    return s


# ---------------------------------------------------------------------------------------------
# Combinators
# ---------------------------------------------------------------------------------------------

class _Serial(Composite):
    name = "serial"

    def __init__(self, layers):
        self.layers = layers
        self._named("serial(" + ", ".join(map(repr, layers)) + ")")

    def _walk(self, shape, record):
        for layer in self.layers:
            shape = layer._walk(shape, record)
        return shape

    def _shape(self, shape):
        for layer in self.layers:
            shape = layer._shape(shape)
        return shape

    def _init(self, rng, shape):
        params = []
        for layer in self.layers:
            params.append(layer._init(rng, shape))
            shape = layer._shape(shape)
        return tuple(params)

    def _check_params(self, params):
        if not isinstance(params, (list, tuple)) or len(params) != len(self.layers):
            n = len(params) if isinstance(params, (list, tuple)) else type(params).__name__
            raise _bad_params(self, f"got params with {n} entries for {len(self.layers)} layers")

    def _apply(self, params, x):
        self._check_params(params)
        for layer, p in zip(self.layers, params):
            x = layer._apply(p, x)
        return x

    def _kmap(self, s, ctx):
        for layer in self.layers:
            s = layer._kmap(s, ctx)
        return s


def serial(*layers) -> Layer:
    """Composition: serial(l1, l2, ...)(x) = ... l2(l1(x)); kernels compose the same way."""
    layers = _flat(layers, "serial")
    return _Serial(layers)


def _flat(layers, what):
    if len(layers) == 1 and isinstance(layers[0], (list,)) and not isinstance(layers[0], Layer):
        layers = tuple(layers[0])
    if not layers:
        raise ValueError(f"{what}() needs at least one layer.")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"{what}: argument {i} is {type(layer).__name__}, not an ntk.stax layer (e.g. "
                            "stax.Dense(10)); neural-tangents' own layers cannot be mixed in.")
    return tuple(layers)


class _Parallel(Composite):
    name = "parallel"

    def __init__(self, layers):
        self.layers = layers
        self._named("parallel(" + ", ".join(map(repr, layers)) + ")")

    def _inputs(self, s):
        if not isinstance(s, list) or len(s) != len(self.layers):
            got = f"{len(s)} inputs" if isinstance(s, list) else "one input"
            raise ValueError(f"parallel of {len(self.layers)} layers needs {len(self.layers)} inputs, got {got}; "
                             f"put FanOut({len(self.layers)}) before it.")
        return s

    def _walk(self, shape, record):
        return [lay._walk(sh, record) for lay, sh in zip(self.layers, self._inputs(shape))]

    def _shape(self, shape):
        return [lay._shape(sh) for lay, sh in zip(self.layers, self._inputs(shape))]

    def _init(self, rng, shape):
        return tuple(lay._init(rng, sh) for lay, sh in zip(self.layers, self._inputs(shape)))

    def _apply(self, params, x):
        if not isinstance(params, (list, tuple)) or len(params) != len(self.layers):
            raise _bad_params(self, f"expected {len(self.layers)} parameter entries")
        return [lay._apply(p, xi) for lay, p, xi in zip(self.layers, params, self._inputs(list(x)))]

    def _kmap(self, s, ctx):
        return [lay._kmap(si, ctx) for lay, si in zip(self.layers, self._inputs(s))]


def parallel(*layers) -> Layer:
    """Apply layer i to input i of a list of inputs (e.g. from FanOut); outputs a list."""
    return _Parallel(_flat(layers, "parallel"))


class _FanOut(Layer):
    name = "FanOut"

    def __init__(self, num):
        self.num = check_int(num, "num")
        self._named(f"FanOut({self.num})")

    def _shape(self, shape):
        return [_single(self, shape)] * self.num

    def _apply(self, params, x):
        return [x] * self.num

    def _kmap(self, s, ctx):
        return [_single(self, s)] * self.num


def FanOut(num: int) -> Layer:
    """Copy the input into `num` branches (a list)."""
    return _FanOut(num)


def _branches(layer, s):
    if not isinstance(s, list) or not s:
        raise ValueError(f"{layer.name} needs a list of branches (from FanOut + parallel), got a single input.")
    return s


class _FanInSum(Layer):
    name = "FanInSum"

    def __init__(self):
        self._named("FanInSum()")

    def _shape(self, shape):
        shapes = _branches(self, shape)
        if any(sh != shapes[0] for sh in shapes):
            raise ValueError(f"FanInSum needs branches of equal shapes, got {[('n',) + tuple(s) for s in shapes]}.")
        return shapes[0]

    def _apply(self, params, x):
        xs = _branches(self, list(x))
        if any(a.shape != xs[0].shape for a in xs):
            raise ValueError(f"FanInSum needs branches of equal shapes, got {[a.shape for a in xs]}.")
        return sum(xs[1:], xs[0])

    def _kmap(self, s, ctx):
        """K = sum_i K_i and Theta = sum_i Theta_i: exact when the branches are pairwise
        uncorrelated, i.e. for each pair one is a zero-mean Gaussian from a random affine layer the
        other does not depend on (its fresh zero-mean weights kill the cross terms)."""
        states = [materialize(st, ctx) for st in _branches(self, s)]
        self._shape([st.shape for st in states])
        for i in range(len(states)):
            for j in range(i + 1, len(states)):
                a, b = states[i], states[j]
                if (a.deps & b.deps) or not (a.kind == "gauss" or b.kind == "gauss"):
                    raise ValueError(
                        f"FanInSum: branches {i} and {j} are correlated (they share their last random "
                        "affine layer, or neither ends in a fresh Dense/Conv), so the sum of their kernels "
                        "is not the kernel of their sum. End at least one of each pair of branches with "
                        "its own Dense or Conv layer.")

        def add(xs):
            xs = [x for x in xs if x is not None]
            return sum(xs[1:], xs[0]) if xs else None

        gauss = all(st.kind == "gauss" for st in states)
        return states[0].replace(
            nngp=add([st.nngp for st in states]), ntk=add([st.ntk for st in states]),
            cov=add([st.cov for st in states]),
            kind="gauss" if gauss else "other", why="a sum of non-Gaussian branches",
            deps=frozenset().union(*[st.deps for st in states]))


def FanInSum() -> Layer:
    """Sum of the branches (a residual connection with FanOut + parallel)."""
    return _FanInSum()


class _FanInConcat(Layer):
    name = "FanInConcat"

    def __init__(self, axis=-1):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"FanInConcat axis must be an integer, got {axis!r}.")
        self.axis = axis
        self._named(f"FanInConcat(axis={axis})")

    def _shape(self, shape):
        shapes = _branches(self, shape)
        ndim = len(shapes[0]) + 1
        if any(len(sh) + 1 != ndim for sh in shapes):
            raise ValueError(f"FanInConcat needs branches of equal rank, got {shapes}.")
        if self.axis % ndim != ndim - 1:
            raise ValueError(f"FanInConcat(axis={self.axis}): only concatenation along the channel axis (-1) is "
                             "supported in the infinite-width limit.")
        if any(sh[:-1] != shapes[0][:-1] for sh in shapes):
            raise ValueError(f"FanInConcat needs branches of equal shapes apart from the channel axis, got "
                             f"{[('n',) + tuple(s) for s in shapes]}.")
        return shapes[0][:-1] + (sum(sh[-1] for sh in shapes),)

    def _apply(self, params, x):
        xs = _branches(self, list(x))
        self._shape([tuple(a.shape[1:]) for a in xs])
        return jnp.concatenate(xs, axis=-1)

    def _kmap(self, s, ctx):
        """Channel-weighted mean K = sum_i C_i K_i / sum_i C_i (C_i: channels of branch i)."""
        states = [materialize(st, ctx) for st in _branches(self, s)]
        out_shape = self._shape([st.shape for st in states])
        w = [st.shape[-1] / out_shape[-1] for st in states]

        def mix(xs):
            terms = [wi * x for wi, x in zip(w, xs) if x is not None]
            return sum(terms[1:], terms[0]) if terms else None

        return states[0].replace(
            nngp=mix([st.nngp for st in states]), ntk=mix([st.ntk for st in states]),
            cov=mix([st.cov for st in states]),
            shape=out_shape, kind="other", why="the output of FanInConcat",
            deps=frozenset().union(*[st.deps for st in states]))


def FanInConcat(axis: int = -1) -> Layer:
    """Concatenate the branches along the channel axis."""
    return _FanInConcat(axis)


class _Identity(Layer):
    name = "Identity"

    def __init__(self):
        self._named("Identity()")

    def _apply(self, params, x):
        return x

    def _kmap(self, s, ctx):
        return s


def Identity() -> Layer:
    """y = x; the kernel passes through unchanged."""
    return _Identity()


# ---------------------------------------------------------------------------------------------
# Affine layers
# ---------------------------------------------------------------------------------------------

def _check_axes(batch_axis, channel_axis):
    if batch_axis != 0 or channel_axis not in (-1,):
        raise ValueError("ntk.stax supports batch_axis=0 and channel_axis=-1 (channels last) only.")


def _check_s(s, parameterization):
    if tuple(s) != (1, 1):
        raise ValueError("ntk.stax supports only s=(1, 1).")


class _Affine(Layer):
    """Shared kernel map of Dense and Conv: with P the patch map (identity for Dense),

        ntk param:      K' = W^2 P(K) + b^2,   Theta' = K' + W^2 P(Theta)
        standard param: K' = W^2 P(K) + b^2,   Theta' = fan_in P(K) + W^2 P(Theta) (+ 1 with bias)
    """

    def _patch(self, K, nb, diag):
        return K

    def _fan_in(self, shape):
        raise NotImplementedError

    def _kmap(self, s, ctx):
        s = materialize(_single(self, s), ctx)
        out_shape = self._shape(s.shape)
        W2 = self.W_std ** 2
        b2 = 0.0 if self.b_std is None else self.b_std ** 2
        diag = s.diag

        def patch(K, nb):
            return self._patch(K, nb, diag)

        pn = None if s.nngp is None else patch(s.nngp, 2)
        nngp = None if pn is None else W2 * pn + b2
        ntk = None
        if ctx.get_ntk and pn is not None:
            pt = None if s.ntk is None else patch(s.ntk, 2)
            if self.parameterization == "ntk":
                ntk = nngp if pt is None else nngp + W2 * pt
            else:
                ntk = self._fan_in(s.shape) * pn + (0.0 if pt is None else W2 * pt)
                if self.b_std is not None:
                    ntk = ntk + 1.0
        cov = W2 * patch(s.cov, 1) + b2
        return s.replace(nngp=nngp, ntk=ntk, cov=cov, shape=out_shape, kind="gauss",
                         acts=None, deps=frozenset({ctx.token()}), why=None)

    def _scales(self, fan_in):
        if self.parameterization == "ntk":
            return self.W_std / math.sqrt(fan_in), (self.b_std or 0.0)
        return 1.0, 1.0


class _Dense(_Affine):
    name = "Dense"

    def __init__(self, out_dim, W_std, b_std, parameterization):
        self.out_dim = check_int(out_dim, "out_dim")
        self.W_std = check_real(W_std, "W_std", positive=True)
        self.b_std = check_real(b_std, "b_std", allow_none=True, positive=True)
        self.parameterization = check_parameterization(parameterization)
        self._named(f"Dense({self.out_dim}, W_std={_fmt(self.W_std)}, b_std={_fmt(self.b_std)}, "
                    f"parameterization={self.parameterization!r})")

    def _shape(self, shape):
        return tuple(shape[:-1]) + (self.out_dim,)

    def _fan_in(self, shape):
        return shape[-1]

    def _nparams(self, shape):
        return shape[-1] * self.out_dim + (self.out_dim if self.b_std is not None else 0)

    def _init(self, rng, shape):
        C = shape[-1]
        W = rng.normal((C, self.out_dim))
        b = None if self.b_std is None else rng.normal((1,) * len(shape) + (self.out_dim,))
        if self.parameterization == "standard":
            W = rng.scale(W, self.W_std / math.sqrt(C))
            b = None if b is None else rng.scale(b, self.b_std)
        return (W, b)

    def _apply(self, params, x):
        if not isinstance(params, (tuple, list)) or len(params) != 2 or not hasattr(params[0], "shape"):
            raise _bad_params(self, f"expected (W, b), got {type(params).__name__}")
        W, b = params
        if W.ndim != 2 or W.shape[1] != self.out_dim or W.shape[0] != x.shape[-1]:
            raise _bad_params(self, f"W has shape {tuple(W.shape)} but inputs with {x.shape[-1]} features "
                              f"and out_dim={self.out_dim} need ({x.shape[-1]}, {self.out_dim})")
        sw, sb = self._scales(x.shape[-1])
        y = jnp.tensordot(x, W, (-1, 0)) * sw if sw != 1.0 else jnp.tensordot(x, W, (-1, 0))
        if self.b_std is not None and b is not None:
            y = y + (sb * b if sb != 1.0 else b)
        return y


def Dense(out_dim: int, W_std: float = 1.0, b_std: float | None = None, batch_axis: int = 0,
          channel_axis: int = -1, parameterization: str = "ntk", s=(1, 1)) -> Layer:
    """Fully-connected layer on the last (channel) axis: K' = W_std^2 K + b_std^2 (per pair of
    positions), Theta' = K' + W_std^2 Theta (ntk param.) or C K + W_std^2 Theta + 1 (standard)."""
    _check_axes(batch_axis, channel_axis)
    _check_s(s, parameterization)
    return _Dense(out_dim, W_std, b_std, parameterization)


def dense_layer(out_dim: int, W_std, b_std, parameterization: str) -> Layer:
    """Dense without argument checks (for ntk.mlp, whose arguments are already validated):
    W_std / b_std may be traced values, e.g. to differentiate kernels in the hyperparameters."""
    d = _Dense.__new__(_Dense)
    d.out_dim, d.W_std, d.b_std, d.parameterization = int(out_dim), W_std, b_std, parameterization
    traced = any(isinstance(v, jax.core.Tracer) for v in (W_std, b_std))
    d._named(f"Dense({d.out_dim}, W_std={'<traced>' if traced else _fmt(W_std)}, "
             f"b_std={'<traced>' if traced else _fmt(b_std)}, parameterization={parameterization!r})")
    return d


def _dim_numbers(nsp):
    sp = "ABDEFGHJKLMPQRSTUVWXYZ"[:nsp]
    lhs = "N" + sp + "C"
    return (lhs, sp + "IO", lhs)


def _circular_pad(x, window, strides, axes):
    widths = [(0, 0)] * x.ndim
    for ax, k, s in zip(axes, window, strides):
        lo, hi, _ = pads_for(x.shape[ax], k, s, "SAME")
        widths[ax] = (lo, hi)
    return jnp.pad(x, widths, mode="wrap")


class _Conv(_Affine):
    name = "Conv"

    def __init__(self, out_chan, filter_shape, strides, padding, W_std, b_std, parameterization):
        self.out_chan = check_int(out_chan, "out_chan")
        self.filter_shape = check_ints(filter_shape, "filter_shape")
        nsp = len(self.filter_shape)
        self.strides = (1,) * nsp if strides is None else check_ints(strides, "strides", nsp)
        self.padding = check_padding(padding)
        self.W_std = check_real(W_std, "W_std", positive=True)
        self.b_std = check_real(b_std, "b_std", allow_none=True, positive=True)
        self.parameterization = check_parameterization(parameterization)
        self._named(f"Conv({self.out_chan}, {self.filter_shape}, strides={self.strides}, padding={self.padding!r}, "
                    f"W_std={_fmt(self.W_std)}, b_std={_fmt(self.b_std)}, "
                    f"parameterization={self.parameterization!r})")

    @property
    def nsp(self):
        return len(self.filter_shape)

    def _shape(self, shape):
        if len(shape) != self.nsp + 1:
            kind = {1: "(n, L, C)", 2: "(n, H, W, C)"}.get(self.nsp, f"rank {self.nsp + 2}")
            raise ValueError(f"Conv with filter_shape={self.filter_shape} is {self.nsp}-D and needs inputs {kind}, "
                             f"channels last; got inputs of shape (n, {', '.join(map(str, shape))}).")
        out = []
        for size, k, s in zip(shape[:-1], self.filter_shape, self.strides):
            out.append(pads_for(size, k, s, self.padding)[2])
        return tuple(out) + (self.out_chan,)

    def _fan_in(self, shape):
        return shape[-1] * int(np.prod(self.filter_shape))

    def _nparams(self, shape):
        return self._fan_in(shape) * self.out_chan + (self.out_chan if self.b_std is not None else 0)

    def _init(self, rng, shape):
        self._shape(shape)
        W = rng.normal(self.filter_shape + (shape[-1], self.out_chan))
        b = None if self.b_std is None else rng.normal((1,) * (self.nsp + 1) + (self.out_chan,))
        if self.parameterization == "standard":
            W = rng.scale(W, self.W_std / math.sqrt(self._fan_in(shape)))
            b = None if b is None else rng.scale(b, self.b_std)
        return (W, b)

    def _apply(self, params, x):
        _check_rank(self, x, self.nsp)
        self._shape(tuple(x.shape[1:]))
        if not isinstance(params, (tuple, list)) or len(params) != 2 or not hasattr(params[0], "shape"):
            raise _bad_params(self, f"expected (W, b), got {type(params).__name__}")
        W, b = params
        want = self.filter_shape + (x.shape[-1], self.out_chan)
        if tuple(W.shape) != want:
            raise _bad_params(self, f"W has shape {tuple(W.shape)}, expected {want}")
        pad = self.padding
        if pad == "CIRCULAR":
            x = _circular_pad(x, self.filter_shape, self.strides, range(1, 1 + self.nsp))
            pad = "VALID"
        sw, sb = self._scales(self._fan_in(tuple(x.shape[1:])))
        y = jax.lax.conv_general_dilated(x, W.astype(x.dtype), self.strides, pad,
                                         dimension_numbers=_dim_numbers(self.nsp))
        if sw != 1.0:
            y = sw * y
        if self.b_std is not None and b is not None:
            y = y + (sb * b if sb != 1.0 else b)
        return y

    def _patch(self, K, nb, diag):
        return conv_cov(K, nb, diag, self.filter_shape, self.strides, self.padding)


def Conv(out_chan: int, filter_shape, strides=None, padding: str = "VALID", W_std: float = 1.0,
         b_std: float | None = None, dimension_numbers=None, parameterization: str = "ntk",
         s=(1, 1)) -> Layer:
    """Convolution (1-D or 2-D, channels last; padding VALID, SAME or CIRCULAR=periodic).

    Kernel: the patch sum  P(K)[s, s'] = 1/|F| sum_{o in F} K[s*stride + o, s'*stride + o]  of the
    input covariance over filter offsets, then the Dense rule (K' = W_std^2 P(K) + b_std^2, ...).
    """
    if dimension_numbers is not None:
        nsp = len(filter_shape) if not isinstance(filter_shape, (int, float)) else 1
        if tuple(dimension_numbers) != _dim_numbers(nsp) and not _is_channels_last(dimension_numbers):
            raise ValueError("ntk.stax Conv supports channels-last inputs only (dimension_numbers=None).")
    _check_s(s, parameterization)
    return _Conv(out_chan, filter_shape, strides, padding, W_std, b_std, parameterization)


def _is_channels_last(dn):
    try:
        lhs, rhs, out = dn
        return lhs[0] == "N" and lhs[-1] == "C" and out == lhs and rhs[-2:] == "IO" and rhs[:-2] == lhs[1:-1]
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------
# Pooling, flattening, normalisation
# ---------------------------------------------------------------------------------------------

def _spatial(layer, shape):
    if len(shape) < 2:
        raise ValueError(f"{layer.name} needs inputs with spatial axes (n, ..., C), got (n, {shape[0]}).")


class _AvgPool(Layer):
    name = "AvgPool"
    needs_full = True

    def __init__(self, window_shape, strides, padding, normalize_edges):
        self.window_shape = check_ints(window_shape, "window_shape")
        nsp = len(self.window_shape)
        self.strides = (1,) * nsp if strides is None else check_ints(strides, "strides", nsp)
        self.padding = check_padding(padding)
        self.normalize_edges = bool(normalize_edges)
        self._named(f"AvgPool({self.window_shape}, strides={self.strides}, padding={self.padding!r})")

    def _shape(self, shape):
        nsp = len(self.window_shape)
        if len(shape) != nsp + 1:
            raise ValueError(f"AvgPool with window_shape={self.window_shape} needs inputs of rank {nsp + 2} "
                             f"(n, spatial..., C); got (n, {', '.join(map(str, shape))}).")
        out = [pads_for(sz, k, s, self.padding, "pooling window")[2]
               for sz, k, s in zip(shape[:-1], self.window_shape, self.strides)]
        return tuple(out) + (shape[-1],)

    def _apply(self, params, x):
        nsp = len(self.window_shape)
        _check_rank(self, x, nsp)
        self._shape(tuple(x.shape[1:]))
        win = (1,) + self.window_shape + (1,)
        st = (1,) + self.strides + (1,)
        pad = self.padding
        if pad == "CIRCULAR":
            x = _circular_pad(x, self.window_shape, self.strides, range(1, 1 + nsp))
            pad = "VALID"
        # a Python 0.0 init makes this reduce_window_sum, which reverse-mode autodiff can transpose
        out = jax.lax.reduce_window(x, 0.0, jax.lax.add, win, st, pad)
        if self.normalize_edges and pad == "SAME":
            ones = jnp.ones((1,) + x.shape[1:-1] + (1,), x.dtype)
            return out / jax.lax.reduce_window(ones, 0.0, jax.lax.add, win, st, pad)
        return out / float(np.prod(self.window_shape))

    def _kmap(self, s, ctx):
        s = _single(self, s)
        st = materialize(s, ctx)
        out_shape = self._shape(st.shape)
        st = st.map(lambda K, nb: pool_cov(K, nb, self.window_shape, self.strides, self.padding,
                                           self.normalize_edges))
        kind = st.kind if s.kind != "pending" else "other"
        return st.replace(shape=out_shape, kind=kind, why="the output of AvgPool" if kind != "gauss" else None)


def AvgPool(window_shape, strides=None, padding: str = "VALID", normalize_edges: bool = False,
            batch_axis: int = 0, channel_axis: int = -1) -> Layer:
    """Average pooling; kernel: K'[s, s'] = sum_{a, a' in window} K[s*st + a, s'*st + a'] / |window|^2."""
    _check_axes(batch_axis, channel_axis)
    return _AvgPool(window_shape, strides, padding, normalize_edges)


class _GlobalAvgPool(Layer):
    name = "GlobalAvgPool"
    needs_full = True

    def __init__(self):
        self._named("GlobalAvgPool()")

    def _shape(self, shape):
        return (shape[-1],)

    def _apply(self, params, x):
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1))) if x.ndim > 2 else x

    def _kmap(self, s, ctx):
        s = _single(self, s)
        st = materialize(s, ctx)
        nsp = st.nsp
        st = st.map(lambda K, nb: spatial_mean(K, nb, st.diag, nsp))
        kind = st.kind if s.kind != "pending" else "other"
        return st.replace(shape=(st.shape[-1],), kind=kind,
                          why="the output of GlobalAvgPool" if kind != "gauss" else None)


def GlobalAvgPool(batch_axis: int = 0, channel_axis: int = -1) -> Layer:
    """Mean over all spatial axes; kernel: the mean of K[s, s'] over all pairs of positions."""
    _check_axes(batch_axis, channel_axis)
    return _GlobalAvgPool()


class _Flatten(Layer):
    name = "Flatten"

    def __init__(self):
        self._named("Flatten()")

    def _shape(self, shape):
        return (int(np.prod(shape)),)

    def _apply(self, params, x):
        return x.reshape(x.shape[0], -1)

    def _kmap(self, s, ctx):
        st = materialize(_single(self, s), ctx)
        nsp = st.nsp
        st = st.map(lambda K, nb: spatial_trace(K, nb, st.diag, nsp))
        return st.replace(shape=self._shape(st.shape), kind="other", why="the output of Flatten")


def Flatten(batch_axis: int = 0, batch_axis_out: int = 0) -> Layer:
    """Flatten all non-batch axes; kernel: mean over positions s of K[s, s]."""
    if batch_axis != 0 or batch_axis_out != 0:
        raise ValueError("ntk.stax Flatten supports batch_axis=0 and batch_axis_out=0 only.")
    return _Flatten()


class _LayerNorm(Layer):
    name = "LayerNorm"

    def __init__(self, axis, eps):
        self.axis = (axis,) if isinstance(axis, int) else tuple(axis)
        if not self.axis or any(isinstance(a, bool) or not isinstance(a, int) for a in self.axis):
            raise TypeError(f"LayerNorm axis must be an int or a tuple of ints, got {axis!r}.")
        self.eps = check_real(eps, "eps", positive=True)
        self._named(f"LayerNorm(axis={axis!r}, eps={self.eps:g})")

    def _axes(self, ndim):
        axes = sorted({a % ndim for a in self.axis})
        if ndim - 1 not in axes:
            raise ValueError(f"LayerNorm must normalise over the channel axis (-1) for an infinite-width limit; "
                             f"got axis={self.axis}.")
        if 0 in axes:
            raise ValueError("LayerNorm over the batch axis (0) is not supported.")
        return axes

    def _shape(self, shape):
        self._axes(len(shape) + 1)
        return shape

    def _apply(self, params, x):
        axes = tuple(self._axes(x.ndim))
        mean = jnp.mean(x, axes, keepdims=True)
        var = jnp.var(x, axes, keepdims=True)
        return (x - mean) / jnp.sqrt(self.eps + var)

    def _kmap(self, s, ctx):
        """K'[s, s'] = K[s, s'] / sqrt((eps + q1[s]) (eps + q2[s'])), q the variances averaged over
        the normalised spatial axes; Theta scales the same way. Needs a Gaussian input."""
        s = _single(self, s)
        if s.kind != "gauss":
            raise ValueError(f"LayerNorm needs a Gaussian input (neural-tangents' rule), but its input is "
                             f"{s.why or 'an activation output'}. Insert a Dense or Conv layer before LayerNorm.")
        from ._core import _diag_positions, _interleave

        nsp = s.nsp
        sp_axes = [a - 1 for a in self._axes(nsp + 2) if a != nsp + 1]  # spatial axes, 0-based

        def var(cov):
            q = cov if s.diag else _diag_positions(cov, 1, nsp)
            q = self.eps + q
            if sp_axes:
                q = jnp.mean(q, axis=tuple(1 + a for a in sp_axes), keepdims=True)
                q = jnp.broadcast_to(q, (q.shape[0],) + tuple(s.shape[:-1]))
            return jax.lax.rsqrt(q)

        r = var(s.cov)
        out = {}
        if s.nngp is not None:
            n1, n2 = s.nngp.shape[:2]
            r1, r2 = r[:n1], r[n1:]
            if s.diag:
                f = r1[:, None] * r2[None, :]
            else:
                f = _interleave(r1, (n1, 1), True) * _interleave(r2, (1, n2), False)
            out["nngp"] = s.nngp * f
            out["ntk"] = None if s.ntk is None else s.ntk * f
        if s.diag:
            out["cov"] = s.cov * r * r
        else:
            b = r.shape[0]
            out["cov"] = s.cov * (_interleave(r, (b,), True) * _interleave(r, (b,), False))
        return s.replace(**out)


def LayerNorm(axis=-1, eps: float = 1e-12, batch_axis: int = 0, channel_axis: int = -1) -> Layer:
    """(x - mean) / sqrt(eps + var) over `axis` (must include the channel axis)."""
    _check_axes(batch_axis, channel_axis)
    return _LayerNorm(axis, eps)


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------

class _Act(Layer):
    name = "Activation"

    def __init__(self, act: A.Activation, name: str, repr_str: str, apply=None):
        self.act = act
        self.name = name
        self._fn = apply or act.fn
        self._named(repr_str)

    def _apply(self, params, x):
        if self._fn is None:
            raise ValueError(f"{self.name} was built without fn, so it has no finite-width apply_fn.")
        if isinstance(x, (list, tuple)):
            raise ValueError(f"{self.name} got {len(x)} branches; merge them first with FanInSum().")
        return self._fn(x)

    def _kmap(self, s, ctx):
        """Pending: phi acts on the Gaussian pre-activation when a later layer needs the kernel,
        E[phi(u) phi(v)] and Theta E[phi'(u) phi'(v)] (activations in a row compose)."""
        s = _single(self, s)
        if s.kind == "gauss":
            return s.replace(kind="pending", acts=(self.act,))
        if s.kind == "pending":
            return s.replace(acts=s.acts + (self.act,))
        raise ValueError(
            f"The input to {self.name} is not Gaussian: it is {s.why}. An activation needs a random affine "
            f"layer before it (neural-tangents' rule); insert a Dense or Conv layer before {self.name}.")


def activation_layer(act: A.Activation) -> Layer:
    """A stax layer applying an `ntk.activations.Activation` (used by ntk.mlp)."""
    return _Act(act, act.name, f"Activation({act.name!r})")


def ABRelu(a: float, b: float, do_stabilize: bool = False) -> Layer:
    """phi(x) = a min(x, 0) + b max(x, 0) (arc-cosine kernels in closed form)."""
    a, b = check_real(a, "a"), check_real(b, "b")
    return _Act(A.abrelu(a, b), "ABRelu", f"ABRelu({a:g}, {b:g})")


def Relu(do_stabilize: bool = False) -> Layer:
    """phi(x) = max(x, 0)."""
    return _Act(A.abrelu(0.0, 1.0), "Relu", "Relu()")


def LeakyRelu(alpha: float, do_stabilize: bool = False) -> Layer:
    """phi(x) = alpha min(x, 0) + max(x, 0)."""
    alpha = check_real(alpha, "alpha")
    return _Act(A.abrelu(alpha, 1.0), "LeakyRelu", f"LeakyRelu({alpha:g})")


def Abs(do_stabilize: bool = False) -> Layer:
    """phi(x) = |x|."""
    return _Act(A.abrelu(-1.0, 1.0), "Abs", "Abs()")


def Erf(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    """phi(x) = a erf(b x) + c (arcsine kernel)."""
    a, b, c = (check_real(v, n) for v, n in ((a, "a"), (b, "b"), (c, "c")))
    return _Act(A.erf_affine(a, b, c), "Erf", f"Erf({a:g}, {b:g}, {c:g})")


def Sigmoid_like() -> Layer:
    """phi(x) = erf(x / 2.4020563531719796) / 2 + 1/2, a sigmoid look-alike with a closed form."""
    return _Act(A.erf_affine(0.5, 1 / 2.4020563531719796, 0.5), "Sigmoid_like", "Sigmoid_like()")


def Gelu(approximate: bool = False) -> Layer:
    """GELU x Phi(x); the kernel is the exact GELU's (approximate only changes apply_fn, as in NT)."""
    act = A.get_activation("gelu")

    def fn(x):
        return jax.nn.gelu(x, approximate=bool(approximate))

    return _Act(act, "Gelu", f"Gelu(approximate={bool(approximate)})", apply=fn)


def Sin(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    """phi(x) = a sin(b x + c)."""
    a, b, c = (check_real(v, n) for v, n in ((a, "a"), (b, "b"), (c, "c")))
    return _Act(A.sin_affine(a, b, c), "Sin", f"Sin({a:g}, {b:g}, {c:g})")


def Cos(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    """phi(x) = a cos(b x + c)."""
    return Sin(a, b, c + math.pi / 2)


def Elementwise(fn=None, nngp_fn=None, d_nngp_fn=None) -> Layer:
    """Any elementwise fn. With nngp_fn(cov12, var1, var2) = E[fn(u) fn(v)] (and optionally
    d_nngp_fn = E[fn'(u) fn'(v)], else d nngp_fn / d cov12 by autodiff) the kernel uses them;
    without, E[.] is computed by the scale-adaptive quadrature of ntk.activations."""
    if fn is None and nngp_fn is None:
        raise ValueError("Elementwise needs fn (finite width) and/or nngp_fn (infinite width).")
    for f, n in ((fn, "fn"), (nngp_fn, "nngp_fn"), (d_nngp_fn, "d_nngp_fn")):
        if f is not None and not callable(f):
            raise TypeError(f"Elementwise {n} must be callable, got {f!r}.")
    name = getattr(fn if fn is not None else nngp_fn, "__name__", "fn")
    if nngp_fn is None:
        act = A.Activation("custom", fn, params=(("fn", name),))
    else:
        d = d_nngp_fn if d_nngp_fn is not None else jax.grad(nngp_fn, argnums=0)
        nv, dv = jnp.vectorize(nngp_fn), jnp.vectorize(d)

        def nmap(q1, q2, rho):
            return nv(rho * jnp.sqrt(q1 * q2), q1, q2)

        def dmap(q1, q2, rho):
            return dv(rho * jnp.sqrt(q1 * q2), q1, q2)

        act = A.Activation("custom", fn, nmap, dmap, params=(("fn", name), ("nngp_fn", id(nngp_fn))))
    return _Act(act, "Elementwise", f"Elementwise({name})")


def ElementwiseNumerical(fn, deg: int = 25, df=None) -> Layer:
    """Any elementwise fn by quadrature. `deg` is accepted for neural-tangents compatibility; the
    rule is chosen from the pre-activation scale instead (fixed-degree Gauss-Hermite loses accuracy
    at large variances); pass kernel_fn(..., quadrature_degree=deg) to force NT's rule."""
    if not callable(fn):
        raise TypeError(f"ElementwiseNumerical fn must be callable, got {fn!r}.")
    check_int(deg, "deg")
    name = getattr(fn, "__name__", "fn")
    act = A.Activation("custom", fn, params=(("fn", name),), dfn=df)
    return _Act(act, "ElementwiseNumerical", f"ElementwiseNumerical({name}, deg={deg})")


__all__ = ["ABRelu", "Abs", "AvgPool", "Conv", "Cos", "Dense", "Elementwise", "ElementwiseNumerical", "Erf",
           "FanInConcat", "FanInSum", "FanOut", "Flatten", "Gelu", "GlobalAvgPool", "Identity", "LayerNorm",
           "LeakyRelu", "Relu", "Sigmoid_like", "Sin", "parallel", "serial"]
