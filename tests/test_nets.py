"""Architecture: shapes, parameterizations, init statistics, validation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ntk
from _testutil import assert_close


@settings(deadline=None, max_examples=8)
@given(depth=st.integers(1, 4), width=st.integers(1, 9), out_dim=st.integers(1, 3),
       in_dim=st.integers(1, 5), n=st.integers(1, 6),
       par=st.sampled_from(["ntk", "standard"]),
       act=st.sampled_from(["relu", "erf", "tanh", "gelu", "sin"]))
def test_shapes_agree_between_init_apply_and_kernels(depth, width, out_dim, in_dim, n, par, act):
    net = ntk.mlp([width] * depth, out_dim, act, W_std=1.2, b_std=0.1, parameterization=par)
    params = net.init(jax.random.PRNGKey(depth * 7 + width), in_dim)
    assert len(params) == depth + 1
    assert net.num_params(in_dim) == sum(W.size + b.size for W, b in params)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, in_dim))
    assert net.apply(params, x).shape == (n, out_dim)
    k = ntk.infinite_kernel(net, x)
    assert k.nngp.shape == k.ntk.shape == (n, n)
    assert ntk.empirical_ntk(net, params, x).shape == (n, n)
    assert ntk.empirical_ntk(net, params, x, trace=False).shape == (n, n, out_dim, out_dim)


def test_ntk_and_standard_parameterizations_compute_the_same_function_family():
    """A standard-param net with W = W_std/sqrt(fan_in) * W_ntk equals the NTK-param net."""
    a = ntk.mlp([7, 5], 2, "tanh", W_std=1.3, b_std=0.4, parameterization="ntk")
    b = ntk.mlp([7, 5], 2, "tanh", W_std=1.3, b_std=0.4, parameterization="standard")
    pa = a.init(jax.random.PRNGKey(0), 3)
    pb = [(W * 1.3 / np.sqrt(W.shape[0]), bb * 0.4) for W, bb in pa]
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 3))
    assert_close(a.apply(pa, x), b.apply(pb, x))


def test_manual_forward_pass():
    net = ntk.mlp([3], 1, "relu", W_std=2.0, b_std=0.5)
    params = net.init(jax.random.PRNGKey(0), 2)
    x = jnp.array([[1.0, -2.0]])
    (W1, b1), (W2, b2) = params
    h = jnp.maximum(2.0 / np.sqrt(2) * x @ W1 + 0.5 * b1, 0)
    assert_close(net.apply(params, x), 2.0 / np.sqrt(3) * h @ W2 + 0.5 * b2)


def test_standard_init_statistics():
    net = ntk.mlp([400], 1, "relu", W_std=2.0, b_std=0.5, parameterization="standard")
    (W1, b1), _ = net.init(jax.random.PRNGKey(0), 100)
    assert abs(float(jnp.std(W1)) - 2.0 / 10) < 0.01
    assert abs(float(jnp.std(b1)) - 0.5) < 0.06


def test_same_key_same_params():
    net = ntk.mlp([8], 1)
    p1, p2 = net.init(jax.random.PRNGKey(3), 2), net.init(jax.random.PRNGKey(3), 2)
    for (a, b), (c, d) in zip(p1, p2):
        assert_close(a, c, rtol=0, atol=0)
        assert_close(b, d, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(widths=[0]), ValueError, "positive integer"),
    (dict(widths=[4, -1]), ValueError, "positive integer"),
    (dict(widths=[2.5]), TypeError, "positive integer"),
    (dict(widths=[]), ValueError, "depth >= 1"),
    (dict(widths=8, depth=0), ValueError, "positive integer"),
    (dict(W_std=0.0), ValueError, "W_std"),
    (dict(W_std=-1.0), ValueError, "W_std"),
    (dict(b_std=-0.1), ValueError, "b_std"),
    (dict(activation="foo"), ValueError, "Unknown activation"),
    (dict(parameterization="mup"), ValueError, "parameterization"),
    (dict(out_dim=0), ValueError, "out_dim"),
])
def test_invalid_architectures_raise_clear_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ntk.mlp(**kwargs)


def test_apply_validates_inputs():
    net = ntk.mlp([4], 1)
    params = net.init(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="NaN"):
        net.apply(params, jnp.array([[1.0, jnp.nan, 0.0]]))
    with pytest.raises(ValueError, match="features"):
        net.apply(params, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match="empty"):
        net.apply(params, jnp.ones((0, 3)))
    with pytest.raises(TypeError, match="key"):
        net.init(0, 3)


def test_repr_and_hashable():
    net = ntk.mlp([16, 16], 2, ("leaky_relu", {"alpha": 0.1}), 1.5, 0.05)
    r = repr(net)
    assert "widths=[16, 16]" in r and "leaky_relu" in r and "alpha" in r
    assert hash(net) == hash(ntk.mlp([16, 16], 2, ("leaky_relu", {"alpha": 0.1}), 1.5, 0.05))
    jax.jit(lambda x: net.apply(net.init(jax.random.PRNGKey(0), 2), x))(jnp.ones((1, 2)))


@pytest.mark.parametrize("par", ["ntk", "standard"])
def test_bucketed_init_equals_direct_draws(par):
    """init draws each weight as a slice of a power-of-two-sized draw (shared compiled generator
    across widths); with counter-based threefry this must equal jax.random.normal(key, shape)."""
    from ntk.nets import _init_direct

    for widths in ([37, 300], [64], [5, 129, 7]):
        net = ntk.mlp(widths, 3, "relu", 1.3, 0.2, par)
        key = jax.random.PRNGKey(11)
        a = jax.tree_util.tree_leaves(net.init(key, 7, dtype=jnp.float32))
        b = jax.tree_util.tree_leaves(_init_direct(net, 7, jnp.dtype(jnp.float32), key))
        for u, v in zip(a, b):
            assert u.shape == v.shape
            if par == "ntk":  # unscaled standard normals: bit-identical
                np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
            else:  # scaled after the draw here, fused with it there: equal up to rounding
                np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-6, atol=1e-7)


def test_concrete_apply_is_compiled_and_equals_the_traced_forward(key):
    net = ntk.mlp([16, 16], 2, "erf", 1.4, 0.1)
    p = net.init(key, 3)
    x = jnp.linspace(-1, 1, 15).reshape(5, 3)
    eager = net.apply(p, x)                       # concrete: one jitted program
    traced = jax.jit(net.apply)(p, x)             # inside a trace: the plain forward pass
    np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-12, atol=1e-12)
    g = jax.grad(lambda q: jnp.sum(net.apply(q, x) ** 2))(p)  # differentiable through apply
    assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree_util.tree_leaves(g))
