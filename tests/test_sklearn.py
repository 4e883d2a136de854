"""scikit-learn interface: estimator checks, ridge-on-kernel reference on digits, GP kernel."""
import warnings

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import ntk
from ntk.sklearn import NTKKernel, NTKRegressor

# Checks that do not apply, with the reason (sklearn's expected_failed_checks mechanism).
EXPECTED_FAILED = {}


@parametrize_with_checks([NTKRegressor(depth=1)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _ridge_reference(K, Ks, y, diag_reg):
    """Plain numpy kernel ridge: Ks (K + diag_reg * tr(K)/n I)^-1 y in float64."""
    n = K.shape[0]
    A = K + diag_reg * np.trace(K) / n * np.eye(n)
    return Ks @ np.linalg.solve(A, y)


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_digits_matches_numpy_ridge(kernel):
    ds = ntk.data.digits(n_train=120, n_test=80, classes=(3, 8), dtype=np.float64)
    reg = NTKRegressor(depth=2, activation="relu", W_std=1.5, b_std=0.05, kernel=kernel,
                       diag_reg=1e-3).fit(ds.x_train, ds.y_train[:, 0])
    pred = reg.predict(ds.x_test)
    net = ntk.mlp([512, 512], 1, "relu", 1.5, 0.05)
    K = np.asarray(getattr(ntk.infinite_kernel(net, ds.x_train), kernel), np.float64)
    Ks = np.asarray(getattr(ntk.infinite_kernel(net, ds.x_test, ds.x_train), kernel), np.float64)
    ref = _ridge_reference(K, Ks, ds.y_train[:, 0].astype(np.float64), 1e-3)
    assert pred.shape == (80,)
    # float64 throughout; the solve is well conditioned with diag_reg = 1e-3.
    np.testing.assert_allclose(pred, ref, rtol=1e-8, atol=1e-10)
    acc = np.mean(np.sign(pred) == ds.y_test[:, 0])
    assert acc > 0.95, acc


def test_finite_time_and_multioutput():
    ds = ntk.data.digits(n_train=60, n_test=30, classes=(0, 1, 2), dtype=np.float64)
    reg_inf = NTKRegressor(depth=1, t=None, diag_reg=0.0).fit(ds.x_train, ds.y_train)
    reg_big = NTKRegressor(depth=1, t=1e9, diag_reg=0.0).fit(ds.x_train, ds.y_train)
    reg_0 = NTKRegressor(depth=1, t=0.0).fit(ds.x_train, ds.y_train)
    p_inf, p_big = reg_inf.predict(ds.x_test), reg_big.predict(ds.x_test)
    assert p_inf.shape == (30, 3)
    np.testing.assert_allclose(p_big, p_inf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reg_0.predict(ds.x_test), 0.0, atol=1e-12)
    # Interpolation of the training set at t = inf without ridge.
    np.testing.assert_allclose(reg_inf.predict(ds.x_train), ds.y_train, atol=1e-6)


def test_pipeline_and_cross_val():
    ds = ntk.data.digits(n_train=60, n_test=10, classes=(1, 7))
    pipe = make_pipeline(StandardScaler(), NTKRegressor(depth=1, kernel="nngp", t=50.0,
                                                        diag_reg=1e-2))
    scores = cross_val_score(pipe, ds.x_train, ds.y_train[:, 0], cv=2)
    assert np.all(scores > 0.5), scores


def test_repr_and_params():
    r = NTKRegressor(depth=3, kernel="nngp")
    assert "NTKRegressor(" in repr(r) and "nngp" in repr(r)
    assert r.get_params()["depth"] == 3
    with pytest.raises(ValueError, match="kernel must be"):
        NTKRegressor(kernel="rbf").fit(np.ones((3, 2)), np.ones(3))
    k = NTKKernel(depth=2, kernel="ntk")
    assert repr(k).startswith("NTKKernel(kernel='ntk', depth=2")


def test_gp_kernel():
    ds = ntk.data.sine_1d(20, 50, noise=0.05, dtype=np.float64)
    k = NTKKernel(depth=2, activation="erf", W_std=1.5, b_std=0.05, kernel="nngp")
    X = ds.x_train
    K = k(X)
    assert K.shape == (20, 20) and np.allclose(K, K.T)
    np.testing.assert_allclose(k.diag(X), np.diag(K), rtol=1e-12)
    K2, grad = k(X, eval_gradient=True)
    assert grad.shape == (20, 20, 2)  # d/dlog W_std, d/dlog b_std
    np.testing.assert_allclose(K2, K, rtol=1e-12)
    assert k(X, ds.x_test).shape == (20, 50)
    assert not k.is_stationary()
    net = ntk.mlp([512, 512], 1, "erf", 1.5, 0.05)
    np.testing.assert_allclose(K, np.asarray(ntk.infinite_kernel(net, X).nngp), rtol=1e-10)

    gpr = GaussianProcessRegressor(k + WhiteKernel(0.05**2, "fixed"), optimizer=None)
    gpr.fit(X, ds.y_train[:, 0])
    mean, std = gpr.predict(ds.x_test, return_std=True)
    # Same posterior mean as plain numpy GP regression with the NNGP + noise.
    Kn = K + 0.05**2 * np.eye(20)
    ref = k(ds.x_test, X) @ np.linalg.solve(Kn, ds.y_train[:, 0])
    np.testing.assert_allclose(mean, ref, rtol=1e-6, atol=1e-8)
    assert np.all(std > 0)
    assert np.sqrt(np.mean((mean - ds.y_test[:, 0]) ** 2)) < 0.2
    # Composes with sklearn kernels and their hyperparameter optimisation.
    gpr2 = GaussianProcessRegressor(ConstantKernel(1.0) * k + WhiteKernel(1e-2)).fit(
        X, ds.y_train[:, 0])
    assert np.isfinite(gpr2.log_marginal_likelihood_value_)


# --- NTKKernel: scikit-learn's whole kernel API, analytic gradients, marginal-likelihood fits ---

@pytest.fixture(scope="module")
def gp_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3))
    X[5] = X[2]  # a duplicated input: correlation exactly 1 (the gradient's 0 * inf case)
    return X, np.sin(X[:, 0]) + 0.1 * rng.standard_normal(8)


def test_ntk_kernel_alone_in_gpr(gp_data):
    """The documented use: the kernel alone (GPR edits K in place, so K must be writable)."""
    X, y = gp_data
    gpr = GaussianProcessRegressor(kernel=NTKKernel(), optimizer=None, alpha=1e-2).fit(X, y)
    mean = gpr.predict(X[:3])
    k = NTKKernel()
    ref = k(X[:3], X) @ np.linalg.solve(k(X) + 1e-2 * np.eye(8), y)
    np.testing.assert_allclose(mean, ref, rtol=1e-8)


def test_ntk_kernel_api(gp_data):
    from sklearn.base import clone

    X, _ = gp_data
    k = NTKKernel(kernel="nngp", activation="erf", W_std=1.3, b_std=0.2)
    assert [h.name for h in k.hyperparameters] == ["W_std", "b_std"] and k.n_dims == 2
    np.testing.assert_allclose(k.theta, np.log([1.3, 0.2]), rtol=1e-15)
    np.testing.assert_allclose(k.bounds, np.log([[1e-2, 1e2], [1e-5, 1e2]]), rtol=1e-15)
    k2 = k.clone_with_theta(np.log([2.0, 0.5]))
    assert (k2.W_std, k2.b_std) == pytest.approx((2.0, 0.5)) and (k.W_std, k.b_std) == (1.3, 0.2)
    np.testing.assert_allclose(k2(X), NTKKernel(kernel="nngp", activation="erf", W_std=2.0, b_std=0.5)(X),
                               rtol=1e-12)
    k3 = clone(k)
    assert k3 == k and k3 is not k and k3.get_params() == k.get_params()
    k3.theta = np.log([1.0, 0.1])  # sklearn's setter goes through set_params
    assert (k3.W_std, k3.b_std) == pytest.approx((1.0, 0.1))
    np.testing.assert_allclose(k.diag(X), np.diag(k(X)), rtol=1e-12)
    assert not k.is_stationary() and k.requires_vector_input
    # b_std = 0 or "fixed" bounds: b_std leaves theta; gradients follow
    k0 = NTKKernel(b_std=0.0)
    assert k0.n_dims == 1 and k0(X, eval_gradient=True)[1].shape == (8, 8, 1)
    kf = NTKKernel(W_std_bounds="fixed")
    assert [h.name for h in kf.hyperparameters if not h.fixed] == ["b_std"]
    # combined kernels: gradients stacked in theta's order
    combo = ConstantKernel(2.0) * k + WhiteKernel(0.1)
    K, G = combo(X, eval_gradient=True)
    assert G.shape == (8, 8, 4) and np.all(np.isfinite(G))


@pytest.mark.parametrize("kernel,activation", [("ntk", "relu"), ("nngp", "erf")])
def test_ntk_kernel_gradients_vs_finite_differences(gp_data, kernel, activation):
    """dK/dlog(W_std), dK/dlog(b_std) against central differences of the kernel itself (h = 1e-5:
    truncation ~h^2 ~ 1e-10; measured 6e-10 relative)."""
    X, _ = gp_data
    k = NTKKernel(depth=2, activation=activation, kernel=kernel, W_std=1.3, b_std=0.2)
    K, G = k(X, eval_gradient=True)
    np.testing.assert_allclose(K, k(X), rtol=1e-12)
    h = 1e-5
    for i in range(2):
        up, down = k.theta.copy(), k.theta.copy()
        up[i] += h
        down[i] -= h
        fd = (k.clone_with_theta(up)(X) - k.clone_with_theta(down)(X)) / (2 * h)
        err = np.max(np.abs(G[..., i] - fd)) / np.max(np.abs(fd))
        assert err < 1e-7, (i, err)


@pytest.mark.slow
def test_gpr_fits_w_std_b_std_by_marginal_likelihood(gp_data):
    X, y = gp_data
    k = NTKKernel(depth=2, activation="erf", kernel="nngp", W_std=1.0, b_std=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # b_std may go to its lower bound
        gpr = GaussianProcessRegressor(kernel=k, alpha=1e-2).fit(X, y)
    before = gpr.log_marginal_likelihood(k.theta)
    after = gpr.log_marginal_likelihood_value_
    assert after > before + 1.0, (before, after)  # measured: -3.33 -> -0.09
    assert (gpr.kernel_.W_std, gpr.kernel_.b_std) != (1.0, 0.5)
    # the fitted value is a stationary point: the analytic LML gradient is ~0 in the free directions
    lml, grad = gpr.log_marginal_likelihood(gpr.kernel_.theta, eval_gradient=True)
    theta, bounds = gpr.kernel_.theta, gpr.kernel_.bounds
    inside = (theta > bounds[:, 0] + 1e-3) & (theta < bounds[:, 1] - 1e-3)
    assert np.all(np.abs(grad[inside]) < 1e-2), grad


def test_regressor_warns_on_duplicated_rows_without_ridge():
    """Issue 16: duplicated rows with different targets and diag_reg=0 used to predict 25.6 for
    targets in [0.1, 2.7] silently; now a conditioning warning, and the pair is fit at its mean."""
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    y = np.array([0.1, 2.7, 1.0, 1.5])
    with pytest.warns(ntk._health.IllConditionedWarning, match=r"condition number"):
        reg = NTKRegressor(diag_reg=0).fit(X, y)
    pred = reg.predict(X)
    np.testing.assert_allclose(pred, [1.4, 1.4, 1.0, 1.5], rtol=1e-8)
