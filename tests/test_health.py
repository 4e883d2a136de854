"""ntk._health, the numeric-health policy: every non-finite public result is refused with its cause.

The kernel functions (ntk.infinite, ntk.empirical) get the policy through two calls,
`check_kernel_inputs(x1, x2)` on entry and `check_kernel_output(k, what, x1, x2, params)` on exit.
The tests below take the real results of those functions for issue 16's hostile inputs: if a
function already refuses them, its error must name the cause; if it returns NaN, the policy
function must turn that exact result into an error naming the cause."""
import warnings

import jax
import numpy as np
import pytest

import ntk
from ntk import _health as H

NET = ntk.mlp([16], 1, "relu", 1.5, 0.1)
P0 = NET.init(jax.random.PRNGKey(0), 3)
HUGE32 = np.full((2, 3), 1e20, np.float32)


def _nan_params():
    (W, b), rest = P0[0], P0[1:]
    return [(W.at[0, 0].set(np.nan), b)] + list(rest)


def _refused_with_cause(compute, policy, cause):
    """`compute()` raises an error matching `cause`, or returns a value that `policy(value)` refuses
    with a NonFiniteError matching `cause`."""
    try:
        value = compute()
    except ValueError as e:
        assert any(c in str(e) for c in cause), str(e)
        return "refused by the function"
    assert not np.all(np.isfinite(np.asarray(jax.tree_util.tree_leaves(value)[0]))), \
        "the hostile input gave a finite result: update this test's premise"
    with pytest.raises(H.NonFiniteError) as ei:
        policy(value)
    assert any(c in str(ei.value) for c in cause), str(ei.value)
    return "refused by the policy"


def test_infinite_kernel_of_overflowing_float32_inputs():
    """Issue 16: infinite_kernel on inputs of norm ~1e20 in float32 gave an all-NaN kernel."""
    with pytest.raises(ValueError, match=r"x1 is too large for float32: max \|x\| = 1e\+20"):
        H.check_kernel_inputs(HUGE32)
    _refused_with_cause(lambda: ntk.infinite_kernel(NET, HUGE32),
                        lambda k: H.check_kernel_output(k, "infinite_kernel", HUGE32),
                        ["x1 is too large for float32"])


def test_empirical_ntk_of_nan_parameters():
    """Issue 16: parameters with one NaN weight gave an all-NaN empirical kernel."""
    x = np.eye(3)
    _refused_with_cause(lambda: ntk.empirical_ntk(NET, _nan_params(), x),
                        lambda k: H.check_kernel_output(k, "empirical_ntk", x, params=_nan_params()),
                        ["params[0][0] contains 1 NaN"])


def test_empirical_ntk_of_overflowing_inputs():
    _refused_with_cause(lambda: ntk.empirical_ntk(NET, jax.tree_util.tree_map(lambda a: a.astype(np.float32), P0),
                                                  HUGE32),
                        lambda k: H.check_kernel_output(k, "empirical_ntk", HUGE32),
                        ["x1 is too large for float32"])


def test_check_kernel_output_passes_finite_kernels_and_names_the_fallback_cause():
    k = ntk.infinite_kernel(NET, np.eye(3))
    assert H.check_kernel_output(k, "infinite_kernel", np.eye(3)) is k
    bad = np.array([[1.0, np.inf], [np.inf, 1.0]])
    with pytest.raises(H.NonFiniteError, match=r"infinite_kernel produced 2 NaN/inf.*overflowed its dtype"):
        H.check_kernel_output(bad, "infinite_kernel", np.eye(2))


def test_kernel_matrix_psd_tolerance():
    """Round-off negative eigenvalues pass; beyond 64 n eps lambda_max the kernel is refused with
    the smallest eigenvalue and a diag_reg hint."""
    rng = np.random.default_rng(0)
    F = rng.standard_normal((5, 3))
    K = F @ F.T  # rank 3: two eigenvalues ~0, possibly slightly negative in floating point
    info = H.kernel_matrix(K, "K")
    assert info.lam_min > -64 * 5 * np.finfo(float).eps * info.lam_max
    w, v = np.linalg.eigh(K)
    w[0] = -1e-3 * w[-1]
    with pytest.raises(ValueError, match=r"K is not positive semi-definite: its smallest eigenvalue is -.*"
                                         r"add diag_reg >= 0.002"):
        H.kernel_matrix((v * w) @ v.T, "K")
    # float32: the tolerance scales with its eps
    w[0] = -1e-6 * w[-1]
    H.kernel_matrix(((v * w) @ v.T).astype(np.float32), "K")
    with pytest.raises(ValueError, match="not positive semi-definite"):
        H.kernel_matrix((v * w) @ v.T, "K")


def test_large_kernels_are_checked_by_a_shifted_cholesky(monkeypatch):
    monkeypatch.setattr(H, "EIG_CHECK_MAX", 3)
    rng = np.random.default_rng(1)
    F = rng.standard_normal((6, 6))
    assert H.kernel_matrix(F @ F.T, "K").lam_min is None
    with pytest.raises(ValueError, match="not positive semi-definite"):
        H.kernel_matrix(F @ F.T - 5 * np.eye(6) * np.abs(np.linalg.eigvalsh(F @ F.T)).max(), "K")


def test_ill_conditioning_warning_gives_the_condition_number():
    with pytest.warns(H.IllConditionedWarning, match=r"K is ill-conditioned \(condition number 1e\+14 in float64\)"):
        assert H.warn_ill_conditioned(1e14, "K", np.float64, "the solve")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not H.warn_ill_conditioned(1e6, "K", np.float64, "the solve")
    assert H.condition_number(0.0, 1.0) == np.inf and H.condition_number(None, 1.0) is None


def test_check_finite_reports_the_first_cause():
    with pytest.raises(H.NonFiniteError, match=r"f produced 1 NaN/inf value\(s\). Cause: x contains NaN/inf"):
        H.check_finite(np.array([np.nan, 1.0]), "f", inputs={"x": np.array([np.nan])}, params=_nan_params())
    with pytest.raises(H.NonFiniteError, match=r"Cause: params\[0\]\[0\] contains 1 NaN"):
        H.check_finite(np.array([np.nan]), "f", inputs={"x": np.ones(2)}, params=_nan_params())
    with pytest.raises(H.NonFiniteError, match=r"Cause: lower it"):
        H.check_finite(np.array([np.inf]), "f", hints=["lower it"])
    assert H.check_finite(np.ones(2), "f") is not None
    # inside jax.jit nothing is checked (tracers), so the policy never breaks compiled code
    assert np.isnan(jax.jit(lambda a: H.check_finite(a * np.nan, "f"))(np.ones(1)))[0]


@pytest.mark.parametrize("t,exc,match", [
    (-1.0, ValueError, r"t must be >= 0"), (np.nan, ValueError, r"t contains NaN"),
    (np.inf, ValueError, r"t contains inf"), ("1", TypeError, r"t must be a number"),
    (True, TypeError, r"t must be a number"), ([], ValueError, r"t is empty"),
])
def test_check_time(t, exc, match):
    with pytest.raises(exc, match=match):
        H.check_time(t)


def test_check_time_accepts_valid_times():
    assert H.check_time(None) is None
    np.testing.assert_array_equal(H.check_time([0, 1.5]), [0.0, 1.5])
    with pytest.raises(ValueError, match="whole steps"):
        H.check_time(1.5, integer=True)
