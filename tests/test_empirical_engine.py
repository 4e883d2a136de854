"""The empirical-NTK engine (`ntk.empirical_ntk_fn` & co., `ntk.empirical_ntk` on any model): every
implementation and vmap_axes setting against a plain jax.jacrev contraction in float64.

The reference never touches the engine: the Jacobian of the whole batch, d f(params, x) / d params,
by jax.jacrev, flattened over parameters and contracted in NT's layout (pairs of output axes,
`trace_axes` averaged out, `diagonal_axes` kept once).
"""
import functools
import itertools
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk
from _testutil import assert_close

sys.path.insert(0, str(pathlib.Path(__file__).parent / "reference"))
import empirical_models as EM  # noqa: E402

TOL = dict(rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# reference
# ---------------------------------------------------------------------------------------------

def _layout(ndim, trace, diag):
    trace = {a % ndim for a in trace}
    diag = {a % ndim for a in diag}
    letters = iter("abcdefghijklmnopqrstuvwxy")
    l1 = l2 = out = ""
    for d in range(ndim):
        a = next(letters)
        if d in trace:
            b = a
        elif d in diag:
            b, out = a, out + a
        else:
            b = next(letters)
            out += a + b
        l1, l2 = l1 + a, l2 + b
    return l1, l2, out, trace


def jacrev_kernel(f, params, x1, x2=None, trace_axes=(-1,), diagonal_axes=()):
    """Theta in NT's layout from full-batch jax.jacrev Jacobians; pytree outputs leaf by leaf."""
    x2 = x1 if x2 is None else x2
    return contract(flat_jacobians(f, params, x1), flat_jacobians(f, params, x2), trace_axes, diagonal_axes)


def flat_jacobians(f, params, x):
    """(output tree, [J per output leaf: (*out.shape, P)]) of f(params, x) w.r.t. all params."""
    return jax.tree_util.tree_structure(jax.eval_shape(f, params, x)), _flat_jac(f, params, x)


@functools.partial(jax.jit, static_argnums=0)
def _flat_jac(f, params, x):
    out = f(params, x)
    jac = jax.jacrev(f)(params, x)
    return [jnp.concatenate([leaf.reshape(o.shape + (-1,)) for leaf in jax.tree_util.tree_leaves(j)], -1)
            for o, j in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_structure(out).flatten_up_to(jac))]


def contract(j1, j2, trace_axes=(-1,), diagonal_axes=()):
    """NT-layout kernel from two flat_jacobians results (numpy, float64)."""
    tree, a_list = j1
    outs = []
    for a, b in zip(a_list, j2[1]):
        a, b = np.asarray(a), np.asarray(b)
        l1, l2, out, tr = _layout(a.ndim - 1, trace_axes, diagonal_axes)
        size = np.prod([a.shape[d] for d in tr]) if tr else 1
        outs.append(np.einsum(f"{l1}z,{l2}z->{out}", a, b) / size)
    return jax.tree_util.tree_unflatten(tree, outs)


def rows(jac, idx):
    """The flat_jacobians of a sub-batch (f acts on rows independently: all models here do)."""
    tree, leaves = jac
    return tree, [np.asarray(a)[idx] for a in leaves]


def assert_tree_close(got, want, msg=""):
    gl, wl = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want), msg
    for g, w in zip(gl, wl):
        assert_close(g, w, err_msg=msg, **TOL)


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------

def _model(name, seed=0):
    f, make, shape = EM.MODELS[name]
    rng = np.random.default_rng(seed)
    p = {k: jnp.asarray(v) for k, v in make(rng).items()}
    x1 = jnp.asarray(rng.standard_normal((3,) + shape))
    x2 = jnp.asarray(rng.standard_normal((2,) + shape))
    return f, p, x1, x2


def _flax_model():
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(3, (3, 3), strides=(2, 2), padding="SAME")(x)
            x = nn.gelu(x)
            x = nn.LayerNorm()(x.reshape(x.shape[0], -1))
            return nn.Dense(2)(jnp.tanh(nn.Dense(4)(x)))

    m = Net()
    rng = np.random.default_rng(3)
    x1 = jnp.asarray(rng.standard_normal((3, 5, 5, 2)))
    x2 = jnp.asarray(rng.standard_normal((2, 5, 5, 2)))
    v = jax.jit(m.init)(jax.random.PRNGKey(0), x1)
    # perturb LayerNorm's scale / bias away from 1 / 0
    v = jax.tree_util.tree_map(lambda a: a + 0.3 * jnp.asarray(rng.standard_normal(a.shape)), v)
    return m.apply, v, x1, x2


def _init(layer, seed, shape):
    """A stax net's parameters, drawn in one compiled call."""
    return jax.jit(lambda k: layer[0](k, shape)[1])(jax.random.PRNGKey(seed))


def _stax_models():
    from ntk import stax

    rng = np.random.default_rng(4)
    cnn = stax.serial(
        stax.Conv(3, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), stax.Relu(),
        stax.FanOut(2), stax.parallel(stax.serial(stax.Erf(), stax.Conv(3, (2, 2), padding="SAME")),
                                      stax.Identity()),
        stax.FanInSum(), stax.Conv(2, (2, 2), strides=(2, 2)), stax.GlobalAvgPool(), stax.Dense(2, b_std=0.3))
    x1 = jnp.asarray(rng.standard_normal((3, 4, 4, 2)))
    x2 = jnp.asarray(rng.standard_normal((2, 4, 4, 2)))
    p = _init(cnn, 1, x1.shape)
    mlp = stax.serial(stax.Dense(5, W_std=1.5, b_std=0.2), stax.Gelu(), stax.LayerNorm(),
                      stax.Dense(3, parameterization="standard", b_std=0.1))
    y1 = jnp.asarray(rng.standard_normal((3, 4)))
    y2 = jnp.asarray(rng.standard_normal((2, 4)))
    q = _init(mlp, 2, y1.shape)
    return {"stax_cnn": (cnn, p, x1, x2), "stax_mlp": (mlp, q, y1, y2)}


def test_stax_avgpool_structured():
    """AvgPool traces to a generic reduce_window (its init value is an array); the structured
    method re-dispatches it as the windowed sum JAX differentiates in reverse mode."""
    from ntk import stax

    net = stax.serial(stax.Conv(3, (3, 3), padding="SAME"), stax.Relu(), stax.AvgPool((2, 2), strides=(2, 2)),
                      stax.Flatten(), stax.Dense(2))
    x = jnp.asarray(np.random.default_rng(5).standard_normal((3, 4, 4, 2)))
    p = _init(net, 0, x.shape)

    def twin(q, z):         # the same function with a scalar init value (reverse-differentiable)
        (W1, _), _, _, _, (W2, _) = q
        h = jax.lax.conv_general_dilated(z, W1, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.lax.reduce_window(jax.nn.relu(h / np.sqrt(18.0)), 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1),
                                  "VALID") / 4.0
        return h.reshape(h.shape[0], -1) @ W2 / np.sqrt(W2.shape[0])

    assert_close(jax.jit(net[1])(p, x), twin(p, x), **TOL)
    ref = jacrev_kernel(twin, p, x, None, ())
    for vmap in (0, None):
        fn = ntk.empirical_ntk_fn(net[1], trace_axes=(), vmap_axes=vmap, implementation=3)
        assert_close(fn(x, None, p), ref, **TOL)


# Every implementation with both vmap_axes; the output axes and x2 / None cycle along.
GRID = [(impl, vmap, axes, same) for (impl, vmap), axes, same in zip(
    itertools.product((3, 1, 2, 0), (0, None)),
    itertools.cycle([((-1,), ()), ((), ()), ((), (0,)), ((-1,), (0,))]),
    itertools.cycle([False, False, True]))]


def _check_grid(f, p, x1, x2, name):
    n1, n2 = x1.shape[0], x2.shape[0]
    x1r = jnp.asarray(np.asarray(x1)[::-1] * 0.7)   # diagonal axes need equal batch sizes
    # one Jacobian of the three batches stacked; rows are examples (every model acts row-wise)
    jac = flat_jacobians(f, p, jnp.concatenate([x1, x2, x1r]))
    J = {"x1": rows(jac, slice(0, n1)), "x2": rows(jac, slice(n1, n1 + n2)),
         "x1r": rows(jac, slice(n1 + n2, None))}
    for impl, vmap, (tr, dg), same in GRID:
        which = "x1" if same else ("x1r" if dg else "x2")
        b = {"x1": None, "x1r": x1r, "x2": x2}[which]
        fn = ntk.empirical_ntk_fn(f, trace_axes=tr, diagonal_axes=dg, vmap_axes=vmap, implementation=impl)
        assert_tree_close(fn(x1, b, p), contract(J["x1"], J[which], tr, dg),
                          f"{name}: implementation={impl} vmap_axes={vmap} trace={tr} diag={dg} x2={which}")


@pytest.mark.parametrize("name", list(EM.MODELS))
def test_plain_models_every_implementation(name):
    f, p, x1, x2 = _model(name)
    _check_grid(f, p, x1, x2, name)


def test_flax_module_every_implementation():
    f, v, x1, x2 = _flax_model()
    _check_grid(f, v, x1, x2, "flax")


@pytest.mark.parametrize("name", ["stax_cnn", "stax_mlp"])
def test_stax_nets_every_implementation(name):
    layer, p, x1, x2 = _stax_models()[name]
    _check_grid(layer[1], p, x1, x2, name)
    # ntk.empirical_ntk takes the layer itself
    ref = jacrev_kernel(layer[1], p, x1, x2, ())
    for method in ("structured", "auto"):
        assert_close(ntk.empirical_ntk(layer, p, x1, x2, method=method, trace=False), ref, **TOL)


# ---------------------------------------------------------------------------------------------
# ntk.empirical_ntk on every model
# ---------------------------------------------------------------------------------------------

def _flat(f):
    """f with each example's outputs flattened and concatenated: (n, k)."""
    def g(q, x):
        return jnp.concatenate([o.reshape(x.shape[0], -1) for o in jax.tree_util.tree_leaves(f(q, x))], 1)

    return g


def _flat_kernel(f, p, x1, x2):
    """(n1, n2, k, k) kernel of the flattened (and concatenated) per-example outputs."""
    return jacrev_kernel(_flat(f), p, x1, x2, ())


@pytest.mark.parametrize("name", list(EM.MODELS) + ["flax"])
def test_empirical_ntk_any_model(name):
    f, p, x1, x2 = _flax_model() if name == "flax" else _model(name)
    n1 = x1.shape[0]
    jac = flat_jacobians(_flat(f), p, jnp.concatenate([x1, x2]))
    J1, J2 = rows(jac, slice(0, n1)), rows(jac, slice(n1, None))
    ref, ref11 = contract(J1, J2, ()), contract(J1, J1, ())
    k = ref.shape[-1]
    for method, trace in (("structured", False), ("auto", True)):
        got = ntk.empirical_ntk(f, p, x1, x2, method=method, trace=trace)
        want = ref if not trace else np.trace(ref, axis1=2, axis2=3) / k
        assert_close(got, want, err_msg=f"{name} {method} trace={trace}", **TOL)
    blk = ntk.empirical_ntk(f, p, x1, method="structured", batch_size=2)
    assert_close(blk, np.trace(ref11, axis1=2, axis2=3) / k, **TOL)


def test_structured_paths_and_fallbacks():
    """Tied weights and parameters broadcast over positions take the Jacobian fallback, the rest
    the structured path; `estimate_cost` says which (and auto never picks a path far slower)."""
    f, p, x1, _ = _model("tied")
    c = ntk.estimate_cost(f, p, x1, method="structured")
    paths = {r["param"]: r["path"] for r in c.paths}
    assert paths == {"['W']": "jacobian", "['b']": "structured", "['c']": "structured"}
    assert "used 2 times" in {r["param"]: r["why"] for r in c.paths}["['W']"]
    f, p, x1, _ = _model("seq")
    paths = {r["param"]: r["path"] for r in ntk.estimate_cost(f, p, x1, method="structured").paths}
    assert paths == {"['W']": "structured", "['Wo']": "structured", "['b']": "jacobian",
                     "['pos']": "structured"}
    theta, cost = ntk.empirical_ntk(f, p, x1, explain=True)
    assert cost.method == "structured" and "pos" in cost.explain()
    f, p, x1, _ = _model("cnn")
    flops = {m: ntk.estimate_cost(f, p, x1, method=m).flops for m in ("structured", "jacobian", "ntvp")}
    assert ntk.estimate_cost(f, p, x1).flops == min(flops.values())


@pytest.mark.parametrize("n1,n2", [(11, 9), (16, None)])
def test_weight_gradients_in_blocks(n1, n2):
    """Per-example weight gradients are formed in blocks of `_J_CHUNK` examples: batches larger
    than a block, with and without a partial last block, on a grouped conv with several outputs."""
    from ntk import _empirical_engine as engine

    f, make, shape = EM.MODELS["cnn"]
    rng = np.random.default_rng(5)
    p = {k: jnp.asarray(v) for k, v in make(rng).items()}
    x1 = jnp.asarray(rng.standard_normal((n1,) + shape))
    x2 = None if n2 is None else jnp.asarray(rng.standard_normal((n2,) + shape))
    assert n1 > engine._J_CHUNK
    whys = [r["why"] for r in ntk.estimate_cost(f, p, x1, x2, method="structured").paths]
    assert any("per-example weight gradient" in w for w in whys), whys
    for tr in ((), (-1,)):
        fn = ntk.empirical_ntk_fn(f, trace_axes=tr, vmap_axes=0, implementation=3)
        assert_close(fn(x1, x2, p), jacrev_kernel(f, p, x1, x2, tr), **TOL)


# ---------------------------------------------------------------------------------------------
# NT surface: nngp, kernel_fn, Monte Carlo, kwargs
# ---------------------------------------------------------------------------------------------

def test_nngp_kernel_fn_and_kwargs():
    f, p, x1, x2 = _model("mlp")
    out1, out2 = f(p, x1), f(p, x2)
    kfn = ntk.empirical_kernel_fn(f, trace_axes=(), vmap_axes=0, implementation=3)
    k = kfn(x1, x2, ("nngp", "ntk"), p)
    assert_close(k.nngp, jnp.einsum("ia,jb->ijab", out1, out2), **TOL)
    assert_close(k.ntk, jacrev_kernel(f, p, x1, x2, ()), **TOL)
    assert_close(kfn(x1, None, "nngp", p), jnp.einsum("ia,jb->ijab", out1, out1), **TOL)
    # neural-tangents' names for the implementations are accepted
    impl = ntk.NtkImplementation
    assert [int(m) for m in impl] == [0, 1, 2, 3] and impl(3) is impl.STRUCTURED_DERIVATIVES
    fe = ntk.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0, implementation=impl.NTK_VECTOR_PRODUCTS)
    assert_close(fe(x1, x2, p), k.ntk, **TOL)

    def g(q, x, scale, mode="tanh"):                     # an array and a static keyword argument
        return f(q, x) * scale if mode == "tanh" else f(q, x)

    fn = ntk.empirical_ntk_fn(g, vmap_axes=0, implementation=3)
    assert_close(fn(x1, x2, p, scale=2.0 * jnp.ones(()), mode="tanh"),
                 4 * jacrev_kernel(f, p, x1, x2), **TOL)


def test_monte_carlo_kernel_fn():
    from ntk import stax

    init_fn, apply_fn, _ = stax.serial(stax.Dense(8, b_std=0.1), stax.Relu(), stax.Dense(1))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 2)))
    key = jax.random.PRNGKey(7)
    mc = ntk.monte_carlo_kernel_fn(init_fn, apply_fn, key, [1, 2], vmap_axes=0)
    means = list(mc(x, None, "ntk"))
    # the same samples by hand: NT's key schedule (split per sample, first half for init)
    @jax.jit
    def draws(k):
        params = []
        for _ in range(2):
            k, sub = jax.random.split(k)
            params.append(init_fn(jax.random.split(sub)[0], x.shape)[1])
        return params

    samples = [jacrev_kernel(apply_fn, p, x) for p in draws(key)]
    assert_close(means[0], samples[0], **TOL)
    assert_close(means[1], (samples[0] + samples[1]) / 2, **TOL)


# ---------------------------------------------------------------------------------------------
# hostile inputs
# ---------------------------------------------------------------------------------------------

def test_errors_are_clear():
    f, p, x1, x2 = _model("mlp")
    with pytest.raises(ValueError, match="implementation must be 0"):
        ntk.empirical_ntk_fn(f, implementation=5)
    with pytest.raises(TypeError, match="apply_fn"):
        ntk.empirical_ntk_fn("not a function")
    fn = ntk.empirical_ntk_fn(f, vmap_axes=0, implementation=3)
    with pytest.raises(ValueError, match="same shape"):
        fn(x1, jnp.ones((2, 4)), p)
    with pytest.raises(ValueError, match="same feature size"):
        ntk.empirical_ntk(f, p, x1, jnp.ones((2, 4)))
    _, q, _, _ = _model("resnet")               # parameters of another model
    with pytest.raises(ValueError, match="params belong to this model"):
        fn(x1, x2, q)
    with pytest.raises(ValueError, match="params belong to this model"):
        ntk.empirical_ntk(f, q, x1)
    layer, sp, _, _ = _stax_models()["stax_mlp"]
    with pytest.raises(ValueError, match="another architecture|expected"):
        ntk.empirical_ntk(layer, p, x1)
    with pytest.raises(ValueError, match=r"estimated .* above the memory budget.*batch_size=\d+"):
        ntk.empirical_ntk(f, p, jnp.ones((64, 3)), method="jacobian", memory_budget=60_000)
    with pytest.raises(ValueError, match="method"):
        ntk.empirical_ntk(f, p, x1, method="fast")

    def batchnorm(q, x):                        # mixes the examples of a batch
        h = x @ q["W0"]
        return jnp.tanh((h - h.mean(0)) / (h.std(0) + 1.0)) @ q["W1"][:6, :2]

    with pytest.raises(ValueError, match="vmap_axes=None"):
        ntk.empirical_ntk(batchnorm, p, x1)
    assert_close(ntk.empirical_ntk(batchnorm, p, x1, x2, vmap_axes=None, trace=False),
                 _flat_kernel(batchnorm, p, x1, x2), **TOL)
