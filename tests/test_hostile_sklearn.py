"""Hostile inputs to ntk.sklearn (NTKRegressor, NTKKernel): each refused with the exact error type
and a message naming the argument (scikit-learn's own input validation for X / y where it applies),
or a finite result with a warning that says what is wrong."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from ntk import _health as H
from ntk.sklearn import NTKKernel, NTKRegressor
from _testutil import assert_refused

X = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-0.6, 0.8]])
Y = np.array([0.5, 1.0, -0.2, 0.3])
XN = X.copy()
XN[1, 0] = np.nan
V, T = ValueError, TypeError


def fit(**kw):
    return NTKRegressor(depth=1, **kw).fit(X, Y)


CASES = [
    ("reg-depth-zero", lambda: NTKRegressor(depth=0).fit(X, Y), V,
     r"depth must be a positive integer"),
    ("reg-depth-float", lambda: NTKRegressor(depth=2.5).fit(X, Y), V, r"depth must be a positive integer"),
    ("reg-depth-bool", lambda: NTKRegressor(depth=True).fit(X, Y), V, r"depth must be a positive integer"),
    ("reg-kernel-name", lambda: fit(kernel="rbf"), V, r"kernel must be 'ntk' or 'nngp'"),
    ("reg-t-negative", lambda: fit(t=-1.0), V, r"t must be >= 0"),
    ("reg-t-nan", lambda: fit(t=np.nan), V, r"t contains NaN"),
    ("reg-t-string", lambda: fit(t="10"), T, r"t must be a number"),
    ("reg-learning-rate-zero", lambda: fit(learning_rate=0.0), V, r"learning_rate must be > 0"),
    ("reg-diag-reg-negative", lambda: fit(diag_reg=-1.0), V, r"diag_reg must be >= 0"),
    ("reg-diag-reg-string", lambda: fit(diag_reg="1e-3"), T, r"diag_reg must be a real number"),
    ("reg-width-zero", lambda: fit(width=0), V, r"width must be a positive integer"),
    ("reg-width-float", lambda: fit(width=512.0), T, r"width must be a positive integer"),
    ("reg-activation-unknown", lambda: fit(activation="foo"), V, r"foo"),
    ("reg-X-nan", lambda: NTKRegressor().fit(XN, Y), V, r"Input X contains NaN"),
    ("reg-X-strings", lambda: NTKRegressor().fit([["a", "b"]] * 4, Y), V, r"could not convert string to float"),
    ("reg-y-nan", lambda: NTKRegressor().fit(X, np.array([1.0, np.nan, 0.0, 0.0])), V, r"Input y contains NaN"),
    ("reg-rows-mismatch", lambda: NTKRegressor().fit(X, Y[:3]), V, r"inconsistent numbers of samples"),
    ("reg-predict-before-fit", lambda: NTKRegressor().predict(X), NotFittedError, r"not fitted yet"),
    ("reg-predict-features", lambda: fit().predict(np.ones((2, 3))), V, r"X has 3 features.*expecting 2"),
    ("reg-X-huge", lambda: NTKRegressor().fit(X * 1e200, Y), V, r"X is too large for float64"),
    ("reg-X-empty", lambda: NTKRegressor().fit(np.zeros((0, 2)), np.zeros(0)), V, r"0 sample"),
    ("reg-W-std-huge", lambda: fit(W_std=1e200), V, r"W_std=1e\+200 is too large"),
    ("reg-b-std-huge", lambda: fit(b_std=1e200), V, r"b_std=1e\+200 is too large"),
    ("reg-W-std-zero", lambda: fit(W_std=0.0), V, r"W_std must be > 0"),
    ("reg-b-std-negative", lambda: fit(b_std=-0.1), V, r"b_std must be >= 0"),
    ("reg-W-std-string", lambda: fit(W_std="1.5"), T, r"W_std must be a real number"),
    ("kern-W-std-nan", lambda: NTKKernel(W_std=np.nan)(X), V, r"W_std must be finite"),
    ("kern-W-bounds-order", lambda: NTKKernel(W_std_bounds=(2.0, 1.0)).theta, V,
     r"W_std_bounds must satisfy 0 < low < high"),
    ("kern-b-bounds-word", lambda: NTKKernel(b_std_bounds="free").theta, V,
     r"b_std_bounds must be a \(low, high\) pair or 'fixed'"),
    ("kern-W-bounds-type", lambda: NTKKernel(W_std_bounds=3.0).theta, T, r"W_std_bounds must be a \(low, high\) pair"),
    ("kern-gradient-with-Y", lambda: NTKKernel()(X, X, eval_gradient=True), V,
     r"Gradient can only be evaluated when Y is None"),
    ("kern-X-nan", lambda: NTKKernel()(XN), V, r"X contains NaN"),
    ("kern-Y-nan", lambda: NTKKernel()(X, XN), V, r"Y contains NaN"),
    ("kern-feature-mismatch", lambda: NTKKernel()(X, np.ones((2, 3))), V,
     r"X and Y must have the same number of features"),
    ("kern-X-string", lambda: NTKKernel()("abc"), T, r"X must be a numeric array"),
    ("kern-X-3d", lambda: NTKKernel()(np.ones((2, 2, 2))), V, r"X must have shape \(n, d\)"),
    ("kern-X-empty", lambda: NTKKernel()(np.zeros((0, 2))), V, r"X is empty"),
    ("kern-name", lambda: NTKKernel(kernel="x")(X), V, r"kernel must be 'ntk' or 'nngp'"),
    ("kern-depth-bool", lambda: NTKKernel(depth=True)(X), V, r"depth must be a positive integer"),
    ("kern-width-negative", lambda: NTKKernel(width=-1)(X), V, r"width must be a positive integer"),
    ("kern-X-huge", lambda: NTKKernel()(X * 1e200), V, r"X is too large for float64"),
    ("kern-diag-nan", lambda: NTKKernel().diag(XN), V, r"X contains NaN"),
]

DUPX = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
EXPLAINED = [
    ("reg-duplicated-rows-no-ridge", lambda: NTKRegressor(diag_reg=0).fit(DUPX, [0.1, 2.7, 1.0]).predict(DUPX),
     H.IllConditionedWarning, r"The NTK of the training inputs is ill-conditioned \(condition number .* diag_reg > 0"),
]


@pytest.mark.parametrize("fn,exc,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_a_clear_error(fn, exc, match):
    assert_refused(fn, exc, match)


@pytest.mark.parametrize("fn,warning,match", [c[1:] for c in EXPLAINED], ids=[c[0] for c in EXPLAINED])
def test_degenerate_input_is_explained(fn, warning, match):
    with pytest.warns(warning, match=match):
        out = fn()
    assert np.all(np.isfinite(out))
