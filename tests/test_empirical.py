"""Empirical NTK: every method vs a plain jax.jacrev contraction in float64 (<= 1e-10 relative)."""
import itertools

import jax
import jax.numpy as jnp
import pytest

import ntk
from _testutil import assert_close

ARCHS = [
    # depth, out_dim, parameterization, b_std, activation
    (1, 1, "ntk", 0.0, "relu"),
    (2, 3, "standard", 0.3, "erf"),
    (3, 1, "standard", 0.0, "tanh"),
    (4, 3, "ntk", 0.2, "gelu"),
    (2, 1, "ntk", 0.1, ("leaky_relu", {"alpha": 0.1})),
    (3, 3, "ntk", 0.5, "softplus"),
    (1, 3, "standard", 0.1, "sin"),
]


def jacrev_reference(apply_fn, params, x1, x2):
    """Theta_ab(x, x') = sum_p dfa(x)/dp dfb(x')/dp from flattened jax.jacrev Jacobians."""
    def flat_jac(x):
        j = jax.jacrev(apply_fn)(params, x)
        leaves = jax.tree_util.tree_leaves(j)
        n, k = leaves[0].shape[:2]
        return jnp.concatenate([leaf.reshape(n, k, -1) for leaf in leaves], axis=-1)

    j1, j2 = flat_jac(x1), flat_jac(x2)
    return jnp.einsum("iap,jbp->ijab", j1, j2)


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"d{a[0]}k{a[1]}{a[2]}b{a[3]}{a[4]}")
def test_all_methods_match_jacrev(arch):
    """ntk.mlp networks (every activation kind, both parameterizations): the structured method on
    every architecture, traced and full, x2 given or None; the other methods on the first two (they
    are checked on every model in test_empirical_engine.py)."""
    depth, k, par, b_std, act = arch
    net = ntk.mlp([6 + depth] * depth, k, act, W_std=1.4, b_std=b_std, parameterization=par)
    params = net.init(jax.random.PRNGKey(depth), 3)
    x1 = jax.random.normal(jax.random.PRNGKey(10), (5, 3))
    x2 = jax.random.normal(jax.random.PRNGKey(11), (4, 3))
    methods = ["structured", "auto"] + (["jacobian", "ntvp"] if ARCHS.index(arch) < 2 else [])
    for a, b in [(x1, x2), (x1, None)]:
        ref = jacrev_reference(net.apply, params, a, a if b is None else b)
        ref_tr = jnp.trace(ref, axis1=2, axis2=3) / k
        for method, trace in itertools.product(methods, [True, False]):
            if b is None and trace is False and method == "auto":
                continue
            got = ntk.empirical_ntk(net, params, a, b, method=method, trace=trace)
            assert_close(got, ref_tr if trace else ref, rtol=1e-10, atol=1e-13,
                         err_msg=f"{method} trace={trace}")


def test_generic_apply_fn_pytree_params():
    """A non-ntk model (dict params, residual connection) with the generic methods."""
    def apply_fn(p, x):
        h = jnp.tanh(x @ p["w1"] + p["b"])
        h = h + 0.5 * jnp.sin(h @ p["w2"])
        return h @ p["out"]

    ks = jax.random.split(jax.random.PRNGKey(0), 4)
    p = {"w1": jax.random.normal(ks[0], (3, 8)), "b": jax.random.normal(ks[1], (8,)),
         "w2": jax.random.normal(ks[2], (8, 8)) / 3, "out": jax.random.normal(ks[3], (8, 2))}
    x1 = jax.random.normal(jax.random.PRNGKey(5), (6, 3))
    x2 = jax.random.normal(jax.random.PRNGKey(6), (3, 3))
    ref = jacrev_reference(apply_fn, p, x1, x2)
    for method in ["jacobian", "ntvp", "structured", "auto"]:
        assert_close(ntk.empirical_ntk(apply_fn, p, x1, x2, method=method, trace=False), ref,
                     rtol=1e-10, atol=1e-13)
        assert_close(ntk.empirical_ntk(apply_fn, p, x1, x2, method=method),
                     jnp.trace(ref, axis1=2, axis2=3) / 2, rtol=1e-10, atol=1e-13)


def test_batch_size_blocks_match_full():
    net = ntk.mlp([16, 16], 2, "relu", 1.5, 0.1)
    params = net.init(jax.random.PRNGKey(0), 4)
    x1 = jax.random.normal(jax.random.PRNGKey(1), (11, 4))
    x2 = jax.random.normal(jax.random.PRNGKey(2), (7, 4))
    calls = []
    for method in ["structured", "ntvp"]:
        full = ntk.empirical_ntk(net, params, x1, x2, method=method)
        blk = ntk.empirical_ntk(net, params, x1, x2, method=method, batch_size=3,
                                progress=lambda d, t: calls.append((d, t)))
        assert_close(blk, full, rtol=1e-12, atol=1e-14)
    assert calls[-1][0] == calls[-1][1] == 4 * 3


def test_float32_structured_matches_float64():
    net = ntk.mlp([64, 64], 1, "relu", 1.5, 0.05)
    params = net.init(jax.random.PRNGKey(0), 8, dtype=jnp.float32)
    x = jax.random.normal(jax.random.PRNGKey(1), (10, 8), dtype=jnp.float32)
    t32 = ntk.empirical_ntk(net, params, x)
    assert t32.dtype == jnp.float32
    p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
    t64 = ntk.empirical_ntk(net, p64, x.astype(jnp.float64))
    assert_close(t32, t64, rtol=2e-5, atol=1e-6)


def test_memory_budget_and_validation_errors():
    net = ntk.mlp([32], 1)
    params = net.init(jax.random.PRNGKey(0), 3)
    x = jnp.ones((20, 3))
    with pytest.raises(ValueError, match="batch_size"):
        ntk.empirical_ntk(net, params, x, method="jacobian", memory_budget=1000)
    with pytest.raises(ValueError, match="feature size"):
        ntk.empirical_ntk(net, params, x, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        ntk.empirical_ntk(net, params, x.at[0, 0].set(jnp.inf))
    with pytest.raises(ValueError, match="method"):
        ntk.empirical_ntk(net, params, x, method="magic")
    with pytest.raises(ValueError, match="empty"):
        ntk.empirical_ntk(net, params, jnp.ones((0, 3)))
    flops, mem = ntk.estimate_cost(net, params, 20, 20, "structured")
    assert flops > 0 and mem > 0
