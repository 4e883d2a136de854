"""Empirical (finite-width) NTK  Theta(x1, x2) = J(x1) J(x2)^T  at given parameters.

One engine (`ntk._empirical_engine`) serves `empirical_ntk` here and the neural-tangents-style
`empirical_ntk_fn` / `empirical_nngp_fn` / `empirical_kernel_fn` / `monte_carlo_kernel_fn`.

Methods (NT's implementations 1, 2, 3 and 0):
  "jacobian"    per-example Jacobians by reverse-mode autodiff, contracted over parameters.
  "ntvp"        NTK-vector products: for each output cotangent of f(x2) a VJP pushed through a JVP
                of f(x1); never stores a Jacobian.
  "structured"  the function is traced and every use of every parameter contracted in factored
                form; for a Dense layer z = s (h @ W) + beta b with cotangent D = df/dz:
                    Theta += (s^2 h h'^T + beta^2) * (D D'^T)
                (convolutions: the same over input patches, through per-example weight gradients
                when that is cheaper); parameters it cannot factor (tied weights, other primitives)
                fall back to their own Jacobian. `estimate_cost(...).paths` lists which is which.
  "auto"        the fewest FLOPs by the cost model among the methods that fit `memory_budget`.

`net_or_fn`: an `ntk.mlp` network, a stax layer (or any (init_fn, apply_fn, kernel_fn) triple) or
any `apply_fn(params, x)` with pytree params (plain JAX, Flax `model.apply` with its variables
dict, Equinox through `eqx.partition`); x of any rank with examples along axis 0. Per-example
derivatives (`vmap_axes=0`) assume apply_fn treats the rows of x independently, as any network
without batch statistics does: checked on the first two rows (pass `vmap_axes=None` otherwise).

With out_dim = k > 1 (the per-example output flattened), `trace=True` returns the mean over output
units, shape (n1, n2), and `trace=False` the full (n1, n2, k, k) kernel.
"""
from __future__ import annotations

import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _empirical_engine as E
from . import _health as H
from . import _validate as V
from . import _xla
from ._blocks import blocked_pairwise, to_jax
from .nets import MLP, as_apply_fn

METHODS = ("auto", "jacobian", "ntvp", "structured")
_IMPL = {"auto": 0, "jacobian": 1, "ntvp": 2, "structured": 3}
_NAME = {1: "jacobian", 2: "ntvp", 3: "structured"}


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def _resolve(net_or_fn):
    """(apply_fn, kind) for an MLP ("mlp"), a stax layer / triple ("stax") or a function ("fn")."""
    if isinstance(net_or_fn, MLP):
        return as_apply_fn(net_or_fn)[0], "mlp"
    if isinstance(net_or_fn, tuple) and len(net_or_fn) == 3 and all(callable(f) for f in net_or_fn):
        return net_or_fn[1], "stax"
    if callable(net_or_fn):
        return net_or_fn, "fn"
    raise TypeError(f"Expected an ntk network (ntk.mlp(...)), a stax layer (init_fn, apply_fn, kernel_fn) "
                    f"or a function apply_fn(params, x), got {type(net_or_fn).__name__}: {net_or_fn!r}.")


class _Flat:
    """apply_fn with each example's output flattened: (n, ...) -> (n, k) (pytree outputs are
    concatenated). One object per apply_fn, so compiled programs are reused."""

    def __init__(self, apply_fn):
        self.apply_fn = apply_fn
        functools.update_wrapper(self, apply_fn, updated=())

    def __call__(self, params, x):
        leaves = jax.tree_util.tree_leaves(self.apply_fn(params, x))
        n = x.shape[0]
        outs = [jnp.reshape(o, (n, -1)) for o in leaves]
        return outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=1)

    def __hash__(self):
        return hash(("ntk._Flat", self.apply_fn))

    def __eq__(self, other):
        return isinstance(other, _Flat) and other.apply_fn == self.apply_fn


@functools.lru_cache(maxsize=256)
def _flat_cached(apply_fn):
    return _Flat(apply_fn)


def _flat(apply_fn):
    try:
        return _flat_cached(apply_fn)
    except TypeError:  # unhashable callable
        return _Flat(apply_fn)


# ---------------------------------------------------------------------------------------------
# Cost estimates
# ---------------------------------------------------------------------------------------------

class CostEstimate(tuple):
    """(flops, peak_bytes) of an empirical NTK request, unpacking like a 2-tuple; also
    `.method` (the method it resolves to) and `.paths`: one row per parameter leaf with its path
    ("structured" / "jacobian" fallback / "unused") and why (structured method only)."""

    def __new__(cls, flops, memory, method, paths):
        self = tuple.__new__(cls, (float(flops), float(memory)))
        self.method, self.paths = method, list(paths)
        return self

    flops = property(lambda self: self[0])
    memory = property(lambda self: self[1])

    def __repr__(self):
        return (f"CostEstimate(method={self.method!r}, flops={self[0]:.3g}, "
                f"memory={V.format_bytes(self[1])}, {len(self.paths)} parameter paths)")

    def explain(self) -> str:
        """A readable table of which parameters take which path."""
        lines = [f"method {self.method!r}: ~{self[0]:.3g} FLOPs, peak ~{V.format_bytes(self[1])}"]
        for r in self.paths:
            lines.append(f"  {r['param'] or '<params>'} {r['shape']}: {r['path']} -- {r['why']} "
                         f"[uses: {r['uses'] or 'none'}]")
        return "\n".join(lines)


_EST_CACHE = collections.OrderedDict()


def _avals(tree):
    out = []
    for a in jax.tree_util.tree_leaves(tree):
        dt = getattr(a, "dtype", None)
        out.append((tuple(np.shape(a)), dt if dt is not None else jnp.result_type(a)))
    return tuple(out)


def _estimate(f, params, x1s, x2s, trace, method, vmap_axes, budget):
    impl = _IMPL[method]
    key = None
    try:
        key = (f, jax.tree_util.tree_structure(params), _avals(params), x1s, x2s, trace, impl,
               vmap_axes, budget)
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _EST_CACHE:
        _EST_CACHE.move_to_end(key)
        return _EST_CACHE[key]
    sd = lambda s: None if s is None else jax.ShapeDtypeStruct(s[0], s[1])  # noqa: E731
    c = E.estimate(f, params, sd(x1s), sd(x2s), (-1,) if trace else (), (), vmap_axes, impl, budget)
    if key is not None:
        _EST_CACHE[key] = c
        while len(_EST_CACHE) > 256:
            _EST_CACHE.popitem(last=False)
    return c


def estimate_cost(net_or_fn, params, n1, n2=None, method: str = "auto", trace: bool = True,
                  in_dim: int | None = None, itemsize: int | None = None, chunk: int | None = None,
                  *, input_shape=None, vmap_axes=0, memory_budget=V.DEFAULT_MEMORY_BUDGET):
    """Estimated (flops, peak bytes) of `empirical_ntk` for n1 x n2 inputs, as a `CostEstimate`
    (unpacks as a pair; `.method` is what "auto" resolves to, `.paths` / `.explain()` tell which
    parameters take the structured path and which fall back to their Jacobian).

    n1 / n2: counts (then the per-example input shape comes from `input_shape`, or `in_dim` for
    vectors, or an `ntk.mlp`'s parameters) or the input arrays themselves. `itemsize` overrides
    the parameters' dtype (4: float32, 8: float64). `chunk` is accepted for compatibility.
    """
    f, kind = _resolve(net_or_fn)
    method = _check_method(method)
    if kind == "mlp" and not jax.tree_util.tree_leaves(params):
        if in_dim is None:
            raise ValueError("estimate_cost of an ntk.mlp without params needs in_dim=...")
        # shapes only: the parameters are never drawn
        params = jax.eval_shape(lambda: net_or_fn.init(jax.random.PRNGKey(0), V.check_positive_int(in_dim, "in_dim")))
    dtype = jnp.result_type(*[jnp.result_type(a) for a in jax.tree_util.tree_leaves(params)]) \
        if jax.tree_util.tree_leaves(params) else jnp.result_type(float)
    if itemsize is not None:
        dtype = {2: jnp.float16, 4: jnp.float32, 8: jnp.float64}[int(itemsize)]
        params = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(np.shape(a), dtype), params)

    def shape_of(n, name):
        if n is None:
            return None
        if hasattr(n, "shape"):
            return (tuple(n.shape), str(dtype))
        n = V.check_positive_int(n, name)
        if input_shape is not None:
            ex = tuple(input_shape)
        elif in_dim is not None:
            ex = (V.check_positive_int(in_dim, "in_dim"),)
        elif kind == "mlp":
            ex = (int(np.shape(params[0][0])[0]),)
        else:
            raise ValueError("estimate_cost needs the per-example input shape: pass input_shape=... "
                             "(or in_dim= for vectors), or the inputs instead of n1 / n2.")
        return ((n,) + ex, str(dtype))

    x1s, x2s = shape_of(n1, "n1"), shape_of(n2, "n2")
    c = _estimate(_flat(f), params, x1s, x2s, bool(trace), method, vmap_axes, memory_budget)
    return CostEstimate(c.flops, c.memory, _NAME[c.implementation], c.rows)


# ---------------------------------------------------------------------------------------------
# empirical_ntk
# ---------------------------------------------------------------------------------------------

def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    return method


def _check_x(x, name, kind):
    if kind == "mlp":
        return V.check_inputs(x, name)
    nd = getattr(x, "ndim", None)
    if nd is None:
        try:
            nd = np.ndim(x)
        except Exception:  # noqa: BLE001 - reported below
            nd = 0
    if nd < 1:
        raise ValueError(f"{name} must be an array with the examples along axis 0, got "
                         f"{type(x).__name__} of shape {np.shape(x) if nd == 0 else '?'}.")
    return V.check_inputs(x, name, ndim=nd)


_SEPARABLE = {}


def _check_separable(f, params, x, vmap_axes):
    """Per-example derivatives need f(x)[i] to depend on x[i] only: check on two rows (values of
    f on 2 rows vs 1 + 1 rows, and the derivative of row 0 along row 1, which is exactly zero)."""
    if vmap_axes is None or x.shape[0] < 2 or V.is_tracer(x):
        return
    try:
        key = (f, jax.tree_util.tree_structure(params), _avals(params), x.shape[1:], str(x.dtype))
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _SEPARABLE:
        return
    try:
        gap, coupled, scale = _separable_probe(f)(params, jnp.asarray(np.asarray(x)[:2]))
    except (TypeError, IndexError, KeyError, AttributeError) as e:
        raise E.apply_error(e, x) from e
    if float(coupled) > 0.0 or float(gap) > 1e-4 * max(float(scale), 1e-30):
        raise ValueError(
            "apply_fn mixes the examples of a batch (its output for x[0] depends on x[1], e.g. batch "
            "statistics), so per-example derivatives do not apply: pass vmap_axes=None.")
    if key is not None:
        _SEPARABLE[key] = True


@functools.lru_cache(maxsize=64)
def _separable_probe(f):
    """jit of (params, x2) -> (max |f(x2) - [f(x2[:1]); f(x2[1:])]|, max |d f(x2)[0] / d x2[1]|,
    max |f(x2)|) for two rows x2 (one compile instead of op-by-op dispatch)."""

    def probe(params, x2):
        both = f(params, x2)
        one = jnp.concatenate([f(params, x2[:1]), f(params, x2[1:])])
        t = jnp.zeros_like(x2).at[1].set(1.0)
        _, dy = jax.jvp(lambda z: f(params, z), (x2,), (t,))
        return jnp.max(jnp.abs(both - one)), jnp.max(jnp.abs(dy[0])), jnp.max(jnp.abs(both))

    return jax.jit(probe)


def _suggest_batch(f, params, x1, x2, trace, method, vmap_axes, budget):
    n = max(x1.shape[0], 1 if x2 is None else x2.shape[0])
    b = 1 << max(0, (n - 1).bit_length() - 1)
    while b >= 1:
        s1 = ((min(b, x1.shape[0]),) + x1.shape[1:], str(x1.dtype))
        s2 = None if x2 is None else ((min(b, x2.shape[0]),) + x2.shape[1:], str(x2.dtype))
        c = _estimate(f, params, s1, s2 if s2 is not None else s1, trace, method, vmap_axes, budget)
        if c.memory <= budget:
            return b
        b //= 2
    return None


def empirical_ntk(net_or_fn, params, x1, x2=None, method: str = "auto", trace: bool = True,
                  batch_size: int | None = None,
                  memory_budget: float | None = V.DEFAULT_MEMORY_BUDGET, progress=None,
                  vmap_axes=0, explain: bool = False):
    """Empirical NTK of a network at `params`.

    Args:
      net_or_fn: an `ntk.mlp` network, a stax layer / (init_fn, apply_fn, kernel_fn) triple, or
        any `apply_fn(params, x)` with pytree params.
      params: parameters of that network.
      x1: (n1, ...) inputs; x2: (n2, ...) inputs or None for x1.
      method: "auto", "jacobian", "ntvp" or "structured" (module docstring).
      trace: True -> (n1, n2), mean over output units; False -> (n1, n2, k, k).
      batch_size: compute in (batch_size x batch_size) blocks to bound memory.
      memory_budget: bytes; a request estimated above it raises ValueError suggesting batch_size.
      progress: optional callback progress(done, total, label) called per block.
      vmap_axes: 0 (per-example derivatives; apply_fn must treat rows independently) or None.
      explain: also return the `CostEstimate` (method used, path of every parameter).
    """
    f, kind = _resolve(net_or_fn)
    method = _check_method(method)
    x1, x2 = _check_pair(x1, x2, kind)
    if kind == "mlp":
        net_or_fn._check_params(params, x1)
    _check_vmap_axes(vmap_axes)
    trace = V.check_bool(trace, "trace")
    same = x2 is None
    H.check_kernel_inputs(x1, x2)
    n1 = x1.shape[0]
    n2 = n1 if same else x2.shape[0]
    b1 = n1 if batch_size is None else min(V.check_positive_int(batch_size, "batch_size"), n1)
    b2 = n2 if batch_size is None else min(batch_size, n2)
    ff = _flat(f)
    if kind == "fn":
        _check_separable(ff, params, x1 if n1 >= 2 or same else x2, vmap_axes)
    s1 = ((b1,) + tuple(x1.shape[1:]), str(x1.dtype))
    s2 = None if same and batch_size is None else ((b2,) + tuple(x1.shape[1:]), str(x1.dtype))
    cost = _estimate(ff, params, s1, s2, trace, method, vmap_axes, memory_budget)
    name = _NAME[cost.implementation]
    if memory_budget is not None and cost.memory > memory_budget:
        _refuse_memory(cost.memory, memory_budget, ff, params, x1, x2, trace, method, vmap_axes, batch_size,
                       f"The empirical NTK ({name}) of {n1}x{n2} points",
                       f"A {b1}x{b2} block of the empirical NTK ({name})")
    impl = cost.implementation
    trace_axes = (-1,) if trace else ()
    if batch_size is None:
        out = E.compute(ff, x1, x2, params, trace_axes, (), vmap_axes, impl)
        if progress is not None:
            V.as_progress(progress)(1, 1, "kernel blocks")
    else:
        fn = _block_fn(ff, impl, trace_axes, vmap_axes)
        (out,) = blocked_pairwise(fn, x1, x1 if same else x2, batch_size, progress, args=(params,),
                                  symmetric=same)
        out = to_jax(out)
    out = H.check_kernel_output(out, "empirical_ntk", x1, None if same else x2, params=params)
    if explain:
        return out, CostEstimate(cost.flops, cost.memory, name, cost.rows)
    return out


def _check_vmap_axes(vmap_axes):
    if vmap_axes not in (0, None):
        raise ValueError(f"vmap_axes must be 0 (examples along axis 0, per-example derivatives) or None, "
                         f"got {vmap_axes!r}; use ntk.empirical_ntk_fn for other layouts.")


def _check_pair(x1, x2, kind):
    """Checked x1 and x2 (or None) with the same shape after the batch axis."""
    x1 = _check_x(x1, "x1", kind)
    if x2 is not None:
        x2 = _check_x(x2, "x2", kind)
        if x1.shape[1:] != x2.shape[1:]:
            raise ValueError(f"x1 and x2 must have the same feature size (shape after the batch axis), "
                             f"got x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)}.")
    return x1, x2


def _refuse_memory(memory, budget, ff, params, x1, x2, trace, method, vmap_axes, batch_size, what, what_block):
    """Raise the over-budget error: without batch_size, naming the largest batch_size that fits."""
    if batch_size is None:
        b = _suggest_batch(ff, params, x1, x2, trace, method, vmap_axes, budget)
        hint = (f"Pass batch_size={b} (or smaller) to compute it in blocks" if b else
                "Even batch_size=1 does not fit; raise memory_budget") + \
            (", or use method='ntvp'." if method not in ("ntvp", "auto") else ".")
        V.check_memory(memory, budget, what, hint)
    V.check_memory(memory, budget, what_block, "Use a smaller batch_size.")


_BLOCK_FNS = collections.OrderedDict()


def _block_fn(f, impl, trace_axes, vmap_axes):
    """Jitted (x1_block, x2_block, params) -> (kernel block,) for `blocked_pairwise`."""
    key = (f, impl, trace_axes, vmap_axes)
    try:
        if key in _BLOCK_FNS:
            return _BLOCK_FNS[key]
    except TypeError:
        key = None

    def fn(a, b, params):
        return (E.ntk_impl(f, params, a, b, trace_axes, (), vmap_axes, impl),)

    jf = _xla.jit(fn)
    if key is not None:
        _BLOCK_FNS[key] = jf
        while len(_BLOCK_FNS) > 64:
            _BLOCK_FNS.popitem(last=False)
    return jf


def ntk_fn(net_or_fn, method: str = "auto", trace: bool = True, **kwargs):
    """Return kernel_fn(params, x1, x2=None) -> empirical NTK (convenience for repeated use)."""

    def kernel_fn(params, x1, x2=None):
        return empirical_ntk(net_or_fn, params, x1, x2, method=method, trace=trace, **kwargs)

    return kernel_fn


def useful_flops_structured(net: MLP, n: int, in_dim: int) -> float:
    """FLOPs of the structured NTK of n x n points of an `ntk.mlp` (forward, backward, Gram
    products): the matmul work any method needs, used as the roofline in benchmarks."""
    sizes = net.layer_sizes(in_dim)
    k = net.out_dim
    fwd = sum(a * b for a, b in sizes)
    bwd = sum(k * a * b for a, b in sizes[1:])
    grams = sum(n * n * (a + k * b) for a, b in sizes)
    return 2.0 * (n * fwd + n * bwd + grams)
