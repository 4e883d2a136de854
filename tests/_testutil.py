"""Shared test helpers: one tolerance table, one assert_close (a uniquely named module, so the
several conftest.py files of the suite never shadow it)."""
import numpy as np

# Explicit tolerances per dtype: (rtol, atol) for exact-arithmetic comparisons.
TOL = {
    np.dtype("float64"): (1e-10, 1e-12),
    np.dtype("float32"): (2e-4, 1e-5),
}


def assert_close(actual, expected, rtol=None, atol=None, err_msg=""):
    """Compare with the dtype's tolerance unless rtol/atol are given. Relative to max |expected|."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    dt = np.result_type(actual.dtype, expected.dtype)
    r, a = TOL.get(np.dtype(dt), (1e-10, 1e-12))
    rtol = r if rtol is None else rtol
    atol = a if atol is None else atol
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}. {err_msg}"
    scale = max(float(np.max(np.abs(expected))), 1e-300) if expected.size else 1.0
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert err <= atol + rtol * scale, (
        f"max abs error {err:.3e} > atol {atol:.1e} + rtol {rtol:.1e} * {scale:.3e}. {err_msg}")


def assert_refused(fn, exc, match):
    """`fn()` raises exactly `exc` (not a subclass) with a message matching `match`; RuntimeWarnings
    on the way (e.g. a divergence warning before the error) are ignored. Returns the exception."""
    import warnings

    import pytest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(exc, match=match) as ei:
            fn()
    assert ei.type is exc, f"{ei.type.__name__}: {ei.value}"
    return ei.value
