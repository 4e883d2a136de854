"""ntk.analysis.architectures and the Architectures view: plumbing checked against independent
computations (stax kernel_fn called directly, jax.jacrev contractions, numpy solves).

The infinite-width kernels themselves are checked against Monte Carlo and neural-tangents in the
stax tests; here every number the page shows is recomputed another way. Shapes are tiny.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk import data
from ntk.analysis import architectures as A
from ntk.analysis.views import architectures_data
from ntk.analysis.views.architectures import architectures_summary

ARCHS = list(A.ARCHITECTURES)


@pytest.fixture(scope="module")
def imgs():
    d = data.digits_images(6, 4, seed=1)
    return d.x_train.astype(np.float64), d.x_test.astype(np.float64)


def test_digits_images_and_image_circle():
    d = data.digits_images(30, 20, seed=3, classes=(1, 7, 3))
    assert d.x_train.shape == (30, 8, 8, 1) and d.y_train.shape == (30, 3)
    flat = d.x_train.reshape(30, -1)
    np.testing.assert_allclose(flat.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(flat.std(1), 1, rtol=1e-5)
    np.testing.assert_allclose(d.y_train.sum(1), 0, atol=1e-6)  # centred one-hot
    s = data.digits_images(30, 20, seed=3, max_shift=2)
    assert not np.allclose(s.x_train, data.digits_images(30, 20, seed=3).x_train)
    with pytest.raises(ValueError, match="max_shift must be 0..3"):
        data.digits_images(10, 10, max_shift=5)
    with pytest.raises(ValueError, match="at least two digits"):
        data.digits_images(10, 10, classes=(4,))
    g = np.linspace(0, 2 * np.pi, 9)
    c = data.image_circle(g).reshape(9, -1).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 8, rtol=1e-5)
    np.testing.assert_allclose(c[0], c[-1], atol=1e-5)  # closed curve
    assert abs(c[0] @ c[2]) < 1e-3 * 64  # x(0) ⟂ x(π/2)


@pytest.mark.parametrize("name", ARCHS)
def test_build_shapes_params_and_flat_apply(name, imgs):
    x, _ = imgs
    net = A.build(name, 5, depth=2, out_dim=3)
    assert A.build(name, 5, depth=2, out_dim=3) is net  # interned
    out_shape, p_ref = net[0](jax.random.PRNGKey(0), x.shape)
    assert out_shape == (len(x), 3) and net[1](p_ref, x).shape == (len(x), 3)
    assert net[2](x, None, "ntk").shape == (len(x), len(x))
    leaves = jax.tree_util.tree_leaves(p_ref)
    assert A.num_params(name, 5, 2, out_dim=3) == sum(v.size for v in leaves)
    p = A.init_params(net, 0, x.shape)
    assert jax.tree_util.tree_structure(p) == jax.tree_util.tree_structure(p_ref)
    assert [v.shape for v in jax.tree_util.tree_leaves(p)] == [v.shape for v in leaves]
    flat = A.flat_apply(net, (8, 8, 1))
    np.testing.assert_allclose(flat(p, x.reshape(len(x), -1)), net[1](p, x), rtol=1e-12)


def test_init_params_are_standard_normal_and_seeded():
    net = A.build("cnn", 64, depth=2)
    p0 = A.init_params(net, 0, (1, 8, 8, 1))
    w = np.asarray(jax.tree_util.tree_leaves(p0)[2])  # second conv: (3, 3, 64, 64)
    assert w.shape == (3, 3, 64, 64)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    same = A.init_params(net, 0, (1, 8, 8, 1))
    other = A.init_params(net, 1, (1, 8, 8, 1))
    for a, b, c in zip(*(jax.tree_util.tree_leaves(t) for t in (p0, same, other))):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)


@pytest.mark.parametrize("name", ["cnn_pool", "resnet"])
def test_blocked_infinite_kernels_equal_one_call(name, imgs):
    x, xt = imgs
    net = A.build(name, 1, depth=1)
    k = A.infinite_kernels(net, x, xt, block=2)
    ref = net[2](x, xt, ("nngp", "ntk"))
    for g in ("nngp", "ntk"):
        np.testing.assert_allclose(k[g], np.asarray(getattr(ref, g)), rtol=1e-12, atol=1e-14)
    ks = A.infinite_kernels(net, x, None, get="ntk", block=4)["ntk"]
    np.testing.assert_allclose(ks, np.asarray(net[2](x, None, "ntk")), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(ks, ks.T)


@pytest.mark.parametrize("name", ARCHS)
def test_empirical_ntk_matches_jacrev(name, imgs):
    x, xt = imgs
    net = A.build(name, 4, depth=1)
    p = A.init_params(net, 2, x.shape)

    def jac(xs):
        return jax.jacrev(lambda q: net[1](q, xs)[:, 0])(p)

    j1, j2 = jac(jnp.asarray(x)), jac(jnp.asarray(xt))
    ref = sum(np.asarray(a).reshape(len(x), -1) @ np.asarray(b).reshape(len(xt), -1).T
              for a, b in zip(jax.tree_util.tree_leaves(j1), jax.tree_util.tree_leaves(j2)))
    np.testing.assert_allclose(A.empirical_ntk(net, p, x, xt), ref, rtol=1e-10, atol=1e-12)


def test_kernel_regression_and_accuracy():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(9, 30))
    k = f @ f.T
    kt = rng.normal(size=(5, 30)) @ f.T
    y = rng.normal(size=(9, 3))
    reg = 1e-3 * np.trace(k) / 9
    ref = kt @ np.linalg.solve(k + reg * np.eye(9), y)
    np.testing.assert_allclose(A.kernel_regression(k, y, kt, diag_reg=1e-3), ref, rtol=1e-9)
    assert A.accuracy(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 1, 1, 2]]) == 0.75
    assert A.accuracy(np.array([[0.3], [-1.0]]), np.array([[1.0], [1.0]])) == 0.5


def test_costs_are_refused_with_an_estimate():
    with pytest.raises(ValueError, match=r"GFLOP \(≈ \d+ s on two CPU cores\).*Use fewer digits"):
        architectures_data(["cnn_pool"], n_train=1000, n_test=1000)
    with pytest.raises(ValueError, match="Unknown architecture 'vgg'"):
        architectures_data(["vgg"])
    with pytest.raises(ValueError, match="at least two positive widths"):
        architectures_data(["mlp"], widths=[16])
    small = A.cost("cnn", 8, 2, 10, 10)
    big = A.cost("cnn", 64, 2, 10, 10)
    assert big["emp_flops"] > small["emp_flops"] > 0 and big["params"] > small["params"]


@pytest.fixture(scope="module")
def view():
    return architectures_data(["mlp", "cnn", "cnn_pool"], n_train=12, n_test=10, seed=0, max_shift=1,
                              depth=1, widths=[4, 16], n_seeds=2, n_conv=4)


def test_view_numbers_match_an_independent_recomputation(view):
    d = view
    raw = data.digits_images(12, 10, seed=0, max_shift=1)
    order = np.argsort(raw.y_train.argmax(1), kind="stable")
    x, y = raw.x_train[order].astype(np.float64), raw.y_train[order].astype(np.float64)
    xt, yt = raw.x_test.astype(np.float64), raw.y_test.astype(np.float64)
    np.testing.assert_array_equal(d["labels"], y.argmax(1))
    for a in d["architectures"]:
        r = d["per"][a]
        net = A.build(a, 1, depth=1)
        ktt = net[2](x, None, ("nngp", "ntk"))
        kst = net[2](xt, x, ("nngp", "ntk"))
        for g in ("nngp", "ntk"):  # the view's kernels are float32 (its inputs are), these float64
            k = np.asarray(getattr(ktt, g))
            np.testing.assert_allclose(r[g], k, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(r[f"eig_{g}"], np.sort(np.linalg.eigvalsh(k))[::-1], rtol=1e-4,
                                       atol=1e-4)
            reg = 1e-6 * np.trace(k) / len(k)
            pred = np.asarray(getattr(kst, g)) @ np.linalg.solve(k + reg * np.eye(len(k)), y)
            top2 = np.sort(pred, 1)[:, -2:]
            ties = int(np.sum(top2[:, 1] - top2[:, 0] < 1e-4))  # may flip between float32 and float64
            assert abs(r[f"acc_{g}"] - np.mean(pred.argmax(1) == yt.argmax(1))) <= ties / len(yt)
        # one (width, seed) of the convergence sweep, recomputed with jax.jacrev
        idx = np.unique(np.linspace(0, 11, 4).round().astype(int))
        xc, w, s = x[idx], 16, 1
        fin = A.build(a, w, depth=1)
        p = A.init_params(fin, s, xc.shape)
        jac = jax.jacrev(lambda q: fin[1](q, jnp.asarray(xc))[:, 0])(p)
        th = sum(np.asarray(v).reshape(len(xc), -1) @ np.asarray(v).reshape(len(xc), -1).T
                 for v in jax.tree_util.tree_leaves(jac))
        th_inf = np.asarray(ktt.ntk)[np.ix_(idx, idx)]
        err = np.linalg.norm(th - th_inf) / np.linalg.norm(th_inf)
        np.testing.assert_allclose(r["errors"][1, s], err, rtol=1e-4)
        slope = np.polyfit(np.log(np.repeat(d["widths"], 2)), np.log(r["errors"].ravel()), 1)[0]
        np.testing.assert_allclose(r["slope"], slope, rtol=1e-9)
        assert r["ci_low"] <= r["slope"] <= r["ci_high"]
    text = architectures_summary(d)
    assert "shifted at random by up to 1 pixel" in text
    assert f"{100 * d['per']['cnn_pool']['acc_ntk']:.0f} %" in text


def test_view_figures(view):
    from ntk import figures as F

    heat = F.architecture_heatmaps(view)
    assert len(heat.data) == 3 and heat.data[0].z.shape == (12, 12)
    k = view["per"]["cnn_pool"]["ntk"]
    np.testing.assert_allclose(heat.data[2].customdata, k / np.sqrt(np.outer(np.diag(k), np.diag(k))))
    assert heat.data[2].z.min() == 0 and heat.data[2].z.max() == 1
    acc = F.architecture_accuracy(view)
    assert [t.name for t in acc.data] == ["NTK", "NNGP"]
    np.testing.assert_allclose(acc.data[0].y, [100 * view["per"][a]["acc_ntk"] for a in view["architectures"]])
    spec = F.architecture_spectra(view)
    assert spec.layout.xaxis.type == "log" and len(spec.data) == 3
    conv = F.architecture_convergence(view)
    assert conv.layout.yaxis.type == "log"
    assert any("slope" in (t.name or "") for t in conv.data)
