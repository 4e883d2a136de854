"""Taylor expansions: value and first derivative at theta0, error orders |d|^2 and |d|^3."""
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
    with pytest.raises(ValueError, match="degree"):
        ntk.taylor_expand(net.apply, p0, degree=3)
    with pytest.raises(ValueError, match="structure"):
        ntk.linearize(net.apply, p0)(p0[:-1], x)
