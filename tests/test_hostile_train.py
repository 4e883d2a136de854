"""Hostile inputs to ntk.train (ntk.dynamics.train): each refused with the exact error type and a
message naming the argument, before anything is compiled; a learning rate far above the stable
limit gives a warning, a diverged result and a message instead of NaN curves."""

import jax
import numpy as np
import optax
import pytest

import ntk
from _testutil import assert_refused

NET = ntk.mlp([16], 1, "erf", 1.5, 0.1)
P0 = NET.init(jax.random.PRNGKey(0), 2)
X = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
Y = np.array([[0.5], [1.0], [-0.2]])
XT = np.array([[0.8, 0.6]])
V, T = ValueError, TypeError


def tr(net=NET, params=P0, x=X, y=Y, xt=None, yt=None, **kw):
    kw.setdefault("steps", 2)
    kw.setdefault("learning_rate", 0.1)
    kw.setdefault("check_stability", False)
    return ntk.train(net, params, x, y, xt, yt, **kw)


def _nan_params():
    (W, b), rest = P0[0], P0[1:]
    return [(W.at[0, 0].set(np.nan), b)] + list(rest)


CASES = [
    # issue 16: odd types that used to be accepted
    ("why-steps-float", lambda: tr(steps=2.7), T, r"steps must be an integer, got float 2.7"),
    ("why-steps-string", lambda: tr(steps="10"), T, r"steps must be an integer, got str"),
    ("why-record-every-zero", lambda: tr(record_every=0), V, r"record_every must be a positive integer, got 0"),
    ("steps-bool", lambda: tr(steps=True), T, r"steps must be an integer, got bool"),
    ("steps-negative", lambda: tr(steps=-1), V, r"steps must be an integer >= 0"),
    ("steps-integral-float", lambda: tr(steps=10.0), T, r"steps must be an integer.*Pass int\(10.0\)"),
    ("record-every-float", lambda: tr(record_every=1.5), T, r"record_every must be a positive integer"),
    ("record-every-string", lambda: tr(record_every="2"), T, r"record_every must be a positive integer"),
    ("record-steps-string", lambda: tr(record_steps="abc"), T, r"record_steps must be a list of step numbers"),
    ("record-steps-fraction", lambda: tr(record_steps=[1.5]), V, r"record_steps must be whole step numbers"),
    ("record-steps-negative", lambda: tr(record_steps=[-1]), V, r"record_steps must be non-negative"),
    ("record-steps-bool", lambda: tr(record_steps=[True]), T, r"record_steps must be a list of integer"),
    ("lr-zero", lambda: tr(learning_rate=0.0), V, r"learning_rate must be > 0"),
    ("lr-nan", lambda: tr(learning_rate=float("nan")), V, r"learning_rate must be finite"),
    ("lr-string", lambda: tr(learning_rate="0.1"), T, r"learning_rate must be a real number"),
    ("optimizer-unknown", lambda: tr(optimizer="rmsprop"), V, r"Unknown optimizer 'rmsprop'"),
    ("optimizer-number", lambda: tr(optimizer=3), T, r"optimizer must be 'sgd', 'momentum', 'adam'"),
    ("momentum-one", lambda: tr(momentum=1.0, optimizer="momentum"), V, r"momentum must be finite and >= 0 and < 1"),
    ("momentum-string", lambda: tr(momentum="0.9"), T, r"momentum must be a real number"),
    ("divergence-factor-one", lambda: tr(divergence_factor=1.0), V, r"divergence_factor must be finite and > 1"),
    ("linearized-string", lambda: tr(linearized="yes"), T, r"linearized must be True or False"),
    ("track-kernel-int", lambda: tr(track_kernel=1), T, r"track_kernel must be True or False"),
    ("check-stability-none", lambda: tr(check_stability=None), T, r"check_stability must be True or False"),
    ("progress-not-callable", lambda: tr(progress=3), T, r"progress must be a callable"),
    ("x-nan", lambda: tr(x=np.array([[np.nan, 0.0], [0.0, 1.0], [0.6, 0.8]])), V, r"x_train contains 1 NaN"),
    ("x-1d", lambda: tr(x=np.ones(3)), V, r"x_train must have 2 dimensions"),
    ("x-string", lambda: tr(x="abc"), T, r"x_train must be a numeric"),
    ("x-empty", lambda: tr(x=np.zeros((0, 2)), y=np.zeros((0, 1))), V, r"x_train is empty"),
    ("x-none", lambda: tr(x=None), V, r"x_train is None"),
    ("y-rows", lambda: tr(y=Y[:2]), V, r"x_train has 3 points but y_train has 2"),
    ("y-nan", lambda: tr(y=np.array([[np.nan], [1.0], [0.0]])), V, r"y_train contains 1 NaN"),
    ("y-string", lambda: tr(y="abc"), T, r"y_train must be a numeric array"),
    ("y-outputs", lambda: tr(y=np.ones((3, 2))), V, r"The network outputs \(3, 1\) on x_train but y_train is \(3, 2\)"),
    ("y-test-without-x-test", lambda: tr(yt=np.ones((1, 1))), V, r"y_test was given without x_test"),
    ("x-test-features", lambda: tr(xt=np.ones((1, 3))), V, r"x_test and x_train must have the same number of features"),
    ("y-test-rows", lambda: tr(xt=XT, yt=np.ones((2, 1))), V, r"x_test has 1 points but y_test has 2"),
    ("x-test-nan", lambda: tr(xt=np.array([[np.nan, 1.0]])), V, r"x_test contains 1 NaN"),
    ("params-nan", lambda: tr(params=_nan_params()), V, r"params0\[0\]\[0\] contains 1 NaN/inf"),
    ("params-other-architecture", lambda: tr(params=ntk.mlp([8, 8], 1).init(jax.random.PRNGKey(1), 5)), V,
     r"params0 do not fit the network on x_train of shape \(3, 2\)"),
    ("net-not-callable", lambda: ntk.train(3, P0, X, Y, steps=1), T, r"callable|apply"),
    ("optax-custom-bad-lr", lambda: tr(optimizer=optax.sgd(0.1), learning_rate=-1.0), V, r"learning_rate must be > 0"),
]


@pytest.mark.parametrize("fn,exc,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_a_clear_error(fn, exc, match):
    assert_refused(fn, exc, match)


def test_learning_rate_far_above_the_limit_is_reported():
    """Issue 16 ("Lazy at 5x the stable rate shows nan"): a warning before training, then a diverged
    result whose message names the limit, and no NaN in anything recorded."""
    lr_max = ntk.max_learning_rate(ntk.empirical_ntk(NET, P0, X), Y.size)
    with pytest.warns(RuntimeWarning, match=r"exceeds the largest stable value 2N/lambda_max"):
        res = ntk.train(NET, P0, X, Y, learning_rate=20 * lr_max, steps=400, record_every=10)
    assert res.diverged and res.diverged_step is not None
    assert f"{lr_max:.4g}" in res.message and "lower it" in res.message
    assert np.all(np.isfinite(res.loss_train)) and np.all(np.isfinite(res.f_train))
    assert res.max_stable_lr == pytest.approx(lr_max, rel=1e-12)
