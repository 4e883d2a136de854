"""Property tests (hypothesis): for finite, valid inputs the public closed forms, metrics, fits and
the sklearn estimator return finite numbers -- never NaN, whatever the scale, rank or conditioning of
the kernel (singular kernels may warn, and the warning is allowed). Few examples per property and
a small set of shapes, so the compiled programs are shared and the module stays fast."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import ntk
from ntk import _health as H
from ntk import predict
from ntk.analysis import metrics, sweeps

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
entries = st.floats(-3, 3, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def kernel_problem(draw):
    """(K (n, n), Ks (m, n), Kss (m, m), y (n, k)): a joint PSD kernel of random features (any
    rank: p may be below n + m, i.e. singular), scaled by 10^e."""
    n, m, k = draw(st.sampled_from([2, 4])), 2, draw(st.sampled_from([1, 2]))
    p = draw(st.integers(1, 7))
    F = draw(arrays(np.float64, (n + m, p), elements=entries))
    scale = 10.0 ** draw(st.integers(-4, 4))
    J = scale * F @ F.T
    K = J[:n, :n]
    assume(np.max(np.abs(K)) > 1e-8 * scale)  # the all-zero training kernel is refused by design
    y = draw(arrays(np.float64, (n, k), elements=entries))
    return K, J[n:, :n], J[n:, n:], y


def _finite(*xs):
    for x in xs:
        assert np.all(np.isfinite(np.asarray(x))), x


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", H.IllConditionedWarning)
        return fn(*a, **kw)


@SETTINGS
@given(kernel_problem(), st.one_of(st.none(), st.floats(0, 1e6)), st.floats(0.01, 1.0),
       st.floats(0, 1e-2))
def test_gradient_descent_mse_is_finite(prob, t, lr_frac, reg):
    K, Ks, _, y = prob
    lr = lr_frac * predict.max_learning_rate(K, y.size)
    fn = _quiet(predict.gradient_descent_mse, K, y, learning_rate=lr, diag_reg=reg)
    ftr, fte = _quiet(fn, t, 0.1 * y, np.zeros((2, y.shape[1])), Ks)
    _finite(ftr, fte)
    fd = _quiet(predict.gradient_descent_mse, K, y, learning_rate=lr, discrete=True)
    _finite(*_quiet(fd, None if t is None else np.floor(min(t, 1e4)), 0.0, 0.0, Ks))


@SETTINGS
@given(kernel_problem(), st.floats(0, 1e-2), st.booleans())
def test_gp_inference_is_finite(prob, reg, absolute):
    K, Ks, Kss, y = prob
    kern = predict._KernelPair(K, K)
    fn = _quiet(predict.gp_inference, kern, y, diag_reg=reg, diag_reg_absolute_scale=absolute and reg > 0)
    res = _quiet(fn, ("nngp", "ntk", "ntkgp"), predict._KernelPair(Ks, Ks), predict._KernelPair(Kss, Kss))
    for g in res:
        _finite(g.mean, g.covariance)


@SETTINGS
@given(kernel_problem(), st.one_of(st.none(), st.floats(0, 1e5)))
def test_ensemble_mse_is_finite(prob, t):
    K, Ks, Kss, y = prob
    mean, cov = _quiet(predict.ensemble_mse, K, K, y, Ks, Ks, Kss, t=t)
    _finite(mean, cov)


@SETTINGS
@given(kernel_problem(), st.integers(1, 100), st.floats(0, 0.99))
def test_max_learning_rate_is_positive_and_finite(prob, size, momentum):
    K = prob[0]
    lr = predict.max_learning_rate(K, size, momentum)
    assert np.isfinite(lr) and lr > 0


positive = st.floats(1e-6, 1e6, allow_nan=False, allow_subnormal=False)


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 4096), positive), min_size=2, max_size=12))
def test_fit_loglog_slope_never_nan(points):
    x, y = zip(*points)
    assume(len(set(x)) >= 2)
    fit = sweeps.fit_loglog_slope(x, y)
    assert all(not np.isnan(v) for v in fit.values()), fit
    assert fit["ci_low"] <= fit["slope"] <= fit["ci_high"]


@SETTINGS
@given(arrays(np.float64, (3, 2), elements=entries), arrays(np.float64, (3, 2), elements=entries))
def test_metrics_are_finite(a, b):
    _finite(metrics.lin_gap(a, b), metrics.relative_change(a, b), metrics.kernel_change(a @ a.T, b @ b.T),
            metrics.lin_gap_curve(a[None], b[None]))


@pytest.fixture(scope="module")
def regressor_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((6, 2)), rng.standard_normal(6)


@settings(max_examples=4, deadline=None, derandomize=True)
@given(st.floats(0.3, 3.0), st.floats(0.0, 1.0), st.sampled_from(["relu", "erf"]),
       st.one_of(st.none(), st.floats(0, 1e3)), st.floats(0, 1e-2), st.integers(-3, 3))
def test_ntk_regressor_is_finite(regressor_data, W_std, b_std, act, t, reg, scale):
    from ntk.sklearn import NTKRegressor

    X, y = regressor_data
    X = X * 10.0 ** scale
    reg_ = _quiet(NTKRegressor(depth=1, activation=act, W_std=W_std, b_std=b_std, t=t, diag_reg=reg).fit, X, y)
    _finite(_quiet(reg_.predict, X[:3] * 0.5))


def test_public_names_exist():
    """The functions exercised above are the public ones."""
    assert ntk.gradient_descent_mse is predict.gradient_descent_mse
    assert ntk.fit_loglog_slope is sweeps.fit_loglog_slope


@pytest.fixture(scope="module")
def small_net():
    import jax

    net = ntk.mlp([32], 1, "erf", 1.5, 0.1)
    return net, net.init(jax.random.PRNGKey(0), 2)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(arrays(np.float64, (4, 2), elements=entries), arrays(np.float64, (4, 1), elements=entries),
       st.floats(0.01, 0.9), st.integers(0, 30), st.sampled_from(["sgd", "momentum", "adam"]))
def test_train_below_the_stable_rate_is_finite(small_net, x, y, lr_frac, steps, optimizer):
    """Any finite data, any learning rate below the stable limit: finite curves, no divergence."""
    net, p0 = small_net
    theta = np.asarray(ntk.empirical_ntk(net, p0, x))
    assume(np.max(np.abs(theta)) > 1e-8)
    lr = lr_frac * predict.max_learning_rate(theta, y.size)
    if optimizer == "adam":
        lr = min(lr, 1e-2)  # adam's step does not scale with the kernel
    res = ntk.train(net, p0, x, y, learning_rate=lr, steps=steps, record_every=10, optimizer=optimizer,
                    check_stability=False)
    assert not res.diverged
    _finite(res.loss_train, res.f_train, res.lin_f_train, res.weight_change)
