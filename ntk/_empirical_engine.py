"""Empirical NTK engine for any JAX function `apply_fn(params, x, **kwargs)` (NT 0.6.5 surface).

    Theta(x1, x2) = sum_p  df(x1)/dp  df(x2)/dp^T        (per output leaf, NT's kernel layout)

Implementations (`implementation=`, NT's numbering):
  1  Jacobian contraction: per-example Jacobians (vmap of jacrev when `vmap_axes` is given), then
     contracted over parameters.
  2  NTK-vector products: for every output cotangent of f(x2) a VJP, pushed through a JVP of f(x1);
     no Jacobian is stored.
  3  Structured derivatives from the jaxpr: `apply_fn` is traced to a jaxpr with the parameters as
     inputs. Every *use* of a parameter W is found: W reaches an equation through a chain of linear
     ops (transpose, reshape, broadcast, convert, scaling by constants). At a use in
        dot_general   y = A . V          the kernel term is  sum (A1 A2^T) * (C1 C2^T)
        conv          y = conv(A, V)     the same with A = patches of A (positions x filter taps)
     where C = df/dy is the cotangent at that use's output (a zero "tap" added to y; its VJP gives
     C), A the other operand's primal value, * the element-wise product over shared positions and
     the sums run over positions: the kernel is built from input Grams and cotangent Grams without
     the Jacobian (opt_einsum picks the cheaper order per use: Grams, or per-example Jacobians
     V-sized when positions make the Grams larger). This needs the chain W -> V to be an isometry
     up to a scalar c (then <dW1, dW2> = c^2 <dV1, dV2>) and W to have one use. Parameters used
     several times (tied weights), through non-isometric chains (broadcasts, masks) or by other
     primitives take the fallback: their per-example Jacobian dW = sum_uses L_u^T(G_u) (G_u from
     the same taps; L_u^T the transpose of the chain), contracted like implementation 1.
  0  auto: 3 unless its memory estimate is above the budget, then 1, then 2.

`vmap_axes` (NT's meaning): f(params, x) is the concatenation along `out_axes` of f on slices of x
along `in_axes` (and of kwargs along `kwargs_axes`), so per-example derivatives can be vmapped.
`None` treats the whole batch as one example (correct for any f, N^2 times more work).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jcore

tree_map = jax.tree_util.tree_map
tree_leaves = jax.tree_util.tree_leaves

# Linear ops that may sit between a parameter and its use (a "chain"). Isometric ones preserve
# inner products (up to the scalar factor tracked separately).
_ISOMETRIC = {"transpose", "reshape", "squeeze", "expand_dims", "convert_element_type", "copy",
              "copy_p", "neg", "reduce_precision"}
_LINEAR_UNARY = _ISOMETRIC | {"broadcast_in_dim", "reduce_sum", "rev", "slice", "pad"}
_INLINE = {"jit", "pjit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call"}

IMPLEMENTATIONS = {0: "auto", 1: "jacobian", 2: "ntvp", 3: "structured"}


# ---------------------------------------------------------------------------------------------
# Jaxpr analysis: constants, parameter chains and uses
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Origin:
    leaf: int
    chain: tuple        # ((ctx, eqn_index, operand position of the chained value), ...)
    isometric: bool
    scale: Any          # python float (c) when known, else None


@dataclasses.dataclass
class Use:
    uid: int
    leaf: int
    kind: str           # "dot" | "conv" | "generic"
    key: tuple          # (ctx, eqn index) of the using equation; ("out", i) for an output
    pos: int            # operand position of the parameter-derived value
    origin: _Origin
    tap: int            # tap id (dot/conv: the equation's output; generic: this input)
    tap_aval: Any = None
    info: dict = dataclasses.field(default_factory=dict)


def _is_lit(v):
    return isinstance(v, jcore.Literal)


def _sub_closed(eqn):
    """(ClosedJaxpr) of an inlinable higher-order equation, else None."""
    p = eqn.params
    for name in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        j = p.get(name)
        if j is None:
            continue
        if isinstance(j, jcore.ClosedJaxpr):
            return j
        if isinstance(j, jcore.Jaxpr):
            return jcore.ClosedJaxpr(j, ())
    return None


class _Graph:
    """Analysis of a closed jaxpr whose first `n_params` inputs are parameter leaves."""

    def __init__(self, closed, n_params):
        self.closed = closed
        self.n_params = n_params
        self.const = {}      # (ctx, var) -> concrete value (folded constants)
        self.uses = []       # list[Use]
        self.taps = {}       # tap id -> aval
        self.use_at = {}     # (ctx, eqn_idx) -> list of uses at that equation
        self.out_uses = {}   # top-level output index -> use
        self._tap_of = {}
        info = [("param", i) for i in range(n_params)]
        info += [("dyn",)] * (len(closed.jaxpr.invars) - n_params)
        outs = self._walk(closed.jaxpr, closed.consts, (), info)
        for i, o in enumerate(outs):
            if o[0] == "origin":
                self._add_use(o[1], "generic", ("out", i), 0, closed.jaxpr.outvars[i].aval)
        self.leaf_uses = {}
        for u in self.uses:
            self.leaf_uses.setdefault(u.leaf, []).append(u)

    # -- helpers ----------------------------------------------------------------------------
    def _new_tap(self, key, aval):
        if key not in self._tap_of:
            self._tap_of[key] = len(self.taps)
            self.taps[self._tap_of[key]] = aval
        return self._tap_of[key]

    def _add_use(self, origin, kind, key, pos, tap_aval, tap_key=None, info=None):
        tap = self._new_tap(tap_key if tap_key is not None else key + (pos, "in"), tap_aval)
        u = Use(len(self.uses), origin.leaf, kind, key, pos, origin, tap, tap_aval, info or {})
        self.uses.append(u)
        if key[0] == "out":
            self.out_uses[key[1]] = u
        else:
            self.use_at.setdefault(key, []).append(u)
        return u

    # -- walk -------------------------------------------------------------------------------
    def _walk(self, jaxpr, consts, ctx, in_info):
        env = {}

        def read(v):
            if _is_lit(v):
                return ("const", v.val)
            return env[v]

        for v, c in zip(jaxpr.constvars, consts):
            env[v] = ("const", c)
            self.const[(ctx, v)] = c
        for v, i in zip(jaxpr.invars, in_info):
            env[v] = ("origin", _Origin(i[1], (), True, 1.0)) if i[0] == "param" else i
        for k, eqn in enumerate(jaxpr.eqns):
            ins = [read(v) for v in eqn.invars]
            name = eqn.primitive.name
            sub = _sub_closed(eqn) if name in _INLINE else None
            if all(i[0] == "const" for i in ins) and not eqn.effects:
                vals = eqn.primitive.bind(*[i[1] for i in ins],
                                          **eqn.primitive.get_bind_params(eqn.params))
                vals = vals if eqn.primitive.multiple_results else [vals]
                for v, val in zip(eqn.outvars, vals):
                    env[v] = ("const", val)
                    self.const[(ctx, v)] = val
                continue
            if sub is not None and name != "custom_jvp_call":
                outs = self._walk(sub.jaxpr, sub.consts, ctx + (k,), ins)
                for v, o in zip(eqn.outvars, outs):
                    env[v] = o
                continue
            origins = [j for j, i in enumerate(ins) if i[0] == "origin"]
            if not origins:
                for v in eqn.outvars:
                    env[v] = ("dyn",)
                continue
            chained = self._chain(eqn, ins, origins, ctx, k)
            if chained is not None:
                env[eqn.outvars[0]] = ("origin", chained)
                continue
            key = (ctx, k)
            for j in origins:
                og = ins[j][1]
                if name == "dot_general":
                    self._add_use(og, "dot", key, j, eqn.outvars[0].aval, tap_key=key + ("y",))
                elif (name == "conv_general_dilated" and j == 1
                      and eqn.params["batch_group_count"] == 1):
                    self._add_use(og, "conv", key, j, eqn.outvars[0].aval, tap_key=key + ("y",))
                else:
                    self._add_use(og, "generic", key, j, eqn.invars[j].aval)
            for v in eqn.outvars:
                env[v] = ("dyn",)
        return [read(v) for v in jaxpr.outvars]

    def _chain(self, eqn, ins, origins, ctx, k):
        """Extend a parameter chain through a linear op with constant other operands, or None."""
        if len(origins) != 1 or eqn.primitive.multiple_results:
            return None
        j = origins[0]
        og = ins[j][1]
        others = [i for t, i in enumerate(ins) if t != j]
        if any(o[0] != "const" for o in others):
            return None
        name = eqn.primitive.name
        link = og.chain + ((ctx, k, j),)
        if name in _LINEAR_UNARY and len(ins) == 1:
            iso = name in _ISOMETRIC
            if name == "broadcast_in_dim":
                iso = eqn.outvars[0].aval.size == eqn.invars[0].aval.size
            return _Origin(og.leaf, link, og.isometric and iso, og.scale)
        if name in ("mul", "div") and len(ins) == 2 and (name == "mul" or j == 0):
            c = others[0][1]
            iso, scale = False, None
            if np.size(c) == 1 and not isinstance(c, jax.core.Tracer):
                s = float(np.asarray(c).reshape(()))
                scale = s if name == "mul" else 1.0 / s
                iso = eqn.outvars[0].aval.size == eqn.invars[j].aval.size
            new_scale = None if (og.scale is None or scale is None) else og.scale * scale
            return _Origin(og.leaf, link, og.isometric and iso and new_scale is not None, new_scale)
        return None


# ---------------------------------------------------------------------------------------------
# Tapped evaluation
# ---------------------------------------------------------------------------------------------

def _eval(graph: _Graph, param_leaves, rest, deltas, record):
    """Evaluate the graph's jaxpr with zero taps `deltas` added at every use; `record` gets the
    primal values needed later: other operands of dot/conv uses, chain operands."""

    def walk(jaxpr, consts, ctx, invals):
        env = {}

        def read(v):
            return v.val if _is_lit(v) else env[v]

        for v, c in zip(jaxpr.constvars, consts):
            env[v] = c
        for v, x in zip(jaxpr.invars, invals):
            env[v] = x
        for k, eqn in enumerate(jaxpr.eqns):
            if all((ctx, v) in graph.const for v in eqn.outvars):
                for v in eqn.outvars:
                    env[v] = graph.const[(ctx, v)]
                continue
            vals = [read(v) for v in eqn.invars]
            name = eqn.primitive.name
            sub = _sub_closed(eqn) if name in _INLINE and name != "custom_jvp_call" else None
            if sub is not None:
                outs = walk(sub.jaxpr, sub.consts, ctx + (k,), vals)
                for v, o in zip(eqn.outvars, outs):
                    env[v] = o
                continue
            uses = graph.use_at.get((ctx, k), ())
            for u in uses:
                if u.kind == "generic":
                    vals[u.pos] = vals[u.pos] + deltas[u.tap]
                else:
                    record[u.uid] = vals[1 - u.pos]
            out = eqn.primitive.bind(*vals, **eqn.primitive.get_bind_params(eqn.params))
            if any(u.kind != "generic" for u in uses):
                tap = next(u.tap for u in uses if u.kind != "generic")
                out = out + deltas[tap]
            outs = out if eqn.primitive.multiple_results else [out]
            for v, o in zip(eqn.outvars, outs):
                env[v] = o
        return [read(v) for v in jaxpr.outvars]

    outs = walk(graph.closed.jaxpr, graph.closed.consts, (), list(param_leaves) + list(rest))
    for i, u in graph.out_uses.items():
        outs[i] = outs[i] + deltas[u.tap]
    return outs


def _chain_fn(graph: _Graph, origin: _Origin):
    """w -> L(w), the linear chain from the parameter leaf to the value at its use."""
    eqns = []
    for ctx, k, j in origin.chain:
        jaxpr = graph.closed.jaxpr
        for c in ctx:
            jaxpr = _sub_closed(jaxpr.eqns[c]).jaxpr
        eqns.append((ctx, jaxpr.eqns[k], j))

    def L(w):
        for ctx, eqn, j in eqns:
            vals = [None if t == j else (v.val if _is_lit(v) else graph.const[(ctx, v)])
                    for t, v in enumerate(eqn.invars)]
            vals[j] = w
            w = eqn.primitive.bind(*vals, **eqn.primitive.get_bind_params(eqn.params))
        return w

    return L


# ---------------------------------------------------------------------------------------------
# Per-use factors
# ---------------------------------------------------------------------------------------------

def _dot_factors(eqn_params, pos, a, c, y_ndim):
    """Canonical factors of a dot_general use: A (B, FA, Cc) from the other operand `a` and
    C (..., B, FA, FW) from the cotangent `c` (leading axes of c are kept)."""
    (lc, rc), (lb, rb) = eqn_params["dimension_numbers"]
    a_con, a_bat = (rc, rb) if pos == 0 else (lc, lb)
    a_free = [d for d in range(a.ndim) if d not in a_con and d not in a_bat]
    A = jnp.transpose(a, tuple(a_bat) + tuple(a_free) + tuple(a_con))
    nb = len(a_bat)
    B = int(np.prod(A.shape[:nb]))
    FA = int(np.prod(A.shape[nb:nb + len(a_free)]))
    A = A.reshape(B, FA, -1)
    lead = c.ndim - y_ndim
    y_shape = c.shape[lead:]
    # y = [batch, lhs free, rhs free]; the other operand's free dims are lhs free if pos == 1.
    if pos == 1:
        perm = list(range(nb)) + list(range(nb, nb + len(a_free))) + \
            list(range(nb + len(a_free), len(y_shape)))
    else:
        nw = len(y_shape) - nb - len(a_free)
        perm = list(range(nb)) + list(range(nb + nw, len(y_shape))) + list(range(nb, nb + nw))
    C = jnp.transpose(c, tuple(range(lead)) + tuple(lead + p for p in perm))
    C = C.reshape(c.shape[:lead] + (B, FA, -1))
    return A, C


def _conv_factors(eqn_params, rhs_shape, lhs, c):
    """Conv use as a dot_general over patches: A (G, S, D/G) patches of lhs at every output
    position, C (..., G, S, O/G) from the cotangent of the output (lhs batch folded into S)."""
    dn = eqn_params["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = dn.lhs_spec, dn.rhs_spec, dn.out_spec
    G = eqn_params["feature_group_count"]
    filt = tuple(rhs_shape[d] for d in rhs_spec[2:])
    nsp = len(filt)
    patches = lax.conv_general_dilated_patches(
        lhs, filt, eqn_params["window_strides"], eqn_params["padding"],
        eqn_params["lhs_dilation"], eqn_params["rhs_dilation"], dn,
        precision=eqn_params.get("precision"))
    # patches have the output's layout, feature dim = C_in * prod(filt) (channel-major)
    perm = (out_spec[0],) + tuple(out_spec[2:]) + (out_spec[1],)
    P = jnp.transpose(patches, perm)
    S = int(np.prod(P.shape[:nsp + 1]))
    A = P.reshape(S, G, -1).transpose(1, 0, 2)  # (G, S, D/G)
    lead = c.ndim - (nsp + 2)
    cp = tuple(range(lead)) + tuple(lead + p for p in perm)
    Cc = jnp.transpose(c, cp)
    Cc = Cc.reshape(c.shape[:lead] + (S, G, -1))
    Cc = jnp.moveaxis(Cc, lead, lead + 1)  # (..., G, S, O/G)
    del lhs_spec
    return A, Cc


# ---------------------------------------------------------------------------------------------
# Output-axis bookkeeping (NT's kernel layout)
# ---------------------------------------------------------------------------------------------

def _canon(axes, ndim):
    if isinstance(axes, int):
        axes = (axes,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an output with {ndim} dimensions.")
        out.append(a % ndim)
    return tuple(sorted(set(out)))


class _Labels:
    def __init__(self):
        self._n = 0

    def new(self):
        self._n += 1
        return _letters(self._n - 1)


def _letters(i):
    s = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return s[i]


def _out_labels(lab, full_ndim, batch_axis, trace, diag):
    """Labels for per-example arrays (N, *per-example output axes): side 1, side 2 and output."""
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
    if batch_axis is None:  # one "example": a shared, summed size-1 axis
        a = lab.new()
        l1.insert(0, a)
        l2.insert(0, a)
    return "".join(l1), "".join(l2), "".join(out)


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------

def _split_kwargs(kwargs, x2_given):
    k1, k2 = {}, {}
    for k, v in kwargs.items():
        if k == "rng" and x2_given and v is not None:
            k1[k], k2[k] = jax.random.split(v)
        elif isinstance(v, tuple) and len(v) == 2:
            k1[k], k2[k] = v
        else:
            k1[k] = k2[k] = v
    return k1, k2


def _vmap_spec(vmap_axes):
    if vmap_axes is None:
        return None, None, {}
    if isinstance(vmap_axes, tuple) and len(vmap_axes) == 3:
        return vmap_axes
    return vmap_axes, vmap_axes, {}


class _Problem:
    """f, params, one side's inputs, per-example view (batch axes moved to 0)."""

    def __init__(self, f, params, x, kwargs, vmap_axes):
        in_ax, out_ax, kw_ax = _vmap_spec(vmap_axes)
        self.f, self.params = f, params
        self.p_leaves, self.p_tree = jax.tree_util.tree_flatten(params)
        self.batched = in_ax is not None
        kw_b = {k: v for k, v in kwargs.items() if k in kw_ax}
        self.kw_static = {k: v for k, v in kwargs.items() if k not in kw_ax}
        data = (x, kw_b)
        if self.batched:
            if not isinstance(in_ax, int) or not all(isinstance(a, int) for a in kw_ax.values()):
                raise TypeError("vmap_axes: in_axes and kwargs_axes must be ints (or None).")
            x_ax = jax.tree_util.tree_map(lambda _: in_ax, x)
            axes = (x_ax, {k: kw_ax[k] for k in kw_b})
            data = jax.tree_util.tree_map(lambda a, ax: jnp.moveaxis(a, ax % a.ndim, 0), data, axes)
        self.data_leaves, self.data_tree = jax.tree_util.tree_flatten(data)
        self.in_ax, self.out_ax = in_ax, out_ax
        fx = jax.eval_shape(lambda p: f(p, x, **kwargs), params)
        self.fx_leaves, self.fx_tree = jax.tree_util.tree_flatten(fx)
        if self.batched:
            oax = out_ax if isinstance(out_ax, int) else None
            if oax is None:
                raise TypeError("vmap_axes: out_axes must be an int.")
            self.out_axes = [oax % max(s.ndim, 1) for s in self.fx_leaves]
            self.n = self.data_leaves[0].shape[0] if self.data_leaves else 1
        else:
            self.out_axes = [None] * len(self.fx_leaves)
            self.data_leaves = [a[None] for a in self.data_leaves]
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
                x = jax.tree_util.tree_map(lambda a: jnp.expand_dims(a, in_ax % (a.ndim + 1)), x)
                kw_b = {k: jnp.expand_dims(v, 0) for k, v in kw_b.items()}
            out = jax.tree_util.tree_leaves(f(params, x, **kw_b, **kw_static))
            if batched:
                out = [jnp.squeeze(o, ax) for o, ax in zip(out, out_axes)]
            return out

        return f1

    def example_avals(self):
        return [jax.ShapeDtypeStruct(a.shape[1:], a.dtype) for a in self.data_leaves]


def _graph_of(prob: _Problem):
    p_avals = [jax.ShapeDtypeStruct(np.shape(p), jnp.result_type(p)) for p in prob.p_leaves]
    closed = jax.make_jaxpr(lambda p, d: prob.f1(p, d))(p_avals, prob.example_avals())
    return _Graph(closed, len(p_avals))


def _plan(graph: _Graph, n_leaves):
    """Per parameter leaf: "factored" (one isometric dot/conv use), "direct" (one isometric
    generic use: its cotangent is its Jacobian) or "jacobian" (sum of L^T over uses)."""
    plan = {}
    for leaf in range(n_leaves):
        us = graph.leaf_uses.get(leaf, [])
        if not us:
            plan[leaf] = "unused"
        elif len(us) == 1 and us[0].origin.isometric and us[0].origin.scale is not None:
            plan[leaf] = "factored" if us[0].kind in ("dot", "conv") else "direct"
        else:
            plan[leaf] = "jacobian"
    return plan


def _features(prob: _Problem, graph: _Graph, plan):
    """Per-example factors for every output leaf, vmapped over examples.

    Returns (for each output leaf l) a dict: ("A", uid) -> (N, B, FA, Cc), ("C", uid) ->
    (N, *out_l, B, FA, FW), ("G", uid) -> (N, *out_l, *V) for direct uses, ("J", leaf) ->
    (N, *out_l, *W) for the fallback parameters."""
    p_leaves = prob.p_leaves
    eqn_of = {}
    for u in graph.uses:
        if u.kind in ("dot", "conv"):
            ctx, k = u.key
            jaxpr = graph.closed.jaxpr
            for c in ctx:
                jaxpr = _sub_closed(jaxpr.eqns[c]).jaxpr
            eqn_of[u.uid] = jaxpr.eqns[k]
    chains = {u.uid: _chain_fn(graph, u.origin) for u in graph.uses if plan[u.leaf] == "jacobian"}

    def one(d_leaves):
        zeros = {t: jnp.zeros(a.shape, a.dtype) for t, a in graph.taps.items()}

        def g(deltas):
            rec = {}
            outs = _eval(graph, p_leaves, d_leaves, deltas, rec)
            return outs, rec

        outs, vjp_fn, rec = jax.vjp(g, zeros, has_aux=True)
        res = []
        for li, o in enumerate(outs):
            k = int(np.prod(o.shape))
            basis = jnp.eye(k, dtype=o.dtype).reshape((k,) + o.shape)

            def ct_of(b, li=li):
                cts = [b if t == li else jnp.zeros(q.shape, q.dtype) for t, q in enumerate(outs)]
                return vjp_fn(cts)[0]

            C = jax.vmap(ct_of)(basis)  # tap -> (k, *tap)
            feats = {}
            J = {}
            for u in graph.uses:
                c = C[u.tap]
                mode = plan[u.leaf]
                if mode == "factored":
                    eqn = eqn_of[u.uid]
                    if u.kind == "dot":
                        A, Cf = _dot_factors(eqn.params, u.pos, rec[u.uid], c, eqn.outvars[0].aval.ndim)
                    else:
                        A, Cf = _conv_factors(eqn.params, eqn.invars[1].aval.shape, rec[u.uid], c)
                    feats[("A", u.uid)] = A
                    feats[("C", u.uid)] = Cf.reshape(o.shape + Cf.shape[1:])
                elif mode == "direct":
                    feats[("G", u.uid)] = c.reshape(o.shape + c.shape[1:])
                else:
                    if u.kind in ("dot", "conv"):
                        eqn = eqn_of[u.uid]
                        other = rec[u.uid]
                        v_aval = eqn.invars[u.pos].aval

                        def bil(v, eqn=eqn, other=other, pos=u.pos):
                            args = [other, v] if pos == 1 else [v, other]
                            return eqn.primitive.bind(*args, **eqn.primitive.get_bind_params(eqn.params))

                        _, vjp_v = jax.vjp(bil, jnp.zeros(v_aval.shape, v_aval.dtype))
                        Gv = jax.vmap(lambda ct: vjp_v(ct)[0])(c)
                    else:
                        Gv = c
                    w = p_leaves[u.leaf]
                    LT = jax.linear_transpose(chains[u.uid], jax.ShapeDtypeStruct(jnp.shape(w),
                                                                                   jnp.result_type(w)))
                    Gw = jax.vmap(lambda g: LT(g)[0])(Gv)
                    J[u.leaf] = Gw if u.leaf not in J else J[u.leaf] + Gw
            for leaf, Gw in J.items():
                feats[("J", leaf)] = Gw.reshape(o.shape + Gw.shape[1:])
            res.append(feats)
        return res

    return jax.vmap(one)(prob.data_leaves)


def _structured(prob1, prob2, graph1, graph2, trace_axes, diagonal_axes, explain=None):
    plan = _plan(graph1, len(prob1.p_leaves))
    if graph2 is not graph1:
        sig = lambda g: [(u.leaf, u.kind, u.pos) for u in g.uses]  # noqa: E731
        if sig(graph1) != sig(graph2):
            return None
        plan2 = _plan(graph2, len(prob2.p_leaves))
        plan = {k: (v if v == plan2[k] else "jacobian") for k, v in plan.items()}
    f1 = _features(prob1, graph1, plan)
    f2 = f1 if prob2 is None else _features(prob2, graph2, plan)
    if explain is not None:
        explain.extend(_explain_rows(graph1, plan, prob1))
    outs = []
    for li, fx in enumerate(prob1.fx_leaves):
        full_ndim = fx.ndim
        q = prob1.out_axes[li]
        trace = _canon(trace_axes, full_ndim)
        diag = _canon(diagonal_axes, full_ndim)
        a, b = f1[li], f2[li]
        total = None
        scale_of = {u.uid: u.origin.scale for u in graph1.uses}
        for key in a:
            kind, ident = key
            if kind == "A":
                continue
            lab = _Labels()
            o1, o2, oo = _out_labels(lab, full_ndim, q, trace, diag)
            n1, n2 = o1[0], o2[0]
            if kind == "C":
                A1, A2 = a[("A", ident)], b[("A", ident)]
                C1, C2 = a[key], b[key]
                bb, p, r, c, w = lab.new(), lab.new(), lab.new(), lab.new(), lab.new()
                spec = (f"{n1}{bb}{p}{c},{n2}{bb}{r}{c},{o1}{bb}{p}{w},{o2}{bb}{r}{w}->{oo}")
                term = jnp.einsum(spec, A1, A2, C1, C2, optimize="optimal")
                s = scale_of[ident]
                if s != 1.0:
                    term = term * (s * s)
            else:
                X1, X2 = a[key], b[key]
                npar = X1.ndim - len(o1)
                ps = "".join(lab.new() for _ in range(npar))
                term = jnp.einsum(f"{o1}{ps},{o2}{ps}->{oo}", X1.reshape(X1.shape),
                                  X2, optimize="optimal")
                if kind == "G":
                    s = scale_of[ident]
                    if s != 1.0:
                        term = term * (s * s)
            total = term if total is None else total + term
        if total is None:
            total = _zero_kernel(prob1, prob2, li, trace, diag)
        size = int(np.prod([fx.shape[d] for d in trace])) if trace else 1
        outs.append(total / size)
    return jax.tree_util.tree_unflatten(prob1.fx_tree, outs)


def _zero_kernel(prob1, prob2, li, trace, diag):
    s1 = prob1.fx_leaves[li].shape
    s2 = (prob2 or prob1).fx_leaves[li].shape
    shape = []
    for d in range(len(s1)):
        if d in trace:
            continue
        shape += [s1[d]] if d in diag else [s1[d], s2[d]]
    return jnp.zeros(shape, prob1.fx_leaves[li].dtype)


def _explain_rows(graph, plan, prob):
    paths = [jax.tree_util.keystr(k) for k, _ in
             jax.tree_util.tree_flatten_with_path(prob.params)[0]]
    rows = []
    for leaf, mode in plan.items():
        us = graph.leaf_uses.get(leaf, [])
        kinds = ", ".join(u.kind if u.kind != "generic" else
                          f"generic ({_prim_name(graph, u)})" for u in us)
        why = {"factored": "structured: input Gram x cotangent Gram",
               "direct": "cotangent at its only use (its own Jacobian)",
               "jacobian": "Jacobian fallback (" + ("several uses" if len(us) > 1 else
                                                    "non-isometric chain") + ")",
               "unused": "unused (zero contribution)"}[mode]
        rows.append({"param": paths[leaf], "shape": tuple(np.shape(prob.p_leaves[leaf])),
                     "uses": kinds, "path": mode, "why": why})
    return rows


def _prim_name(graph, u):
    if u.key[0] == "out":
        return "output"
    ctx, k = u.key
    jaxpr = graph.closed.jaxpr
    for c in ctx:
        jaxpr = _sub_closed(jaxpr.eqns[c]).jaxpr
    return jaxpr.eqns[k].primitive.name


# -- implementation 1 ---------------------------------------------------------------------------

def _jacobians(prob: _Problem):
    def one(d_leaves):
        outs = []
        for li in range(len(prob.fx_leaves)):
            j = jax.jacrev(lambda p: prob.f1(p, d_leaves)[li])(prob.p_leaves)
            outs.append(j)
        return outs

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
            ps = "".join(lab.new() for _ in range(X1.ndim - len(o1)))
            t = jnp.einsum(f"{o1}{ps},{o2}{ps}->{oo}", X1, X2, optimize="optimal")
            total = t if total is None else total + t
        if total is None:
            total = _zero_kernel(prob1, prob2, li, trace, diag)
        size = int(np.prod([fx.shape[d] for d in trace])) if trace else 1
        outs.append(total / size)
    return jax.tree_util.tree_unflatten(prob1.fx_tree, outs)


# -- implementation 2 ---------------------------------------------------------------------------

def _ntvp(f, params, x1, x2, kw1, kw2, trace_axes, diagonal_axes, chunk=None):
    fa = lambda p: jax.tree_util.tree_leaves(f(p, x1, **kw1))  # noqa: E731
    fb = fa if x2 is None else (lambda p: jax.tree_util.tree_leaves(f(p, x2, **kw2)))
    out1 = fa(params)
    out2, vjp_fn = jax.vjp(fb, params)
    fx_tree = jax.tree_util.tree_structure(jax.eval_shape(lambda p: f(p, x1, **kw1), params))
    outs = []
    for li, (o1, o2) in enumerate(zip(out1, out2)):
        k2 = int(np.prod(o2.shape))
        basis = jnp.eye(k2, dtype=o2.dtype).reshape((k2,) + o2.shape)

        def col(b, li=li):
            cts = [b if t == li else jnp.zeros(q.shape, q.dtype) for t, q in enumerate(out2)]
            (tangent,) = vjp_fn(cts)
            return jax.jvp(fa, (params,), (tangent,))[1][li]

        cols = jax.lax.map(col, basis, batch_size=chunk or k2)  # (k2, *o1)
        full = jnp.moveaxis(cols.reshape(o2.shape + o1.shape), tuple(range(o2.ndim)),
                            tuple(range(o1.ndim, o1.ndim + o2.ndim)))  # (*o1, *o2)
        trace = _canon(trace_axes, o1.ndim)
        diag = _canon(diagonal_axes, o1.ndim)
        lab = _Labels()
        o1l, o2l, oo = _out_labels(lab, o1.ndim, 0, trace, diag)
        # _out_labels puts the batch axis (0) first already; the full kernel is (*o1, *o2)
        K = jnp.einsum(f"{o1l}{o2l}->{oo}", full)
        size = int(np.prod([o1.shape[d] for d in trace])) if trace else 1
        outs.append(K / size)
    return jax.tree_util.tree_unflatten(fx_tree, outs)


# ---------------------------------------------------------------------------------------------
# Cost model
# ---------------------------------------------------------------------------------------------

def _nbytes(avals):
    return sum(int(np.prod(a.shape)) * jnp.dtype(a.dtype).itemsize for a in avals)


def structured_cost(f, params, x1, x2=None, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None,
                    **kwargs):
    """(flops, peak bytes, explain rows) of implementation 3 from shapes only (`jax.eval_shape`)."""
    kw1, kw2 = _split_kwargs(kwargs, x2 is not None)
    prob1 = _Problem(f, params, x1, kw1, vmap_axes)
    graph = _graph_of(prob1)
    plan = _plan(graph, len(prob1.p_leaves))
    prob2 = None if x2 is None else _Problem(f, params, x2, kw2, vmap_axes)
    feats = jax.eval_shape(lambda: _features(prob1, graph, plan))
    n1 = prob1.n
    n2 = n1 if prob2 is None else prob2.n
    fbytes = sum(_nbytes(tree_leaves(fl)) for fl in feats)
    k_total = sum(int(np.prod(s.shape)) // max(1, (s.shape[prob1.out_axes[i]] if
                                                    prob1.out_axes[i] is not None else 1))
                  for i, s in enumerate(prob1.fx_leaves))
    fwd = _fwd_flops(graph)
    flops = 3.0 * fwd * (n1 + n2) * max(1, k_total)
    for fl in feats:
        for key, aval in fl.items():
            if key[0] in ("G", "J"):
                flops += 2.0 * n1 * n2 * int(np.prod(aval.shape[1:]))
            elif key[0] == "C":
                a = fl[("A", key[1])]
                B, FA, Cc = a.shape[1:]
                FW = aval.shape[-1]
                kk = int(np.prod(aval.shape[1:-3]))
                flops += 2.0 * n1 * n2 * B * min(FA * FA * (Cc + kk * FW), FA * Cc * FW * kk)
    out_b = n1 * n2 * max(1, k_total) ** 2 * jnp.dtype(prob1.fx_leaves[0].dtype).itemsize
    mem = fbytes * (1 if prob2 is None else 1 + n2 / max(n1, 1)) * 1.5 + 3 * out_b
    return float(flops), float(mem), _explain_rows(graph, plan, prob1)


def _fwd_flops(graph):
    tot = 0

    def walk(jaxpr):
        nonlocal tot
        for eqn in jaxpr.eqns:
            sub = _sub_closed(eqn)
            if sub is not None:
                walk(sub.jaxpr)
                continue
            if eqn.primitive.name == "dot_general":
                (lc, _), _ = eqn.params["dimension_numbers"]
                con = int(np.prod([eqn.invars[0].aval.shape[d] for d in lc]))
                tot += 2 * eqn.outvars[0].aval.size * con
            elif eqn.primitive.name == "conv_general_dilated":
                rhs = eqn.invars[1].aval.shape
                per = int(np.prod(rhs)) // rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
                tot += 2 * eqn.outvars[0].aval.size * per
            else:
                tot += sum(v.aval.size for v in eqn.outvars if hasattr(v.aval, "size"))

    walk(graph.closed.jaxpr)
    return tot


# ---------------------------------------------------------------------------------------------
# Public NT-style functions
# ---------------------------------------------------------------------------------------------

def _check_impl(implementation):
    try:
        impl = int(implementation)
    except (TypeError, ValueError):
        impl = None
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be 0 (auto), 1 (jacobian), 2 (NTK-vector products) "
                         f"or 3 (structured), got {implementation!r}.")
    return impl


def _check_fn(f, name="apply_fn"):
    if not callable(f):
        raise TypeError(f"{name} must be a function apply_fn(params, x, **kwargs), got {f!r}.")


def ntk_impl(f, params, x1, x2, trace_axes, diagonal_axes, vmap_axes, impl, memory_budget=None,
             explain=None, **kwargs):
    """Compute the empirical NTK with implementation `impl` (0 resolves by the cost model)."""
    kw1, kw2 = _split_kwargs(kwargs, x2 is not None)
    if impl == 0:
        impl = 3
        if memory_budget is not None:
            _, mem, _ = structured_cost(f, params, x1, x2, trace_axes, diagonal_axes, vmap_axes,
                                        **kwargs)
            if mem > memory_budget:
                impl = 2
    if impl == 2:
        return _ntvp(f, params, x1, x2, kw1, kw2, trace_axes, diagonal_axes)
    prob1 = _Problem(f, params, x1, kw1, vmap_axes)
    prob2 = None if x2 is None else _Problem(f, params, x2, kw2, vmap_axes)
    if prob2 is not None and prob2.batched:
        for a, b in zip(prob1.example_avals(), prob2.example_avals()):
            if a.shape != b.shape:
                raise ValueError(f"x1 and x2 examples must have the same shape, got {a.shape} and "
                                 f"{b.shape}.")
    if impl == 1:
        return _jacobian_contraction(prob1, prob2, trace_axes, diagonal_axes)
    graph1 = _graph_of(prob1)
    graph2 = graph1
    if prob2 is not None and not prob2.batched:
        graph2 = _graph_of(prob2)
    res = _structured(prob1, prob2, graph1, graph2, trace_axes, diagonal_axes, explain)
    if res is None:  # x1 / x2 traced to different programs: contract Jacobians instead
        return _jacobian_contraction(prob1, prob2, trace_axes, diagonal_axes)
    return res


def empirical_ntk_fn(f, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None, implementation=3,
                     _j_rules=True, _s_rules=True, _fwd=None):
    """NT-style empirical NTK: returns ntk_fn(x1, x2, params, **apply_fn_kwargs).

    Kernel shape: zip(f(x1).shape, f(x2).shape) with `trace_axes` removed (and averaged over)
    and `diagonal_axes` kept once; for pytree outputs a pytree of kernels (no cross terms).
    x2=None means x2 = x1. `implementation`: 0 auto, 1 Jacobian contraction, 2 NTK-vector
    products, 3 structured derivatives traced from the jaxpr (see module docstring).
    """
    _check_fn(f)
    impl = _check_impl(implementation)

    def ntk_fn(x1, x2, params, **apply_fn_kwargs):
        return ntk_impl(f, params, x1, x2, trace_axes, diagonal_axes, vmap_axes, impl,
                        **apply_fn_kwargs)

    return ntk_fn


def empirical_nngp_fn(f, trace_axes=(-1,), diagonal_axes=()):
    """NT-style empirical NNGP: nngp_fn(x1, x2, params, **kwargs) = f(x1) f(x2)^T / size(trace)."""
    _check_fn(f)

    def nngp_fn(x1, x2, params, **apply_fn_kwargs):
        kw1, kw2 = _split_kwargs(apply_fn_kwargs, x2 is not None)
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
            return k / size

        return tree_map(one, out1, out2)

    return nngp_fn


def empirical_kernel_fn(f, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None, implementation=3,
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
    import collections

    return collections.namedtuple(name, fields)


# ---------------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------------

def monte_carlo_kernel_fn(init_fn, apply_fn, key, n_samples, batch_size=0, device_count=-1,
                          store_on_device=True, trace_axes=(-1,), diagonal_axes=(), vmap_axes=None,
                          implementation=3, _j_rules=True, _s_rules=True, _fwd=None):
    """NT-style Monte Carlo estimate of the NNGP / NTK over random initialisations.

    `init_fn(key, input_shape) -> (output_shape, params)`; each sample splits `key` and draws
    params with its first half (the second half goes to `apply_fn` as `rng=` when it accepts
    one). Returns kernel_fn(x1, x2=None, get=None, **kwargs) -> the mean over `n_samples` samples;
    with `n_samples` a list / tuple, a generator yielding the running mean at each requested count.
    `batch_size` > 0 computes each sample in (batch_size x batch_size) blocks;
    `device_count` / `store_on_device` are accepted for NT compatibility (blocks go over all
    devices).
    """
    _check_fn(apply_fn)
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

    @functools.partial(jax.jit, static_argnames=("get",))
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
           "monte_carlo_kernel_fn", "structured_cost", "ntk_impl", "IMPLEMENTATIONS"]
