"""Infinite-width kernels: closed forms by hand, Monte Carlo over wide random networks,
quadrature vs closed forms, symmetry / PSD, exact diagonal, zero inputs, blocks, dtypes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ntk
from _testutil import assert_close


def test_one_layer_relu_arccos_by_hand():
    """Depth-1 ReLU, NTK param: K = W^2/(2 pi) sqrt(q q') (sin t + (pi - t) cos t) + b^2 and
    Theta = K + W^2 Theta_1 (pi - t)/(2 pi), with q = W^2 |x|^2/d + b^2 (Jacot et al.)."""
    W, b = 1.3, 0.2
    x = jnp.array([[1.0, 0.5, -0.3], [0.2, -1.0, 0.7], [1.0, 0.5, -0.3]])
    d = 3
    dot = x @ x.T
    K1 = W**2 * dot / d + b**2
    q = jnp.diag(K1)
    cos = jnp.clip(K1 / jnp.sqrt(q[:, None] * q[None]), -1, 1)
    t = jnp.arccos(cos)
    S = jnp.sqrt(q[:, None] * q[None]) / (2 * np.pi) * (jnp.sin(t) + (np.pi - t) * cos)
    Sd = (np.pi - t) / (2 * np.pi)
    K2 = W**2 * S + b**2
    T2 = K2 + W**2 * Sd * K1
    net = ntk.mlp([10], 1, "relu", W, b)
    k = ntk.infinite_kernel(net, x)
    assert_close(k.nngp, K2, rtol=1e-7)  # hand formula suffers arccos(1 - eps) on the diagonal
    assert_close(k.ntk, T2, rtol=1e-7)
    # Identical inputs 0 and 2: exact equality and exact diagonal of the NNGP.
    assert float(k.nngp[0, 2]) == float(k.nngp[0, 0]) == float(k.nngp[2, 2])
    assert float(k.ntk[0, 2]) == float(k.ntk[2, 0])


def test_erf_arcsin_by_hand_standard_param():
    """Depth-1 erf, standard param: Theta = d * E[..] ... with n_1 the width."""
    W, b, n1 = 1.5, 0.1, 7
    x = jnp.array([[0.3, -0.4], [1.2, 0.8]])
    d = 2
    K1 = W**2 * (x @ x.T) / d + b**2
    q = jnp.diag(K1)
    S = 2 / np.pi * jnp.arcsin(2 * K1 / jnp.sqrt((1 + 2 * q[:, None]) * (1 + 2 * q[None])))
    Sd = 4 / np.pi / jnp.sqrt((1 + 2 * q[:, None]) * (1 + 2 * q[None]) - 4 * K1**2)
    T1 = x @ x.T + 1.0
    T2 = n1 * S + 1.0 + W**2 * Sd * T1
    net = ntk.mlp([n1], 1, "erf", W, b, parameterization="standard")
    k = ntk.infinite_kernel(net, x)
    assert_close(k.nngp, W**2 * S + b**2)
    assert_close(k.ntk, T2)


def _mc_nngp_ntk(net, x, seeds, width_key=0):
    """Monte Carlo over random initializations: E[f f'] per output and E[Theta_emp]."""
    outs, thetas = [], []
    for s in range(seeds):
        p = net.init(jax.random.PRNGKey(1000 * width_key + s), x.shape[1])
        f = net.apply(p, x)  # (n, k): k independent outputs
        outs.append(np.einsum("ik,jk->kij", f, f))
        thetas.append(np.asarray(ntk.empirical_ntk(net, p, x)))
    outs = np.concatenate(outs)
    thetas = np.stack(thetas)
    return (outs.mean(0), outs.std(0) / np.sqrt(len(outs)),
            thetas.mean(0), thetas.std(0) / np.sqrt(len(thetas)))


@pytest.mark.parametrize("act, par", [("relu", "ntk"), ("erf", "standard"), ("tanh", "ntk"),
                                      ("gelu", "ntk"), (("leaky_relu", {"alpha": 0.3}), "standard")],
                         ids=str)
def test_monte_carlo_of_wide_networks(act, par):
    """Mean over random wide nets agrees within 5 MC standard errors + an O(1/width) allowance."""
    width, seeds = 512, 24
    net = ntk.mlp([width, width], 64, act, W_std=1.4, b_std=0.2, parameterization=par)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)))
    k = ntk.infinite_kernel(net, x)
    mf, sf, mt, st_ = _mc_nngp_ntk(net, x, seeds)
    bias = 4.0 / width
    assert np.all(np.abs(mf - k.nngp) <= 5 * sf + bias * np.abs(k.nngp).max()), (mf, k.nngp)
    assert np.all(np.abs(mt - k.ntk) <= 5 * st_ + bias * np.abs(k.ntk).max()), (mt, k.ntk)


def test_quadrature_path_matches_closed_form_through_the_recursion():
    """erf given as a plain callable (quadrature) vs the registered closed form, deep net."""
    from jax.scipy.special import erf

    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 4)) * 2.0)
    a = ntk.mlp([8] * 3, 1, "erf", 2.0, 0.3)
    b = ntk.mlp([8] * 3, 1, lambda z: erf(z), 2.0, 0.3)
    ka, kb = ntk.infinite_kernel(a, x), ntk.infinite_kernel(b, x)
    assert_close(kb.nngp, ka.nngp, rtol=1e-8)
    assert_close(kb.ntk, ka.ntk, rtol=1e-8)


def test_large_norm_inputs_quadrature_converged():
    """tanh at sqrt(q) ~ 6: the automatic rule agrees with a 3x finer rule."""
    x = jnp.asarray(np.random.default_rng(2).normal(size=(5, 3)) * 2.5)
    net = ntk.mlp([8, 8], 1, "tanh", 2.5, 0.1)
    k = ntk.infinite_kernel(net, x)
    from ntk.infinite import resolve_degree
    rule = resolve_degree(net, (x,), None)
    kf = ntk.infinite_kernel(net, x, quadrature_degree=("trap", 3 * rule[1] + 2))
    assert_close(k.nngp, kf.nngp, rtol=1e-8)
    assert_close(k.ntk, kf.ntk, rtol=1e-8)


@settings(deadline=None, max_examples=10)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 4),
       act=st.sampled_from(["relu", "erf", "gelu", "abs", "sin", "identity", "softplus"]),
       par=st.sampled_from(["ntk", "standard"]), W=st.floats(0.5, 2.5), b=st.floats(0.0, 1.0))
def test_symmetric_and_psd(seed, depth, act, par, W, b):
    x = jnp.asarray(np.random.default_rng(seed).normal(size=(7, 3)))
    k = ntk.infinite_kernel(ntk.mlp([5] * depth, 1, act, W, b, parameterization=par), x)
    for m in (k.nngp, k.ntk):
        m = np.asarray(m)
        assert np.all(np.isfinite(m))
        assert_close(m, m.T, rtol=1e-12, atol=1e-14)
        ev = np.linalg.eigvalsh(m)
        assert ev.min() >= -1e-9 * max(ev.max(), 1e-12)


def test_x2_none_equals_x1_and_cross_blocks():
    net = ntk.mlp([8, 8], 1, "relu", 1.5, 0.1)
    x1 = jnp.asarray(np.random.default_rng(3).normal(size=(6, 3)))
    x2 = jnp.asarray(np.random.default_rng(4).normal(size=(5, 3)))
    full = ntk.infinite_kernel(net, jnp.concatenate([x1, x2]))
    cross = ntk.infinite_kernel(net, x1, x2)
    assert_close(cross.ntk, full.ntk[:6, 6:], rtol=1e-12)
    assert_close(ntk.infinite_kernel(net, x1).nngp, ntk.infinite_kernel(net, x1, x1).nngp, rtol=1e-13)


def test_batch_size_blocks_match_and_report_progress():
    net = ntk.mlp([8, 8], 1, "tanh", 1.5, 0.1)
    x1 = jnp.asarray(np.random.default_rng(5).normal(size=(13, 3)))
    x2 = jnp.asarray(np.random.default_rng(6).normal(size=(9, 3)))
    seen = []
    blk = ntk.infinite_kernel(net, x1, x2, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    full = ntk.infinite_kernel(net, x1, x2)
    assert_close(blk.ntk, full.ntk, rtol=1e-12)
    assert_close(blk.nngp, full.nngp, rtol=1e-12)
    assert seen[-1] == (12, 12)


def test_zero_norm_inputs_give_correct_limit_not_nan():
    """Zero input with b_std=0: the network output and its gradients vanish (NTK param.)."""
    x = jnp.array([[0.0, 0.0], [1.0, 0.5]])
    for act in ["relu", "erf", "tanh"]:
        k = ntk.infinite_kernel(ntk.mlp([4, 4], 1, act, 1.5, 0.0), x)
        assert np.all(np.isfinite(np.asarray(k.ntk))) and np.all(np.isfinite(np.asarray(k.nngp)))
        assert float(k.ntk[0, 0]) == 0.0 and float(k.ntk[0, 1]) == 0.0
    # Limit as |x| -> 0 for standard param. (bias gradient stays): continuous.
    net = ntk.mlp([4], 1, "relu", 1.5, 0.0, parameterization="standard")
    k0 = ntk.infinite_kernel(net, x)
    keps = ntk.infinite_kernel(net, jnp.array([[1e-7, 0.0], [1.0, 0.5]]))
    assert_close(k0.ntk[0, 0], keps.ntk[0, 0], rtol=1e-5)
    assert_close(k0.ntk[1, 1], keps.ntk[1, 1], rtol=1e-5)


def test_dtype_follows_inputs():
    net = ntk.mlp([8], 1, "erf", 1.0, 0.1)
    x32 = jnp.ones((3, 2), jnp.float32)
    assert ntk.infinite_kernel(net, x32).ntk.dtype == jnp.float32
    assert ntk.infinite_kernel(net, x32.astype(jnp.float64)).ntk.dtype == jnp.float64


def test_errors():
    net = ntk.mlp([8], 1)
    with pytest.raises(TypeError, match="ntk.mlp"):
        ntk.infinite_kernel(lambda p, x: x, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="feature size"):
        ntk.infinite_kernel(net, jnp.ones((2, 2)), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        ntk.infinite_kernel(net, jnp.array([[jnp.nan, 1.0]]))
    with pytest.raises(ValueError, match="get"):
        ntk.infinite_kernel(net, jnp.ones((2, 2)), get="cov")
    with pytest.raises(ValueError, match="batch_size"):
        ntk.infinite_kernel(net, jnp.ones((100, 2)), memory_budget=1000)
    assert "nngp=array(2, 2)" in repr(ntk.infinite_kernel(net, jnp.ones((2, 2))))


@pytest.mark.parametrize("act", ["relu", "erf", "abs", ("leaky_relu", {"alpha": 0.2})], ids=str)
def test_float32_fast_path_matches_float64(act):
    """float32 uses a polynomial arccos and per-point rsqrt: still within ~1e-6 of float64, with an
    exactly symmetric result and identical diagonal for identical inputs."""
    x = jnp.asarray(np.random.default_rng(7).normal(size=(40, 5)))
    x = jnp.concatenate([x, x[:3]])
    net = ntk.mlp([8] * 3, 1, act, 1.5, 0.05)
    k64 = ntk.infinite_kernel(net, x)
    k32 = ntk.infinite_kernel(net, x.astype(jnp.float32))
    for a, b in ((k32.nngp, k64.nngp), (k32.ntk, k64.ntk)):
        assert a.dtype == jnp.float32
        assert_close(a, b, rtol=3e-6, atol=0)
        a = np.asarray(a)
        np.testing.assert_array_equal(a, a.T)
    n = np.asarray(k32.nngp)
    # Duplicated points: equal to a few float32 ulps (vectorized vs remainder code paths may round
    # differently), far from the ~1e-4 that arccos(1 - eps) would cost.
    np.testing.assert_allclose(np.diag(n[:3, 40:]), np.diag(n)[:3], rtol=5e-7, atol=0)
