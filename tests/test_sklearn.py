"""scikit-learn interface: estimator checks, ridge-on-kernel reference on digits, GP kernel."""
import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
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
