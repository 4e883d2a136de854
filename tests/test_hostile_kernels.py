"""Hostile inputs to the kernel-level public API (issue 16): `ntk.infinite_kernel`, stax layers and
their (init_fn, apply_fn, kernel_fn), `ntk.empirical_ntk` / `empirical_ntk_fn` /
`monte_carlo_kernel_fn` / `batch`, `ntk.mlp`, `linearize` / `taylor_expand`, `ntk.data` and
`estimate_cost`. Each is refused with the exact error type and a message naming the argument and
what to change -- never a deep JAX traceback, never a silent NaN."""
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk
from ntk import _health as H
from ntk import stax
from _testutil import assert_refused

NET = ntk.mlp([8], 1, "relu")
P = NET.init(jax.random.PRNGKey(0), 2)
X = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
IMG = np.ones((2, 4, 4, 3))
CNN = stax.serial(stax.Conv(4, (3, 3), padding="SAME"), stax.Relu(), stax.Flatten(), stax.Dense(1))
PC = CNN[0](jax.random.PRNGKey(0), IMG.shape)[1]
V, T = ValueError, TypeError


def f(p, x):
    return jnp.tanh(x @ p["w"])


PF = {"w": jnp.ones((2, 1))}
TWO_BRANCHES = stax.serial(stax.FanOut(2), stax.parallel(stax.Dense(3), stax.Dense(4)), stax.FanInSum())
VALID_5 = stax.serial(stax.Conv(2, (5, 5), padding="VALID"), stax.Flatten(), stax.Dense(1))

CASES = [
    # ntk.infinite_kernel
    ("inf-x-3d", lambda: ntk.infinite_kernel(NET, np.ones((2, 2, 2))), V, r"x1 must have 2 dimensions"),
    ("inf-x-empty", lambda: ntk.infinite_kernel(NET, np.ones((0, 2))), V, r"x1 is empty"),
    ("inf-x-string", lambda: ntk.infinite_kernel(NET, "abc"), T, r"x1 must be a numeric"),
    ("inf-x2-features", lambda: ntk.infinite_kernel(NET, X, np.ones((2, 3))), V, r"x1 and x2 must have the same"),
    ("inf-x-inf", lambda: ntk.infinite_kernel(NET, np.array([[np.inf, 0.0]])), V, r"x1 contains 1 NaN/inf"),
    ("inf-x-overflow", lambda: ntk.infinite_kernel(NET, np.full((2, 2), 1e20, np.float32)), V,
     r"x1 is too large for float32"),
    ("inf-get-unknown", lambda: ntk.infinite_kernel(NET, X, get="cov"), V, r"get must contain 'nngp' and/or"),
    ("inf-get-empty", lambda: ntk.infinite_kernel(NET, X, get=()), V, r"get must contain"),
    ("inf-batch-zero", lambda: ntk.infinite_kernel(NET, X, batch_size=0), V, r"batch_size must be a positive"),
    ("inf-batch-float", lambda: ntk.infinite_kernel(NET, X, batch_size=1.5), T, r"batch_size must be a positive"),
    ("inf-plain-function", lambda: ntk.infinite_kernel(lambda p, x: x, X), T, r"infinite_kernel needs an ntk"),
    ("inf-budget-negative", lambda: ntk.infinite_kernel(NET, X, memory_budget=-1), V,
     r"memory_budget must be a positive number of bytes"),
    ("inf-budget-string", lambda: ntk.infinite_kernel(NET, X, memory_budget="1GB"), T,
     r"memory_budget must be a number of bytes"),
    ("inf-too-large", lambda: ntk.infinite_kernel(NET, np.ones((100000, 2))), V,
     r"needs an estimated .* GiB, above the memory budget .* Pass batch_size"),
    ("inf-quadrature-negative", lambda: ntk.infinite_kernel(ntk.mlp([8], 1, "tanh"), X, quadrature_degree=-3), V,
     r"quadrature_degree must be a positive integer"),
    # stax layers and their functions
    ("stax-kernel-rank", lambda: CNN[2](np.ones((2, 4, 3)), None, "ntk"), V, r"Conv .* needs inputs \(n, H, W, C\)"),
    ("stax-kernel-get", lambda: CNN[2](IMG, None, "foo"), V, r"get must be 'nngp', 'ntk'"),
    ("stax-kernel-nan", lambda: CNN[2](IMG * np.nan, None, "ntk"), V, r"x1 contains 96 NaN/inf"),
    ("stax-apply-other-params", lambda: CNN[1](P, IMG), V, r"parameters belong to another architecture"),
    ("stax-apply-other-channels", lambda: CNN[1](PC, np.ones((2, 5, 5, 2))), V,
     r"Conv: W has shape .* belong to another architecture"),
    ("stax-init-shape-string", lambda: CNN[0](jax.random.PRNGKey(0), "abc"), T, r"input_shape must be a tuple"),
    ("stax-valid-filter-too-big", lambda: VALID_5[2](IMG, None, "ntk"), V,
     r"VALID filter of size 5 is larger than the input"),
    ("stax-fanin-mismatch", lambda: TWO_BRANCHES[2](X, None, "ntk"), V, r"FanInSum needs branches of equal"),
    ("stax-dense-float-width", lambda: stax.Dense(2.5), T, r"out_dim must be an integer >= 1"),
    ("stax-conv-negative-filter", lambda: stax.Conv(2, (-1, 3)), V, r"filter_shape\[0\] must be an integer"),
    ("stax-conv-padding", lambda: stax.Conv(2, (3, 3), padding="FOO"), V, r"padding must be one of VALID"),
    ("stax-avgpool-zero-window", lambda: stax.AvgPool((0, 2)), V, r"window_shape\[0\] must be an integer"),
    ("stax-leaky-nan", lambda: stax.LeakyRelu(float("nan")), V, r"alpha must be finite"),
    ("stax-wstd-string", lambda: stax.Dense(3, W_std="1"), T, r"W_std must be a real number"),
    ("stax-wstd-nan", lambda: stax.Dense(3, W_std=float("nan")), V, r"W_std must be finite"),
    # ntk.empirical_ntk and NT's empirical functions
    ("emp-method", lambda: ntk.empirical_ntk(NET, P, X, method="fast"), V, r"Unknown method 'fast'"),
    ("emp-params-other-net", lambda: ntk.empirical_ntk(NET, PC, X), V, r"params has 4 layers"),
    ("emp-nan-params", lambda: ntk.empirical_ntk(f, {"w": jnp.array([[np.nan], [1.0]])}, X), H.NonFiniteError,
     r"empirical_ntk produced .* NaN/inf .* params\['w'\] contains 1 NaN"),
    ("emp-x-nan", lambda: ntk.empirical_ntk(f, PF, X * np.nan), V, r"x1 contains 6 NaN/inf"),
    ("emp-x-features", lambda: ntk.empirical_ntk(f, PF, np.ones((3, 5))), V,
     r"apply_fn\(params, x\) failed on x of shape \(3, 5\)"),
    ("emp-trace-string", lambda: ntk.empirical_ntk(NET, P, X, trace="yes"), T, r"trace must be True or False"),
    ("emp-batch-negative", lambda: ntk.empirical_ntk(NET, P, X, batch_size=-2), V, r"batch_size must be a positive"),
    ("emp-not-a-model", lambda: ntk.empirical_ntk(3, P, X), T, r"Expected an ntk network"),
    ("empfn-implementation", lambda: ntk.empirical_ntk_fn(f, implementation=7), V, r"implementation must be 0"),
    ("empfn-trace-axes", lambda: ntk.empirical_ntk_fn(f, trace_axes="x"), T, r"trace_axes must be an int"),
    ("empfn-not-callable", lambda: ntk.empirical_ntk_fn(None), T, r"apply_fn must be a function"),
    ("empfn-vmap-axes-out-of-range", lambda: ntk.empirical_ntk_fn(f, vmap_axes=5)(X, None, PF), V,
     r"vmap_axes=5 is not an axis of x1"),
    ("mc-zero-samples", lambda: ntk.monte_carlo_kernel_fn(CNN[0], CNN[1], jax.random.PRNGKey(0), n_samples=0), V,
     r"n_samples must be positive"),
    ("mc-int-key", lambda: ntk.monte_carlo_kernel_fn(CNN[0], CNN[1], 3, n_samples=2), T,
     r"key must be a jax.random key"),
    ("batch-negative", lambda: ntk.batch(CNN[2], batch_size=-1), V, r"batch_size must be a non-negative integer"),
    ("estimate-zero-points", lambda: ntk.estimate_cost(NET, P, 0, 3), V, r"n1 must be a positive integer"),
    # ntk.mlp and its methods
    ("mlp-no-hidden-layer", lambda: ntk.mlp([]), V, r"widths is empty"),
    ("mlp-widths-string", lambda: ntk.mlp("64"), T, r"widths\[0\] must be a positive integer"),
    ("mlp-out-dim-zero", lambda: ntk.mlp([8], 0), V, r"out_dim must be a positive integer"),
    ("mlp-parameterization", lambda: ntk.mlp([8], parameterization="mup"), V, r"parameterization must be 'ntk'"),
    ("mlp-init-int-key", lambda: NET.init(3, 2), T, r"init needs an explicit jax.random key"),
    ("mlp-init-in-dim-zero", lambda: NET.init(jax.random.PRNGKey(0), 0), V, r"in_dim must be a positive integer"),
    ("mlp-apply-features", lambda: NET.apply(P, np.ones((3, 5))), V, r"x has 5 features .* in_dim=2"),
    ("mlp-apply-1d", lambda: NET.apply(P, np.ones(2)), V, r"x must have 2 dimensions"),
    # linearize / taylor_expand
    ("lin-not-callable", lambda: ntk.linearize(3, P), T, r"Expected an ntk network"),
    ("lin-other-params", lambda: ntk.linearize(NET.apply, P)(PC, X), V, r"params do not have the structure"),
    ("taylor-degree-negative", lambda: ntk.taylor_expand(NET.apply, P, -1), V, r"degree must be a non-negative"),
    ("taylor-degree-float", lambda: ntk.taylor_expand(NET.apply, P, 1.5), T, r"degree must be a non-negative"),
    # ntk.data
    ("data-circle-negative", lambda: ntk.data.unit_circle(-1, 4), V, r"n_train must be a positive integer"),
    ("data-circle-string", lambda: ntk.data.unit_circle("4", 4), T, r"n_train must be a positive integer"),
    ("data-digits-zero", lambda: ntk.data.digits_images(0, 10), V, r"n_train must be a positive integer"),
    ("data-digits-negative-shift", lambda: ntk.data.digits_images(10, 10, max_shift=-1), V,
     r"max_shift must be an integer >= 0"),
]


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[c[0] for c in CASES])
def test_hostile_kernel_inputs(name, call, exc, match):
    err = assert_refused(call, exc, match)
    # raised by the library's own checks, not from deep inside JAX
    frames = traceback.extract_tb(err.__traceback__)
    assert "site-packages/jax" not in frames[-1].filename, frames[-1]


def test_case_count():
    assert len(CASES) >= 60
