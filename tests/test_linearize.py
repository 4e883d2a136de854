"""Taylor expansions: value and first derivative at theta0, error orders |d|^2 and |d|^3."""
import math

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import ntk
from _testutil import assert_close


@pytest.fixture(scope="module")
def setup():
    net = ntk.mlp([16, 16], 2, "erf", 1.5, 0.1)
    p0 = net.init(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    d = jax.tree_util.tree_map(lambda a: jax.random.normal(jax.random.PRNGKey(a.size), a.shape), p0)
    return net, p0, x, d


def _shift(p0, d, eps):
    return jax.tree_util.tree_map(lambda a, b: a + eps * b, p0, d)


def test_value_and_first_derivative_at_theta0(setup):
    net, p0, x, d = setup
    for degree in (1, 2):
        f_k = ntk.taylor_expand(net.apply, p0, degree)
        assert_close(f_k(p0, x), net.apply(p0, x))
        _, t_true = jax.jvp(lambda p: net.apply(p, x), (p0,), (d,))
        _, t_lin = jax.jvp(lambda p: f_k(p, x), (p0,), (d,))
        assert_close(t_lin, t_true)
    f_lin = ntk.linearize(net.apply, p0)
    # f_lin is exactly linear in params: f_lin(p0 + 2d) - f_lin(p0) = 2 (f_lin(p0 + d) - f_lin(p0)).
    a = f_lin(_shift(p0, d, 2.0), x) - f_lin(p0, x)
    b = f_lin(_shift(p0, d, 1.0), x) - f_lin(p0, x)
    assert_close(a, 2 * b)


def test_error_orders(setup):
    net, p0, x, d = setup
    f1 = ntk.linearize(net, p0)
    f2 = ntk.taylor_expand(net, p0, degree=2)
    eps = np.array([0.08, 0.04, 0.02, 0.01])
    e1, e2 = [], []
    for e in eps:
        p = _shift(p0, d, e)
        f = net.apply(p, x)
        e1.append(float(jnp.max(jnp.abs(f - f1(p, x)))))
        e2.append(float(jnp.max(jnp.abs(f - f2(p, x)))))
    s1 = np.polyfit(np.log(eps), np.log(e1), 1)[0]
    s2 = np.polyfit(np.log(eps), np.log(e2), 1)[0]
    assert 1.8 < s1 < 2.2, s1
    assert 2.7 < s2 < 3.3, s2


def test_second_order_term_matches_hessian(setup):
    """1/2 d^T H d from jax.hessian on a tiny model equals f_2 - f_1."""
    net = ntk.mlp([3], 1, "tanh", 1.2, 0.3)
    p0 = net.init(jax.random.PRNGKey(2), 2)
    x = jnp.array([[0.3, -0.7]])
    d = jax.tree_util.tree_map(lambda a: 0.1 * jnp.ones_like(a), p0)
    flat0, unravel = jax.flatten_util.ravel_pytree(p0)
    dflat, _ = jax.flatten_util.ravel_pytree(d)
    H = jax.hessian(lambda v: net.apply(unravel(v), x)[0, 0])(flat0)
    p = _shift(p0, d, 1.0)
    quad = ntk.taylor_expand(net, p0, 2)(p, x) - ntk.linearize(net, p0)(p, x)
    assert_close(quad[0, 0], 0.5 * dflat @ H @ dflat)


def test_errors(setup):
    net, p0, x, _ = setup
    with pytest.raises(ValueError, match="degree must be a non-negative integer"):
        ntk.taylor_expand(net.apply, p0, degree=-1)
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match="degree must be a non-negative integer"):
            ntk.taylor_expand(net.apply, p0, degree=bad)
    with pytest.raises(ValueError, match="structure"):
        ntk.linearize(net.apply, p0)(p0[:-1], x)
    with pytest.raises(ValueError, match="structure"):
        ntk.taylor_expand(net.apply, p0, 3)(p0[:-1], x)


def _pytree_model(params, x, *, shift=0.0):
    """A pytree-in, pytree-out model with known derivatives of every order along a direction:
    out["s"] = sin(x @ a + c) (c = b + shift), out["p"] = ((x @ a)^3, exp(c) x)."""
    a, b = params["a"], params["b"]
    z = x @ a
    c = b + shift
    return {"s": jnp.sin(z + c), "p": (z ** 3, jnp.exp(c) * x)}


def _exact_taylor(params0, d, x, k, shift):
    """Independent reference: closed-form j-th directional derivatives of _pytree_model.
    With z(t) = x @ (a + t da), c(t) = b + shift + t db: d^j/dt^j sin(z + c) = (dz + dc)^j
    sin(z + c + j pi/2); (z)^3 is a cubic in t; exp(c) has derivatives db^j exp(c)."""
    a, b = np.asarray(params0["a"]), np.asarray(params0["b"])
    da, db = np.asarray(d["a"]), np.asarray(d["b"])
    x = np.asarray(x)
    z, dz, c = x @ a, x @ da, b + shift
    s = sum((dz + db) ** j * np.sin(z + c + j * np.pi / 2) / math.factorial(j) for j in range(k + 1))
    cube_terms = [z ** 3, 3 * z ** 2 * dz, 3 * z * dz ** 2, dz ** 3]  # coefficients of t^j (already / j!)
    cube = sum(cube_terms[: k + 1])
    e = sum(db ** j * np.exp(c) / math.factorial(j) for j in range(k + 1)) * x
    return {"s": s, "p": (cube, e)}


@pytest.mark.parametrize("degree", [0, 1, 2, 3, 5])
def test_any_degree_pytree_outputs_against_closed_form_derivatives(degree):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 3)))
    p0 = {"a": jnp.asarray(rng.normal(size=(3,))), "b": jnp.asarray(0.3)}
    d = {"a": jnp.asarray(0.2 * rng.normal(size=(3,))), "b": jnp.asarray(-0.15)}
    p = jax.tree_util.tree_map(lambda u, v: u + v, p0, d)
    f_k = ntk.taylor_expand(_pytree_model, p0, degree)
    got = f_k(p, x, shift=0.25)
    want = _exact_taylor(p0, d, x, degree, 0.25)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(_pytree_model(p0, x))
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert_close(g, w, rtol=1e-12, atol=1e-13)
    # jitted, the same numbers
    got_j = jax.jit(lambda q, xx: f_k(q, xx, shift=0.25))(p, x)
    for g, w in zip(jax.tree_util.tree_leaves(got_j), jax.tree_util.tree_leaves(want)):
        assert_close(g, w, rtol=1e-12, atol=1e-13)


def test_polynomial_model_is_reproduced_exactly_from_its_degree_on():
    """f cubic in the parameters: degree >= 3 equals f; degree 2 misses exactly D^3 f / 6."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(5, 2)))

    def f(params, x):
        W, v = params
        h = x @ W
        return (h * h) @ v  # degree 3 in (W, v)

    p0 = (jnp.asarray(rng.normal(size=(2, 4))), jnp.asarray(rng.normal(size=(4,))))
    d = (jnp.asarray(rng.normal(size=(2, 4))), jnp.asarray(rng.normal(size=(4,))))
    p = (p0[0] + d[0], p0[1] + d[1])
    for k in (3, 4):
        assert_close(ntk.taylor_expand(f, p0, k)(p, x), f(p, x), rtol=1e-12)
    dh = x @ d[0]
    third = 6 * (dh * dh) @ d[1]  # D^3 f(d, d, d): only the (dW, dW, dv) terms survive
    assert_close(ntk.taylor_expand(f, p0, 2)(p, x), f(p, x) - third / 6, rtol=1e-12)
    assert_close(ntk.taylor_expand(f, p0, 0)(p, x), f(p0, x), rtol=0, atol=0)


def test_linearize_stax_net_and_kwargs():
    from ntk import stax

    init_fn, apply_fn, kernel_fn = stax.serial(stax.Conv(3, (2, 2), padding="SAME"), stax.Erf(), stax.Flatten(),
                                               stax.Dense(2))
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 4, 2))
    _, p0 = init_fn(jax.random.PRNGKey(1), x.shape)
    d = jax.tree_util.tree_map(lambda a: 1e-3 * jnp.ones_like(a), p0)
    p = jax.tree_util.tree_map(lambda a, b: a + b, p0, d)
    f_lin = ntk.linearize((init_fn, apply_fn, kernel_fn), p0)  # a triple is accepted
    _, df = jax.jvp(lambda q: apply_fn(q, x), (p0,), (d,))
    assert_close(f_lin(p, x), apply_fn(p0, x) + df)
    assert_close(ntk.taylor_expand(apply_fn, p0, 2)(p0, x), apply_fn(p0, x), rtol=0, atol=0)
    # neural-tangents' keyword names: linearize(f, params), taylor_expand(f, params, degree)
    assert_close(ntk.linearize(f=apply_fn, params=p0)(p, x), f_lin(p, x), rtol=0, atol=0)
    assert_close(ntk.taylor_expand(f=apply_fn, params=p0, degree=1)(p, x), f_lin(p, x), rtol=0, atol=0)
