"""Empirical NTK engine for any JAX function `apply_fn(params, x, **kwargs)` (NT 0.6.5 surface).

    Theta(x1, x2) = sum_p  df(x1)/dp  df(x2)/dp^T        (per output leaf, NT's kernel layout)

Implementations (`implementation=`, NT's numbering):
  1  Jacobian contraction: per-example Jacobians (vmap of jacrev when `vmap_axes` is given),
     contracted over parameters.
  2  NTK-vector products: for every output cotangent of f(x2) a VJP, pushed through a JVP of f(x1);
     no Jacobian is stored.
  3  Structured derivatives: `apply_fn` is traced and every use of every parameter found
     (`_jaxpr_graph`). One forward pass with zero taps and one backward pass per output unit give,
     for every use, the other operand A and the cotangent C of its output. A parameter with one
     use through a co-isometric chain (see `_jaxpr_graph`) is contracted in factored form:
        dot_general   y = A . V      sum_{b,p,r} (A1_bp . A2_br) (C1_bp . C2_br)
        conv          y = conv(A, V) the same with A_bp the input patch at output position p
     (b: batch / feature-group axes, p, r: positions), either as Grams of A and of C ("gram"; a
     weight and its bias share the cotangent Gram of their layer), or through the per-example
     weight gradient J = sum_p A_p^T C_p ("jac"), whichever needs fewer FLOPs. Any other parameter
     (used several times, through a non-co-isometric chain, or by another primitive) falls back
     to its own Jacobian, sum over its uses of L^T(dV), contracted like implementation 1.
  0  auto: the cheapest of 3, 1, 2 by a FLOP model among those whose memory estimate fits the
     budget (3 when no budget is given).

`vmap_axes` (NT's meaning): f(params, x) is the concatenation along `out_axes` of f on slices of x
along `in_axes` (and of kwargs along `kwargs_axes`), so per-example derivatives can be vmapped.
`None` treats the whole batch as one example (correct for any f, much more work).
"""
from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import inspect
import itertools
import operator
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _xla
from ._jaxpr_graph import Graph

tree_map = jax.tree_util.tree_map
tree_leaves = jax.tree_util.tree_leaves

IMPLEMENTATIONS = {0: "auto", 1: "jacobian", 2: "ntvp", 3: "structured"}


class NtkImplementation(enum.IntEnum):
    """neural-tangents' names for `implementation=` (plain ints 0-3 are accepted too)."""

    AUTO = 0
    JACOBIAN_CONTRACTION = 1
    NTK_VECTOR_PRODUCTS = 2
    STRUCTURED_DERIVATIVES = 3

_J_CHUNK = 8        # examples per batched GEMM when forming per-example weight gradients


# ---------------------------------------------------------------------------------------------
# Output-axis bookkeeping (NT's kernel layout)
# ---------------------------------------------------------------------------------------------

def _canon(axes, ndim):
    if axes is None:
        axes = ()
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an output with {ndim} dimensions.")
        out.append(a % ndim)
    return tuple(sorted(set(out)))


class _Labels:
    _CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self):
        self._n = 0

    def new(self, k=1):
        s = "".join(self._CHARS[self._n + i] for i in range(k))
        self._n += k
        return s


def _out_labels(lab, full_ndim, batch_axis, trace, diag):
    """Labels of per-example arrays (N, *per-example output axes): side 1, side 2 and output.

    NT's layout: for each output axis d (in order) not traced, the pair (d1, d2), or one axis when
    d is diagonal; the example axis is the batch axis. With batch_axis None the "example" is a
    shared size-1 axis that is summed."""
    l1, l2, out = [], [], []
    for d in range(full_ndim):
        a = lab.new()
        if d in trace:
            b = a
        elif d in diag:
            b = a
            out.append(a)
        else:
            b = lab.new()
            out += [a, b]
        if d == batch_axis:
            l1.insert(0, a)
            l2.insert(0, b)
        else:
            l1.append(a)
            l2.append(b)
    if batch_axis is None:
        a = lab.new()
        l1.insert(0, a)
        l2.insert(0, a)
    return "".join(l1), "".join(l2), "".join(out)


def _kernel_sizes(shape, batch_axis, trace, diag):
    """(k, Ktr, Kpair): basis size of one example, traced size, kernel entries per example pair."""
    k, ktr, kpair = 1, 1, 1
    for d, s in enumerate(shape):
        if d == batch_axis:
            continue
        k *= s
        if d in trace:
            ktr *= s
        elif d in diag:
            kpair *= s
        else:
            kpair *= s * s
    return k, ktr, kpair


# ---------------------------------------------------------------------------------------------
# Problems: one side's inputs in per-example form
# ---------------------------------------------------------------------------------------------

def _split_kwargs(kwargs, x1, x2):
    """NT's split: `rng` -> (rng, rng) for x2 None or x2 == x1, else (rng, fold_in(rng, 1));
    a 2-tuple -> its two halves; anything else to both sides."""
    k1, k2 = {}, {}
    for k, v in kwargs.items():
        if k == "rng" and x2 is not None and v is not None:
            if isinstance(v, tuple) and len(v) == 2:
                k1[k], k2[k] = v
            else:
                k1[k], k2[k] = v, v if _same(x1, x2) else jax.random.fold_in(v, 1)
        elif isinstance(v, tuple) and len(v) == 2:
            k1[k], k2[k] = v
        else:
            k1[k] = k2[k] = v
    return k1, k2


def _same(x1, x2):
    if x1 is x2:
        return True
    try:
        l1, l2 = tree_leaves(x1), tree_leaves(x2)
        if len(l1) != len(l2) or any(np.shape(a) != np.shape(b) for a, b in zip(l1, l2)):
            return False
        return all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(l1, l2))
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return False


def _vmap_spec(vmap_axes):
    if vmap_axes is None:
        return None, None, {}
    if isinstance(vmap_axes, tuple) and len(vmap_axes) == 3:
        in_ax, out_ax, kw_ax = vmap_axes
        return in_ax, out_ax, dict(kw_ax or {})
    return vmap_axes, vmap_axes, {}


class _Problem:
    """f, params and one side's inputs in per-example form (batch axes moved to 0)."""

    def __init__(self, f, params, x, kwargs, vmap_axes):
        in_ax, out_ax, kw_ax = _vmap_spec(vmap_axes)
        self.f, self.params = f, params
        self.p_leaves, self.p_tree = jax.tree_util.tree_flatten(params)
        self.batched = in_ax is not None
        kw_b = {k: v for k, v in kwargs.items() if k in kw_ax and kw_ax[k] is not None}
        self.kw_static = {k: v for k, v in kwargs.items() if k not in kw_b}
        data = (x, kw_b)
        if self.batched:
            if not isinstance(in_ax, (int, np.integer)) or not all(
                    isinstance(a, (int, np.integer)) for a in kw_ax.values() if a is not None):
                raise TypeError("vmap_axes: in_axes and kwargs_axes must be ints (or None).")
            x_ax = tree_map(lambda _: int(in_ax), x)
            axes = (x_ax, {k: int(kw_ax[k]) for k in kw_b})
            data = tree_map(_to_front, data, axes)
        self.data_leaves, self.data_tree = jax.tree_util.tree_flatten(data)
        self.in_ax, self.out_ax = in_ax, out_ax
        kw_arr = {k: v for k, v in kwargs.items() if tree_leaves(v) and all(
            _is_array(a) for a in tree_leaves(v))}
        kw_rest = {k: v for k, v in kwargs.items() if k not in kw_arr}
        try:
            fx = jax.eval_shape(lambda p, x, kw: f(p, x, **kw, **kw_rest), params, x, kw_arr)
        except (TypeError, IndexError, KeyError, AttributeError) as e:
            raise apply_error(e, x) from e
        self.fx_leaves, self.fx_tree = jax.tree_util.tree_flatten(fx)
        if self.batched:
            if not isinstance(out_ax, (int, np.integer)):
                raise TypeError("vmap_axes: out_axes must be an int.")
            self.out_axes = [int(out_ax) % max(s.ndim, 1) for s in self.fx_leaves]
            sizes = {a.shape[0] for a in self.data_leaves}
            if len(sizes) > 1:
                raise ValueError(f"vmap_axes: the batched inputs have different sizes {sorted(sizes)} "
                                 "along their vmap axes.")
            self.n = sizes.pop() if sizes else 1
        else:
            self.out_axes = [None] * len(self.fx_leaves)
            self.data_leaves = [_add_front(a) for a in self.data_leaves]
            self.n = 1
        self.f1 = self._per_example_fn()

    def _per_example_fn(self):
        """(param leaves, data leaves of one example) -> output leaves of that example."""
        f, p_tree, d_tree, kw_static = self.f, self.p_tree, self.data_tree, self.kw_static
        batched, in_ax, out_axes = self.batched, self.in_ax, self.out_axes

        def f1(p_leaves, d_leaves):
            params = jax.tree_util.tree_unflatten(p_tree, p_leaves)
            x, kw_b = jax.tree_util.tree_unflatten(d_tree, d_leaves)
            if batched:
                x = tree_map(lambda a: jnp.expand_dims(a, int(in_ax) % (a.ndim + 1)), x)
                kw_b = {k: jnp.expand_dims(v, 0) for k, v in kw_b.items()}
            out = tree_leaves(f(params, x, **kw_b, **kw_static))
            if batched:
                out = [jnp.squeeze(o, ax) for o, ax in zip(out, out_axes)]
            return out

        return f1

    def example_avals(self):
        return [jax.ShapeDtypeStruct(a.shape[1:], a.dtype) for a in self.data_leaves]

    def ex_out_shapes(self):
        """Per-example output shape of every output leaf (batch axis removed when batched)."""
        return [tuple(s for d, s in enumerate(fx.shape) if d != q)
                for fx, q in zip(self.fx_leaves, self.out_axes)]


def apply_error(e, x):
    """A ValueError for an apply_fn that fails on (params, x): usually params of another model."""
    shapes = [tuple(np.shape(a)) for a in tree_leaves(x)]
    return ValueError(f"apply_fn(params, x) failed on x of shape {shapes[0] if len(shapes) == 1 else shapes}: "
                      f"{type(e).__name__}: {e} -- check that params belong to this model (made by its init) "
                      "and that x has the shape it expects.")


def _to_front(a, ax):
    ax = ax % len(a.shape)
    if isinstance(a, jax.ShapeDtypeStruct):
        sh = list(a.shape)
        return jax.ShapeDtypeStruct((sh.pop(ax),) + tuple(sh), a.dtype)
    return jnp.moveaxis(a, ax, 0)


def _add_front(a):
    if isinstance(a, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct((1,) + tuple(a.shape), a.dtype)
    return jnp.asarray(a)[None]


def _graph_of(prob: _Problem) -> Graph:
    p_avals = [jax.ShapeDtypeStruct(np.shape(p), jnp.result_type(p)) for p in prob.p_leaves]
    closed = jax.make_jaxpr(prob.f1)(p_avals, prob.example_avals())
    return Graph(closed, len(p_avals))


# ---------------------------------------------------------------------------------------------
# Plan: how each parameter leaf / use is contracted
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Layout:
    """A factored dot/conv use as y[b, p, w] = sum_c A[b, p, c] V[b, c, w]."""
    B: int
    FA: int
    Cc: int
    FW: int


def _dot_layout(graph, u):
    eq = graph.eqns[u.eqn]
    (lc, rc), (lb, rb) = eq.params["dimension_numbers"]
    a_aval = graph._aval(eq.ins[1 - u.pos])
    a_con, a_bat = (rc, rb) if u.pos == 0 else (lc, lb)
    sh = a_aval.shape
    B = int(np.prod([sh[d] for d in a_bat]))
    Cc = int(np.prod([sh[d] for d in a_con]))
    FA = int(np.prod([sh[d] for d in range(len(sh)) if d not in a_con and d not in a_bat]))
    y = graph.avals[eq.outs[0]]
    return _Layout(B, FA, Cc, int(np.prod(y.shape)) // max(B * FA, 1))


def _conv_geometry(params, lhs_shape, rhs_shape):
    dn = params["dimension_numbers"]
    lhs_spec, rhs_spec = dn.lhs_spec, dn.rhs_spec
    nsp = len(lhs_spec) - 2
    filt = tuple(rhs_shape[d] for d in rhs_spec[2:])
    ld, rd, st = params["lhs_dilation"], params["rhs_dilation"], params["window_strides"]
    out_sp = []
    for i in range(nsp):
        n_in = lhs_shape[lhs_spec[2 + i]]
        lo, hi = params["padding"][i]
        size = (n_in - 1) * ld[i] + 1 + lo + hi
        out_sp.append((size - (filt[i] - 1) * rd[i] - 1) // st[i] + 1)
    return filt, tuple(out_sp)


def _conv_layout(graph, u):
    eq = graph.eqns[u.eqn]
    lhs, rhs = graph._aval(eq.ins[0]), graph._aval(eq.ins[1])
    dn = eq.params["dimension_numbers"]
    G = eq.params["feature_group_count"]
    filt, out_sp = _conv_geometry(eq.params, lhs.shape, rhs.shape)
    S = lhs.shape[dn.lhs_spec[0]] * int(np.prod(out_sp))
    C_in = lhs.shape[dn.lhs_spec[1]]
    c_out = rhs.shape[dn.rhs_spec[0]]
    return _Layout(G, S, (C_in // G) * int(np.prod(filt)), c_out // G)


@dataclasses.dataclass
class _Plan:
    modes: dict          # leaf -> "factored" | "direct" | "jacobian" | "unused"
    layouts: dict        # uid -> _Layout (factored uses)
    routes: dict         # (leaf index li, uid) -> "dense" | "gram" | "jac"


def _leaf_modes(graph, n_leaves):
    modes = {}
    for leaf in range(n_leaves):
        us = graph.leaf_uses.get(leaf, [])
        if not us:
            modes[leaf] = "unused"
        elif len(us) == 1 and us[0].origin.coiso and us[0].origin.scale is not None:
            modes[leaf] = "factored" if us[0].kind in ("dot", "conv") else "direct"
        else:
            modes[leaf] = "jacobian"
    return modes


def _make_plan(graph, prob1, prob2, trace_axes, diagonal_axes, graph2=None):
    modes = _leaf_modes(graph, len(prob1.p_leaves))
    if graph2 is not None and graph2 is not graph:
        m2 = _leaf_modes(graph2, len(prob1.p_leaves))
        modes = {k: (v if v == m2[k] else "jacobian") for k, v in modes.items()}
    layouts = {}
    for u in graph.uses:
        if modes[u.leaf] == "factored":
            lay = (_dot_layout if u.kind == "dot" else _conv_layout)(graph, u)
            if graph2 is not None and graph2 is not graph:
                u2 = graph2.uses[u.uid]
                l2 = (_dot_layout if u2.kind == "dot" else _conv_layout)(graph2, u2)
                lay = (lay, l2)
            else:
                lay = (lay, lay)
            layouts[u.uid] = lay
    n1 = prob1.n
    n2 = n1 if prob2 is None else prob2.n
    routes = {}
    for li, (fx, q) in enumerate(zip(prob1.fx_leaves, prob1.out_axes)):
        trace = _canon(trace_axes, fx.ndim)
        diag = _canon(diagonal_axes, fx.ndim)
        k, ktr, kpair = _kernel_sizes(fx.shape, q, trace, diag)
        for uid, (l1, l2) in layouts.items():
            if l1.B * l1.FA == 1 and l2.B * l2.FA == 1:
                routes[(li, uid)] = "dense"
                continue
            routes[(li, uid)] = "gram" if _gram_flops(n1, n2, l1, l2, ktr, kpair) <= \
                _jac_flops(n1, n2, l1, l2, k, ktr, kpair) else "jac"
    return _Plan(modes, layouts, routes)


def _gram_flops(n1, n2, l1, l2, ktr, kpair):
    pr = l1.B * l1.FA * l2.FA
    return 2.0 * n1 * n2 * pr * (l1.Cc + l1.FW * ktr * kpair + kpair)


def _jac_flops(n1, n2, l1, l2, k, ktr, kpair):
    w = l1.B * l1.Cc * l1.FW
    return 2.0 * (n1 * l1.FA + n2 * l2.FA) * k * w + 2.0 * n1 * n2 * ktr * kpair * w


# ---------------------------------------------------------------------------------------------
# Per-use factors
# ---------------------------------------------------------------------------------------------

def _dot_cot(params, pos, a_ndim, c, y_ndim):
    """Cotangent of a dot_general output as (..., B, FA, FW), FA the free axes of the operand
    that is not the parameter (leading axes of c kept)."""
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    a_con, a_bat = (rc, rb) if pos == 0 else (lc, lb)
    nb = len(a_bat)
    nf = a_ndim - len(a_con) - nb
    lead = c.ndim - y_ndim
    y_shape = c.shape[lead:]
    # y = [batch, lhs free, rhs free]; the other operand's free axes come first iff pos == 1.
    if pos == 1:
        perm = list(range(y_ndim))
    else:
        nw = y_ndim - nb - nf
        perm = list(range(nb)) + list(range(nb + nw, y_ndim)) + list(range(nb, nb + nw))
    C = jnp.transpose(c, tuple(range(lead)) + tuple(lead + p for p in perm))
    B = int(np.prod(y_shape[:nb]))
    FA = int(np.prod([y_shape[p] for p in perm[nb:nb + nf]]))
    return C.reshape(c.shape[:lead] + (B, FA, -1))


def _conv_patches(lhs, params, rhs_shape):
    """Input patches of a convolution: (G, S, (C/G) * taps), S = batch x output positions."""
    dn = params["dimension_numbers"]
    lhs_spec = dn.lhs_spec
    G = params["feature_group_count"]
    nsp = len(lhs_spec) - 2
    filt, out_sp = _conv_geometry(params, lhs.shape, rhs_shape)
    x = jnp.transpose(lhs, (lhs_spec[0],) + tuple(lhs_spec[2:]) + (lhs_spec[1],))
    ld, rd, st = params["lhs_dilation"], params["rhs_dilation"], params["window_strides"]
    cfg = [(0, 0, 0)] + [(lo, hi, d - 1) for (lo, hi), d in zip(params["padding"], ld)] + [(0, 0, 0)]
    x = lax.pad(x, jnp.zeros((), x.dtype), cfg)
    taps = []
    for t in itertools.product(*[range(f) for f in filt]):
        start = [0] + [t[i] * rd[i] for i in range(nsp)] + [0]
        limit = [x.shape[0]] + [start[1 + i] + (out_sp[i] - 1) * st[i] + 1 for i in range(nsp)] \
            + [x.shape[-1]]
        taps.append(lax.slice(x, start, limit, (1,) + tuple(st) + (1,)))
    P = jnp.stack(taps, axis=-2)                          # (nb, *out_sp, T, C)
    S = int(np.prod(P.shape[:nsp + 1]))
    T, C = P.shape[-2], P.shape[-1]
    if G == 1:
        return P.reshape(1, S, T * C)
    P = P.reshape(S, T, G, C // G)
    return jnp.transpose(P, (2, 0, 1, 3)).reshape(G, S, T * (C // G))


def _conv_cot(params, c, y_ndim):
    """Cotangent of a conv output as (..., G, S, O/G)."""
    out_spec = params["dimension_numbers"].out_spec
    G = params["feature_group_count"]
    lead = c.ndim - y_ndim
    perm = (out_spec[0],) + tuple(out_spec[2:]) + (out_spec[1],)
    C = jnp.transpose(c, tuple(range(lead)) + tuple(lead + p for p in perm))
    S = int(np.prod(C.shape[lead:-1]))
    C = C.reshape(c.shape[:lead] + (S, G, -1))
    return jnp.moveaxis(C, lead, lead + 1)


def _use_operand(graph, u, ops):
    """The operand a factored use contracts with: the other dot operand, the conv input."""
    return ops[0] if u.kind == "conv" else ops[1 - u.pos]


def _use_A(graph, u, a):
    """Input factor (B, FA, Cc) of a factored use from its other operand `a` (one example)."""
    eq = graph.eqns[u.eqn]
    if u.kind == "dot":
        (lc, rc), (lb, rb) = eq.params["dimension_numbers"]
        a_con, a_bat = (rc, rb) if u.pos == 0 else (lc, lb)
        a_free = [d for d in range(a.ndim) if d not in a_con and d not in a_bat]
        A = jnp.transpose(a, tuple(a_bat) + tuple(a_free) + tuple(a_con))
        nb, nf = len(a_bat), len(a_free)
        return A.reshape(int(np.prod(A.shape[:nb])), int(np.prod(A.shape[nb:nb + nf])), -1)
    return _conv_patches(a, eq.params, graph._aval(eq.ins[1]).shape)


def _weight_grads(graph, u, X, Cj, n_o, chunk):
    """Per-example weight gradients J (N, *o, B, Cc, FW) = sum_p A_p^T C_p of a factored use,
    from its operands X (N, ...) and cotangent factors Cj (N, *o, B, FA, FW): a loop over
    contiguous blocks of `chunk` examples (patches built per block, one batched GEMM each)."""
    n = X.shape[0]
    x_shape, c_shape = X.shape[1:], Cj.shape[1:]
    k = int(np.prod(c_shape[:n_o]))
    b, fa, fw = c_shape[n_o:]

    def squeeze(v):      # size-1 axes would get layouts that cost a copy at the loop's edges
        return v.reshape((v.shape[0],) + tuple(d for d in v.shape[1:] if d != 1))

    def block(a, c):
        e = a.shape[0]
        A = jax.vmap(lambda t: _use_A(graph, u, t))(a.reshape((e,) + x_shape))   # (E, B, FA, Cc)
        if k == 1 and b == 1:     # one output, one group: one plain batched GEMM
            J = jnp.einsum("epc,epw->ecw", A[:, 0], c.reshape(e, fa, fw))
        else:
            J = jnp.einsum("ebpc,ekbpw->ekbcw", A, c.reshape(e, k, b, fa, fw))
        return squeeze(J)

    e = max(1, min(int(chunk), n))
    m = n // e                                   # full blocks (m >= 1), then a partial one
    Xs, Cs = squeeze(X), squeeze(Cj)

    def rows(v):
        return v[:m * e].reshape((m, e) + v.shape[1:])

    J = lax.map(lambda args: block(*args), (rows(Xs), rows(Cs)))
    J = J.reshape((m * e,) + J.shape[2:])
    if m * e < n:
        J = jnp.concatenate([J, block(Xs[m * e:], Cs[m * e:])])
    return J.reshape((n,) + c_shape[:n_o] + (b, -1, fw))


def _use_C(graph, u, c):
    """Cotangent factor (..., B, FA, FW) of a factored use from its output cotangent c."""
    eq = graph.eqns[u.eqn]
    y_ndim = graph.avals[eq.outs[0]].ndim
    if u.kind == "dot":
        a_aval = graph._aval(eq.ins[1 - u.pos])
        return _dot_cot(eq.params, u.pos, a_aval.ndim, c, y_ndim)
    return _conv_cot(eq.params, c, y_ndim)


# ---------------------------------------------------------------------------------------------
# Features (per example, vmapped over examples)
# ---------------------------------------------------------------------------------------------

def _features(prob: _Problem, graph: Graph, plan: _Plan):
    """Per-example factors, vmapped over examples. Returns (shared, per_leaf):
    shared[("A", uid)] -> (N, B, FA, Cc) (dense: (N, Cc)) for gram/dense routes;
    per_leaf[li][...] -> ("T", tap): (N, *o, *tap) cotangents, ("C", uid): (N, *o, B, FA, FW),
    ("J", uid): (N, *o, B, Cc, FW) weight gradients, ("L", leaf): (N, *o, *W) Jacobians."""
    tap_keys = list(graph.taps)
    uses_by_tap = collections.defaultdict(list)
    for u in graph.uses:
        uses_by_tap[u.tap].append(u)
    modes, routes = plan.modes, plan.routes
    n_out = len(prob.fx_leaves)
    need_tap = {t for t, us in uses_by_tap.items()
                if any(modes[u.leaf] == "direct" or
                       (modes[u.leaf] == "factored" and routes[(li, u.uid)] == "dense")
                       for u in us for li in range(n_out))}
    record_eqns = {u.eqn for u in graph.uses if u.kind in ("dot", "conv")
                   and modes[u.leaf] in ("factored", "jacobian")}
    chains = {u.uid: graph.chain_fn(u.origin) for u in graph.uses if modes[u.leaf] == "jacobian"}
    p_leaves = prob.p_leaves

    def one(d_leaves):
        zeros = [jnp.zeros(graph.taps[t].shape, graph.taps[t].dtype) for t in tap_keys]

        def g(deltas):
            rec = dict.fromkeys(record_eqns)
            outs = graph.run(list(p_leaves) + list(d_leaves), dict(zip(tap_keys, deltas)), rec)
            return outs, rec

        outs, vjp_fn, rec = jax.vjp(g, zeros, has_aux=True)
        shared = _shared_factors(graph, plan, n_out, rec)
        per_leaf = []
        for li, o in enumerate(outs):
            k = int(np.prod(o.shape))
            basis = jnp.eye(k, dtype=o.dtype).reshape((k,) + o.shape)

            def ct_of(b, li=li):
                cts = [b if t == li else jnp.zeros(q.shape, q.dtype) for t, q in enumerate(outs)]
                return vjp_fn(cts)[0]

            C = dict(zip(tap_keys, jax.vmap(ct_of)(basis)))      # tap -> (k, *tap)
            per_leaf.append(_output_features(graph, plan, li, o, C, rec, need_tap, chains, p_leaves))
        return shared, per_leaf

    return jax.vmap(one)(prob.data_leaves)


def _shared_factors(graph: Graph, plan: _Plan, n_out, rec):
    """One example's factors shared by every output leaf: ("A", uid) the operand factor of a
    factored use routed "gram"/"dense" for some output, ("X", uid) its operand if routed "jac"."""
    modes, routes = plan.modes, plan.routes
    shared = {}
    for u in graph.uses:
        if modes[u.leaf] == "factored" and any(routes[(li, u.uid)] != "jac"
                                               for li in range(n_out)):
            A = _use_A(graph, u, _use_operand(graph, u, rec[u.eqn]))
            shared[("A", u.uid)] = A.reshape(-1) if A.shape[0] * A.shape[1] == 1 else A
        if modes[u.leaf] == "factored" and any(routes[(li, u.uid)] == "jac" for li in range(n_out)):
            shared[("X", u.uid)] = _use_operand(graph, u, rec[u.eqn])
    return shared


def _output_features(graph: Graph, plan: _Plan, li, o, C, rec, need_tap, chains, p_leaves):
    """One example's features of output leaf `li` (value `o`) from the tap cotangents C
    (tap -> (k, *tap), k = o.size): ("T", tap), ("C"/"Cj", uid) and ("L", leaf), see `_features`."""
    modes, routes = plan.modes, plan.routes
    feats = {}
    for t in need_tap:
        feats[("T", t)] = C[t].reshape(o.shape + C[t].shape[1:])
    J = {}
    for u in graph.uses:
        c = C[u.tap]
        mode = modes[u.leaf]
        if mode == "factored":
            route = routes[(li, u.uid)]
            if route == "dense":
                continue
            Cf = _use_C(graph, u, c)
            feats[("C" if route == "gram" else "Cj", u.uid)] = Cf.reshape(o.shape + Cf.shape[1:])
        elif mode == "jacobian":
            if u.tap_scale != 1.0:
                c = c * jnp.asarray(u.tap_scale, c.dtype)
            gw = _use_weight_grad(graph, u, c, rec, p_leaves[u.leaf], chains[u.uid])
            J[u.leaf] = gw if u.leaf not in J else J[u.leaf] + gw
    for leaf, gw in J.items():
        feats[("L", leaf)] = gw.reshape(o.shape + gw.shape[1:])
    return feats


def _use_weight_grad(graph: Graph, u, c, rec, w, chain):
    """(k, *w.shape): the cotangents c (k, *tap) of use `u` pulled back to its parameter leaf w
    (through the recorded bilinear op for dot/conv uses, then the transpose of the leaf's chain)."""
    if u.kind in ("dot", "conv"):
        eq = graph.eqns[u.eqn]
        ops = rec[u.eqn]
        v = ops[u.pos]

        def bil(vv, eq=eq, ops=ops, pos=u.pos):
            args = list(ops)
            args[pos] = vv
            return eq.bind(*args)[0]

        _, vjp_v = jax.vjp(bil, v)
        gv = jax.vmap(lambda ct, f=vjp_v: f(ct)[0])(c)
    else:
        gv = c
    lt = jax.linear_transpose(chain, jax.ShapeDtypeStruct(jnp.shape(w), jnp.result_type(w)))
    return jax.vmap(lambda a, lt=lt: lt(a)[0])(gv)


# ---------------------------------------------------------------------------------------------
# Contraction
# ---------------------------------------------------------------------------------------------

def _structured(prob1, prob2, graph1, graph2, trace_axes, diagonal_axes, plan):
    s1, f1 = _features(prob1, graph1, plan)
    s2, f2 = (s1, f1) if prob2 is None else _features(prob2, graph2, plan)
    modes = plan.modes
    scale = {u.uid: u.origin.scale * u.tap_scale for u in graph1.uses
             if modes[u.leaf] in ("factored", "direct")}
    outs = []
    for li, fx in enumerate(prob1.fx_leaves):
        trace = _canon(trace_axes, fx.ndim)
        diag = _canon(diagonal_axes, fx.ndim)
        axes = (fx.ndim, prob1.out_axes[li], trace, diag)   # arguments of `_out_labels`
        a, b = f1[li], f2[li]
        terms = (_tap_terms(graph1, plan, li, scale, s1, s2, a, b, axes)
                 + _factored_terms(graph1, graph2, prob2 is None, plan, li, scale, s1, s2, a, b, axes)
                 + _leaf_terms(a, b, axes))
        # summed in this order (tap groups, factored uses, leaf Jacobians)
        total = functools.reduce(operator.add, terms) if terms else _zero_kernel(prob1, prob2, li, trace, diag)
        size = int(np.prod([fx.shape[d] for d in trace])) if trace else 1
        outs.append(total / size if size != 1 else total)
    return jax.tree_util.tree_unflatten(prob1.fx_tree, outs)


def _tap_terms(graph1, plan, li, scale, s1, s2, a, b, axes):
    """Kernel terms of the taps shared by dense dot/conv uses and direct uses: one cotangent Gram
    per tap, weighted by the dense uses' operand Grams plus the direct uses' squared scales."""
    modes, routes = plan.modes, plan.routes
    groups = collections.defaultdict(lambda: [[], 0.0])
    for u in graph1.uses:
        if modes[u.leaf] == "direct":
            groups[u.tap][1] += scale[u.uid] ** 2
        elif modes[u.leaf] == "factored" and routes[(li, u.uid)] == "dense":
            groups[u.tap][0].append(u)
    terms = []
    for tap, (dense, const) in groups.items():
        lab = _Labels()
        o1, o2, oo = _out_labels(lab, *axes)
        n1, n2 = o1[0], o2[0]
        ga_l = n1 + (n2 if n2 != n1 else "")
        T1, T2 = a[("T", tap)], b[("T", tap)]
        ts = lab.new(T1.ndim - len(o1))
        ga = None
        for u in dense:
            c = lab.new()
            g = _gram(s1[("A", u.uid)], s2[("A", u.uid)], n1 + c, n2 + c, ga_l)
            g = g * jnp.asarray(scale[u.uid] ** 2, g.dtype)
            ga = g if ga is None else ga + g
        if ga is None:
            term = _gram(T1, T2, o1 + ts, o2 + ts, oo) * jnp.asarray(const, T1.dtype)
        else:
            if const:
                ga = ga + jnp.asarray(const, ga.dtype)
            if all(c in oo for c in ga_l):
                term = jnp.einsum(f"{ga_l},{oo}->{oo}", ga, _gram(T1, T2, o1 + ts, o2 + ts, oo))
            else:       # the example axis is traced: multiply before summing over it
                term = jnp.einsum(f"{ga_l},{o1}{ts},{o2}{ts}->{oo}", ga, T1, T2,
                                  optimize=[(1, 2), (0, 1)])
        terms.append(term)
    return terms


def _factored_terms(graph1, graph2, same, plan, li, scale, s1, s2, a, b, axes):
    """Kernel terms of the factored dot/conv uses not routed "dense": the four-factor "gram"
    contraction, or ("jac") the Gram of their weight gradients, times the use's squared scale."""
    modes, routes = plan.modes, plan.routes
    terms = []
    for u in graph1.uses:
        if modes[u.leaf] != "factored" or routes[(li, u.uid)] == "dense":
            continue
        lab = _Labels()
        o1, o2, oo = _out_labels(lab, *axes)
        n1, n2 = o1[0], o2[0]
        bb, p, r, c, w = lab.new(5)
        if routes[(li, u.uid)] == "gram":
            term = jnp.einsum(f"{n1}{bb}{p}{c},{n2}{bb}{r}{c},{o1}{bb}{p}{w},{o2}{bb}{r}{w}->{oo}",
                              s1[("A", u.uid)], s2[("A", u.uid)], a[("C", u.uid)],
                              b[("C", u.uid)], optimize=[(0, 1), (0, 1), (0, 1)])
        else:
            n_o = len(o1) - 1
            J1 = _weight_grads(graph1, u, s1[("X", u.uid)], a[("Cj", u.uid)], n_o, _J_CHUNK)
            J2 = J1 if same else _weight_grads(graph2, graph2.uses[u.uid], s2[("X", u.uid)],
                                               b[("Cj", u.uid)], n_o, _J_CHUNK)
            term = _gram(J1, J2, f"{o1}{bb}{c}{w}", f"{o2}{bb}{c}{w}", oo)
        s = scale[u.uid]
        terms.append(term if s == 1.0 else term * jnp.asarray(s * s, term.dtype))
    return terms


def _leaf_terms(a, b, axes):
    """Kernel terms of the parameter leaves whose Jacobians are materialized ("L" features)."""
    terms = []
    for key in a:
        if key[0] != "L":
            continue
        lab = _Labels()
        o1, o2, oo = _out_labels(lab, *axes)
        X1, X2 = a[key], b[key]
        ps = lab.new(X1.ndim - len(o1))
        terms.append(_gram(X1, X2, o1 + ps, o2 + ps, oo))
    return terms


def _gram(X1, X2, l1, l2, out):
    """einsum(l1, l2 -> out) of two feature arrays, as one 2-D GEMM X1 X2^T when the only free
    axes are the leading example axes (the common case: trace over all outputs)."""
    if X1.ndim >= 2 and out == l1[0] + l2[0] and l1[0] != l2[0] and l1[1:] == l2[1:] and \
            len(set(l1[1:])) == len(l1) - 1:
        a = X1.reshape(X1.shape[0], -1)
        b = X2.reshape(X2.shape[0], -1)
        return lax.dot_general(a, b, (((1,), (1,)), ((), ())))
    return jnp.einsum(f"{l1},{l2}->{out}", X1, X2)


def _zero_kernel(prob1, prob2, li, trace, diag):
    s1 = prob1.fx_leaves[li].shape
    s2 = (prob2 or prob1).fx_leaves[li].shape
    shape = []
    for d in range(len(s1)):
        if d in trace:
            continue
        shape += [s1[d]] if d in diag else [s1[d], s2[d]]
    return jnp.zeros(shape, prob1.fx_leaves[li].dtype)


# -- implementation 1 ---------------------------------------------------------------------------

def _jacobians(prob: _Problem):
    def one(d_leaves):
        return [jax.jacrev(lambda p, li=li: prob.f1(p, d_leaves)[li])(list(prob.p_leaves))
                for li in range(len(prob.fx_leaves))]

    return jax.vmap(one)(prob.data_leaves)


def _jacobian_contraction(prob1, prob2, trace_axes, diagonal_axes):
    j1 = _jacobians(prob1)
    j2 = j1 if prob2 is None else _jacobians(prob2)
    outs = []
    for li, fx in enumerate(prob1.fx_leaves):
        trace = _canon(trace_axes, fx.ndim)
        diag = _canon(diagonal_axes, fx.ndim)
        total = None
        for X1, X2 in zip(j1[li], j2[li]):
            lab = _Labels()
            o1, o2, oo = _out_labels(lab, fx.ndim, prob1.out_axes[li], trace, diag)
            ps = lab.new(X1.ndim - len(o1))
            t = jnp.einsum(f"{o1}{ps},{o2}{ps}->{oo}", X1, X2)
            total = t if total is None else total + t
        if total is None:
            total = _zero_kernel(prob1, prob2, li, trace, diag)
        size = int(np.prod([fx.shape[d] for d in trace])) if trace else 1
        outs.append(total / size if size != 1 else total)
    return jax.tree_util.tree_unflatten(prob1.fx_tree, outs)


# -- implementation 2 ---------------------------------------------------------------------------

def _ntvp(f, params, x1, x2, kw1, kw2, trace_axes, diagonal_axes, chunk=None):
    fa = lambda p: tree_leaves(f(p, x1, **kw1))  # noqa: E731
    fb = fa if x2 is None else (lambda p: tree_leaves(f(p, x2, **kw2)))
    out1 = jax.eval_shape(fa, params)
    out2, vjp_fn = jax.vjp(fb, params)
    fx_tree = jax.tree_util.tree_structure(jax.eval_shape(lambda p: f(p, x1, **kw1), params))
    outs = []
    for li, (o1, o2) in enumerate(zip(out1, out2)):
        k2 = int(np.prod(o2.shape))
        basis = jnp.eye(k2, dtype=o2.dtype).reshape((k2,) + o2.shape)

        def col(e, li=li):
            cts = [e if t == li else jnp.zeros(q.shape, q.dtype) for t, q in enumerate(out2)]
            (tangent,) = vjp_fn(cts)
            return jax.jvp(fa, (params,), (tangent,))[1][li]

        cols = lax.map(col, basis, batch_size=min(chunk or k2, k2))      # (k2, *o1)
        full = jnp.moveaxis(cols.reshape(o2.shape + o1.shape), tuple(range(o2.ndim)),
                            tuple(range(o1.ndim, o1.ndim + o2.ndim)))    # (*o1, *o2)
        trace = _canon(trace_axes, o1.ndim)
        diag = _canon(diagonal_axes, o1.ndim)
        lab = _Labels()
        l1, l2, oo = _out_labels(lab, o1.ndim, 0, trace, diag)
        K = jnp.einsum(f"{l1}{l2}->{oo}", full)
        size = int(np.prod([o1.shape[d] for d in trace])) if trace else 1
        outs.append(K / size if size != 1 else K)
    return jax.tree_util.tree_unflatten(fx_tree, outs)


# ---------------------------------------------------------------------------------------------
# Cost model
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Cost:
    """FLOP and peak-memory estimate of one implementation, and (structured) the path of every
    parameter leaf: rows of dicts {param, shape, uses, path, why}."""
    implementation: int
    flops: float
    memory: float
    rows: list = dataclasses.field(default_factory=list)


def _itemsize(prob):
    return max([jnp.dtype(s.dtype).itemsize for s in prob.fx_leaves] + [4])


def _fwd_flops(graph):
    """(all FLOPs, dot/conv FLOPs) of one forward pass of the traced program."""
    tot = mm = 0.0
    for e, eq in enumerate(graph.eqns):
        if e in graph.folded:
            continue
        if eq.name == "dot_general":
            (lc, _), _ = eq.params["dimension_numbers"]
            lhs = graph._aval(eq.ins[0])
            con = int(np.prod([lhs.shape[d] for d in lc]))
            mm += 2.0 * graph.avals[eq.outs[0]].size * con
        elif eq.name == "conv_general_dilated":
            rhs = graph._aval(eq.ins[1]).shape
            per = int(np.prod(rhs)) // rhs[eq.params["dimension_numbers"].rhs_spec[0]]
            mm += 2.0 * graph.avals[eq.outs[0]].size * per
        else:
            tot += sum(float(np.prod(graph.avals[v].shape)) for v in eq.outs)
    return tot + mm, mm


def _out_info(prob1, trace_axes, diagonal_axes):
    res = []
    for fx, q in zip(prob1.fx_leaves, prob1.out_axes):
        trace = _canon(trace_axes, fx.ndim)
        diag = _canon(diagonal_axes, fx.ndim)
        res.append(_kernel_sizes(fx.shape, q, trace, diag))
    return res


def _out_bytes(prob1, n1, n2, info):
    return sum(n1 * n2 * kpair * _itemsize(prob1) for _, _, kpair in info)


def _cost_structured(prob1, prob2, graph, plan, info):
    n1 = prob1.n
    n2 = n1 if prob2 is None else prob2.n
    isz = _itemsize(prob1)
    fwd, mm = _fwd_flops(graph)
    ks = [k for k, _, _ in info]
    n_ex = n1 + (n2 if prob2 is not None else 0)
    flops = n_ex * fwd * (1 + sum(ks))     # forward, then a backward pass to the taps per unit
    feat = 0.0      # numbers per example of all features
    tap_bytes = {t: float(np.prod(a.shape)) for t, a in graph.taps.items()}
    for li, (k, ktr, kpair) in enumerate(info):
        feat += k * sum(tap_bytes.values())           # cotangents at every tap
        groups = set()
        for u in graph.uses:
            mode = plan.modes[u.leaf]
            if mode == "direct":
                groups.add(u.tap)
            elif mode == "factored":
                l1, l2 = plan.layouts[u.uid]
                route = plan.routes[(li, u.uid)]
                if route == "dense":
                    groups.add(u.tap)
                    flops += 2.0 * n1 * n2 * l1.Cc
                    feat += l1.Cc
                elif route == "gram":
                    flops += _gram_flops(n1, n2, l1, l2, ktr, kpair)
                    feat += l1.B * l1.FA * (l1.Cc + k * l1.FW)
                else:
                    w = l1.B * l1.Cc * l1.FW
                    flops += 2.0 * n_ex * k * l1.FA * w + 2.0 * n1 * n2 * ktr * kpair * w
                    feat += l1.B * l1.FA * l1.Cc + k * l1.B * (l1.FA + l1.Cc) * l1.FW
            elif mode == "jacobian":
                size = float(np.prod(np.shape(prob1.p_leaves[u.leaf])))
                share = 1.0 / max(1, len(graph.leaf_uses[u.leaf]))
                flops += (2.0 * n1 * n2 * ktr * kpair * size + n_ex * k * _use_mm(graph, u)) * share
                feat += k * size * share
        for t in groups:
            flops += 2.0 * n1 * n2 * ktr * kpair * tap_bytes[t]
    inter = 0.0     # largest Gram-route intermediate
    for (li, uid), route in plan.routes.items():
        if route == "gram":
            l1, l2 = plan.layouts[uid]
            inter = max(inter, n1 * n2 * l1.B * l1.FA * l2.FA * info[li][2])
    mem = (feat * n_ex + 2 * inter) * isz + 2 * _out_bytes(prob1, n1, n2, info)
    return flops, mem


def _use_mm(graph, u):
    """FLOPs of the weight gradient at a dot/conv use (= its forward FLOPs), else its size."""
    if u.kind in ("dot", "conv"):
        eq = graph.eqns[u.eqn]
        if u.kind == "dot":
            (lc, _), _ = eq.params["dimension_numbers"]
            con = int(np.prod([graph._aval(eq.ins[0]).shape[d] for d in lc]))
        else:
            rhs = graph._aval(eq.ins[1]).shape
            con = int(np.prod(rhs)) // rhs[eq.params["dimension_numbers"].rhs_spec[0]]
        return 2.0 * graph.avals[eq.outs[0]].size * con
    return float(np.prod(graph.taps[u.tap].shape))


def _cost_jacobian(prob1, prob2, graph, info):
    """Per-example reverse mode: forward, then per output unit the backward pass with every
    weight gradient; Gram of the Jacobians."""
    n1 = prob1.n
    n2 = n1 if prob2 is None else prob2.n
    P = float(sum(np.prod(np.shape(p)) for p in prob1.p_leaves))
    fwd, mm = _fwd_flops(graph)
    ks = [k for k, _, _ in info]
    n_ex = n1 + (n2 if prob2 is not None else 0)
    flops = n_ex * (fwd + (fwd + 2 * mm) * sum(ks)) + \
        sum(2.0 * n1 * n2 * ktr * kpair * P for _, ktr, kpair in info)
    mem = (n_ex * sum(ks) * P * 1.5) * _itemsize(prob1) + 2 * _out_bytes(prob1, n1, n2, info)
    return flops, mem


def _cost_ntvp(prob1, prob2, graph, info, chunk=None):
    """NTK-vector products: per output unit of x2, a VJP over x2 and a JVP over x1."""
    n1 = prob1.n
    n2 = n1 if prob2 is None else prob2.n
    P = float(sum(np.prod(np.shape(p)) for p in prob1.p_leaves))
    fwd, mm = _fwd_flops(graph)
    k2 = n2 * sum(k for k, _, _ in info)
    flops = k2 * (n1 + n2) * (fwd + 2 * mm)
    c = min(chunk or k2, k2)
    k1 = n1 * sum(k for k, _, _ in info)
    mem = (c * (P + k1) * 2 + k1 * k2) * _itemsize(prob1) + 2 * _out_bytes(prob1, n1, n2, info)
    return flops, mem


def _explain_rows(graph, plan, prob):
    paths = [jax.tree_util.keystr(k) for k, _ in
             jax.tree_util.tree_flatten_with_path(prob.params)[0]]
    rows = []
    for leaf, mode in plan.modes.items():
        us = graph.leaf_uses.get(leaf, [])
        kinds = ", ".join(u.kind if u.kind != "generic" else f"generic ({graph.prim_of(u)})"
                          for u in us)
        if mode == "jacobian":
            if len(us) > 1:
                why = f"Jacobian fallback: used {len(us)} times"
            elif not us[0].origin.coiso:
                why = "Jacobian fallback: reaches its use through a map that is not co-isometric " \
                      "(broadcast, masking, sum, padding)"
            else:
                why = "Jacobian fallback"
        else:
            routes = sorted({r for (li, uid), r in plan.routes.items()
                             if uid in {u.uid for u in us}})
            why = {"factored": "structured: " + "/".join(
                       {"dense": "input Gram x cotangent Gram", "gram": "patch Grams",
                        "jac": "per-example weight gradient"}[r] for r in routes),
                   "direct": "structured: its cotangent is its Jacobian",
                   "unused": "unused (zero)"}[mode]
        rows.append({"param": paths[leaf], "shape": tuple(np.shape(prob.p_leaves[leaf])),
                     "uses": kinds, "path": "jacobian" if mode == "jacobian" else
                     ("unused" if mode == "unused" else "structured"), "why": why})
    return rows


# ---------------------------------------------------------------------------------------------
# Resolution of an implementation and evaluation
# ---------------------------------------------------------------------------------------------

class _Setup:
    """Problems, graphs and plan of one call (shapes only until `run`)."""

    def __init__(self, f, params, x1, x2, trace_axes, diagonal_axes, vmap_axes, kwargs):
        kw1, kw2 = _split_kwargs(kwargs, x1, x2)
        self.f, self.params, self.x1, self.x2, self.kw1, self.kw2 = f, params, x1, x2, kw1, kw2
        self.trace_axes, self.diagonal_axes = trace_axes, diagonal_axes
        self.prob1 = _Problem(f, params, x1, kw1, vmap_axes)
        self.prob2 = None if x2 is None else _Problem(f, params, x2, kw2, vmap_axes)
        if self.prob2 is not None:
            _check_same_structure(self.prob1, self.prob2)
        self.info = _out_info(self.prob1, trace_axes, diagonal_axes)
        self._graphs = None
        self._plan = None

    @property
    def graphs(self):
        if self._graphs is None:
            g1 = _graph_of(self.prob1)
            g2 = g1
            if self.prob2 is not None and not self.prob2.batched:
                g2 = _graph_of(self.prob2)
                sig = lambda g: [(u.leaf, u.kind, u.pos, u.eqn) for u in g.uses]  # noqa: E731
                if sig(g1) != sig(g2):
                    g2 = None      # x1 / x2 traced to different programs
            self._graphs = (g1, g2)
        return self._graphs

    @property
    def plan(self):
        if self._plan is None:
            g1, g2 = self.graphs
            self._plan = _make_plan(g1, self.prob1, self.prob2, self.trace_axes,
                                    self.diagonal_axes, g2)
        return self._plan

    def cost(self, impl, chunk=None):
        g1, g2 = self.graphs
        if impl == 3:
            if g2 is None:
                return Cost(3, *_cost_jacobian(self.prob1, self.prob2, g1, self.info))
            return Cost(3, *_cost_structured(self.prob1, self.prob2, g1, self.plan, self.info),
                        _explain_rows(g1, self.plan, self.prob1))
        if impl == 1:
            return Cost(1, *_cost_jacobian(self.prob1, self.prob2, g1, self.info))
        return Cost(2, *_cost_ntvp(self.prob1, self.prob2, g1, self.info, chunk))

    def resolve(self, impl, memory_budget=None):
        """The implementation `auto` picks: fewest FLOPs among those that fit the budget."""
        if impl != 0:
            return impl
        costs = [self.cost(i) for i in (3, 1, 2)]
        fit = [c for c in costs if memory_budget is None or c.memory <= memory_budget]
        if not fit:
            return min(costs, key=lambda c: c.memory).implementation
        best = min(c.flops for c in fit)
        # prefer structured, then Jacobian, within 20% of the cheapest
        return next(c.implementation for c in fit if c.flops <= 1.2 * best)

    def run(self, impl, chunk=None):
        if impl == 2:
            return _ntvp(self.f, self.params, self.x1, self.x2, self.kw1, self.kw2,
                         self.trace_axes, self.diagonal_axes, chunk)
        if impl == 1:
            return _jacobian_contraction(self.prob1, self.prob2, self.trace_axes, self.diagonal_axes)
        g1, g2 = self.graphs
        if g2 is None:
            return _jacobian_contraction(self.prob1, self.prob2, self.trace_axes, self.diagonal_axes)
        try:
            return _structured(self.prob1, self.prob2, g1, g2, self.trace_axes, self.diagonal_axes,
                               self.plan)
        except (ValueError, TypeError, NotImplementedError) as e:
            # a primitive whose re-evaluation JAX cannot differentiate in reverse mode: contract
            # the Jacobians of the original function instead
            warnings.warn(f"structured empirical NTK: falling back to Jacobian contraction ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200]})", RuntimeWarning, stacklevel=2)
            return _jacobian_contraction(self.prob1, self.prob2, self.trace_axes, self.diagonal_axes)


def _check_same_structure(prob1, prob2):
    if prob1.data_tree != prob2.data_tree:
        raise ValueError("x1 and x2 must have the same structure.")
    if prob2.batched:
        for a, b in zip(prob1.example_avals(), prob2.example_avals()):
            if a.shape != b.shape:
                raise ValueError(f"x1 and x2 examples must have the same shape, got {a.shape} and "
                                 f"{b.shape} (x1 {prob1.n} examples, x2 {prob2.n}).")
    else:
        for a, b in zip(prob1.data_leaves, prob2.data_leaves):
            if a.shape[2:] != b.shape[2:] or a.ndim != b.ndim:
                raise ValueError(f"x1 and x2 must have the same shape except along the batch axis, "
                                 f"got {a.shape[1:]} and {b.shape[1:]}.")


def ntk_impl(f, params, x1, x2, trace_axes, diagonal_axes, vmap_axes, impl, memory_budget=None,
             chunk=None, **kwargs):
    """Empirical NTK with implementation `impl` (0 resolves by the cost model), traced inline."""
    s = _Setup(f, params, x1, x2, trace_axes, diagonal_axes, vmap_axes, kwargs)
    return s.run(s.resolve(impl, memory_budget), chunk)


def estimate(f, params, x1, x2=None, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None,
             implementation=0, memory_budget=None, chunk=None, **kwargs) -> Cost:
    """Cost of the implementation `implementation` resolves to (shapes only: x1 / x2 may be
    `jax.ShapeDtypeStruct`s); for 3 with the path of every parameter leaf."""
    impl = _check_impl(implementation)
    x1s = tree_map(_as_struct, x1)
    x2s = None if x2 is None else tree_map(_as_struct, x2)
    ps = tree_map(_as_struct, params)
    s = _Setup(f, ps, x1s, x2s, trace_axes, diagonal_axes, vmap_axes, kwargs)
    return s.cost(s.resolve(impl, memory_budget), chunk)


def _as_struct(a):
    if isinstance(a, jax.ShapeDtypeStruct):
        return a
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return jax.ShapeDtypeStruct(a.shape, a.dtype)
    return a


# ---------------------------------------------------------------------------------------------
# Compiled programs (jit once per function, configuration and static keyword arguments)
# ---------------------------------------------------------------------------------------------

def _is_array(v):
    return isinstance(v, (jax.Array, np.ndarray, np.generic)) or (
        hasattr(v, "shape") and hasattr(v, "dtype"))


def _split_static(kwargs):
    dyn, static = {}, {}
    for k, v in kwargs.items():
        leaves = tree_leaves(v)
        if leaves and all(_is_array(a) for a in leaves):
            dyn[k] = v
        else:
            static[k] = v
    try:
        key = tuple(sorted(static.items()))
        hash(key)
    except TypeError:
        key = None
    return dyn, static, key


class _FnCache:
    """Compiled programs per user function (weakly keyed when possible)."""

    def __init__(self):
        self._weak = weakref.WeakKeyDictionary()
        self._strong = collections.OrderedDict()

    def get(self, f, key, build):
        try:
            d = self._weak.setdefault(f, {})
        except TypeError:
            fk = id(f)
            if fk not in self._strong:
                self._strong[fk] = (f, {})
                while len(self._strong) > 64:
                    self._strong.popitem(last=False)
            d = self._strong[fk][1]
        if key not in d:
            d[key] = build()
        return d[key]


_PROGRAMS = _FnCache()


def _program(f, cfg, static_key, static_kw, same):
    """jit of (x1, x2, params, dyn_kwargs) -> kernel for one configuration."""
    trace_axes, diagonal_axes, vmap_axes, impl, budget, chunk = cfg

    def build():
        def fn(x1, x2, params, dyn):
            return ntk_impl(f, params, x1, None if same else x2, trace_axes, diagonal_axes,
                            vmap_axes, impl, budget, chunk, **dyn, **static_kw)

        return _xla.jit(fn)

    if static_key is None:
        return build()
    return _PROGRAMS.get(f, (cfg, static_key, same), build)


def _hashable_axes(a):
    if a is None or isinstance(a, (int, np.integer)):
        return a
    if isinstance(a, dict):
        return tuple(sorted((k, _hashable_axes(v)) for k, v in a.items()))
    return tuple(_hashable_axes(v) for v in a)


def compute(f, x1, x2, params, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None,
            implementation=0, memory_budget=None, chunk=None, **kwargs):
    """Empirical NTK through a cached jitted program (one compile per configuration/shapes)."""
    impl = _check_impl(implementation)
    _check_vmap_axes(vmap_axes, x1, x2)
    dyn, static, skey = _split_static(kwargs)
    if "rng" in dyn and x2 is not None:
        # NT's rule compares x1 and x2 by value: do it here, outside the compiled program.
        r = dyn.pop("rng")
        if not (isinstance(r, tuple) and len(r) == 2):
            dyn["rng"] = (r, r if _same(x1, x2) else jax.random.fold_in(r, 1))
        else:
            dyn["rng"] = r
    cfg = (_hashable_axes(trace_axes), _hashable_axes(diagonal_axes), _hashable_axes(vmap_axes),
           impl, memory_budget, chunk)
    prog = _program(f, cfg, skey, static, x2 is None)
    return prog(x1, x1 if x2 is None else x2, params, dyn)


# ---------------------------------------------------------------------------------------------
# Public NT-style functions
# ---------------------------------------------------------------------------------------------

def _check_vmap_axes(vmap_axes, x1, x2):
    """An integer `vmap_axes` must name an axis of the (array) inputs; ValueError otherwise."""
    if vmap_axes is None or isinstance(vmap_axes, bool) or not isinstance(vmap_axes, (int, np.integer)):
        return
    for name, x in (("x1", x1), ("x2", x2)):
        nd = getattr(x, "ndim", None)
        if nd is not None and not -nd <= int(vmap_axes) < nd:
            raise ValueError(f"vmap_axes={vmap_axes} is not an axis of {name} (shape {tuple(x.shape)}): use the "
                             "batch axis of the inputs, e.g. vmap_axes=0, or None.")


def _check_key(key, name: str = "key"):
    """A jax.random key (typed, or the raw uint32 pair of jax.random.PRNGKey); TypeError otherwise."""
    dt = getattr(key, "dtype", None)
    ok = dt is not None and (jnp.issubdtype(dt, jax.dtypes.prng_key)
                             or (np.dtype(dt) == np.uint32 and tuple(np.shape(key)) == (2,)))
    if not ok:
        raise TypeError(f"{name} must be a jax.random key, e.g. jax.random.PRNGKey(0), got {key!r}.")
    return key


def _check_impl(implementation):
    try:
        impl = int(implementation)
    except (TypeError, ValueError):
        impl = None
    if impl not in IMPLEMENTATIONS or isinstance(implementation, bool):
        raise ValueError(f"implementation must be 0 (auto), 1 (Jacobian contraction), 2 (NTK-vector "
                         f"products) or 3 (structured derivatives), got {implementation!r}.")
    return impl


def _check_fn(f, name="apply_fn"):
    if not callable(f):
        raise TypeError(f"{name} must be a function apply_fn(params, x, **kwargs), got {f!r}.")


def empirical_ntk_fn(f, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None, implementation=0,
                     _j_rules=True, _s_rules=True, _fwd=None):
    """NT-style empirical NTK: returns ntk_fn(x1, x2, params, **apply_fn_kwargs).

    Kernel shape: zip(f(x1).shape, f(x2).shape) with `trace_axes` removed (and averaged over)
    and `diagonal_axes` kept once; for pytree outputs a pytree of kernels (no cross terms).
    x2=None means x2 = x1. `implementation`: 0 auto (cost model), 1 Jacobian contraction, 2
    NTK-vector products, 3 structured derivatives (module docstring). Array keyword arguments are
    traced, others are static; the program is compiled once per configuration and shapes.
    `_j_rules`, `_s_rules`, `_fwd` are accepted for NT compatibility and ignored.
    """
    _check_fn(f)
    impl = _check_impl(implementation)
    _canon_check(trace_axes, "trace_axes")
    _canon_check(diagonal_axes, "diagonal_axes")

    def ntk_fn(x1, x2, params, **apply_fn_kwargs):
        out = compute(f, x1, x2, params, trace_axes, diagonal_axes, vmap_axes, impl, **apply_fn_kwargs)
        return _checked(out, "empirical_ntk_fn", x1, x2, params)

    return ntk_fn


def _checked(out, what, x1, x2, params):
    """`out` unless it holds NaN/inf, then NonFiniteError naming the cause (ntk._health); array inputs
    are diagnosed for NaN / overflow, pytree inputs only through the parameters."""
    from . import _health as H

    def arr(x):
        return x if isinstance(x, (np.ndarray, jax.Array)) else None

    return H.check_kernel_output(out, what, arr(x1), arr(x2), params=params)


def _canon_check(axes, name):
    try:
        _ = tuple([] if axes is None else ([axes] if isinstance(axes, (int, np.integer)) else axes))
        if not all(isinstance(a, (int, np.integer)) for a in _):
            raise TypeError
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {axes!r}.") from None


def empirical_nngp_fn(f, trace_axes=(-1,), diagonal_axes=()):
    """NT-style empirical NNGP: nngp_fn(x1, x2, params, **kwargs) = f(x1) f(x2)^T / size(trace)."""
    _check_fn(f)

    def nngp_fn(x1, x2, params, **apply_fn_kwargs):
        kw1, kw2 = _split_kwargs(apply_fn_kwargs, x1, x2)
        out1 = f(params, x1, **kw1)
        out2 = out1 if x2 is None else f(params, x2, **kw2)

        def one(a, b):
            trace = _canon(trace_axes, a.ndim)
            diag = _canon(diagonal_axes, a.ndim)
            lab = _Labels()
            l1, l2, oo = [], [], []
            for d in range(a.ndim):
                s = lab.new()
                t = s if (d in trace or d in diag) else lab.new()
                l1.append(s)
                l2.append(t)
                if d in diag:
                    oo.append(s)
                elif d not in trace:
                    oo += [s, t]
            k = jnp.einsum(f"{''.join(l1)},{''.join(l2)}->{''.join(oo)}", a, b)
            size = int(np.prod([a.shape[d] for d in trace])) if trace else 1
            return k / size if size != 1 else k

        return tree_map(one, out1, out2)

    return nngp_fn


def empirical_kernel_fn(f, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None, implementation=0,
                        _j_rules=True, _s_rules=True, _fwd=None):
    """NT-style kernel_fn(x1, x2, get, params, **kwargs); get in "nngp", "ntk" or a tuple of them
    (None = ("nngp", "ntk")): an array for a string, a namedtuple `EmpiricalKernel` for a tuple."""
    fns = {"nngp": empirical_nngp_fn(f, trace_axes, diagonal_axes),
           "ntk": empirical_ntk_fn(f, trace_axes, diagonal_axes, vmap_axes, implementation)}

    def kernel_fn(x1, x2, get, params, **apply_fn_kwargs):
        g = ("nngp", "ntk") if get is None else get
        names = (g,) if isinstance(g, str) else tuple(g)
        for n in names:
            if n not in fns:
                raise ValueError(f"get must be 'nngp', 'ntk' or a tuple of them, got {get!r}.")
        vals = {n: fns[n](x1, x2, params, **apply_fn_kwargs) for n in names}
        if isinstance(g, str):
            return vals[g]
        return _namedtuple("EmpiricalKernel", names)(*[vals[n] for n in names])

    return kernel_fn


@functools.lru_cache(maxsize=32)
def _namedtuple(name, fields):
    return collections.namedtuple(name, fields)


# ---------------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------------

def monte_carlo_kernel_fn(init_fn, apply_fn, key, n_samples, batch_size=0, device_count=-1,
                          store_on_device=True, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None,
                          implementation=0, _j_rules=True, _s_rules=True, _fwd=None):
    """NT-style Monte Carlo estimate of the NNGP / NTK over random initialisations.

    `init_fn(key, input_shape) -> (output_shape, params)`; each sample splits `key` and draws
    params with its first half (the second half goes to `apply_fn` as `rng=` when it accepts
    one). Returns kernel_fn(x1, x2=None, get=None, **kwargs) -> the mean over `n_samples` samples;
    with `n_samples` a list / tuple, a generator yielding the running mean at each requested count.
    `batch_size` > 0 computes each sample in (batch_size x batch_size) blocks;
    `device_count` / `store_on_device` are accepted for NT compatibility.
    """
    _check_fn(apply_fn)
    _check_fn(init_fn, "init_fn")
    _check_key(key)
    if isinstance(n_samples, (list, tuple, set)):
        counts = sorted({int(n) for n in n_samples})
        generator = True
    else:
        counts = [int(n_samples)]
        generator = False
    if not counts or counts[0] <= 0:
        raise ValueError(f"n_samples must be positive (an int or a list of ints), got {n_samples!r}.")
    takes_rng = _accepts_kwarg(apply_fn, "rng")
    kfn = empirical_kernel_fn(apply_fn, trace_axes, diagonal_axes, vmap_axes, implementation)

    @functools.partial(_xla.jit, static_argnames=("get",))
    def one_sample(x1, x2, k, get, kwargs):
        k_init, k_apply = jax.random.split(k)
        _, params = init_fn(k_init, tree_map(lambda a: a.shape, x1))
        kw = dict(kwargs)
        if takes_rng:
            kw["rng"] = k_apply
        if batch_size and batch_size > 0:
            return _blocked_kernel(kfn, x1, x2, get, params, kw, batch_size)
        return kfn(x1, x2, get, params, **kw)

    def samples(x1, x2, get, kwargs):
        k = key
        acc = None
        for n in range(1, counts[-1] + 1):
            k, sub = jax.random.split(k)
            s = one_sample(x1, x2, sub, get, kwargs)
            acc = s if acc is None else tree_map(operator.add, acc, s)
            if n in counts:
                yield n, tree_map(lambda a, n=n: a / n, acc)

    def kernel_fn(x1, x2=None, get=None, **apply_fn_kwargs):
        g = get if get is None or isinstance(get, str) else tuple(get)
        if generator:
            return (v for _, v in samples(x1, x2, g, apply_fn_kwargs))
        for _, v in samples(x1, x2, g, apply_fn_kwargs):
            out = v
        return out

    return kernel_fn


def _blocked_kernel(kfn, x1, x2, get, params, kw, batch_size):
    """Row x column blocks of kfn over the leading (batch) axis; kernels' first two axes are
    (n1, n2)."""
    xb = x1 if x2 is None else x2
    n1, n2 = x1.shape[0], xb.shape[0]
    rows = []
    for i in range(0, n1, batch_size):
        cols = [kfn(x1[i:i + batch_size], xb[j:j + batch_size], get, params, **kw)
                for j in range(0, n2, batch_size)]
        rows.append(tree_map(lambda *c: jnp.concatenate(c, axis=1), *cols))
    return tree_map(lambda *r: jnp.concatenate(r, axis=0), *rows)


def _accepts_kwarg(fn, name):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(p.kind == p.VAR_KEYWORD or p.name == name for p in sig.parameters.values())


__all__ = ["empirical_ntk_fn", "empirical_nngp_fn", "empirical_kernel_fn",
           "monte_carlo_kernel_fn", "estimate", "compute", "ntk_impl", "Cost", "IMPLEMENTATIONS",
           "NtkImplementation"]
