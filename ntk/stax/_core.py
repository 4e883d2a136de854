"""Core of `ntk.stax`: the layer object, the infinite-width kernel state and its array maps.

A layer is a `Layer`, a tuple subclass that unpacks as (init_fn, apply_fn, kernel_fn) like
neural-tangents' stax layers, and also carries what composition needs: static shape inference
and the kernel map on an internal state `_State`.

Kernel state (channels are the infinite axis; batch of x1: n1, of x2: n2; spatial dims S):

    nngp (n1, n2, *P)   cross covariance of the layer's outputs E[z(x1)_s z(x2)_s']
    ntk  (n1, n2, *P)   tangent kernel (None = identically zero)
    cov  (n1 + n2, *P)  each input's own covariance, the n1 rows of x1 then the n2 of x2

with P = (H, H', W, W', ...) interleaved pairs of positions (full spatial covariance) or
P = (H, W, ...) (diagonal spatial: only s = s' is kept). Which one is tracked is decided once per
network: diagonal when no layer needs off-diagonal positions (pooling, global pooling, layer
norm over spatial axes) and the output has no spatial axes (neural-tangents' convention; its
readout default is the full spatial covariance).

An elementwise activation applied to a Gaussian state is kept *pending* until a layer needs the
materialised kernel, so that activations in a row (relu after relu, possibly through FanOut /
Identity) act as their composition on the Gaussian pre-activation: exact, where
neural-tangents raises. Branches are summed only where the cross covariances vanish (see FanInSum).
"""
from __future__ import annotations

import collections
import functools
import itertools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .. import _health as H
from .. import _validate as V
from .. import activations as A

GETS = ("nngp", "ntk")
PADDINGS = ("VALID", "SAME", "CIRCULAR")


# ---------------------------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------------------------

def check_int(value, name: str, minimum: int = 1) -> int:
    """A strict positive integer: bool and float (even 3.0) are refused."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def check_ints(value, name: str, ndim: int | None = None) -> tuple:
    if isinstance(value, (numbers.Number, str)) or value is None:
        raise TypeError(f"{name} must be a tuple of positive integers, e.g. (3, 3), got {value!r}.")
    try:
        out = tuple(check_int(v, f"{name}[{i}]") for i, v in enumerate(value))
    except TypeError as e:
        if "must be an integer" in str(e):
            raise
        raise TypeError(f"{name} must be a tuple of positive integers, got {value!r}.") from None
    if not out:
        raise ValueError(f"{name} is empty; give one entry per spatial dimension.")
    if ndim is not None and len(out) != ndim:
        raise ValueError(f"{name}={out} has {len(out)} entries but {ndim} are needed.")
    return out


def check_real(value, name: str, allow_none: bool = False, positive: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number{' or None' if allow_none else ''}, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if positive and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}.")
    return value


def check_padding(padding) -> str:
    if not isinstance(padding, str) or padding.upper() not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}.")
    return padding.upper()


def check_parameterization(p) -> str:
    if not isinstance(p, str) or p.lower() not in ("ntk", "standard"):
        raise ValueError(f"parameterization must be 'ntk' or 'standard', got {p!r}.")
    return p.lower()


def pads_for(size: int, k: int, s: int, padding: str, what: str = "filter"):
    """(lo, hi, out) of a window k with stride s over `size` positions (lax conventions)."""
    if padding == "VALID":
        if k > size:
            raise ValueError(
                f"VALID {what} of size {k} is larger than the input's spatial size {size}; use "
                "padding='SAME' or 'CIRCULAR', a smaller window, or larger inputs.")
        return 0, 0, (size - k) // s + 1
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2, out


# ---------------------------------------------------------------------------------------------
# Kernel state
# ---------------------------------------------------------------------------------------------

class _State:
    """See the module docstring. `kind`: 'input' | 'gauss' | 'pending' | 'other'; `acts`: the
    pending activations (first applied first); `deps`: tokens of the random affine layers whose
    fresh weights this quantity depends on linearly-through-nonlinearities (for FanInSum);
    `why`: what made it non-Gaussian (for error messages)."""

    __slots__ = ("nngp", "ntk", "cov", "n1", "shape", "diag", "kind", "acts", "deps", "why")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def replace(self, **kw):
        new = _State(**{k: getattr(self, k) for k in self.__slots__})
        for k, v in kw.items():
            setattr(new, k, v)
        return new

    @property
    def nsp(self) -> int:
        return len(self.shape) - 1

    def map(self, f, ntk=True):
        """Apply f(array, n_batch_dims) to each tracked array (a linear map of covariances)."""
        return self.replace(
            nngp=None if self.nngp is None else f(self.nngp, 2),
            ntk=None if (self.ntk is None or not ntk) else f(self.ntk, 2),
            cov=f(self.cov, 1))


class _Ctx:
    """Per-trace context: the quadrature rules of numerical activations (in trace order), and in
    probe mode the largest pre-activation variance seen by each of them."""

    def __init__(self, rules=(), get_ntk=True, probe=False):
        self.rules, self.get_ntk, self.probe = tuple(rules), get_ntk, probe
        self.slots = 0
        self.maxima = []
        self._tokens = itertools.count(1)

    def token(self):
        return next(self._tokens)

    def rule(self, q):
        i = self.slots
        self.slots += 1
        if self.probe:
            self.maxima.append(jnp.max(q))
            return ("trap", 801)
        if i < len(self.rules):
            return self.rules[i]
        return ("gh", 64)


def _diag_positions(C, nb: int, nsp: int):
    """(nb batch dims, H, H', W, W', ...) -> (nb batch dims, H, W, ...): the s = s' entries."""
    for _ in range(nsp):
        C = jnp.diagonal(C, axis1=nb, axis2=nb + 1)
    return C


def _variances(s: _State):
    """Per-position variances q (n1 + n2, *spatial) of all inputs (x1's rows, then x2's)."""
    return s.cov if s.diag else _diag_positions(s.cov, 1, s.nsp)


def _interleave(q, lead: tuple, first: bool):
    """Broadcast per-position q (b, *spatial) over a full (..., H, H', ...) array: positions on
    the first (first=True) or second axis of each pair; `lead` the leading batch shape."""
    sp = q.shape[1:]
    shape = list(lead)
    for d in sp:
        shape += [d, 1] if first else [1, d]
    return q.reshape(shape)


def _safe_rho(c, qa, qb, ra, rb):
    """Correlation c * ra * rb (ra = 1/sqrt(qa) per point), clipped, snapped to +-1 within 16
    ulps; zero variances: rho = 1 between two of them, 0 against a non-zero one (never NaN)."""
    rho = jnp.clip(c * (ra * rb), -1.0, 1.0)
    eps = 16 * jnp.finfo(rho.dtype).eps
    rho = jnp.where(rho > 1 - eps, 1.0, jnp.where(rho < -1 + eps, -1.0, rho))
    return jnp.where((qa <= 0) & (qb <= 0), 1.0, rho)


def _rsqrt(q):
    return jnp.where(q > 0, jax.lax.rsqrt(jnp.where(q > 0, q, 1.0)), 0.0)


def _apply_activation(s: _State, act: A.Activation, ctx: _Ctx) -> _State:
    """Kernel of phi(z) for a Gaussian state z: E[phi(u) phi(v)] and Theta * E[phi'(u) phi'(v)],
    (u, v) ~ N(0, [[q1(s), c(s, s')], [c(s, s'), q2(s')]]), for nngp, ntk and cov."""
    q = _variances(s)
    if act.closed_form:
        nmap, dmap = act.nngp_map, act.dot_map
    else:
        nmap, dmap = A.pair_maps(act, ctx.rule(q))
    r = _rsqrt(q)
    out = {}
    if s.nngp is not None:
        n1, n2 = s.nngp.shape[:2]
        q1, q2, r1, r2 = q[:n1], q[n1:], r[:n1], r[n1:]
        if s.diag:
            e = (slice(None), None)
            f = (None, slice(None))
            qa, qb, ra, rb = q1[e], q2[f], r1[e], r2[f]
        else:
            qa, ra = _interleave(q1, (n1, 1), True), _interleave(r1, (n1, 1), True)
            qb, rb = _interleave(q2, (1, n2), False), _interleave(r2, (1, n2), False)
        rho = _safe_rho(s.nngp, qa, qb, ra, rb)
        out["nngp"] = nmap(qa, qb, rho)
        if s.ntk is not None:
            out["ntk"] = dmap(qa, qb, rho) * s.ntk
    if s.diag:
        out["cov"] = nmap(q, q, jnp.ones_like(q))
    else:
        b = q.shape[0]
        qa, ra = _interleave(q, (b,), True), _interleave(r, (b,), True)
        qb, rb = _interleave(q, (b,), False), _interleave(r, (b,), False)
        out["cov"] = nmap(qa, qb, _safe_rho(s.cov, qa, qb, ra, rb))
    return s.replace(**out)


def _compose(acts):
    """One Activation equal to acts[-1] o ... o acts[0]: ABReLU chains stay closed-form."""
    acts = [a for a in acts if a.name != "identity"]
    if not acts:
        return None
    if len(acts) == 1:
        return acts[0]
    if all(a.name == "abrelu" for a in acts):
        lo, hi = 1.0, 1.0  # phi(x) = lo * x for x < 0, hi * x for x > 0
        for a in acts:
            p = dict(a.params)
            lo = lo * (p["a"] if lo > 0 else p["b"])  # lo * x < 0 for x < 0 iff lo > 0
            hi = hi * (p["b"] if hi > 0 else p["a"])
        return A.abrelu(lo, hi)
    fns = []
    for a in acts:
        if a.fn is None:
            raise ValueError(f"Activation {a.name} has no finite function (fn=None), so it cannot be "
                             "composed with the activation before it; insert a Dense or Conv layer.")
        fns.append(a.fn)

    def composed(x):
        for f in fns:
            x = f(x)
        return x

    return A.Activation("composed", composed, params=(("fns", tuple(id(f) for f in fns)),))


def materialize(s: _State, ctx: _Ctx) -> _State:
    """Apply pending activations; returns a non-pending state."""
    if s.kind != "pending":
        return s
    act = _compose(s.acts)
    out = s if act is None else _apply_activation(s, act, ctx)
    return out.replace(kind="other", acts=None, why="an activation")


# ---------------------------------------------------------------------------------------------
# Array maps on covariances (shared by Conv / pooling / flatten)
# ---------------------------------------------------------------------------------------------

def _pad(K, axis, lo, hi, circular):
    if lo == 0 and hi == 0:
        return K
    widths = [(0, 0)] * K.ndim
    widths[axis] = (lo, hi)
    return jnp.pad(K, widths, mode="wrap" if circular else "constant")


def _window_sum(K, axes, k, s, out):
    """sum_{a < k} K[..., a + s*i, ...] on every axis in `axes` at once (same offset a)."""
    acc = None
    for a in range(k):
        idx = [slice(None)] * K.ndim
        for ax in axes:
            idx[ax] = slice(a, a + s * (out - 1) + 1, s)
        t = K[tuple(idx)]
        acc = t if acc is None else acc + t
    return acc


#: Pair maps on a spatial dimension of size L are applied as one matrix product (an (O*O, L*L)
#: matrix acting on the flattened pair of axes) when L * L is at most this; larger sizes use
#: padded window sums. The matrix form keeps XLA from fusing the shifted reads of one layer into
#: the next ones (which kept every layer's terms alive and repeated their work).
MATRIX_MAX = 256


def _index(p, size, circular):
    """Input index p (padded coordinates shifted back), wrapped or None outside [0, size)."""
    if circular:
        return p % size
    return p if 0 <= p < size else None


@functools.lru_cache(maxsize=256)
def _conv_matrix(size, k, st, padding, pair):
    """The patch-sum map of one spatial dimension as a matrix: pair=True (O*O, L*L) with
    M[(a, b), (p, q)] = #{o: p = a*st + o - lo, q = b*st + o - lo}; pair=False (O, L)."""
    lo, _, out = pads_for(size, k, st, padding)
    circ = padding == "CIRCULAR"
    if not pair:
        M = np.zeros((out, size))
        for a in range(out):
            for o in range(k):
                p = _index(a * st + o - lo, size, circ)
                if p is not None:
                    M[a, p] += 1.0
        return M
    M = np.zeros((out, out, size, size))
    for o in range(k):
        rows = [(a, _index(a * st + o - lo, size, circ)) for a in range(out)]
        rows = [(a, p) for a, p in rows if p is not None]
        for a, p in rows:
            for b, q in rows:
                M[a, b, p, q] += 1.0
    return M.reshape(out * out, size * size)


@functools.lru_cache(maxsize=256)
def _pool_matrix(size, k, st, padding, normalize_edges):
    """Average pooling of one axis as an (O, L) matrix (1/k per window entry, or 1/count with
    SAME + normalize_edges; CIRCULAR wraps)."""
    lo, _, out = pads_for(size, k, st, padding, "pooling window")
    circ = padding == "CIRCULAR"
    P = np.zeros((out, size))
    for a in range(out):
        idx = [_index(a * st + o - lo, size, circ) for o in range(k)]
        idx = [p for p in idx if p is not None]
        w = 1.0 / (len(idx) if (normalize_edges and padding == "SAME") else k)
        for p in idx:
            P[a, p] += w
    return P


def _apply_matrix(K, ax, M, npair):
    """Contract the `npair` adjacent axes from `ax` (flattened) with M (out, in); same position."""
    shp = K.shape
    x = K.reshape(shp[:ax] + (-1,) + shp[ax + npair:])
    y = jnp.tensordot(jnp.asarray(M, K.dtype), x, axes=([1], [ax]), precision=jax.lax.Precision.HIGHEST)
    y = jnp.moveaxis(y, 0, ax)
    out = int(round(M.shape[0] ** (1.0 / npair)))
    return y.reshape(shp[:ax] + (out,) * npair + shp[ax + npair:])


def conv_cov(K, nb, diag, filt, strides, padding):
    """Patch sum of a covariance: out[s, s'] = 1/|F| sum_{o in F} K[s*st + o, s'*st + o]
    (zero padding for SAME, periodic for CIRCULAR), separably over the spatial dimensions."""
    for i, (k, st) in enumerate(zip(filt, strides)):
        axes = (nb + i,) if diag else (nb + 2 * i, nb + 2 * i + 1)
        size = K.shape[axes[0]]
        if size * size <= MATRIX_MAX or diag:
            K = _apply_matrix(K, axes[0], _conv_matrix(size, k, st, padding, not diag), len(axes))
            continue
        lo, hi, out = pads_for(size, k, st, padding)
        for ax in axes:
            K = _pad(K, ax, lo, hi, padding == "CIRCULAR")
        K = _window_sum(K, axes, k, st, out)
    return K / float(np.prod(filt))


def pool_cov(K, nb, window, strides, padding, normalize_edges):
    """Average pooling of a full covariance: out[s, s'] = sum_{a, a'} K[s*st + a, s'*st + a'] /
    |window|^2 (each axis of a pair pooled on its own; SAME+normalize_edges divides by counts)."""
    for i, (k, st) in enumerate(zip(window, strides)):
        ax = nb + 2 * i
        size = K.shape[ax]
        P = _pool_matrix(size, k, st, padding, normalize_edges)
        if size * size <= MATRIX_MAX:
            K = _apply_matrix(K, ax, np.kron(P, P), 2)
            continue
        for a in (ax, ax + 1):
            K = _apply_matrix(K, a, P, 1)
    return K


def spatial_mean(K, nb, diag, nsp):
    """Global average pooling: mean over all (pairs of) positions."""
    return jnp.mean(K, axis=tuple(range(nb, K.ndim))) if K.ndim > nb else K


def spatial_trace(K, nb, diag, nsp):
    """Flatten: mean over positions of the s = s' entries."""
    if diag:
        return jnp.mean(K, axis=tuple(range(nb, K.ndim))) if K.ndim > nb else K
    for _ in range(nsp):
        K = jnp.trace(K, axis1=-2, axis2=-1) / K.shape[-1]
    return K


# ---------------------------------------------------------------------------------------------
# Layer
# ---------------------------------------------------------------------------------------------

def _check_key(key):
    if not (isinstance(key, jax.Array) or (hasattr(key, "shape") and hasattr(key, "dtype"))):
        raise TypeError("init_fn needs an explicit jax.random key, e.g. init_fn(jax.random.PRNGKey(0), "
                        f"x.shape); got {type(key).__name__}.")


def _check_input_shape(input_shape):
    if isinstance(input_shape, (list, tuple)) and input_shape and all(
            isinstance(s, (list, tuple)) for s in input_shape):
        return [_check_input_shape(s) for s in input_shape]
    if not isinstance(input_shape, (list, tuple)) or not input_shape:
        raise TypeError(f"input_shape must be a tuple like x.shape, e.g. (n, H, W, C); got {input_shape!r}.")
    out = []
    for i, d in enumerate(input_shape):
        if isinstance(d, bool) or not isinstance(d, (numbers.Integral, np.integer)) or (d <= 0 and not (
                i == 0 and d == -1)):
            raise ValueError(f"input_shape must hold positive integers (the batch size may be -1), "
                             f"got {tuple(input_shape)}.")
        out.append(int(d))
    if len(out) < 2:
        raise ValueError(f"input_shape {tuple(out)} needs a batch and a feature axis, e.g. (n, d).")
    return tuple(out)


class Layer(tuple):
    """(init_fn, apply_fn, kernel_fn) of a layer or network (unpacks like neural-tangents' stax
    triples); `ntk.infinite_kernel`, `ntk.empirical_ntk` and `ntk.batch` recognise it.

    Subclasses (one per layer type) implement
      _shape(shape)        per-example shape (spatial..., C) -> output shape (validating)
      _init(rng, shape)    -> params (rng: a `Sampler`)   _apply(params, x) -> y
      _kmap(state, ctx)    -> state           _nparams(shape) -> number of parameters
    """

    name = "Layer"
    needs_full = False  # needs off-diagonal spatial covariances of its input

    def __new__(cls, *args, **kwargs):
        cell = []

        def init_fn(rng, input_shape):
            return cell[0]._public_init(rng, input_shape)

        def apply_fn(params, inputs, **kw):
            return cell[0]._public_apply(params, inputs, **kw)

        def kernel_fn(x1, x2=None, get=None, **kw):
            return cell[0]._public_kernel(x1, x2, get, **kw)

        init_fn.__doc__ = Layer._public_init.__doc__
        apply_fn.__doc__ = Layer._public_apply.__doc__
        kernel_fn.__doc__ = Layer._public_kernel.__doc__
        self = tuple.__new__(cls, (init_fn, apply_fn, kernel_fn))
        for f in self:
            f._stax_layer = self
        cell.append(self)
        self._programs = {}
        self._repr = cls.__name__
        return self

    def __init__(self, *args, **kwargs):
        pass

    def _named(self, repr_str):
        self._repr = repr_str
        for f, nm in zip(self, ("init_fn", "apply_fn", "kernel_fn")):
            f.__name__ = f.__qualname__ = f"{self.name}.{nm}"

    def __repr__(self):
        return self._repr

    @property
    def init_fn(self):
        return self[0]

    @property
    def apply_fn(self):
        return self[1]

    @property
    def kernel_fn(self):
        return self[2]

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __getnewargs__(self):  # pragma: no cover
        raise TypeError("stax layers cannot be pickled; rebuild them from code.")

    # --- default pieces -------------------------------------------------------------------
    def _shape(self, shape):
        return shape

    def _nparams(self, shape):
        return 0

    def _init(self, rng, shape):
        return ()

    def _check_params(self, params):
        if params not in ((), None, []):
            raise ValueError(f"{self.name} has no parameters but got {type(params).__name__} "
                             f"{_describe(params)}; the parameters belong to another architecture. Create "
                             "them with this network's init_fn.")

    def _walk(self, shape, record):
        """Static pass: output shape, appending (layer, in_shape, out_shape) to `record`."""
        out = self._shape(shape)
        record.append((self, shape, out))
        return out

    # --- public triple ---------------------------------------------------------------------
    def _public_init(self, key, input_shape):
        """init_fn(rng, input_shape) -> (output_shape, params); rng a jax.random key, input_shape includes the batch."""
        _check_key(key)
        input_shape = _check_input_shape(input_shape)
        ex = _strip_batch(input_shape)
        record = []
        out = self._walk(ex, record)
        n = sum(layer._nparams(i) for layer, i, _ in record if not isinstance(layer, Composite))
        dtype = jnp.dtype(jnp.result_type(float))
        # one draw of up to 2n numbers (Sampler), then the parameters themselves
        V.check_memory(3 * n * dtype.itemsize, V.DEFAULT_MEMORY_BUDGET,
                       f"The parameters of {self.name} ({n:,} numbers, sampled in {dtype.name})",
                       "Use smaller widths / channel counts.")
        params = self._init(Sampler(key, n, dtype), ex)
        if not V.is_tracer(key):
            params = jax.tree_util.tree_map(jax.device_put, params)
        return _add_batch(out, input_shape), params

    def _public_apply(self, params, inputs, **kwargs):
        """apply_fn(params, x) -> outputs (x: (n, ..., C), channels last). Keyword arguments of
        neural-tangents' apply_fn (rng, mask, ...) are accepted and unused (no stochastic layers)."""
        if not isinstance(inputs, (list, tuple)):
            if not hasattr(inputs, "shape") or not hasattr(inputs, "ndim"):
                inputs = jnp.asarray(inputs)
        leaves = jax.tree_util.tree_leaves((params, inputs))
        if any(V.is_tracer(v) for v in leaves) or not all(hasattr(v, "shape") for v in leaves):
            return self._apply(params, inputs)
        fn = self._programs.get("apply")
        if fn is None:  # concrete call: one compiled program per shapes
            fn = self._programs["apply"] = jax.jit(self._apply)
        return fn(params, inputs)

    def _public_kernel(self, x1, x2=None, get=None, *, diagonal_spatial=None, diagonal_batch=None,
                  mask_constant=None, quadrature_degree=None,
                  memory_budget=V.DEFAULT_MEMORY_BUDGET, **kwargs):
        """Infinite-width kernels between x1 (n1, ...) and x2 (n2, ...) (x2=None: x2 = x1).

        get: None -> Kernel(nngp, ntk); a string -> that array; a tuple -> a namedtuple with
        those fields. Each kernel is (n1, n2), or (n1, n2, H, H', W, W') for a network whose output
        keeps spatial axes ((n1, n2, H, W) with diagonal_spatial=True).
        """
        if mask_constant is not None:
            raise ValueError("mask_constant is not supported by ntk.stax.")
        kwargs.pop("pattern", None)
        if kwargs:
            raise TypeError(f"kernel_fn got unexpected keyword arguments {sorted(kwargs)}.")
        names, single = parse_get(get)
        nngp, ntk = compute_kernel(self, x1, x2, names, diagonal_spatial=diagonal_spatial,
                                   quadrature_degree=quadrature_degree, memory_budget=memory_budget)
        return format_result(names, single, get, nngp, ntk)


class Composite(Layer):
    """Marker for combinators (their parameters are counted in their children)."""


def _bucket(n: int) -> int:
    return max(64, 1 << (int(n) - 1).bit_length())


@functools.lru_cache(maxsize=32)
def _normal_program(size: int, dtype):
    return jax.jit(lambda key: jax.random.normal(key, (size,), dtype))


class Sampler:
    """Standard normals for a network's parameters: all of them come from ONE draw
    `normal(key, (n,))` (a power-of-two-sized one for a concrete key, so that the compiled sampler
    is shared by networks of similar size), handed out in order by `normal(shape)`. A concrete
    key slices on the host (no compilation per parameter shape); a traced key slices the traced
    draw. Layers draw W then b, in the order the network lists them."""

    def __init__(self, key, n: int, dtype):
        self.pos, self.dtype = 0, dtype
        if V.is_tracer(key):
            self.flat, self.xp = jax.random.normal(key, (max(int(n), 1),), dtype), jnp
        else:
            self.flat, self.xp = np.asarray(_normal_program(_bucket(n), dtype)(key)), np

    def normal(self, shape):
        shape = tuple(int(d) for d in shape)
        size = int(np.prod(shape))
        out = self.flat[self.pos:self.pos + size].reshape(shape)
        self.pos += size
        return out

    def scale(self, a, c):
        return a * self.xp.asarray(c, a.dtype)


def _strip_batch(shape):
    if isinstance(shape, list):
        return [_strip_batch(s) for s in shape]
    return tuple(shape[1:])


def _add_batch(shape, input_shape):
    if isinstance(shape, list):
        return [_add_batch(s, input_shape) for s in shape]
    b = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
    return (b,) + tuple(shape)


def _describe(params):
    try:
        leaves = jax.tree_util.tree_leaves(params)
        return "with leaf shapes " + str([tuple(np.shape(x)) for x in leaves][:6])
    except Exception:  # pragma: no cover
        return ""


# ---------------------------------------------------------------------------------------------
# get / result
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _result_type(names):
    return collections.namedtuple("AnalyticKernel", names)


def parse_get(get):
    """-> (names in request order, single) ; validates."""
    if get is None:
        return ("nngp", "ntk"), False
    if isinstance(get, str):
        names, single = (get,), True
    else:
        try:
            names, single = tuple(get), False
        except TypeError:
            raise TypeError(f"get must be None, 'nngp', 'ntk' or a tuple of them, got {get!r}.") from None
    bad = [g for g in names if not isinstance(g, str) or g not in GETS]
    if bad or not names:
        raise ValueError(f"get must be 'nngp', 'ntk' or a tuple of them (or None for both), got {get!r}.")
    return names, single


def format_result(names, single, get, nngp, ntk):
    from ..infinite import Kernel

    vals = {"nngp": nngp, "ntk": ntk}
    if single:
        return vals[names[0]]
    if get is None:
        return Kernel(nngp, ntk)
    return _result_type(names)(*(vals[n] for n in names))


# ---------------------------------------------------------------------------------------------
# Kernel driver
# ---------------------------------------------------------------------------------------------

def check_x(x, name, shape=None):
    """Concrete checks of an input array (rank >= 2, numeric, finite); returns a jax array."""
    if x is None:
        raise ValueError(f"{name} is None; pass an array of shape (n, ...).")
    if V.is_tracer(x):
        arr = x
    else:
        a = V.as_numeric(x, name)
        if a.size == 0:
            raise ValueError(f"{name} is empty (shape {a.shape}); pass at least one point.")
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains {int(np.sum(~np.isfinite(a)))} NaN/inf value(s); clean or "
                             "drop those points first.")
        if np.issubdtype(a.dtype, np.integer):
            a = a.astype(jnp.result_type(float))
            x = a
        arr = x if isinstance(x, jax.Array) else V.as_jax(a)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have a batch and a feature axis, shape (n, d) or (n, ..., C); got "
                         f"shape {tuple(arr.shape)}.")
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise ValueError(f"x1 and x2 must have the same shape apart from the batch axis, got "
                         f"{tuple(shape)} and {tuple(arr.shape[1:])} (feature size differs).")
    return arr


def analyse(layer: Layer, ex_shape, diagonal_spatial=None):
    """Static pass: (output shape, diag flag, record of (layer, in, out) shapes)."""
    record = []
    out = layer._walk(ex_shape, record)
    if isinstance(out, list):
        raise ValueError(f"The network returns {len(out)} outputs (it ends in FanOut/parallel); end it with "
                         "FanInSum() or FanInConcat() to get one kernel.")
    full_needed = any(lay.needs_full for lay, i, _ in record if isinstance(i, tuple) and len(i) > 1)
    out_spatial = len(out) > 1
    if diagonal_spatial is None:
        diag = not full_needed and not out_spatial
    elif diagonal_spatial:
        if full_needed:
            names = sorted({lay.name for lay, i, _ in record if lay.needs_full})
            raise ValueError(f"diagonal_spatial=True is not possible: {', '.join(names)} need(s) the "
                             "covariance between different positions.")
        diag = True
    else:
        diag = False
    return out, diag, record


def _input_state(x1, x2, diag, cov_only=False):
    """State of the inputs: nngp = x1 x2^T / C per pair of positions (None with cov_only, where
    x2 must be None), cov of all rows [x1; x2]."""
    C = x1.shape[-1]
    sp = x1.ndim - 2
    letters = "abcdefgh"[:sp]
    letters2 = "ABCDEFGH"[:sp]
    if diag:
        cross = f"n{letters}z,m{letters}z->nm{letters}"
        own = f"n{letters}z,n{letters}z->n{letters}"
    else:
        pair = "".join(a + b for a, b in zip(letters, letters2))
        cross = f"n{letters}z,m{letters2}z->nm{pair}"
        own = f"n{letters}z,n{letters2}z->n{pair}"
    xs = x1 if x2 is None else jnp.concatenate([x1, x2])
    if sp == 0:
        nngp = None if cov_only else (x1 @ x2.T) / C
        cov = jnp.sum(xs * xs, axis=1) / C
    else:
        nngp = None if cov_only else jnp.einsum(cross, x1, x2) / C
        cov = jnp.einsum(own, xs, xs) / C
    return _State(nngp=nngp, ntk=None, cov=cov, n1=x1.shape[0], shape=tuple(x1.shape[1:]), diag=diag,
                  kind="input", acts=None, deps=frozenset({0}), why="the network's inputs")


def _run(layer, x1, x2, diag, get_ntk, rules, probe=False):
    """(nngp, ntk or None) of `layer` between x1 and x2 (x2 None only with probe: the largest
    variance at each quadrature activation)."""
    ctx = _Ctx(rules, get_ntk, probe)
    s = _input_state(x1, x2, diag, cov_only=probe)
    s = layer._kmap(s, ctx)
    s = materialize(s, ctx)
    if probe:
        return tuple(ctx.maxima)
    nngp = s.nngp
    ntk = s.ntk
    if get_ntk and ntk is None:
        ntk = jnp.zeros_like(nngp)
    return nngp, (ntk if get_ntk else None)


def count_numerical(layer, x1, diag):
    """Number of quadrature slots in the kernel program (traced abstractly, nothing compiled)."""
    ckey = ("count", tuple(x1.shape[1:]), str(x1.dtype), diag)
    if ckey in layer._programs:
        return layer._programs[ckey]
    box = {}

    def f(x):
        ctx = _Ctx((), False, False)
        s = _input_state(x, None, diag, cov_only=True)
        s = materialize(layer._kmap(s, ctx), ctx)
        box["n"] = ctx.slots
        return s.cov

    jax.eval_shape(f, jax.ShapeDtypeStruct((1,) + tuple(x1.shape[1:]), x1.dtype))
    layer._programs[ckey] = box["n"]
    return box["n"]


def resolve_rules(layer, x1, x2, diag, quadrature_degree):
    """Static quadrature rules, one per numerical activation, chosen from the largest variance at
    its input (a cheap pass over the inputs' own covariances) unless `quadrature_degree` is set."""
    n = count_numerical(layer, x1, diag)
    if n == 0:
        return ()
    if quadrature_degree is not None:
        if isinstance(quadrature_degree, tuple):
            return (tuple(quadrature_degree),) * n
        return (("gh", V.check_positive_int(quadrature_degree, "quadrature_degree")),) * n
    if V.is_tracer(x1) or (x2 is not None and V.is_tracer(x2)):
        return (("gh", 64),) * n
    xs = x1 if x2 is None else jnp.concatenate([x1, x2.astype(x1.dtype)])
    key = ("probe", tuple(xs.shape), str(xs.dtype), diag)
    fn = layer._programs.get(key)
    if fn is None:
        fn = layer._programs[key] = jax.jit(functools.partial(_run, layer, x2=None, diag=diag,
                                                              get_ntk=False, rules=(), probe=True))
    maxima = fn(xs)
    return tuple(A.quadrature_rule(float(m)) for m in maxima)


def program(layer, get_ntk, diag, rules):
    """Jitted (x1, x2) -> (nngp, ntk) of the whole network (one compiled program per shapes;
    x2=None is evaluated as x2 = x1, so it shares the program of equal-sized x2)."""
    key = ("main", get_ntk, diag, rules)
    fn = layer._programs.get(key)
    if fn is None:
        def f(a, b):
            return _run(layer, a, b, diag, get_ntk, rules)

        fn = layer._programs[key] = jax.jit(f)
    return fn


def block_program(layer, names, diag, rules):
    """Jitted (x1_block, x2_block) -> tuple of the requested kernels (for blocked_pairwise)."""
    key = ("block", names, diag, rules)
    fn = layer._programs.get(key)
    if fn is None:
        get_ntk = "ntk" in names

        def f(a, b):
            nngp, ntk = _run(layer, a, b, diag, get_ntk, rules)
            return tuple(nngp if g == "nngp" else ntk for g in names)

        fn = layer._programs[key] = jax.jit(f)
    return fn


def kernel_cost(record, n1, n2, diag, itemsize, get_ntk, rules):
    """Peak bytes estimate: the largest tracked covariance (n1 n2 + n1 + n2) x positions^(2 or 1),
    times the arrays alive at once (nngp, ntk, temporaries; quadrature adds its nodes)."""
    big = 1
    for _, i, o in record:
        for sh in (i, o):
            if isinstance(sh, tuple):
                p = int(np.prod(sh[:-1])) if len(sh) > 1 else 1
                big = max(big, p if diag else p * p)
    per = (n1 * n2 + n1 + n2) * big * itemsize
    factor = 6 if get_ntk else 4
    nodes = max([r[1] for r in rules], default=0)
    return per * (factor + 2 * nodes)


def compute_kernel(layer, x1, x2, names, diagonal_spatial=None, quadrature_degree=None,
                   memory_budget=V.DEFAULT_MEMORY_BUDGET, batch_size=None, progress=None, devices=None):
    """(nngp or None, ntk or None) of `layer` on x1, x2 (validated), optionally in exact blocks
    spread over `devices` (default: all). Inputs whose squared norms overflow are refused, and a
    non-finite kernel raises `NonFiniteError` with its cause (ntk._health), never returned."""
    H.check_kernel_inputs(x1, x2)
    V.check_budget(memory_budget)
    out = _compute_kernel(layer, x1, x2, names, diagonal_spatial, quadrature_degree, memory_budget, batch_size,
                          progress, devices)
    return H.check_kernel_output(out, f"The infinite-width kernel of {layer.name}", x1, x2)


def _compute_kernel(layer, x1, x2, names, diagonal_spatial=None, quadrature_degree=None,
                    memory_budget=V.DEFAULT_MEMORY_BUDGET, batch_size=None, progress=None, devices=None):
    from .._blocks import blocked_pairwise, to_jax

    x1 = check_x(x1, "x1")
    if x2 is not None:
        x2 = check_x(x2, "x2", x1.shape[1:])
        if x2.dtype != x1.dtype:
            dt = jnp.result_type(x1.dtype, x2.dtype)
            x1, x2 = x1.astype(dt), x2.astype(dt)
    out, diag, record = analyse(layer, tuple(x1.shape[1:]), diagonal_spatial)
    rules = resolve_rules(layer, x1, x2, diag, quadrature_degree)
    get_ntk = "ntk" in names
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    itemsize = jnp.dtype(x1.dtype).itemsize
    if batch_size is None:
        mem = kernel_cost(record, n1, n2, diag, itemsize, get_ntk, rules)
        per_pair = max(mem / max(n1 * n2, 1), 1)
        bs = max(1, int(math.sqrt((memory_budget or mem) / per_pair)))
        V.check_memory(mem, memory_budget, f"The infinite-width kernel of {n1}x{n2} points of {layer.name}",
                       f"Pass batch_size (e.g. batch_size={_round_bs(bs)}) to ntk.infinite_kernel or use "
                       "ntk.batch(kernel_fn, batch_size) to compute it in exact blocks.")
        auto = _auto_block_size(mem, n1, n2, diag, x1, x2)
        if auto is not None:
            return _compute_kernel(layer, x1, x2, names, diagonal_spatial, quadrature_degree, memory_budget,
                                   auto, progress, devices)
        nngp, ntk = program(layer, get_ntk, diag, rules)(x1, x1 if x2 is None else x2)
        if x2 is None and not diag:  # exactly symmetric (sums over position pairs round in either order)
            nngp, ntk = _symmetrize(nngp), _symmetrize(ntk)
        if progress is not None:
            V.as_progress(progress)(1, 1, "kernel blocks")
        return (nngp if "nngp" in names else None), ntk
    bs = V.check_positive_int(batch_size, "batch_size")
    mem = kernel_cost(record, min(bs, n1), min(bs, n2), diag, itemsize, get_ntk, rules)
    V.check_memory(mem, memory_budget, f"A {bs}x{bs} block of the infinite-width kernel", "Use a smaller batch_size.")
    order = tuple(g for g in GETS if g in names)
    fn = block_program(layer, order, diag, rules)
    symmetric = x2 is None and len(out) == 1
    res = blocked_pairwise(fn, x1, x1 if x2 is None else x2, bs, progress, devices=devices, symmetric=symmetric)
    vals = dict(zip(order, (to_jax(r) for r in res)))
    return vals.get("nngp"), vals.get("ntk")


#: Kernels with full spatial covariances estimated above this many bytes (None: 32 MiB on CPU,
#: 1 GiB on accelerators) are computed in exact blocks of about this size even without
#: batch_size: the peak memory stays near one block, the blocks' arrays stay in cache, and with
#: x2=None only the blocks on and above the diagonal are computed (about half the work).
AUTO_BLOCK_BYTES = None


def _auto_block_bytes():
    if AUTO_BLOCK_BYTES is not None:
        return AUTO_BLOCK_BYTES
    return 32 * 1024**2 if jax.default_backend() == "cpu" else 1024**3


def _auto_block_size(mem, n1, n2, diag, x1, x2):
    """A balanced block size for a large full-spatial kernel, or None (compute it in one piece)."""
    limit = _auto_block_bytes()
    if diag or mem <= limit or V.is_tracer(x1) or (x2 is not None and V.is_tracer(x2)):
        return None
    per_pair = mem / max(n1 * n2, 1)
    bs = max(8, int(math.sqrt(limit / per_pair)))
    if bs >= max(n1, n2):
        return None
    nb = -(-max(n1, n2) // bs)
    return -(-max(n1, n2) // nb)


@jax.jit
def _symmetrize(K):
    """(K + K^T) / 2 with K^T swapping the batch axes and each (s, s') pair: exactly symmetric,
    equal to K up to rounding (the diagonal is unchanged)."""
    if K is None:
        return None
    perm = (1, 0) + tuple(a for i in range(2, K.ndim, 2) for a in (i + 1, i))
    return 0.5 * (K + K.transpose(perm))


def _round_bs(bs):
    if bs >= 8:
        return 1 << (int(bs).bit_length() - 1)
    return max(1, int(bs))
