"""Where the parameters of a traced function are used: the analysis behind the structured NTK.

`f(params, x)` of one example is traced to a jaxpr and flattened (calls such as `jit` inlined) into
one list of equations. Every *use* of a parameter leaf W is found: W reaches an equation through a
chain of linear maps with constant other operands (reshape, transpose, slice, scaling, broadcast,
...), V = L(W). A use at

    dot_general             y = A . V          "dot"
    conv_general_dilated    y = conv(A, V)     "conv"   (V the filter)
    any other equation, or returned as output  "generic"

Each use gets a *tap*: a zero added to one value of the program, whose cotangent gives the use's
derivative. A dot/conv use taps its output y; a generic use taps its operand. A tap is then moved
forward through equations that pass the cotangent on unchanged up to a constant factor (scaling
by a scalar constant, adding a value of the same shape, negation) while the value has a single
consumer: a weight `s * (h @ W) + b` and its bias share one tap, so one cotangent serves both.

The chain L is *co-isometric* when L L^T = c^2 I (permutations, reshapes, slices, scaling by a
scalar c): then the Jacobian of W, L^T(dV), has the inner products of dV times c^2, and a single
dot/conv use of W can be contracted in factored form (see `_empirical_engine`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from jax.extend import core as jcore

# Calls whose body is inlined. Custom-derivative calls stay opaque (their rules must apply).
_INLINE = {"jit", "pjit", "closed_call", "core_call", "checkpoint", "remat", "remat2"}
# Linear maps with L L^T = I (up to the scalar tracked separately).
_COISOMETRIC = {"transpose", "reshape", "squeeze", "expand_dims", "copy", "copy_p", "neg", "rev",
                "slice"}
_LINEAR_UNARY = _COISOMETRIC | {"broadcast_in_dim", "reduce_sum", "pad", "convert_element_type",
                                "reduce_precision"}


class Lit:
    """A constant operand (literal, jaxpr constant or folded value)."""

    __slots__ = ("val",)

    def __init__(self, val):
        self.val = val


@dataclasses.dataclass(eq=False)
class Eqn:
    prim: Any
    ins: list           # int (variable id) or Lit
    outs: list          # variable ids
    params: dict
    effects: Any = None

    @property
    def name(self):
        return self.prim.name

    def bind(self, *vals):
        out = self.prim.bind(*vals, **self.prim.get_bind_params(self.params))
        return list(out) if self.prim.multiple_results else [out]


def _sub_jaxpr(eqn):
    for name in ("jaxpr", "call_jaxpr"):
        j = eqn.params.get(name)
        if isinstance(j, jcore.ClosedJaxpr):
            return j.jaxpr, j.consts
        if isinstance(j, jcore.Jaxpr):
            return j, ()
    return None


class _Shim:
    """A primitive-like stand-in that re-dispatches through a public jax function."""

    multiple_results = False

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def get_bind_params(self, params):
        return params

    def bind(self, *vals, **params):
        return self.fn(*vals)


_MONOIDS = {"add": ("reduce_window_sum", "add"), "max": ("reduce_window_max", "max"),
            "min": ("reduce_window_min", "min")}


def _monoid_window(eqn, ins):
    """A generic reduce_window whose body is add / max / min with a constant init value (e.g.
    `lax.reduce_window(x, jnp.zeros(()), lax.add, ...)` traced) as the monoid reduction JAX
    differentiates in reverse mode, else None."""
    body = eqn.params.get("jaxpr")
    body = getattr(body, "jaxpr", body)
    if len(ins) != 2 or not isinstance(ins[1], Lit) or eqn.params.get("consts") or body is None or \
            len(body.eqns) != 1 or body.eqns[0].primitive.name not in _MONOIDS:
        return None
    from jax import lax

    name, op = _MONOIDS[body.eqns[0].primitive.name]
    init = np.asarray(ins[1].val).item()
    p = eqn.params
    fn = getattr(lax, op)

    def f(x):
        return lax.reduce_window(x, init, fn, p["window_dimensions"], p["window_strides"], p["padding"],
                                 p["base_dilation"], p["window_dilation"])

    return _Shim(name, f)


def flatten(closed):
    """(eqns, invars, outvars, avals) of a closed jaxpr with inlined calls."""
    eqns, avals = [], {}

    def new(aval):
        i = len(avals)
        avals[i] = aval
        return i

    def walk(jaxpr, consts, in_atoms):
        env = {}

        def read(v):
            return Lit(v.val) if isinstance(v, jcore.Literal) else env[v]

        for v, c in zip(jaxpr.constvars, consts):
            env[v] = Lit(c)
        for v, a in zip(jaxpr.invars, in_atoms):
            env[v] = a
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            sub = _sub_jaxpr(eqn) if eqn.primitive.name in _INLINE else None
            if sub is not None:
                outs = walk(sub[0], sub[1], ins)
            else:
                outs = [new(v.aval) for v in eqn.outvars]
                shim = _monoid_window(eqn, ins) if eqn.primitive.name == "reduce_window" else None
                if shim is not None:
                    eqns.append(Eqn(shim, ins[:1], outs, {}, eqn.effects))
                else:
                    eqns.append(Eqn(eqn.primitive, ins, outs, dict(eqn.params), eqn.effects))
            for v, o in zip(eqn.outvars, outs):
                env[v] = o
        return [read(v) for v in jaxpr.outvars]

    invars = [new(v.aval) for v in closed.jaxpr.invars]
    outvars = walk(closed.jaxpr, closed.consts, invars)
    return eqns, invars, outvars, avals


@dataclasses.dataclass(frozen=True)
class Origin:
    """A value V = L(W) of parameter leaf `leaf`; `chain` the equation indices of L."""
    leaf: int
    chain: tuple
    coiso: bool
    scale: Any          # python float c when L L^T = c^2 I is known, else None


@dataclasses.dataclass
class Use:
    uid: int
    leaf: int
    kind: str           # "dot" | "conv" | "generic"
    eqn: int            # index of the using equation (-1: returned as output `pos`)
    pos: int            # operand position of the parameter value (output index for outputs)
    origin: Origin
    tap: tuple          # tap key
    tap_scale: float    # cotangent at the use = tap_scale * cotangent at the tap


def _concrete_scalar(c):
    if isinstance(c, jax.core.Tracer) or np.size(c) != 1:
        return None
    try:
        return float(np.asarray(c).reshape(()))
    except (TypeError, ValueError):
        return None


class Graph:
    """Analysis of a closed jaxpr whose first `n_params` inputs are parameter leaves.

    Attributes: eqns/invars/outvars/avals (flattened program), folded (equations of constants),
    uses, leaf_uses (leaf -> uses), taps (key -> aval, in order), and for evaluation tap_after
    (variable -> tap key), tap_before (eqn -> [(pos, key)]), tap_out (output index -> key)."""

    def __init__(self, closed, n_params):
        self.eqns, self.invars, self.outvars, self.avals = flatten(closed)
        self.n_params = n_params
        self.const = {}          # variable -> concrete value, computed on demand (`value`)
        self.const_eqn = {}      # constant variable -> the equation producing it
        self.folded = set()      # equations whose inputs are all constant
        state = {}
        for i, v in enumerate(self.invars):
            state[v] = ("origin", Origin(i, (), True, 1.0)) if i < n_params else ("dyn",)
        self.consumers = {}
        for e, eq in enumerate(self.eqns):
            for pos, a in enumerate(eq.ins):
                if not isinstance(a, Lit):
                    self.consumers.setdefault(a, []).append((e, pos))
        self.out_set = {a for a in self.outvars if not isinstance(a, Lit)}
        self.uses, self.taps = [], {}
        self.tap_after, self.tap_before, self.tap_out = {}, {}, {}
        pending = self._trace_origins(state)
        self.state = state
        for leaf, kind, e, j, og in pending:
            self._add_use(leaf, kind, e, j, og)
        self.leaf_uses = {}
        for u in self.uses:
            self.leaf_uses.setdefault(u.leaf, []).append(u)

    def _trace_origins(self, state):
        """Follow the parameter leaves through the program, filling `state` (variable ->
        ("origin", Origin) / ("const", v) / ("dyn",)) and folding constant equations. Returns the
        uses (leaf, kind, eqn, pos, origin) in program order: the equations that consume a leaf's
        value other than through a chain of linear ops with constant other operands (`_chain`), and
        the outputs that are one."""
        pending = []

        def read(a):
            if isinstance(a, Lit):
                return ("const", a)
            return state[a]

        for e, eq in enumerate(self.eqns):
            ins = [read(a) for a in eq.ins]
            if all(i[0] == "const" for i in ins) and not eq.effects:
                for v in eq.outs:
                    state[v] = ("const", v)
                    self.const_eqn[v] = e
                self.folded.add(e)
                continue
            origins = [j for j, i in enumerate(ins) if i[0] == "origin"]
            if not origins:
                for v in eq.outs:
                    state[v] = ("dyn",)
                continue
            chained = self._chain(e, eq, ins, origins)
            if chained is not None:
                state[eq.outs[0]] = ("origin", chained)
                continue
            for j in origins:
                og = ins[j][1]
                if eq.name == "dot_general":
                    kind = "dot"
                elif (eq.name == "conv_general_dilated" and j == 1
                      and eq.params["batch_group_count"] == 1 and ins[0][0] != "origin"):
                    kind = "conv"
                else:
                    kind = "generic"
                pending.append((og.leaf, kind, e, j, og))
            for v in eq.outs:
                state[v] = ("dyn",)
        for i, a in enumerate(self.outvars):
            if not isinstance(a, Lit) and state[a][0] == "origin":
                og = state[a][1]
                pending.append((og.leaf, "generic", -1, i, og))
        return pending

    # -- constants ----------------------------------------------------------------------------
    def is_const(self, a):
        return isinstance(a, Lit) or a in self.const_eqn

    def value(self, a):
        """Concrete value of a constant operand (evaluated eagerly, once)."""
        if isinstance(a, Lit):
            return a.val
        if a not in self.const:
            eq = self.eqns[self.const_eqn[a]]
            for v, val in zip(eq.outs, eq.bind(*[self.value(b) for b in eq.ins])):
                self.const[v] = val
        return self.const[a]

    def scalar(self, a):
        """Python float of a constant size-1 operand, else None."""
        if not self.is_const(a) or self._aval(a).size != 1:
            return None
        return _concrete_scalar(self.value(a))

    # -- chains -------------------------------------------------------------------------------
    def _chain(self, e, eq, ins, origins):
        """Extend a parameter chain through a linear op whose other operands are constant."""
        if len(origins) != 1 or eq.prim.multiple_results:
            return None
        j = origins[0]
        og = ins[j][1]
        if any(i[0] != "const" for t, i in enumerate(ins) if t != j):
            return None
        name = eq.name
        link = og.chain + (e,)
        in_aval, out_aval = self._aval(eq.ins[j]), self.avals[eq.outs[0]]
        if name in _LINEAR_UNARY and len(ins) == 1:
            co = name in _COISOMETRIC
            if name == "broadcast_in_dim":
                co = out_aval.size == in_aval.size
            if name == "convert_element_type":
                co = eq.params.get("new_dtype") == in_aval.dtype
            return Origin(og.leaf, link, og.coiso and co, og.scale)
        if name in ("mul", "div") and len(ins) == 2 and (name == "mul" or j == 0):
            c = self.scalar(eq.ins[1 - j])
            scale = None if c is None else (c if name == "mul" else 1.0 / c)
            co = scale is not None and out_aval.size == in_aval.size and og.scale is not None
            return Origin(og.leaf, link, og.coiso and co, og.scale * scale if co else None)
        return None

    def _aval(self, a):
        if isinstance(a, Lit):
            v = a.val
            return jax.ShapeDtypeStruct(np.shape(v), getattr(v, "dtype", None) or np.result_type(v))
        return self.avals[a]

    # -- taps ----------------------------------------------------------------------------------
    def _pass_through(self, e, pos, var):
        """Factor by which the cotangent of operand `pos` of eqn e equals that of its output,
        or None when it does not pass unchanged."""
        eq = self.eqns[e]
        if len(eq.outs) != 1:
            return None
        out_aval, in_aval = self.avals[eq.outs[0]], self.avals[var]
        if out_aval.shape != in_aval.shape or out_aval.dtype != in_aval.dtype:
            return None
        name = eq.name
        if name in ("add", "add_any"):
            return 1.0
        if name == "sub":
            return 1.0 if pos == 0 else -1.0
        if name == "neg":
            return -1.0
        if name in ("copy", "copy_p", "convert_element_type"):
            return 1.0
        if name in ("mul", "div") and len(eq.ins) == 2 and (name == "mul" or pos == 0):
            c = self.scalar(eq.ins[1 - pos])
            if c is None or (name == "div" and c == 0.0):
                return None
            return c if name == "mul" else 1.0 / c
        return None

    def _forward(self, var, scale):
        while var not in self.out_set:
            cons = self.consumers.get(var, [])
            if len(cons) != 1:
                break
            e, pos = cons[0]
            if e in self.folded:
                break
            step = self._pass_through(e, pos, var)
            if step is None:
                break
            var, scale = self.eqns[e].outs[0], scale * step
        return var, scale

    def _add_use(self, leaf, kind, e, pos, origin):
        if e < 0:                                   # returned as output `pos`
            key, scale = ("out", pos), 1.0
            self.tap_out[pos] = key
            aval = self.avals[self.outvars[pos]]
        elif kind in ("dot", "conv"):
            var, scale = self._forward(self.eqns[e].outs[0], 1.0)
            key = ("var", var)
            self.tap_after[var] = key
            aval = self.avals[var]
        else:
            eq = self.eqns[e]
            step = self._pass_through(e, pos, eq.ins[pos]) if not isinstance(eq.ins[pos], Lit) \
                else None
            if step is not None:
                var, scale = self._forward(eq.outs[0], step)
                key = ("var", var)
                self.tap_after[var] = key
                aval = self.avals[var]
            else:
                key, scale = ("in", e, pos), 1.0
                lst = self.tap_before.setdefault(e, [])
                if (pos, key) not in lst:
                    lst.append((pos, key))
                aval = self._aval(eq.ins[pos])
        self.taps.setdefault(key, aval)
        self.uses.append(Use(len(self.uses), leaf, kind, e, pos, origin, key, scale))

    # -- evaluation ----------------------------------------------------------------------------
    def run(self, inputs, deltas, record=None):
        """Evaluate with `deltas[key]` added at every tap; `record[eqn]` gets the operands of the
        dot/conv equations listed in `record` (a dict eqn -> None on entry)."""
        env = dict(zip(self.invars, inputs))

        def read(a):
            return a.val if isinstance(a, Lit) else env[a]

        for e, eq in enumerate(self.eqns):
            vals = [read(a) for a in eq.ins]
            for pos, key in self.tap_before.get(e, ()):
                vals[pos] = vals[pos] + deltas[key]
            if record is not None and e in record:
                record[e] = list(vals)
            outs = eq.bind(*vals)
            for v, o in zip(eq.outs, outs):
                key = self.tap_after.get(v)
                env[v] = o if key is None else o + deltas[key]
        outs = [read(a) for a in self.outvars]
        for i, key in self.tap_out.items():
            outs[i] = outs[i] + deltas[key]
        return outs

    def chain_fn(self, origin):
        """w -> L(w), the linear chain from the parameter leaf to its value at a use."""
        eqns = [self.eqns[e] for e in origin.chain]

        def L(w):
            for eq in eqns:
                vals = [self.value(a) if self.is_const(a) else None for a in eq.ins]
                j = next(t for t, v in enumerate(vals) if v is None)
                vals[j] = w
                w = eq.bind(*vals)[0]
            return w

        return L

    def prim_of(self, u):
        return "output" if u.eqn < 0 else self.eqns[u.eqn].name
