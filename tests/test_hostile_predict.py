"""Hostile inputs to ntk.predict (and its ntk.dynamics compatibility names): every case raises the
exact error type with a message naming the argument, or (the `EXPLAINED` cases) returns a finite
result together with a warning that says what is wrong. Issue 16's "Why" cases come first."""
import collections

import numpy as np
import pytest

import ntk
from ntk import _health as H
from ntk import dynamics, predict
from _testutil import assert_refused

Pair = collections.namedtuple("Pair", "nngp ntk")
I3 = np.eye(3) + 0.2
Y = np.array([[1.0], [2.0], [0.5]])
KT = np.array([[0.5, 0.2, 0.1]])  # one test point
NEG = np.diag([3.0, -1.0])
Y2 = np.array([1.0, 2.0])
ZERO = np.zeros((2, 2))


def gd(k=I3, y=Y, **kw):
    return predict.gradient_descent_mse(k, y, **kw)


def gp(k=I3, y=Y, **kw):
    return predict.gp_inference(k, y, **kw)


def _kfn(K=I3, Ks=KT):
    def kernel_fn(x1, x2=None, get=("nngp", "ntk")):
        k = Pair(K, K) if x2 is None else Pair(Ks, Ks)
        return getattr(k, get) if isinstance(get, str) else k
    return kernel_fn


def ens(kernel_fn=None, x=np.zeros((3, 2)), y=Y, **kw):
    return predict.gradient_descent_mse_ensemble(_kfn() if kernel_fn is None else kernel_fn, x, y, **kw)


NAN_K = I3.copy()
NAN_K[0, 1] = NAN_K[1, 0] = np.nan
INF_K = I3.copy()
INF_K[2, 2] = np.inf
ASYM = I3.copy()
ASYM[0, 1] += 0.5
NAN_T = KT.copy()
NAN_T[0, 0] = np.nan
NAN_Y = Y.copy()
NAN_Y[1] = np.nan
V = ValueError
T = TypeError

CASES = [
    # issue 16, "Why": silently wrong numbers and silent NaN, each now refused
    ("why-gd-negative-eigenvalue", lambda: gd(NEG, Y2)(1.0, 0.0), V,
     r"k_train_train is not positive semi-definite: its smallest eigenvalue is -1.*diag_reg"),
    ("why-gd-zero-kernel-t-none", lambda: gd(ZERO, Y2)(None, 0.0), V, r"k_train_train is all zeros"),
    ("why-gd-zero-kernel-finite-t", lambda: gd(ZERO, Y2)(1.0, 0.0), V, r"k_train_train is all zeros"),
    ("why-t-negative", lambda: gd()(-5.0, 0.0), V, r"t must be >= 0.*got -5"),
    ("why-t-nan", lambda: gd()(np.nan, 0.0), V, r"t contains NaN"),
    ("why-maxlr-minus-identity", lambda: predict.max_learning_rate(-np.eye(2)), V,
     r"ntk_train_train is not positive semi-definite.*smallest eigenvalue is -1"),
    ("why-maxlr-zero", lambda: predict.max_learning_rate(ZERO), V, r"ntk_train_train is all zeros"),
    ("why-gp-not-psd", lambda: gp(NEG, Y2)("nngp", np.ones((1, 2)), np.ones((1, 1))), V,
     r"k_train_train is not positive semi-definite"),
    ("why-gp-zero", lambda: gp(ZERO, Y2)("nngp", np.ones((1, 2))), V, r"k_train_train is all zeros"),
    ("why-gp-nan-k-test-train", lambda: gp()("nngp", NAN_T), V, r"k_test_train.nngp contains 1 NaN"),
    ("why-discrete-lr-far-above-limit", lambda: gd(learning_rate=100.0, discrete=True)(5000, 0.0),
     H.NonFiniteError, r"learning_rate=100 is above the stable limit"),
    # gradient_descent_mse: the train-train kernel
    ("gd-nan-kernel", lambda: gd(NAN_K), V, r"k_train_train contains 2 NaN/inf"),
    ("gd-inf-kernel", lambda: gd(INF_K), V, r"k_train_train contains 1 NaN/inf"),
    ("gd-asymmetric", lambda: gd(ASYM), V, r"k_train_train is not symmetric"),
    ("gd-kernel-string", lambda: gd("kernel"), T, r"k_train_train must be a numeric array"),
    ("gd-kernel-none", lambda: gd(None), T, r"k_train_train is None"),
    ("gd-kernel-1d", lambda: gd(np.ones(3)), V, r"k_train_train must be a square"),
    ("gd-kernel-3x2", lambda: gd(np.ones((3, 2))), V, r"k_train_train must be square"),
    ("gd-kernel-complex", lambda: gd(I3 + 0j), T, r"k_train_train must be a real numeric"),
    ("gd-kernel-bool", lambda: gd(np.eye(3, dtype=bool)), T, r"k_train_train must be a real numeric"),
    ("gd-kernel-empty", lambda: gd(np.zeros((0, 0)), np.zeros((0, 1))), V, r"y_train is empty"),
    ("gd-kernel-object", lambda: gd(np.array([[object()]])), T, r"k_train_train must be a real numeric"),
    ("gd-kernel-rows-vs-y", lambda: gd(np.eye(4)), V, r"k_train_train has shape \(4, 4\), but y_train"),
    ("gd-kernel-ragged", lambda: gd([[1.0, 0.0], [0.0]]), T, r"k_train_train must be a numeric array"),
    # gradient_descent_mse: targets and scalars
    ("gd-y-nan", lambda: gd(y=NAN_Y), V, r"y_train contains 1 NaN/inf"),
    ("gd-y-scalar", lambda: gd(y=1.0), V, r"y_train must have shape \(n,\) or \(n, k\)"),
    ("gd-y-string", lambda: gd(y="abc"), T, r"y_train must be a numeric array"),
    ("gd-y-none", lambda: gd(y=None), T, r"y_train is None"),
    ("gd-lr-zero", lambda: gd(learning_rate=0.0), V, r"learning_rate must be > 0"),
    ("gd-lr-negative", lambda: gd(learning_rate=-1.0), V, r"learning_rate must be > 0"),
    ("gd-lr-nan", lambda: gd(learning_rate=np.nan), V, r"learning_rate must be finite"),
    ("gd-lr-inf", lambda: gd(learning_rate=np.inf), V, r"learning_rate must be finite"),
    ("gd-lr-string", lambda: gd(learning_rate="1"), T, r"learning_rate must be a real number"),
    ("gd-lr-bool", lambda: gd(learning_rate=True), T, r"learning_rate must be a real number"),
    ("gd-diag-reg-negative", lambda: gd(diag_reg=-1e-3), V, r"diag_reg must be >= 0"),
    ("gd-diag-reg-nan", lambda: gd(diag_reg=np.nan), V, r"diag_reg must be finite"),
    ("gd-absolute-scale-string", lambda: gd(diag_reg_absolute_scale="yes"), T,
     r"diag_reg_absolute_scale must be True or False"),
    ("gd-trace-axes-sample", lambda: gd(trace_axes=(0,)), V, r"trace_axes must not contain the sample axis"),
    ("gd-trace-axes-string", lambda: gd(trace_axes="a"), T, r"trace_axes must be a tuple of ints"),
    ("gd-trace-axes-out-of-range", lambda: gd(trace_axes=(5,)), V, r"trace_axes \(5,\) out of range"),
    ("gd-trace-axes-float", lambda: gd(trace_axes=(1.0,)), T, r"trace_axes must be a tuple of ints"),
    ("gd-discrete-string", lambda: gd(discrete="no"), T, r"discrete must be True or False"),
    # gradient_descent_mse: predict_fn
    ("gd-t-inf", lambda: gd()(np.inf, 0.0), V, r"t contains inf; use t=None"),
    ("gd-t-string", lambda: gd()("1", 0.0), T, r"t must be a number"),
    ("gd-t-bool", lambda: gd()(True, 0.0), T, r"t must be a number"),
    ("gd-t-empty", lambda: gd()([], 0.0), V, r"t is empty"),
    ("gd-t-complex", lambda: gd()(1j, 0.0), T, r"t must be a number"),
    ("gd-t-one-negative", lambda: gd()([1.0, -1.0], 0.0), V, r"t must be >= 0"),
    ("gd-t-overflow", lambda: gd(learning_rate=10.0)(1e308, 0.0), V, r"learning_rate \* t overflows"),
    ("gd-discrete-fractional-t", lambda: gd(discrete=True)(2.5, 0.0), V, r"t must be whole steps"),
    ("gd-nothing-to-predict", lambda: gd()(1.0, None, None), V, r"fx_train_0 and fx_test_0 are both None"),
    ("gd-test-without-kernel", lambda: gd()(1.0, 0.0, 0.0), V, r"k_test_train is needed"),
    ("gd-k-test-train-nan", lambda: gd()(1.0, 0.0, 0.0, NAN_T), V, r"k_test_train contains 1 NaN"),
    ("gd-k-test-train-shape", lambda: gd()(1.0, 0.0, 0.0, np.ones((2, 5))), V,
     r"k_test_train has shape \(2, 5\)"),
    ("gd-k-test-train-1d", lambda: gd()(1.0, 0.0, 0.0, np.ones(3)), V, r"k_test_train must be 2-D"),
    ("gd-k-test-train-string", lambda: gd()(1.0, 0.0, 0.0, "k"), T, r"k_test_train must be a numeric"),
    ("gd-fx-train-0-shape", lambda: gd()(1.0, np.ones(2)), V, r"fx_train_0 has shape \(2,\)"),
    ("gd-fx-train-0-nan", lambda: gd()(1.0, np.full((3, 1), np.nan)), V, r"fx_train_0 contains 3 NaN"),
    ("gd-fx-test-0-shape", lambda: gd()(1.0, 0.0, np.ones((4, 1)), KT), V, r"fx_test_0 has shape \(4, 1\)"),
    ("gd-fx-train-0-string", lambda: gd()(1.0, "zero"), T, r"fx_train_0 must be a numeric"),
    # max_learning_rate
    ("maxlr-nan", lambda: predict.max_learning_rate(NAN_K), V, r"ntk_train_train contains 2 NaN"),
    ("maxlr-asymmetric", lambda: predict.max_learning_rate(ASYM), V, r"ntk_train_train is not symmetric"),
    ("maxlr-size-zero", lambda: predict.max_learning_rate(I3, 0), V, r"y_train_size must be a positive integer"),
    ("maxlr-size-float", lambda: predict.max_learning_rate(I3, 2.5), T, r"y_train_size must be a positive integer"),
    ("maxlr-size-bool", lambda: predict.max_learning_rate(I3, True), T, r"y_train_size must be a positive integer"),
    ("maxlr-momentum-one", lambda: predict.max_learning_rate(I3, momentum=1.0), V, r"momentum must be in \[0, 1\)"),
    ("maxlr-momentum-string", lambda: predict.max_learning_rate(I3, momentum="0.5"), T, r"momentum must be a real"),
    ("maxlr-eps-negative", lambda: predict.max_learning_rate(I3, eps=-1.0), V, r"eps must be >= 0"),
    ("maxlr-string", lambda: predict.max_learning_rate("K"), T, r"ntk_train_train must be a numeric array"),
    # gp_inference
    ("gp-none", lambda: gp(None), T, r"k_train_train is None"),
    ("gp-nan-k-test-test", lambda: gp()("nngp", KT, np.array([[np.nan]])), V, r"k_test_test.nngp contains"),
    ("gp-k-test-test-shape", lambda: gp()("nngp", KT, np.ones((2, 2))), V, r"k_test_test.nngp has shape \(2, 2\)"),
    ("gp-get-unknown", lambda: gp()("foo", KT), V, r"get must be one of"),
    ("gp-get-number", lambda: gp()(3, KT), T, r"get must be a string or a tuple"),
    ("gp-get-empty", lambda: gp()((), KT), V, r"get is empty"),
    ("gp-get-duplicate", lambda: gp()(("nngp", "nngp"), KT), V, r"get entries must be unique"),
    ("gp-get-tuple-of-ints", lambda: gp()((1, 2), KT), T, r"get must contain strings"),
    ("gp-ntk-cov-bare-arrays", lambda: gp()("ntk", KT, np.ones((1, 1))), V,
     r"The 'ntk' posterior covariance needs both NNGP and NTK"),
    ("gp-kernel-object-missing-nngp", lambda: gp(Pair(None, I3))("nngp", KT), V, r"k_train_train.nngp is missing"),
    ("gp-y-rows", lambda: gp(y=np.ones((4, 1)))("nngp", KT), V, r"k_train_train has shape \(3, 3\), but y_train"),
    ("gp-diag-reg-string", lambda: gp(diag_reg="0.1"), T, r"diag_reg must be a real number"),
    # gradient_descent_mse_ensemble
    ("ens-kernel-fn-not-callable", lambda: ens(kernel_fn=I3), T, r"kernel_fn must be a callable"),
    ("ens-x-train-none", lambda: ens(x=None), T, r"x_train is None"),
    ("ens-get-unknown", lambda: ens(get="foo"), V, r"get must be one of"),
    ("ens-kernel-nan", lambda: ens(_kfn(K=NAN_K))(1.0, None, "ntk"), V,
     r"kernel_fn\(x_train, None, 'ntk'\) contains 2 NaN"),
    ("ens-kernel-not-psd", lambda: ens(_kfn(K=np.diag([1.0, -1.0, 1.0])))(1.0, None, "ntk"), V,
     r"kernel_fn\(x_train, None, 'ntk'\) is not positive semi-definite"),
    ("ens-kernel-fn-wrong-object", lambda: ens(lambda x1, x2=None, get=None: object())(1.0, None, ("nngp", "ntk")),
     V, r"returned no .nngp kernel"),
    ("ens-t-negative", lambda: ens()(-1.0, None, "ntk"), V, r"t must be >= 0"),
    ("ens-compute-cov-string", lambda: ens()(1.0, None, "ntk", compute_cov="yes"), T,
     r"compute_cov must be True or False"),
    ("ens-kernel-rows", lambda: ens(_kfn(K=np.eye(4)))(1.0, None, "ntk"), V,
     r"kernel_fn\(x_train, None, 'ntk'\) has shape \(4, 4\), but y_train"),
    ("ens-test-kernel-nan", lambda: ens(_kfn(Ks=NAN_T))(1.0, np.zeros((1, 2)), "ntk"), V,
     r"kernel_fn\(x_test, x_train, 'ntk'\) contains 1 NaN"),
    ("ens-lr-negative", lambda: ens(learning_rate=-1.0), V, r"learning_rate must be > 0"),
    # ensemble_mse (array form) and the ntk.dynamics compatibility call style
    ("ensemble-mse-get", lambda: predict.ensemble_mse(I3, I3, Y, KT, KT, get="x"), V, r"get must be 'ntk' or 'nngp'"),
    ("ensemble-mse-not-psd", lambda: predict.ensemble_mse(np.diag([1.0, -1.0, 1.0]), I3, Y, KT, KT), V,
     r"nngp_train_train is not positive semi-definite"),
    ("ensemble-mse-test-rows", lambda: predict.ensemble_mse(I3, I3, Y, KT, np.ones((2, 3))), V,
     r"ntk_test_train has 2 rows but nngp_test_train has 1"),
    ("ensemble-mse-compute-cov", lambda: predict.ensemble_mse(I3, I3, Y, KT, KT, compute_cov=1), T,
     r"compute_cov must be True or False"),
    ("dynamics-gp-legacy-nan", lambda: dynamics.gp_inference(I3, Y, NAN_T), V, r"k_test_train.nngp contains"),
    ("dynamics-gp-legacy-not-psd", lambda: dynamics.gp_inference(NEG, Y2, np.ones((1, 2))), V,
     r"k_train_train is not positive semi-definite"),
    ("gp-posterior-no-test", lambda: predict.gp_posterior(I3, Y, None), V, r"k_test_train is None"),
]

# Degenerate but valid: a finite answer plus a warning that says what is wrong and what to do.
DUP = np.array([[2.0, 1.0, 2.0], [1.0, 2.0, 1.0], [2.0, 1.0, 2.0]])  # rows 0 and 2 identical
YD = np.array([0.1, 1.0, 2.7])
EXPLAINED = [
    ("singular-kernel-t-none", lambda: gd(DUP, YD)(None, 0.0, 0.0, DUP[:1]), H.IllConditionedWarning,
     r"condition number inf.*pseudo-inverse.*diag_reg"),
    ("singular-kernel-gp", lambda: gp(DUP, YD)("nngp", DUP[:1]), H.IllConditionedWarning, r"singular or nearly so"),
    ("discrete-lr-above-limit-warns", lambda: gd(learning_rate=5.0, discrete=True)(2, 0.0), H.DivergenceWarning,
     r"learning_rate=5 is above the stable limit 2N/lambda_max"),
    ("ill-conditioned-float32", lambda: gd(np.diag([1.0, 1e-5, 1.0]).astype(np.float32), Y.astype(np.float32))(
        None, 0.0, 0.0, np.ones((1, 3), np.float32)), H.IllConditionedWarning, r"condition number 1e\+05 in float32"),
]


@pytest.mark.parametrize("fn,exc,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_a_clear_error(fn, exc, match):
    assert_refused(fn, exc, match)


@pytest.mark.parametrize("fn,warning,match", [c[1:] for c in EXPLAINED], ids=[c[0] for c in EXPLAINED])
def test_degenerate_input_is_explained(fn, warning, match):
    with pytest.warns(warning, match=match):
        out = fn()
    for a in (out if isinstance(out, tuple) else (out,)):
        assert np.all(np.isfinite(np.asarray(a)))


def test_duplicated_rows_fit_at_the_mean_target():
    """The singular case of EXPLAINED gives the t -> infinity limit: the pair is fit at its mean."""
    with pytest.warns(H.IllConditionedWarning):
        ftr = gd(DUP, YD)(None, 0.0)
    np.testing.assert_allclose(np.asarray(ftr)[[0, 2]], [1.4, 1.4], rtol=1e-10)


def test_case_count():
    """The report's numbers: cases tried here and how each ends (no silent result is left)."""
    assert len(CASES) >= 90 and len(EXPLAINED) == 4
    assert ntk.predict.gradient_descent_mse is ntk.dynamics.gradient_descent_mse
