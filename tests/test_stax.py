"""ntk.stax: shapes of generated architectures, empirical kernels against jax.jacrev, Monte Carlo
of wide conv / residual nets against the infinite kernels, blocks, memory, errors, and the wiring
into ntk (infinite_kernel, batch, train). Cross-checks against neural-tangents are in
tests/reference/test_stax_against_nt.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk
import stax_archs as SA
from _testutil import assert_close
from ntk import stax
from ntk import _empirical_engine as E

FNS = SA.elementwise_fns(jax, jnp)
KEY = jax.random.PRNGKey(0)


def _spatial_pairs(shape):
    return tuple(d for s in shape for d in (s, s))


# ---------------------------------------------------------------------------------------------
# shapes: init_fn's out_shape, apply_fn and kernel_fn agree (abstract evaluation: nothing compiles)

@pytest.mark.parametrize("seed", range(24))
def test_generated_architectures_shapes_agree(seed):
    desc, shape = SA.random_arch(1000 + seed)
    init_fn, apply_fn, kernel_fn = SA.build(desc, stax, FNS)
    n1, n2 = 3, 2
    x1 = jax.ShapeDtypeStruct((n1,) + tuple(shape), jnp.float64)
    x2 = jax.ShapeDtypeStruct((n2,) + tuple(shape), jnp.float64)
    box = {}

    def init(k):
        box["out_shape"], params = init_fn(k, x1.shape)
        return params

    params = jax.eval_shape(init, KEY)
    out_shape = box["out_shape"]
    y = jax.eval_shape(apply_fn, params, x1)
    assert tuple(out_shape) == y.shape and y.shape[0] == n1
    sp = y.shape[1:-1]
    for a, b, nb in ((x1, x2, n2), (x1, None, n1)):
        k = jax.eval_shape(lambda u, v: tuple(kernel_fn(u, v, ("nngp", "ntk"))), a, b if b is None else b)
        assert k[0].shape == k[1].shape == (n1, nb) + _spatial_pairs(sp)
        assert k[0].dtype == jnp.float64
    if sp and not any(lay.needs_full for lay in _layers(init_fn)):  # diagonal spatial covariance allowed
        k = jax.eval_shape(lambda u: kernel_fn(u, None, "nngp", diagonal_spatial=True), x1)
        assert k.shape == (n1, n1) + sp


def _layers(fn):
    """Every layer of the network behind a stax function (combinators and their children)."""
    out = []

    def walk(layer):
        out.append(layer)
        for sub in getattr(layer, "layers", ()):
            walk(sub)

    walk(fn._stax_layer)
    return out


# ---------------------------------------------------------------------------------------------
# empirical kernels of stax nets vs a plain jax.jacrev contraction

def _jacrev_ntk(apply_fn, params, x1, x2, trace_axes):
    """Theta = sum_p df(x1)/dp df(x2)/dp in NT's layout: (n1, n2) then each non-traced output axis
    twice (x1's, x2's); traced axes are averaged over their diagonal."""
    @jax.jit  # one compiled program instead of op-by-op dispatch of the eager jacrev
    def flat_jac(x):
        j = jax.jacrev(apply_fn)(params, x)
        out_nd = apply_fn(params, x).ndim
        leaves = [a.reshape(a.shape[:out_nd] + (-1,)) for a in jax.tree_util.tree_leaves(j)]
        return jnp.concatenate(leaves, axis=-1)

    j1, j2 = flat_jac(x1), flat_jac(x2)
    t = jnp.tensordot(j1, j2, axes=([-1], [-1]))  # (n1, o..., n2, o...)
    d = j1.ndim - 1  # output ndim incl. batch
    order = [0, d] + [a for i in range(1, d) for a in (i, d + i)]
    t = t.transpose(order)
    for ax in sorted(((a % d) for a in trace_axes), reverse=True):  # output axis a >= 1
        i = 2 + 2 * (ax - 1)
        t = jnp.mean(jnp.diagonal(t, axis1=i, axis2=i + 1), axis=-1)
    return t


def _conv(c, f, **kw):
    return ["Conv", dict({"out_chan": c, "filter_shape": list(f)}, **kw)]


# Three nets that together use every layer: 2-D images, 1-D sequences, (n, d) vectors.
EMP_NETS = {
    "images": (["serial", [
        _conv(3, (2, 2), padding="SAME", b_std=0.1), ["Relu", {}], ["FanOut", {"num": 2}],
        ["parallel", [["serial", [["Relu", {}], _conv(3, (2, 2), padding="CIRCULAR")]], ["Identity", {}]]],
        ["FanInSum", {}], ["AvgPool", {"window_shape": [2, 2], "strides": [1, 1]}],
        _conv(4, (2, 2), strides=[2, 1], padding="VALID", parameterization="standard", b_std=0.2),
        ["LayerNorm", {"axis": [1, 2, 3]}], ["Gelu", {}], ["FanOut", {"num": 2}],
        ["parallel", [["Dense", {"out_dim": 2}], _conv(1, (1, 1))]], ["FanInConcat", {}],
        ["Flatten", {}], ["Dense", {"out_dim": 2, "b_std": 0.1}]]], (4, 4, 2)),
    "sequences": (["serial", [
        _conv(3, (2,), strides=[2], padding="CIRCULAR", b_std=0.1, parameterization="standard"),
        ["LayerNorm", {"axis": -1}], ["Sin", {"a": 1.1, "b": 0.9, "c": 0.2}],
        _conv(3, (3,), padding="SAME", W_std=1.3), ["Erf", {}],
        ["AvgPool", {"window_shape": [2], "strides": [1], "padding": "SAME", "normalize_edges": True}],
        ["GlobalAvgPool", {}], ["Dense", {"out_dim": 3}]]], (6, 2)),
    "vectors": (["serial", [
        ["Dense", {"out_dim": 5, "W_std": 1.2, "b_std": 0.3}], ["FanOut", {"num": 2}],
        ["parallel", [["serial", [["ABRelu", {"a": -0.3, "b": 1.2}], ["Dense", {"out_dim": 5}]]], ["Identity", {}]]],
        ["FanInSum", {}], ["LeakyRelu", {"alpha": 0.1}],
        ["Dense", {"out_dim": 4, "parameterization": "standard", "b_std": 0.1}], ["Sigmoid_like", {}],
        ["Dense", {"out_dim": 2}]]], (3,)),
}


@pytest.fixture(scope="module", params=sorted(EMP_NETS))
def emp_net(request):
    desc, shape = EMP_NETS[request.param]
    init_fn, apply_fn, _ = SA.build(desc, stax, FNS)
    rng = np.random.default_rng(5)
    x1 = jnp.asarray(rng.standard_normal((3,) + tuple(shape)))
    x2 = jnp.asarray(rng.standard_normal((2,) + tuple(shape)))
    _, params = init_fn(jax.random.PRNGKey(1), x1.shape)
    return request.param, apply_fn, params, x1, x2


@pytest.mark.slow
def test_empirical_implementations_match_jacrev(emp_net):
    """Implementations 1, 2, 3 (vmap_axes=0) vs jax.jacrev in float64: traced kernel with x2 given,
    full (n1, n2, k, k) kernel with x2=None."""
    name, apply_fn, params, x1, x2 = emp_net
    for x2_, trace_axes in ((x2, (-1,)), (None, ())):
        ref = _jacrev_ntk(apply_fn, params, x1, x1 if x2_ is None else x2_, trace_axes)
        for impl in (1, 2, 3):
            fn = E.empirical_ntk_fn(apply_fn, trace_axes=trace_axes, vmap_axes=0, implementation=impl)
            assert_close(fn(x1, x2_, params), ref, rtol=1e-10, atol=1e-12,
                         err_msg=f"{name} impl {impl} trace_axes={trace_axes}")
    if x1.ndim == 2:  # the library's API takes stax layers / triples directly ((n, d) inputs)
        triple = SA.build(EMP_NETS[name][0], stax, FNS)
        assert_close(ntk.empirical_ntk(triple, params, x1, x2), _jacrev_ntk(apply_fn, params, x1, x2, (-1,)),
                     rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Monte Carlo: wide random conv / residual nets -> the infinite kernels

def _mc_stats(desc, x, n_nets, key0):
    """Per-net NNGP (mean over output units of f f') and empirical NTK (mean over output units);
    returns means and standard errors over nets (nets are the independent samples)."""
    init_fn, apply_fn, kernel_fn = SA.build(desc, stax, FNS)
    ntk_fn = jax.jit(E.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=3))

    @jax.jit
    def one(key):
        _, p = init_fn(key, x.shape)
        f = apply_fn(p, x)
        return f @ f.T / f.shape[-1], ntk_fn(x, None, p)

    keys = jax.random.split(jax.random.PRNGKey(key0), n_nets)
    samples = [one(k) for k in keys]
    out = []
    for i in range(2):
        s = np.stack([np.asarray(t[i]) for t in samples])
        out += [s.mean(0), s.std(0, ddof=1) / np.sqrt(n_nets)]
    k = kernel_fn(x, None, ("nngp", "ntk"))
    return out, (np.asarray(k.nngp), np.asarray(k.ntk))


def _wide(desc, width):
    """The same description with every hidden channel count set to `width` (readout kept)."""
    import copy

    desc = copy.deepcopy(desc)
    body = desc[1][:-1]

    def walk(d):
        name, arg = d
        if name in ("serial", "parallel"):
            for sub in arg:
                walk(sub)
        elif name == "Conv":
            arg["out_chan"] = width
        elif name == "Dense":
            arg["out_dim"] = width

    for d in body:
        walk(d)
    return desc


MC_NETS = {
    # the contract net: relu after relu and a residual sum of a non-Gaussian branch
    # (neural-tangents refuses both; the kernel maps compose them exactly)
    "residual_contract": SA.CONTRACT,
    "conv_pool_layernorm": ["serial", [
        ["Conv", {"out_chan": 1, "filter_shape": [3, 3], "padding": "SAME", "W_std": 1.5, "b_std": 0.1}],
        ["Relu", {}], ["AvgPool", {"window_shape": [2, 2], "strides": [1, 1], "padding": "SAME"}],
        ["Conv", {"out_chan": 1, "filter_shape": [2, 2], "strides": [2, 2], "padding": "CIRCULAR", "W_std": 1.3,
                  "b_std": 0.05}],
        ["LayerNorm", {"axis": [1, 2, 3]}], ["Erf", {}], ["Flatten", {}], ["Dense", {"out_dim": 16, "W_std": 1.2,
                                                                                   "b_std": 0.1}]]],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MC_NETS))
def test_monte_carlo_of_wide_conv_and_residual_nets(name):
    """|mean over nets - infinite| <= 4 SE + 2/width * max|K| (SE from the samples; the second term
    allows the O(1/width) finite-width bias of the mean)."""
    width, n_nets = 256, 24
    desc = _wide(MC_NETS[name], width)
    desc[1][-1][1]["out_dim"] = 64  # readout units: 64 samples of the NNGP per net
    x = jnp.asarray(np.random.default_rng(3).standard_normal((3, 5, 5, 2)))
    (mf, sf, mt, st), (k_nngp, k_ntk) = _mc_stats(desc, x, n_nets, key0=7)
    for m, se, k, what in ((mf, sf, k_nngp, "NNGP"), (mt, st, k_ntk, "NTK")):
        tol = 4 * se + 2.0 / width * np.abs(k).max()
        assert np.all(np.abs(m - k) <= tol), f"{what}: |MC - inf| {np.abs(m - k)} > {tol} (SE {se})"
        assert np.all(se < 0.1 * np.abs(k).max()), f"{what}: MC standard error {se} too large to test anything"


# ---------------------------------------------------------------------------------------------
# the covariance maps of Conv and AvgPool against their definitions (numpy loops)

def _naive_pads(L, k, st, padding):
    if padding == "VALID":
        return 0, 0, (L - k) // st + 1
    out = -(-L // st)
    tot = max((out - 1) * st + k - L, 0)
    return tot // 2, tot - tot // 2, out


def _naive_conv_cov(K, filt, strides, padding):
    """out[.., a, a', b, b'] = 1/|F| sum_{o} Kp[.., a st + oh, a' st + oh, b st + ow, b' st + ow]."""
    (kh, kw), (sh, sw) = filt, strides
    lh, hh, oh_ = _naive_pads(K.shape[2], kh, sh, padding)
    lw, hw, ow_ = _naive_pads(K.shape[4], kw, sw, padding)
    Kp = np.pad(K, ((0, 0), (0, 0), (lh, hh), (lh, hh), (lw, hw), (lw, hw)),
                mode="wrap" if padding == "CIRCULAR" else "constant")
    out = np.zeros(K.shape[:2] + (oh_, oh_, ow_, ow_))
    for a in range(oh_):
        for a2 in range(oh_):
            for b in range(ow_):
                for b2 in range(ow_):
                    out[:, :, a, a2, b, b2] = sum(Kp[:, :, a * sh + i, a2 * sh + i, b * sw + j, b2 * sw + j]
                                                  for i in range(kh) for j in range(kw)) / (kh * kw)
    return out


def _naive_pool_cov(K, win, strides, padding, normalize_edges):
    """Average pooling of each axis of every pair on its own (counts of real entries for SAME +
    normalize_edges)."""
    out = K
    for d, (k, st) in enumerate(zip(win, strides)):
        for ax in (2 + 2 * d, 3 + 2 * d):
            L = out.shape[ax]
            lo, hi, n_out = _naive_pads(L, k, st, padding)
            widths = [(0, 0)] * out.ndim
            widths[ax] = (lo, hi)
            mode = "wrap" if padding == "CIRCULAR" else "constant"
            p = np.pad(out, widths, mode=mode)
            ones = np.pad(np.ones(L), (lo, hi), mode=mode if padding == "CIRCULAR" else "constant")
            new = []
            for a in range(n_out):
                sl = [slice(None)] * out.ndim
                sl[ax] = slice(a * st, a * st + k)
                cnt = ones[a * st:a * st + k].sum() if (normalize_edges and padding == "SAME") else k
                new.append(p[tuple(sl)].sum(axis=ax) / cnt)
            out = np.stack(new, axis=ax)
    return out


@pytest.mark.parametrize("L", [5, 17], ids=["matrix", "windows"])  # L*L <= MATRIX_MAX vs above it
def test_conv_and_pool_covariance_maps_match_their_definitions(L):
    from ntk.stax._core import conv_cov, pool_cov

    rng = np.random.default_rng(L)
    K = rng.standard_normal((2, 2, L, L, 3, 3))
    for filt, st in (((3, 2), (1, 1)), ((2, 3), (2, 1)), ((5, 1), (2, 3))):
        for pad in ("VALID", "SAME", "CIRCULAR"):
            assert_close(conv_cov(jnp.asarray(K), 2, False, filt, st, pad), _naive_conv_cov(K, filt, st, pad),
                         rtol=1e-13, err_msg=f"conv {filt} {st} {pad}")
            for ne in (False, True):
                assert_close(pool_cov(jnp.asarray(K), 2, filt, st, pad, ne), _naive_pool_cov(K, filt, st, pad, ne),
                             rtol=1e-13, err_msg=f"pool {filt} {st} {pad} normalize_edges={ne}")


# ---------------------------------------------------------------------------------------------
# kernel_fn conventions, blocks, memory, wiring into ntk

@pytest.fixture(scope="module")
def small_cnn():
    layer = stax.serial(stax.Conv(4, (2, 2), padding="SAME", W_std=1.4, b_std=0.1), stax.Relu(),
                        stax.AvgPool((2, 2), strides=(1, 1), padding="VALID"), stax.Conv(4, (2, 2), padding="CIRCULAR"),
                        stax.Erf(), stax.GlobalAvgPool(), stax.Dense(2, 1.1, 0.05))
    rng = np.random.default_rng(0)
    x1 = jnp.asarray(rng.standard_normal((5, 4, 4, 2)))
    x2 = jnp.asarray(rng.standard_normal((5, 4, 4, 2)))
    return layer, x1, x2


def test_kernel_fn_get_conventions_and_x2_none(small_cnn):
    layer, x1, x2 = small_cnn
    _, _, kernel_fn = layer
    k = kernel_fn(x1, x2)
    assert isinstance(k, ntk.Kernel) and k.nngp.shape == k.ntk.shape == (5, 5)
    both = kernel_fn(x1, x2, ("ntk", "nngp"))
    assert both._fields == ("ntk", "nngp")
    assert_close(both.ntk, k.ntk, rtol=0, atol=0)
    assert_close(kernel_fn(x1, x2, "ntk"), k.ntk, rtol=0, atol=0)
    same = kernel_fn(x1, None, "nngp")
    full = kernel_fn(jnp.concatenate([x1, x2]), None, ("nngp", "ntk"))
    assert_close(same, full.nngp[:5, :5], rtol=1e-13)
    assert_close(k.ntk, full.ntk[:5, 5:], rtol=1e-13)
    np.testing.assert_array_equal(np.asarray(same), np.asarray(same).T)
    # infinite_kernel takes the layer, its triple, or its kernel_fn
    for net in (layer, tuple(layer), kernel_fn):
        kk = ntk.infinite_kernel(net, x1, x2, get="ntk")
        assert kk.nngp is None
        assert_close(kk.ntk, k.ntk, rtol=0, atol=0)


def test_batch_blocks_are_exact_and_use_the_devices(small_cnn):
    from ntk import _blocks

    layer, x1, x2 = small_cnn
    kernel_fn = layer.kernel_fn
    seen = []
    for bs in (2, 3):
        bfn = ntk.batch(kernel_fn, batch_size=bs, progress=lambda d, t: seen.append((d, t)))
        for b in (x2, None):
            want = kernel_fn(x1, b, ("nngp", "ntk"))
            got = bfn(x1, b, ("nngp", "ntk"))
            assert_close(got.nngp, want.nngp, rtol=1e-13)
            assert_close(got.ntk, want.ntk, rtol=1e-13)
        assert _blocks.last_call["devices"] == len(jax.devices())
    assert seen[-1][0] == seen[-1][1]
    assert ntk.batch(kernel_fn, 0) is kernel_fn
    k = ntk.infinite_kernel(layer, x1, batch_size=3)
    assert_close(k.ntk, kernel_fn(x1, None, "ntk"), rtol=1e-13)
    # a kernel function that is not ours (NT's form: get as 3rd argument, then parameters), whose
    # outputs carry extra axes: (n1, n2, k, k)
    def poly_kernel(u, v, get, W):
        fu, fv = jnp.tanh(u.reshape(len(u), -1) @ W), jnp.tanh(v.reshape(len(v), -1) @ W)
        g = jnp.einsum("ia,jb->ijab", fu, fv)
        return {"nngp": g, "ntk": g ** 2 + 1.0}[get]

    W = jnp.asarray(np.random.default_rng(9).standard_normal((32, 3)))
    got = ntk.batch(poly_kernel, batch_size=2)(x1, x2, "ntk", W)
    assert got.shape == (5, 5, 3, 3)
    assert_close(got, poly_kernel(x1, x2, "ntk", W), rtol=1e-13)
    with pytest.raises(ValueError, match="batch_size must be a non-negative integer"):
        ntk.batch(kernel_fn, -1)
    with pytest.raises(TypeError, match="kernel function"):
        ntk.batch(None, 2)


def test_memory_estimate_refuses_and_suggests_batch_size(small_cnn):
    layer, x1, _ = small_cnn
    big = jnp.zeros((4000, 4, 4, 2))
    with pytest.raises(ValueError, match=r"infinite-width kernel of 4000x4000 points .* needs an estimated "
                                         r".*GiB.*batch_size=\d+"):
        layer.kernel_fn(big, None, "ntk")
    with pytest.raises(ValueError, match="A 4000x4000 block .* Use a smaller batch_size"):
        ntk.infinite_kernel(layer, big, batch_size=4000)
    # the suggested batch size fits the budget
    msg = ""
    try:
        layer.kernel_fn(big, None, "ntk", memory_budget=2**24)
    except ValueError as e:
        msg = str(e)
    bs = int(msg.split("batch_size=")[1].split(")")[0])
    from ntk.stax._core import analyse, kernel_cost

    _, diag, record = analyse(layer, (4, 4, 2))
    assert kernel_cost(record, bs, bs, diag, 8, True, ()) <= 2**24


def test_mlp_is_a_stax_composition():
    net = ntk.mlp([16, 16], 3, "erf", W_std=1.3, b_std=0.2)
    params = net.init(KEY, 4)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((5, 4)))
    init_fn, apply_fn, kernel_fn = net.layer
    assert_close(apply_fn(net.to_stax_params(params), x), net.apply(params, x), rtol=0, atol=0)
    k_net = ntk.infinite_kernel(net, x)
    k_lay = kernel_fn(x, None, ("nngp", "ntk"))
    assert_close(k_lay.ntk, k_net.ntk, rtol=0, atol=0)
    assert_close(k_lay.nngp, k_net.nngp, rtol=0, atol=0)
    out_shape, p2 = init_fn(KEY, x.shape)
    assert out_shape == (5, 3) and len(jax.tree_util.tree_leaves(p2)) == 6


def test_mlp_init_refuses_parameters_above_the_budget():
    with pytest.raises(ValueError, match=r"parameters of MLP.*1,000,013,000,001 numbers.*TiB.*smaller widths"):
        ntk.mlp(widths=[10**6, 10**6]).init(KEY, 10)
    with pytest.raises(ValueError, match="parameters of serial"):
        stax.serial(stax.Dense(10**6), stax.Relu(), stax.Dense(10**6))[0](KEY, (1, 10))


def test_train_accepts_stax_nets():
    init_fn, apply_fn, kernel_fn = stax.serial(stax.Dense(8, 1.4, 0.1), stax.Erf(), stax.Dense(1))
    x = jnp.asarray(np.random.default_rng(2).standard_normal((6, 3)))
    y = jnp.sin(x.sum(axis=1))[:, None]
    _, params = init_fn(KEY, x.shape)
    res = ntk.train((init_fn, apply_fn, kernel_fn), params, x, y, steps=5, learning_rate=0.1, record_every=5)
    assert res.diverged is False and len(res.steps) == 2


# ---------------------------------------------------------------------------------------------
# errors: clear ValueError / TypeError naming the problem, never a JAX traceback

X4 = jnp.ones((2, 4, 4, 3))


@pytest.mark.parametrize("make, exc, match", [
    # activation on a non-Gaussian input says what to insert
    (lambda: stax.serial(stax.Conv(2, (2, 2)), stax.Relu(), stax.AvgPool((2, 2)), stax.Relu())[2](X4), ValueError,
     r"input to Relu is not Gaussian: it is the output of AvgPool.*insert a Dense or Conv layer before Relu"),
    (lambda: stax.serial(stax.Conv(2, (2, 2)), stax.Flatten(), stax.Erf())[2](X4), ValueError,
     r"input to Erf is not Gaussian: it is the output of Flatten.*insert a Dense or Conv"),
    (lambda: stax.serial(stax.Dense(2), stax.Relu(), stax.LayerNorm())[2](X4), ValueError,
     r"LayerNorm needs a Gaussian input.*Insert a Dense or Conv layer before LayerNorm"),
    # input rank vs the conv's dimensions
    (lambda: stax.Conv(2, (2, 2))[2](jnp.ones((2, 5, 3))), ValueError,
     r"Conv with filter_shape=\(2, 2\) is 2-D and needs inputs \(n, H, W, C\).*got inputs of shape \(n, 5, 3\)"),
    (lambda: stax.Conv(2, (2,))[0](KEY, (2, 5, 5, 3)), ValueError, r"is 1-D and needs inputs \(n, L, C\)"),
    # VALID filters / windows larger than the input
    (lambda: stax.Conv(2, (5, 5))[2](X4), ValueError,
     r"VALID filter of size 5 is larger than the input's spatial size 4; use padding='SAME'"),
    (lambda: stax.AvgPool((5, 5))[0](KEY, X4.shape), ValueError, r"VALID pooling window of size 5 is larger"),
    # FanInSum / FanInConcat of mismatched shapes
    (lambda: stax.serial(stax.FanOut(2), stax.parallel(stax.Dense(2), stax.Dense(3)), stax.FanInSum())[2](X4),
     ValueError, r"FanInSum needs branches of equal shapes, got \[\('n', 4, 4, 2\), \('n', 4, 4, 3\)\]"),
    (lambda: stax.serial(stax.FanOut(2), stax.parallel(stax.Conv(2, (2, 2)), stax.Dense(3)),
                         stax.FanInConcat())[0](KEY, X4.shape),
     ValueError, r"FanInConcat needs branches of equal shapes apart from the channel axis"),
    (lambda: stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), stax.Identity()), stax.FanInSum())[2](X4),
     ValueError, r"FanInSum: branches 0 and 1 are correlated"),
    # unknown padding
    (lambda: stax.Conv(2, (2, 2), padding="FULL"), ValueError,
     r"padding must be one of VALID, SAME, CIRCULAR, got 'FULL'"),
    (lambda: stax.AvgPool((2, 2), padding=3), ValueError, r"padding must be one of VALID, SAME, CIRCULAR, got 3"),
    # get not in nngp / ntk
    (lambda: stax.Dense(2)[2](X4, None, "cov"), ValueError, r"get must be 'nngp', 'ntk' or a tuple of them.*'cov'"),
    (lambda: stax.Dense(2)[2](X4, None, ("nngp", "x")), ValueError, r"get must be 'nngp', 'ntk'"),
    (lambda: stax.Dense(2)[2](X4, None, 3), TypeError, r"get must be None, 'nngp', 'ntk' or a tuple"),
    (lambda: ntk.infinite_kernel(stax.Dense(2), X4, get="cov"), ValueError, r"get must contain 'nngp' and/or 'ntk'"),
    # inputs
    (lambda: stax.Dense(2)[2](X4, jnp.ones((2, 4, 5, 3))), ValueError,
     r"x1 and x2 must have the same shape apart from the batch axis"),
    (lambda: stax.Dense(2)[2](X4.at[0, 0, 0, 0].set(jnp.nan)), ValueError, r"x1 contains 1 NaN/inf"),
    (lambda: stax.Dense(2)[0](0, X4.shape), TypeError, r"init_fn needs an explicit jax.random key"),
    (lambda: stax.serial(stax.FanOut(2))[2](X4), ValueError, r"returns 2 outputs .* end it with FanInSum"),
    (lambda: ntk.infinite_kernel(lambda p, x: x, X4), TypeError, r"infinite_kernel needs an ntk network: ntk.mlp"),
])
def test_errors_are_clear(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_params_from_another_architecture_are_refused():
    init_fn, apply_fn, _ = stax.serial(stax.Conv(2, (2, 2)), stax.Relu(), stax.Flatten(), stax.Dense(1))
    _, p = init_fn(KEY, X4.shape)
    _, p_other = stax.serial(stax.Dense(3), stax.Relu(), stax.Dense(1))[0](KEY, (2, 3))
    with pytest.raises(ValueError, match=r"serial: got params with 3 entries for 4 layers.*another architecture"):
        apply_fn(p_other, X4)
    with pytest.raises(ValueError, match=r"Conv: W has shape \(2, 2, 3, 2\), expected \(2, 2, 3, 3\).*another"):
        stax.serial(stax.Conv(3, (2, 2)), stax.Relu(), stax.Flatten(), stax.Dense(1))[1](p, X4)
    with pytest.raises(ValueError, match=r"got params with 2 entries for 4 layers"):
        apply_fn(ntk.mlp([4]).init(KEY, 3), X4)
