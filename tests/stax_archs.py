"""Serialized stax architectures and a seeded random-architecture generator (pure Python).

Shared by the main env (tests/test_stax*.py, tests/reference/stax_cases.py build them with
`ntk.stax`) and the reference env (tests/reference/nt_stax_oracle.py builds the same description
with neural-tangents' `stax`): the layer names and keyword arguments are NT 0.6.5's, so

    build(desc, stax_module, elementwise_fns(jax, jnp))

gives the same network in both. A description is JSON: ``[name, args]`` with args a dict of
keyword arguments (lists for tuples), or for ``serial`` / ``parallel`` a list of descriptions.
``ElementwiseNumerical`` names its fn (``{"fn": "tanh", "deg": 64}``) and ``Elementwise`` its
(fn, nngp_fn) pair (``{"fn": "erf_pair"}``) from `elementwise_fns`.

`random_arch(seed)` -> (desc, input_shape without batch): depth, widths, filters, strides,
paddings, residual / concatenated branches, pooling, layer norm, 1-D and 2-D (and 0-D) inputs,
built so that neural-tangents accepts them too: every activation sees a Gaussian input and
every FanInSum adds Gaussian, uncorrelated branches (ntk.stax also allows non-Gaussian branches
and activations in a row, e.g. `CONTRACT`, which NT refuses; Monte Carlo checks those).
"""
from __future__ import annotations

import random

CLOSED_ACTS = ("Relu", "LeakyRelu", "ABRelu", "Abs", "Erf", "Gelu", "Sin", "Sigmoid_like", "Identity")
QUAD_FNS = ("tanh", "softplus", "silu")


def elementwise_fns(jax, jnp):
    """Functions named in descriptions: quadrature fns and (fn, nngp_fn) pairs for Elementwise."""
    from jax.scipy.special import erf

    def erf_nngp(cov12, var1, var2):
        return jnp.arcsin(2 * cov12 / jnp.sqrt((1 + 2 * var1) * (1 + 2 * var2))) * 2 / jnp.pi

    return {"tanh": jnp.tanh, "softplus": jax.nn.softplus, "silu": jax.nn.silu, "erf_pair": (erf, erf_nngp)}


def build(desc, stax, fns):
    """The (init_fn, apply_fn, kernel_fn) of a description with the given stax module."""
    name, arg = desc
    if name in ("serial", "parallel"):
        return getattr(stax, name)(*[build(d, stax, fns) for d in arg])
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in arg.items()}
    if name == "ElementwiseNumerical":
        return stax.ElementwiseNumerical(fns[kw["fn"]], deg=kw["deg"])
    if name == "Elementwise":
        fn, nngp_fn = fns[kw["fn"]]
        return stax.Elementwise(fn, nngp_fn)
    return getattr(stax, name)(**kw)


def pytree_model(apply_fn):
    """f(params, x) -> {"a": y, "b": (y * y,)} with y = apply_fn(params, x): a pytree output."""

    def f(params, x):
        y = apply_fn(params, x)
        return {"a": y, "b": (y * y,)}

    return f


def has_quadrature(desc) -> bool:
    name, arg = desc
    if name in ("serial", "parallel"):
        return any(has_quadrature(d) for d in arg)
    return name == "ElementwiseNumerical"


def count_layers(desc) -> int:
    name, arg = desc
    if name in ("serial", "parallel"):
        return sum(count_layers(d) for d in arg)
    return 1


# ---------------------------------------------------------------------------------------------
# every layer alone (with the context NT needs: an affine layer before activations / LayerNorm)

def _dense(n, W=1.3, b=0.2, p="ntk"):
    return ["Dense", {"out_dim": n, "W_std": W, "b_std": b, "parameterization": p}]


def _conv(n, f, s=None, pad="SAME", W=1.2, b=0.1, p="ntk"):
    d = {"out_chan": n, "filter_shape": list(f), "padding": pad, "W_std": W, "b_std": b, "parameterization": p}
    if s is not None:
        d["strides"] = list(s)
    return ["Conv", d]


def single_layer_cases():
    """[(name, desc, input_shape)]: each layer of the contract on its own."""
    acts = [["Relu", {}], ["LeakyRelu", {"alpha": 0.2}], ["ABRelu", {"a": -0.4, "b": 1.3}], ["Abs", {}],
            ["Erf", {"a": 1.2, "b": 0.8, "c": 0.1}], ["Gelu", {}], ["Sin", {"a": 0.9, "b": 1.1, "c": 0.3}],
            ["Sigmoid_like", {}], ["Identity", {}], ["Elementwise", {"fn": "erf_pair"}],
            ["ElementwiseNumerical", {"fn": "tanh", "deg": 128}],
            ["ElementwiseNumerical", {"fn": "softplus", "deg": 64}]]
    out = []
    for a in acts:
        tag = a[0] if a[0] != "ElementwiseNumerical" else "Numerical_" + a[1]["fn"]
        out.append((f"act_{tag}", ["serial", [_dense(5), a]], (4,)))
    out += [
        ("dense_ntk", ["serial", [_dense(3, 1.4, 0.3)]], (4,)),
        ("dense_std", ["serial", [_dense(3, 1.4, 0.3, "standard")]], (4,)),
        ("dense_nobias", ["serial", [_dense(3, 1.1, None)]], (4,)),
        ("dense_on_images", ["serial", [_dense(3, 1.2, 0.1)]], (3, 4, 2)),
        ("identity", ["Identity", {}], (3,)),
        ("flatten", ["Flatten", {}], (3, 4, 2)),
        ("global_avg_pool", ["GlobalAvgPool", {}], (3, 4, 2)),
        ("global_avg_pool_1d", ["GlobalAvgPool", {}], (6, 2)),
        ("layer_norm", ["serial", [_dense(4), ["LayerNorm", {"axis": -1}]]], (3,)),
        ("layer_norm_spatial", ["serial", [_conv(3, (2, 2)), ["LayerNorm", {"axis": [1, 2, 3]}]]], (3, 4, 2)),
        ("fan_in_sum", ["serial", [["FanOut", {"num": 2}], ["parallel", [_dense(3), _dense(3, 0.9, 0.1)]],
                                   ["FanInSum", {}]]], (4,)),
        ("fan_in_concat", ["serial", [["FanOut", {"num": 2}], ["parallel", [_dense(3), _dense(2, 0.9, None)]],
                                      ["FanInConcat", {}]]], (4,)),
        ("residual_identity", ["serial", [_dense(4), ["FanOut", {"num": 2}],
                                          ["parallel", [["serial", [["Relu", {}], _dense(4, 1.1, 0.0)]],
                                                        ["Identity", {}]]],
                                          ["FanInSum", {}]]], (3,)),
    ]
    for dims, shape in (("1d", (7, 2)), ("2d", (5, 4, 2))):
        nsp = len(shape) - 1
        for pad in ("VALID", "SAME", "CIRCULAR"):
            for s in (1, 2):
                f = (3, 2)[:nsp] if nsp == 2 else (3,)
                out.append((f"conv{dims}_{pad.lower()}_s{s}", ["serial", [_conv(3, f, (s,) * nsp, pad)]], shape))
        out.append((f"conv{dims}_std", ["serial", [_conv(3, (2,) * nsp, None, "SAME", 1.3, 0.2, "standard")]], shape))
        for pad in ("VALID", "SAME", "CIRCULAR"):
            out.append((f"avgpool{dims}_{pad.lower()}",
                        ["AvgPool", {"window_shape": [2] * nsp, "strides": [2] * nsp if pad == "VALID" else [1] * nsp,
                                     "padding": pad}], shape))
        out.append((f"avgpool{dims}_same_normalized",
                    ["AvgPool", {"window_shape": [3] * nsp, "strides": [2] * nsp, "padding": "SAME",
                                 "normalize_edges": True}], shape))
    return out


# ---------------------------------------------------------------------------------------------
# random compositions

def _rand_act(r: random.Random):
    name = r.choice(CLOSED_ACTS)
    if name == "LeakyRelu":
        return [name, {"alpha": round(r.uniform(0.05, 0.5), 3)}]
    if name == "ABRelu":
        return [name, {"a": round(r.uniform(-1, 0.5), 3), "b": round(r.uniform(0.5, 1.5), 3)}]
    if name == "Erf":
        return [name, {"a": round(r.uniform(0.5, 1.5), 3), "b": round(r.uniform(0.5, 1.5), 3),
                       "c": round(r.uniform(-0.3, 0.3), 3)}]
    if name == "Sin":
        return [name, {"a": round(r.uniform(0.5, 1.5), 3), "b": round(r.uniform(0.5, 1.2), 3),
                       "c": round(r.uniform(-0.5, 0.5), 3)}]
    return [name, {}]


def _rand_affine_args(r):
    W = round(r.uniform(0.8, 1.6), 3)
    b = r.choice([None, 0.0, round(r.uniform(0.05, 0.4), 3)])
    p = "standard" if r.random() < 0.25 else "ntk"
    return W, b, p


class _Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def affine(self, shape, chans=None, keep_spatial=False):
        """A Dense or Conv on `shape` -> (desc, new shape)."""
        r = self.r
        W, b, p = _rand_affine_args(r)
        c = chans or r.randint(2, 4)
        sp = shape[:-1]
        if not sp or r.random() < 0.2:
            return _dense(c, W, b, p), sp + (c,)
        f, s, out = [], [], []
        pad = r.choice(["VALID", "SAME", "CIRCULAR"])
        for size in sp:
            k = r.randint(1, 3)
            st = 1 if keep_spatial else r.choice([1, 1, 2])
            if pad == "VALID" and (k > size or keep_spatial):
                k = 1 if keep_spatial else min(k, size)
            f.append(k)
            s.append(st)
            out.append((size - k) // st + 1 if pad == "VALID" else -(-size // st))
        if keep_spatial:
            pad = "SAME" if pad == "VALID" and any(k > 1 for k in f) else pad
        return _conv(c, f, s, pad, W, b, p), tuple(out) + (c,)

    def block(self, shape, gauss):
        """One random block -> (list of descs, new shape, output is Gaussian)."""
        r = self.r
        sp = shape[:-1]
        choice = r.random()
        if choice < 0.12 and gauss:  # layer norm
            axis = -1 if (not sp or r.random() < 0.5) else list(range(1, len(sp) + 2))
            return [["LayerNorm", {"axis": axis}]], shape, True
        if choice < 0.24 and sp and max(sp) >= 2:  # pooling keeps Gaussianity
            pad = r.choice(["VALID", "SAME", "CIRCULAR"])
            win = [min(2, d) if pad == "VALID" else r.randint(1, 2) for d in sp]
            st = [r.choice([1, 2]) for _ in sp]
            out = [(d - w) // s + 1 if pad == "VALID" else -(-d // s) for d, w, s in zip(sp, win, st)]
            return [["AvgPool", {"window_shape": win, "strides": st, "padding": pad}]], tuple(out) + shape[-1:], gauss
        if choice < 0.42:  # residual: FanOut -> (affine [-> act -> affine], Identity or affine) -> FanInSum
            a, sh = self.affine(shape, chans=shape[-1], keep_spatial=True)
            if r.random() < 0.5:
                a = ["serial", [a, _rand_act(r), self.affine(sh, shape[-1], True)[0]]]
            # NT sums Gaussian branches only: Identity needs a Gaussian input, else a second affine
            b = ["Identity", {}] if gauss and r.random() < 0.7 else self.affine(shape, shape[-1], True)[0]
            return [["FanOut", {"num": 2}], ["parallel", [a, b]], ["FanInSum", {}]], shape, True
        if choice < 0.52:  # two affine branches concatenated along channels
            a, sa = self.affine(shape, keep_spatial=True)
            b, sb = self.affine(shape, keep_spatial=True)
            pre = [_rand_act(r)] if gauss else []
            return pre + [["FanOut", {"num": 2}], ["parallel", [a, b]], ["FanInConcat", {}]], sa[:-1] + (
                sa[-1] + sb[-1],), False
        # affine (+ activation)
        a, sh = self.affine(shape)
        if r.random() < 0.8:
            return [a, _rand_act(r)], sh, False
        return [a], sh, True


def random_arch(seed: int):
    """(description, per-example input shape) of a random network; its output is (k,) or spatial."""
    g = _Gen(seed)
    r = g.r
    nsp = r.choice([0, 1, 2, 2])
    shape = {0: (r.randint(2, 5),), 1: (r.randint(4, 7), r.randint(1, 2)),
             2: (r.randint(3, 5), r.randint(3, 5), r.randint(1, 2))}[nsp]
    descs, cur, gauss = [], shape, False
    a, cur = g.affine(cur)
    descs.append(a)
    gauss = True
    for _ in range(r.randint(1, 3)):
        d, cur, gauss = g.block(cur, gauss)
        descs += d
    if len(cur) > 1:
        end = r.random()
        if end < 0.4:
            descs.append(["GlobalAvgPool", {}])
            cur = cur[-1:]
        elif end < 0.75:
            descs.append(["Flatten", {}])
            cur = (_prod(cur),)
        # else: the output keeps its spatial axes (full spatial covariance kernel)
    W, b, p = _rand_affine_args(r)
    descs.append(_dense(r.randint(1, 3), W, b, p))
    return ["serial", descs], shape


def _prod(t):
    out = 1
    for v in t:
        out *= v
    return out


#: the contract's example network (issue 12), on (n, H, W, C) images; NT 0.6.5 refuses it (Relu after
#: Relu, and FanInSum of a non-Gaussian branch)
CONTRACT = ["serial", [
    ["Conv", {"out_chan": 32, "filter_shape": [3, 3], "padding": "SAME", "W_std": 1.4, "b_std": 0.1}],
    ["Relu", {}], ["FanOut", {"num": 2}],
    ["parallel", [["serial", [["Relu", {}], ["Conv", {"out_chan": 32, "filter_shape": [3, 3], "padding": "SAME"}]]],
                  ["Identity", {}]]],
    ["FanInSum", {}], ["AvgPool", {"window_shape": [2, 2], "strides": [2, 2]}], ["GlobalAvgPool", {}],
    ["Dense", {"out_dim": 10}]]]
